"""`pytest-connectors test` and `invoke` against real agents, run as a user runs them.

Each command is a separate process on a connector file in tmp_path; the agent's token reaches it
through an environment variable, as the README recommends.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from pytest_connectors.registry.json_file import ConnectorStore
from pytest_connectors.servers.launch import LangGraphDevServer, UvicornServer
from pytest_connectors.wire.langgraph import thread_id_for

TOKEN_VARIABLE = "PYTEST_CONNECTORS_CLI_AGENT_TOKEN"
SECRET = "sk-SECRET-abc123"


def run(
    path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "PYTEST_CONNECTORS_FILE"}
    environ.pop(TOKEN_VARIABLE, None)
    return subprocess.run(
        [sys.executable, "-m", "pytest_connectors.cli", *args, "--file", str(path)],
        cwd=path.parent,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "connectors.json"


@pytest.fixture
def token_env(http_agent_token: str) -> dict[str, str]:
    return {TOKEN_VARIABLE: http_agent_token}


@pytest.fixture
def agent(path: Path, http_agent_server: UvicornServer) -> str:
    """An http connector named "agent" whose token is a ${VARIABLE} reference."""
    ConnectorStore(path).create(
        {
            "name": "agent",
            "type": "http",
            "baseUrl": http_agent_server.url,
            "authType": "bearer",
            "authValue": f"${{{TOKEN_VARIABLE}}}",
            "config": {"path": "/v1/chat/completions"},
        }
    )
    return "agent"


def create(path: Path, **record: Any) -> str:
    ConnectorStore(path).create(record)
    name: str = record["name"]
    return name


# --- test -------------------------------------------------------------------------------------


def test_test_passes_against_the_http_agent(
    path: Path, agent: str, token_env: dict[str, str]
) -> None:
    result = run(path, "test", agent, env=token_env)
    assert (result.returncode, result.stderr) == (0, "")
    line = one_line(result.stdout)
    assert line.startswith("OK  agent answered in ")
    assert line.endswith(" ms: You said: hello")


def test_test_fails_in_one_line_against_a_closed_port(path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    name = create(
        path,
        name="down",
        type="http",
        baseUrl=f"http://127.0.0.1:{port}",
        config={"retries": 1, "retryBackoffMs": 0},
    )
    result = run(path, "test", name)
    assert (result.returncode, result.stderr) == (1, "")
    line = one_line(result.stdout)
    assert line.startswith(
        f"FAILED  down after 2 attempts: cannot connect to http://127.0.0.1:{port}"
    )


def test_test_json_output(path: Path, agent: str, token_env: dict[str, str]) -> None:
    result = run(path, "test", agent, "--json", env=token_env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["success"] is True
    assert data["response"] == "You said: hello"
    assert data["latencyMs"] > 0


# --- invoke -----------------------------------------------------------------------------------


def test_invoke_prints_the_reply(path: Path, agent: str, token_env: dict[str, str]) -> None:
    result = run(path, "invoke", agent, "--message", "hello there", env=token_env)
    assert (result.returncode, result.stderr) == (0, ""), result.stdout
    reply, timing = result.stdout.splitlines()
    assert reply == "assistant: You said: hello there"
    assert timing.endswith(" ms)")


def test_invoke_shows_tool_calls(path: Path, agent: str, token_env: dict[str, str]) -> None:
    result = run(path, "invoke", agent, "-m", "What's the weather in Paris?", env=token_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == 'assistant: calls get_weather({"city": "Paris"})'


def test_invoke_sends_every_message_given(
    path: Path, agent: str, token_env: dict[str, str]
) -> None:
    result = run(
        path, "invoke", agent, "-m", "my name is Ada", "-m", "what is my name", env=token_env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "assistant: Your name is Ada."


def test_invoke_json(path: Path, agent: str, token_env: dict[str, str]) -> None:
    result = run(path, "invoke", agent, "--message", "hello", "--json", env=token_env)
    assert (result.returncode, result.stderr) == (0, "")
    data = json.loads(result.stdout)
    assert data["success"] is True
    assert data["message"]["content"] == "You said: hello"
    assert data["statusCode"] == 200


def test_invoke_remote_failure_exits_1(path: Path, agent: str, token_env: dict[str, str]) -> None:
    result = run(path, "invoke", agent, "--message", "please fail", env=token_env)
    assert (result.returncode, result.stderr) == (1, "")
    assert one_line(result.stdout) == "FAILED  agent: HTTP 500: the agent failed on purpose"

    as_json = run(path, "invoke", agent, "-m", "please fail", "--json", env=token_env)
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert (data["success"], data["error"]) == (False, "HTTP 500: the agent failed on purpose")


def test_a_missing_variable_exits_2_with_one_line(path: Path, agent: str) -> None:
    for command in (["test", agent], ["invoke", agent, "-m", "hello"]):
        result = run(path, *command)
        assert result.returncode == 2
        assert result.stdout == ""
        line = one_line(result.stderr)
        assert line.startswith("pytest-connectors: error: ")
        assert TOKEN_VARIABLE in line


def test_an_unknown_connector_exits_2(path: Path, agent: str) -> None:
    result = run(path, "invoke", "nope", "-m", "hello")
    assert (result.returncode, result.stdout) == (2, "")
    assert "unknown connector 'nope'" in one_line(result.stderr)


def test_invoke_with_a_run_id_continues_the_langgraph_thread(
    path: Path, langgraph_server: LangGraphDevServer
) -> None:
    name = create(
        path,
        name="graph",
        type="langgraph",
        baseUrl=langgraph_server.url,
        config={"assistantId": "agent"},
    )
    run_id = f"cli run {uuid.uuid4().hex[:8]}"
    first = run(path, "invoke", name, "-m", "my name is Ada", "--run-id", run_id)
    assert (first.returncode, first.stderr) == (0, ""), first.stdout
    assert first.stdout.splitlines()[0] == "assistant: Nice to meet you, Ada."
    # Another process, the same run id: the thread on the server remembers.
    second = run(path, "invoke", name, "-m", "what is my name", "--run-id", run_id)
    assert (second.returncode, second.stderr) == (0, ""), second.stdout
    reply, timing = second.stdout.splitlines()
    assert reply == "assistant: Your name is Ada."
    assert timing.endswith(f", thread {thread_id_for(run_id)})")


# --- secrets ----------------------------------------------------------------------------------


def test_a_secret_never_reaches_the_output(
    path: Path, http_agent_server: UvicornServer, http_agent_token: str
) -> None:
    wrong = create(
        path,
        name="wrong",
        type="http",
        baseUrl=http_agent_server.url,
        authType="bearer",
        authValue=SECRET,
        config={"path": "/v1/chat/completions"},
    )
    right = create(
        path,
        name="right",
        type="http",
        baseUrl=http_agent_server.url,
        authType="bearer",
        authValue=http_agent_token,
        config={"path": "/v1/chat/completions"},
    )
    runs = [
        (run(path, "test", wrong), SECRET, 1),
        (run(path, "invoke", wrong, "-m", "hello", "--json"), SECRET, 1),
        (run(path, "test", right, "--json"), http_agent_token, 0),
        (run(path, "invoke", right, "-m", "hello", "--json"), http_agent_token, 0),
        (run(path, "get", right, "--json"), http_agent_token, 0),
    ]
    for result, secret, code in runs:
        assert result.returncode == code, result.stdout + result.stderr
        assert secret not in result.stdout
        assert secret not in result.stderr
    assert "HTTP 401: invalid token" in runs[0][0].stdout
