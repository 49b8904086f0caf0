"""docs/service.md stays true: its library snippet runs against the real service, every route it
lists is in the service's OpenAPI document, and the walkthrough from the demo provider to replay
(docs/imports.md, docs/service.md, docs/replay.md) runs as written."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from documentation import block, text
from service_support import ServiceProcess, child_env, client, issue_key, on_port, readme_server
from test_imports_readme import shell_env

ROOT = Path(__file__).resolve().parents[2]
SERVE = block("bash", "pytest-connectors serve --db")


def test_the_library_snippet_runs_against_the_service(tmp_path: Path) -> None:
    snippet = block("python", "Imports(url=")
    db = str(tmp_path / "service.db")
    key = issue_key(db, "acme", "agt_123")
    # Started as the page starts it: the snippet's ${LANGSMITH_API_KEY} is an allowed name.
    allowed = re.findall(r"--allow-env (\w+)", SERVE)
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
    page = text("docs/service.md")
    listed = set(re.findall(r"`((?:GET|POST|PATCH|DELETE)(?:\|[A-Z]+)*) (/api/[^`?\s]*)", page))
    assert len(listed) >= 9
    for methods, path in listed - {("GET", "/api/openapi.json")}:  # the document itself
        template = re.sub(r"\{id\}", "{}", path)
        matches = [p for p in document["paths"] if re.sub(r"\{[^}]+\}", "{}", p) == template]
        assert matches, path
        for method in methods.split("|"):
            assert method.lower() in document["paths"][matches[0]], (method, path)


def test_the_walkthrough_runs_offline_end_to_end(tmp_path: Path) -> None:
    """Demo provider, import, service, keys, the CLI through the service, then replay: the
    documentation's blocks in order, in a copy of the clone, with nothing but loopback."""
    ignore = shutil.ignore_patterns("__pycache__", ".langgraph_api", "*.db*")
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=ignore)
    replay_test = block("python", 'source="LangSmith prod"')
    (tmp_path / "examples" / "test_prod.py").write_text("import pytest\n\n" + replay_test)
    start_demo, exports = block("bash", "pytest-connectors demo langsmith").split("\n", 1)
    serve = SERVE.strip()
    steps = [
        exports,
        block("bash", "pytest-connectors imports create"),
        block("bash", "pytest-connectors keys create"),
        block("bash", "export PYTEST_CONNECTORS_URL"),
        block("bash", "pytest examples/test_prod.py"),
    ]
    with readme_server(start_demo, "/healthz") as demo:
        # Started, as the page says, where the provider's variables are exported.
        exported = shlex.split(on_port(exports, {1984: demo.port}))[1:]
        provider_env = dict(word.split("=", 1) for word in exported)
        with readme_server(serve, "/api/health", cwd=tmp_path, env=provider_env) as service:
            script = on_port("".join(steps), {1984: demo.port, 8000: service.port})
            env = shell_env()
            if "CONNECTORS_TEST_CLOCK_SHIFT_DAYS" in env:  # the clock shim imports time_machine
                env["PYTEST_ADDOPTS"] = "-W ignore::pytest.PytestAssertRewriteWarning"
            run = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
                check=False,
            )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "No import connectors" not in output
    # The acme key sees the connector created for acme.
    assert re.search(r"^LangSmith prod\s+agt_123\s+langsmith\s+connected\s", run.stdout, re.M)
    assert len(re.findall(r"^cnv_\w+\s+t-10\d\d\s", run.stdout, flags=re.M)) == 8  # local, remote
    assert re.search(r"^=+ 2 passed", run.stdout, flags=re.M), output
    assert provider_env["LANGSMITH_API_KEY"] not in output
