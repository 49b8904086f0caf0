"""The CLI pointed at a connectors service: ``--url``/``--api-key`` or the environment.

The real service runs in a subprocess with one sync worker, importing from the LangSmith fake;
every command is the real ``pytest-connectors`` in a subprocess, as a user types it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from service_support import ServiceProcess, child_env, issue_key

from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer, seed_runs
from pytest_connectors.imports.facade import Imports
from pytest_connectors.models.imports import RecordedConversation, RecordedTurn
from pytest_connectors.servers.launch import free_port

PROJECT = "cli-remote"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    with ServiceProcess(str(tmp_path / "service.db"), workers=1) as server:
        yield server


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_connectors.cli", *args],
        cwd=cwd,
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_imports_jobs_and_conversations_through_the_service(
    service: ServiceProcess, langsmith_fake: LangSmithServer, tmp_path: Path
) -> None:
    recent = datetime.now(UTC) - timedelta(hours=1)  # inside the first sync's look-back
    seed_runs(langsmith_fake.fake, 30, project=PROJECT, start=recent, spacing=timedelta(seconds=1))
    key = issue_key(service.db, "acme", "a1")
    remote = {"PYTEST_CONNECTORS_URL": service.url, "PYTEST_CONNECTORS_API_KEY": key}
    created = cli(
        "imports", "create", "--agent", "a1", "--name", "LangSmith prod",
        "--category", "llm-tracing", "--provider", "langsmith", "--provider-key", API_KEY,
        "--config", f"projectName={PROJECT}", "--config", f"apiUrl={langsmith_fake.url}",
        "--json", cwd=tmp_path, env=remote,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["config"]["apiKey"] == "****"
    flags = ["--url", service.url, "--api-key", key]
    listed = cli("imports", "list", *flags, "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [c["name"] for c in json.loads(listed.stdout)] == ["LangSmith prod"]
    # Nothing went to a local database: the files next to the connector file are untouched.
    assert not (tmp_path / "data").exists()
    connected = cli(
        "imports", "connect", "LangSmith prod", "--wait", "--timeout", "60", *flags, cwd=tmp_path
    )
    assert connected.returncode == 0, connected.stderr + connected.stdout
    conversations = cli("conversations", "list", *flags, "--json", cwd=tmp_path)
    assert conversations.returncode == 0, conversations.stderr
    found = json.loads(conversations.stdout)
    items = found["items"] if isinstance(found, dict) else found
    assert len(items) == 15  # 30 runs, two turns a thread
    with Imports(url=service.url, api_key=key) as imports:
        imports.conversations.write_native(
            [
                RecordedConversation(
                    id="native-1",
                    agent_id="a1",
                    thread_key="test-run-1",
                    turns=[RecordedTurn(index=0, user_messages=["hi"], answer="hello")],
                )
            ]
        )
    native = cli("conversations", "list", "--origin", "native", *flags, "--json", cwd=tmp_path)
    assert native.returncode == 0, native.stderr
    assert [c["threadKey"] for c in json.loads(native.stdout)["items"]] == ["test-run-1"]
    imported = cli(
        "conversations", "list", "--origin", "imported", "--limit", "100", *flags, "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    origins = {c["origin"] for c in json.loads(imported.stdout)["items"]}
    assert len(json.loads(imported.stdout)["items"]) == 15 and origins == {"imported"}
    jobs = cli("imports", "sync", "LangSmith prod", "--json", *flags, cwd=tmp_path)
    assert jobs.returncode == 0, jobs.stderr
    job_id = json.loads(jobs.stdout)["id"]
    waited = cli("jobs", "wait", job_id, "--timeout", "60", *flags, cwd=tmp_path)
    assert waited.returncode == 0, waited.stderr
    # The service key before the action, where the action's --api-key is the provider's.
    renamed = cli(
        "imports", "--url", service.url, "--api-key", key,
        "update", "LangSmith prod", "--name", "LangSmith production", cwd=tmp_path,
    )  # fmt: skip
    assert renamed.returncode == 0, renamed.stderr
    everything = "".join(
        r.stdout + r.stderr
        for r in (created, listed, connected, conversations, jobs, waited, renamed)
    )
    assert key not in everything and API_KEY not in everything


def test_remote_mistakes_are_one_line(service: ServiceProcess, tmp_path: Path) -> None:
    key = issue_key(service.db, "acme", "a1")
    no_key = cli("imports", "list", "--url", service.url, cwd=tmp_path)
    assert no_key.returncode == 2 and "needs an API key" in no_key.stderr
    wrong = cli("imports", "list", "--url", service.url, "--api-key", key[:-1] + "x", cwd=tmp_path)
    assert wrong.returncode == 2 and "refused the API key" in wrong.stderr
    both = cli("imports", "list", "--url", service.url, "--db", "x.db", cwd=tmp_path)
    assert both.returncode == 2 and "not both" in both.stderr
    down = cli(
        "imports",
        "list",
        "--url",
        f"http://127.0.0.1:{free_port()}",
        "--api-key",
        key,
        cwd=tmp_path,
    )
    assert down.returncode == 1 and "cannot reach" in down.stderr
    missing = cli("jobs", "get", "job_nope", "--url", service.url, "--api-key", key, cwd=tmp_path)
    assert missing.returncode == 2 and "job_nope" in missing.stderr
    for result in (no_key, wrong, both, down, missing):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr and key not in result.stderr


def test_an_unset_variable_of_a_service_job_says_it_belongs_to_the_services_environment(
    tmp_path: Path, langsmith_fake: LangSmithServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator allowed LANGSMITH_API_KEY but did not set it where the service runs."""
    monkeypatch.delenv("LANGSMITH_API_KEY", raising=False)  # the service inherits this one
    db = str(tmp_path / "service.db")
    key = issue_key(db, "acme", "a1")
    with ServiceProcess(db, allow_env=["LANGSMITH_API_KEY"]) as service:
        flags = ["--url", service.url, "--api-key", key]
        created = cli(
            "imports", *flags, "create", "--agent", "a1", "--name", "LangSmith prod",
            "--category", "llm-tracing", "--provider", "langsmith",
            "--provider-key", "${LANGSMITH_API_KEY}", "--config", f"projectName={PROJECT}",
            "--config", f"apiUrl={langsmith_fake.url}", cwd=tmp_path,
            env={"LANGSMITH_API_KEY": API_KEY},  # set for the user: not what the job reads
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        connected = cli(
            "imports", "connect", "LangSmith prod", "--wait", "--timeout", "60", *flags,
            cwd=tmp_path,
        )  # fmt: skip

    assert connected.returncode == 1, connected.stdout
    assert "LANGSMITH_API_KEY" in connected.stderr
    assert "service's environment" in connected.stderr
    assert "serve --allow-env LANGSMITH_API_KEY" in connected.stderr
    assert "export it" not in connected.stderr  # a user's export does not reach the service
