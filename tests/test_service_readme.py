"""The README's service section stays true: its library snippet runs against the real service,
and every route it lists is in the service's OpenAPI document."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from service_support import ServiceProcess, child_env, client, issue_key

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## Connectors service", 1)[1].split("\n## ", 1)[0]


def test_the_library_snippet_runs_against_the_service(tmp_path: Path) -> None:
    (snippet,) = re.findall(r"```python\n(.*?)```", SECTION, flags=re.S)
    db = str(tmp_path / "service.db")
    key = issue_key(db, "acme", "agt_123")
    # Started as the section starts it: the snippet's ${LANGSMITH_API_KEY} is an allowed name.
    serve = re.search(r"```bash\n(pytest-connectors serve .*)\n", SECTION)
    assert serve is not None
    allowed = re.findall(r"--allow-env (\w+)", serve.group(1))
    assert allowed == ["LANGSMITH_API_KEY"]
    with ServiceProcess(db, workers=0, allow_env=allowed) as server:
        result = subprocess.run(
            [sys.executable, "-c", snippet],
            env=child_env({"SERVICE_URL": server.url, "SERVICE_KEY": key}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "['LangSmith prod']"
        with client(server.url, key) as api:
            (stored,) = api.get("/api/connectors").json()["items"]
            assert stored["config"] == {
                "apiKey": "${LANGSMITH_API_KEY}",  # a reference is a name, not a secret
                "projectName": "support-prod-v2",
            }
            document = api.get("/api/openapi.json").json()
    listed = set(re.findall(r"`((?:GET|POST|PATCH|DELETE)(?:\|[A-Z]+)*) (/api/[^`?\s]*)", SECTION))
    assert len(listed) >= 9
    for methods, path in listed - {("GET", "/api/openapi.json")}:  # the document itself
        template = re.sub(r"\{id\}", "{}", path)
        matches = [p for p in document["paths"] if re.sub(r"\{[^}]+\}", "{}", p) == template]
        assert matches, path
        for method in methods.split("|"):
            assert method.lower() in document["paths"][matches[0]], (method, path)
