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

from pytest_connectors.errors import ConnectorError
from pytest_connectors.servers.launch import (
    LangGraphDevServer,
    LocalServer,
    ServerStartError,
    UvicornServer,
    free_port,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


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
