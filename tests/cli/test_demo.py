"""``pytest-connectors demo``: the stand-in providers hold the example agent's conversations of
the last hour, and a port already taken is one line, not a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from documentation import block
from pytester_ini import write_ini
from service_support import child_env, readme_server

from pytest_connectors.fakes.fullstory import API_KEY
from pytest_connectors.imports.facade import Imports


def test_the_fullstory_demo_holds_one_session_per_conversation(tmp_path: Path) -> None:
    with (
        readme_server(block("bash", "pytest-connectors demo fullstory"), "/healthz") as demo,
        Imports(db=tmp_path / "demo.db") as imports,
    ):
        connector = imports.connectors.create(
            {
                "agentId": "agt_123",
                "name": "FullStory",
                "category": "session-data",
                "provider": "fullstory",
                "config": {"apiKey": API_KEY, "apiUrl": demo.url},
            }
        )
        job = imports.jobs.wait(imports.connectors.connect(connector.id).job.id, timeout=120)
        sessions = imports.sessions.list(connector=connector.id)
    assert job.status.value == "succeeded", job.error
    assert len(sessions) == 4
    assert sorted(s.frustrated_clicks for s in sessions) == [0, 0, 0, 2]


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "pytest_connectors.cli", "demo", "langsmith"]
        run = subprocess.run(
            [*command, "--port", str(port)],
            env=child_env(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"pytest-connectors: error: cannot listen on 127.0.0.1:{port} (Address already in use); "
        "choose another port with --port"
    ]


def test_the_documented_fake_in_a_test_of_your_own(pytester: pytest.Pytester) -> None:
    """docs/fakes.md's test: a sync against the LangSmith fake survives the 503 it arms."""
    write_ini(pytester)
    pytester.makepyfile(test_fake=block("python", "def test_a_sync_survives_a_busy_langsmith"))
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
