"""The launcher starts real servers, says why one could not start, and leaves nothing behind."""

from __future__ import annotations

import os
import re
import socket
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from pytest_connectors import Connector, ConnectorClient, CreateConnectorInput
from pytest_connectors.errors import ConnectorError, MissingVariableError
from pytest_connectors.servers.launch import (
    LangGraphDevServer,
    LocalServer,
    ServerStartError,
    UvicornServer,
    free_port,
)
from pytest_connectors.servers.managed import ManagedAgents, launch_plan, ready_status

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the server's whole process group, forked workers included


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie left for init to reap counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        return True


def assert_port_free(port: int) -> None:
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
    with socket.socket() as sock:  # SO_REUSEADDR: TIME_WAIT leftovers do not count as "in use"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_free_port_can_be_bound() -> None:
    port = free_port()
    assert 0 < port < 65536
    assert_port_free(port)


def test_uvicorn_server_starts_answers_and_stops(tmp_path: Path) -> None:
    server = UvicornServer("app:app", app_dir=EXAMPLES / "http_agent", log_path=tmp_path / "log")
    with server:
        assert server.running
        pid, port = server.pid, server.port
        assert pid is not None and port is not None
        assert server.url == f"http://127.0.0.1:{port}"
        response = httpx.get(f"{server.url}/healthz", trust_env=False)
        assert response.json() == {"ok": True}
    assert not server.running
    assert server.pid is None
    assert_gone(pid)
    assert_port_free(port)
    assert "GET /healthz" in server.log_tail()
    assert (tmp_path / "log").exists()  # a log path the caller chose is kept


def test_stop_is_idempotent_and_safe_before_start() -> None:
    server = UvicornServer("app:app", app_dir=EXAMPLES / "http_agent")
    server.stop()  # never started
    server.start()
    server.stop()
    server.stop()
    assert not server.running
    with pytest.raises(RuntimeError, match="already running"):
        server.start().start()
    server.stop()


def test_langgraph_server_runs_offline_from_a_copy_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGSMITH_API_KEY", "lsv2-not-a-real-key")
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("agent.py", "langgraph.json"):
        (project / name).write_bytes((EXAMPLES / "langgraph_agent" / name).read_bytes())
    server = LangGraphDevServer(project)
    with server:
        pid, port = server.pid, server.port
        assert pid is not None and port is not None
        assert httpx.get(f"{server.url}/ok", trust_env=False).status_code == 200
        assert server.log_path.exists()
        assert f"API: {server.url}" in server.log_tail(200)
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert b"LANGSMITH_TRACING=false" in environ
        assert b"LANGGRAPH_CLI_NO_ANALYTICS=1" in environ
        assert not [v for v in environ if v.startswith(b"LANGSMITH_API_KEY=")]
        workdir = server.log_path.parent
    assert_gone(pid)
    assert_port_free(port)
    assert not workdir.exists()  # the temporary copy and its .langgraph_api are removed
    assert sorted(p.name for p in project.iterdir()) == ["agent.py", "langgraph.json"]
    assert "API:" in server.log_tail(200)  # still readable after the log file is gone


def test_langgraph_server_follows_a_silent_port_move() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with LangGraphDevServer(EXAMPLES / "langgraph_agent", port=taken) as server:
            assert server.port != taken
            assert httpx.get(f"{server.url}/ok", trust_env=False).status_code == 200
            assert f"Port {taken} is already in use" in server.log_tail(200)


def test_a_server_that_exits_gives_the_log_tail(tmp_path: Path) -> None:
    server = UvicornServer("no_such_module:app", app_dir=tmp_path)
    with pytest.raises(ServerStartError) as info:
        server.start()
    message = str(info.value)
    assert re.match(r"uvicorn did not start: the process exited with code [1-9]", message)
    assert "-m uvicorn no_such_module:app" in message
    assert "no_such_module" in message.split("last log lines", 1)[1]
    assert isinstance(info.value, ConnectorError)
    assert not server.running


def test_a_server_that_never_gets_ready_times_out_and_is_ended(tmp_path: Path) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, signal, subprocess, sys, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only SIGKILL ends it
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            print("booting forever", os.getpid(), child.pid, flush=True)
            time.sleep(60)
            """
        )
    )
    server = LocalServer(
        [sys.executable, str(script), "{port}"], startup_timeout=1.5, stop_timeout=0.5
    )
    started = time.monotonic()
    with pytest.raises(ServerStartError) as info:
        server.start()
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert "did not answer 200 within 1.5 s" in message
    assert "booting forever" in message
    leader_pid, child_pid = map(int, message.split("booting forever ", 1)[1].split()[:2])
    assert server.command[-1] == str(server.port)  # the {port} placeholder was filled in
    with pytest.raises(ProcessLookupError):
        os.kill(leader_pid, 0)  # ignored SIGTERM, so it got SIGKILL and was reaped
    deadline = time.monotonic() + 2  # SIGKILL is delivered asynchronously
    while alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(child_pid), f"the forked child {child_pid} survived stop()"


def test_a_missing_langgraph_json_is_a_start_error(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match=r"holds no langgraph\.json"):
        LangGraphDevServer(tmp_path).start()


def test_url_before_start_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="not been started"):
        _ = UvicornServer("app:app").url


# --- config.launch: agents started for connectors ------------------------------------------

AGENT_COMMAND = "{python} -m uvicorn app:app --host 127.0.0.1 --port {port}"


def http_connector(base_url: str = "http://127.0.0.1:9/api", **launch: object) -> Connector:
    spec: dict[str, object] = {
        "command": AGENT_COMMAND,
        "cwd": "http_agent",
        "env": {"HTTP_AGENT_TOKEN": "launch-token"},
        "ready": "/healthz",
        **launch,
    }
    return Connector.model_validate(
        {
            "id": "c1",
            "name": "Launched",
            "type": "http",
            "baseUrl": base_url,
            "authType": "bearer",
            "authValue": "launch-token",
            "config": {"path": "/v1/chat/completions", "launch": spec},
            "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z",
        }
    )


def test_a_launch_command_gets_a_free_port_and_the_connector_follows(tmp_path: Path) -> None:
    with ManagedAgents(EXAMPLES) as agents:
        ready = agents.prepare(http_connector())
        (server,) = agents.servers
        pid, port = server.pid, server.port
        assert pid is not None and port is not None
        assert ready.base_url == f"http://127.0.0.1:{port}/api"  # the base path is kept
        assert agents.prepare(http_connector()).base_url == ready.base_url  # started once
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert b"HTTP_AGENT_TOKEN=launch-token" in environ
        assert Path(f"/proc/{pid}/cwd").resolve() == (EXAMPLES / "http_agent").resolve()
        with ConnectorClient() as client:
            reply = client.invoke(
                ready.model_copy(update={"base_url": f"http://127.0.0.1:{port}"}), "hello"
            )
        assert reply.text == "You said: hello", reply.error
    assert_gone(pid)
    assert_port_free(port)


def test_a_server_already_answering_at_the_base_url_is_reused(
    http_agent_server: UvicornServer,
) -> None:
    with ManagedAgents(EXAMPLES) as agents:
        connector = http_connector(http_agent_server.url)
        assert agents.prepare(connector) is connector
        assert agents.servers == []
        fresh = agents.prepare(http_connector(http_agent_server.url, reuseExisting=False))
        assert fresh.base_url != http_agent_server.url
        assert len(agents.servers) == 1


@pytest.mark.parametrize(
    ("status", "ready"),
    [(200, True), (204, True), (302, True), (401, True), (403, True), (404, False), (405, False)],
)
def test_ready_statuses_are_playwrights(status: int, ready: bool) -> None:
    assert ready_status(status) is ready


def test_a_missing_cwd_is_named(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match=r"config\.launch\.cwd is .*nope, which is not a"):
        launch_plan(http_connector(cwd="nope"), tmp_path)


def test_a_launch_that_fails_is_reported_once_with_the_connector_name(tmp_path: Path) -> None:
    broken = http_connector(
        command="{python} -c 'raise SystemExit(3)' {port}", ready="/", cwd=str(tmp_path)
    )
    with ManagedAgents(tmp_path) as agents:
        started = time.monotonic()
        with pytest.raises(ServerStartError) as first:
            agents.prepare(broken)
        assert "the agent of connector 'Launched' did not start" in str(first.value)
        assert "exited with code 3" in str(first.value)
        with pytest.raises(ServerStartError) as second:
            agents.prepare(broken)
        assert second.value is first.value  # not started again
        assert time.monotonic() - started < 30


def test_a_launch_that_never_gets_ready_stops_after_its_timeout(tmp_path: Path) -> None:
    slow = http_connector(
        command=[sys.executable, "-c", "import time; time.sleep(60)", "{port}"],
        timeout=1500,
        cwd=".",
    )
    with ManagedAgents(tmp_path) as agents, pytest.raises(ServerStartError) as info:
        agents.prepare(slow)
    assert re.search(r"/healthz did not answer 2xx, 3xx or 400-403 within 1\.5 s", str(info.value))


def test_launch_variables_are_resolved_and_a_missing_one_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LAUNCH_TOKEN", raising=False)
    connector = http_connector(env={"HTTP_AGENT_TOKEN": "${LAUNCH_TOKEN}"})
    with pytest.raises(MissingVariableError, match=r"\$\{LAUNCH_TOKEN\}"):
        launch_plan(connector, EXAMPLES)
    monkeypatch.setenv("LAUNCH_TOKEN", "from-env")
    plan = launch_plan(connector, EXAMPLES)
    assert plan is not None and dict(plan.env) == {"HTTP_AGENT_TOKEN": "from-env"}
    assert plan.cwd == (EXAMPLES / "http_agent").resolve()


def test_a_command_without_port_needs_a_base_url_it_can_resolve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NOWHERE_URL", raising=False)
    connector = http_connector("${NOWHERE_URL}", command="serve-it")
    with pytest.raises(ServerStartError, match=r"has no \{port\}.*cannot be resolved"):
        launch_plan(connector, EXAMPLES)
    # With {port}, an unset base URL is fine: the launched server gives it.
    plan = launch_plan(http_connector("${NOWHERE_URL}"), EXAMPLES)
    assert plan is not None and plan.probe_url is None


def test_the_langgraph_folder_shorthand_stays_a_string() -> None:
    connector = Connector.model_validate(
        {
            "id": "c2",
            "name": "Graph",
            "type": "langgraph",
            "baseUrl": "http://127.0.0.1:9",
            "config": {"assistantId": "agent", "launch": "langgraph_agent/langgraph.json"},
            "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z",
        }
    )
    plan = launch_plan(connector, EXAMPLES)
    assert plan is not None and plan.project == (EXAMPLES / "langgraph_agent").resolve()
    assert plan.probe_url == "http://127.0.0.1:9/ok"


@pytest.mark.parametrize(
    ("launch", "message"),
    [
        ("../langgraph_agent", "LangGraph shorthand; an http connector needs"),
        ({"cwd": "."}, "needs a command"),
        ({"command": "x", "project": "y"}, "a command or a project, not both"),
        ({"command": " "}, "command is empty"),
        ({"command": []}, "command is empty"),
        ({"command": "x", "timeout": 0}, "greater than 0"),
    ],
)
def test_a_bad_launch_is_a_validation_error_that_says_why(launch: object, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        CreateConnectorInput.model_validate(
            {
                "name": "x",
                "type": "http",
                "baseUrl": "http://127.0.0.1:9",
                "config": {"launch": launch},
            }
        )
