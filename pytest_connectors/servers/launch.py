"""Start and stop real local agent servers (``langgraph dev``, uvicorn) for tests and examples.

Each server runs in its own process group, so stopping it also ends any worker it forked, and
only ever signals that group: nothing this module did not start is touched. POSIX only.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from pytest_connectors.errors import ServerStartError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "LangGraphDevServer",
    "LocalServer",
    "ServerStartError",
    "UvicornServer",
    "free_port",
]

# With an API key present, LangSmith tracing switches itself on and the server calls out.
_LANGGRAPH_SECRETS = (
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "LANGGRAPH_CLOUD_LICENSE_KEY",
    "LANGSMITH_CONTROL_PLANE_API_KEY",
    "LANGGRAPH_API_KEY",
)
_LANGGRAPH_OFFLINE = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_API_LINE = re.compile(r"API:\s*(https?://\S+)")
_POLL_INTERVAL = 0.1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _connect_host(host: str) -> str:
    # A server bound to every interface is still reached through loopback.
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


class LocalServer:
    """A command that serves HTTP, started in its own process group and stopped with it.

    ``start()`` returns once ``ready_path`` answers 200 and raises `ServerStartError` (with the
    end of the log) if the process exits or the timeout passes first. ``stop()`` is idempotent:
    SIGTERM to the group, then SIGKILL after ``stop_timeout`` seconds.
    """

    name = "server"

    def __init__(
        self,
        command: Sequence[str],
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        ready_path: str = "/",
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        unset_env: Iterable[str] = (),
        log_path: str | os.PathLike[str] | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        """``{port}``, ``{host}`` and ``{python}`` in ``command`` are filled in on start.

        The server gets this process's environment without ``unset_env``, then ``env``.
        Without ``log_path`` the log lives in a temporary folder that ``stop()`` removes.
        """
        self._command_template = list(command)
        self._requested_port = port
        self.host = host
        self.ready_path = ready_path
        self.cwd = Path(cwd) if cwd is not None else None
        self._env = dict(env or {})
        self._unset_env = tuple(unset_env)
        self._given_log_path = Path(log_path) if log_path is not None else None
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.command: list[str] = []
        self.port: int | None = None
        self._url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._log_path: Path | None = None
        self._last_log: str = ""

    # --- public surface ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:8123``."""
        if self._url is None:
            raise RuntimeError(f"{self.name} has not been started; call start() first")
        return self._url

    @property
    def log_path(self) -> Path:
        if self._log_path is None:
            raise RuntimeError(f"{self.name} has not been started; call start() first")
        return self._log_path

    @property
    def pid(self) -> int | None:
        """Process id (and process-group id) while running."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and not self._exited()

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the server's output, colour codes removed."""
        text = self._last_log
        if self._log_path is not None and self._log_path.exists():
            text = self._log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(_ANSI.sub("", text).splitlines()[-lines:]) if lines > 0 else ""

    def start(self) -> Self:
        if self._process is not None:
            raise RuntimeError(f"{self.name} is already running at {self._url}")
        self._workdir = Path(tempfile.mkdtemp(prefix="pytest-connectors-"))
        try:
            self._prepare(self._workdir)
            self.port = self._requested_port or free_port()
            self._url = f"http://{_format_host(_connect_host(self.host))}:{self.port}"
            self.command = [self.fill(part) for part in self._command_template]
            self._log_path = self._given_log_path or self._workdir / "server.log"
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            self._spawn()
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            self._end_group(process)
        if self._log_path is not None and self._log_path.exists():
            self._last_log = self._log_path.read_text(encoding="utf-8", errors="replace")
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running at {self._url}" if self.running else "stopped"
        return f"<{type(self).__name__} {state}>"

    def fill(self, text: str) -> str:
        """``text`` with ``{port}``, ``{host}`` and ``{python}`` (this interpreter) filled in."""
        for placeholder, value in (
            ("{port}", str(self.port)),
            ("{host}", self.host),
            ("{python}", sys.executable),
        ):
            text = text.replace(placeholder, value)
        return text

    # --- hooks for subclasses ---------------------------------------------------------------

    def _prepare(self, workdir: Path) -> None:
        """Runs before the port is chosen, in a fresh temporary folder removed on stop."""

    def _not_ready(self) -> str:
        return f"{self.url}{self.ready_path} did not answer 200"

    def _ready(self, client: httpx.Client) -> bool:
        import httpx

        try:
            response = client.get(f"{self.url}{self.ready_path}")
        except httpx.TransportError:  # refused, reset, timed out: not up yet
            return False
        return response.status_code == 200

    # --- internals --------------------------------------------------------------------------

    def _spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in self._unset_env}
        env.update({"PYTHONUNBUFFERED": "1", **self._env})
        assert self._log_path is not None
        with self._log_path.open("wb") as log:
            try:
                self._process = subprocess.Popen(
                    self.command,
                    cwd=self.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise self._start_error(f"could not run the command: {exc}") from exc

    def _wait_until_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + self.startup_timeout
        # trust_env=False: an HTTP(S)_PROXY from the environment must not see loopback calls.
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                status = self._exit_status()
                if status is not None:
                    raise self._start_error(f"the process {status} before it was ready")
                if self._ready(client):
                    return
                if time.monotonic() > deadline:
                    raise self._start_error(
                        f"{self._not_ready()} within {self.startup_timeout:g} s"
                    )
                time.sleep(_POLL_INTERVAL)

    def _start_error(self, problem: str) -> ServerStartError:
        tail = self.log_tail(20) or "(empty)"
        # A log in the temporary folder is gone once stopped: name only one that is kept.
        kept = f" (the whole log: {self._log_path})" if self._given_log_path else ""
        return ServerStartError(
            f"{self.name} did not start: {problem}\n"
            f"command: {shlex.join(self.command)}\n"
            f"last log lines{kept}:\n{tail}"
        )

    def _exited(self) -> bool:
        return self._exit_status() is not None

    def _exit_status(self) -> str | None:
        """How the leader ended ("exited with code 1"), or None while it runs; never reaps it.

        An unreaped leader keeps its pid, and so the group id, from being reused: signalling
        the group cannot reach a stranger's process. Only ``_end_group`` reaps.
        """
        process = self._process
        if process is None:
            return "was not started"
        if process.returncode is not None:
            return f"exited with code {process.returncode}"
        if not hasattr(os, "waitid"):  # macOS: fall back to reaping
            code = process.poll()
            return None if code is None else f"exited with code {code}"
        try:
            info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return "exited"
        if info is None:
            return None
        if info.si_code == os.CLD_EXITED:
            return f"exited with code {info.si_status}"
        return f"was killed by signal {info.si_status}"

    def _end_group(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process  # lets _exited() look at it
        try:
            if not self._exited():
                _signal_group(process.pid, signal.SIGTERM)
                deadline = time.monotonic() + self.stop_timeout
                while not self._exited() and time.monotonic() < deadline:
                    time.sleep(0.05)
            # Whatever is left of the group (a leader that ignored SIGTERM, a forked worker).
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        finally:
            self._process = None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class UvicornServer(LocalServer):
    """An ASGI app served by uvicorn from this interpreter, so it sees the same packages."""

    name = "uvicorn"

    def __init__(
        self,
        app: str,
        *,
        app_dir: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        ready_path: str = "/healthz",
        log_path: str | os.PathLike[str] | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        """``app`` is uvicorn's ``module:attribute``; ``app_dir`` is put on ``sys.path``."""
        command = [sys.executable, "-m", "uvicorn", app, "--host", "{host}", "--port", "{port}"]
        if app_dir is not None:
            command += ["--app-dir", str(Path(app_dir).resolve())]
        super().__init__(
            command,
            port=port,
            host=host,
            ready_path=ready_path,
            env=env,
            log_path=log_path,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
        )
        self.app = app


class LangGraphDevServer(LocalServer):
    """``langgraph dev`` (the in-memory LangGraph API server) on a project folder, offline.

    It runs from a temporary copy of the folder because the server pickles its threads into
    ``.langgraph_api/`` next to ``langgraph.json``: every start begins with no threads and the
    project folder is never written to.
    """

    name = "langgraph dev"

    def __init__(
        self,
        project_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        n_jobs_per_worker: int | None = None,
        env: Mapping[str, str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.project_dir = Path(project_dir).resolve()
        self._announced = False
        command = [
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "{host}",
            "--port",
            "{port}",
        ]
        if n_jobs_per_worker is not None:
            command += ["--n-jobs-per-worker", str(n_jobs_per_worker)]
        self._dev_args = command
        super().__init__(
            command,
            port=port,
            host=host,
            ready_path="/ok",
            env={**_LANGGRAPH_OFFLINE, **(env or {})},
            unset_env=_LANGGRAPH_SECRETS,
            log_path=log_path,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
        )

    def _prepare(self, workdir: Path) -> None:
        self._command_template = [*langgraph_command(), *self._dev_args]
        self._announced = False
        if not (self.project_dir / "langgraph.json").is_file():
            raise ServerStartError(
                f"{self.name} did not start: {self.project_dir} holds no langgraph.json; "
                "pass the folder that holds it"
            )
        copy = workdir / "project"
        shutil.copytree(
            self.project_dir, copy, ignore=shutil.ignore_patterns(".langgraph_api", "__pycache__")
        )
        self.cwd = copy

    def _ready(self, client: httpx.Client) -> bool:
        # A busy port makes `langgraph dev` quietly take another one; its banner says which,
        # and polling our port first could reach whoever holds it.
        if not self._announced:
            match = _API_LINE.search(self.log_tail(1000))
            port = urlsplit(match.group(1)).port if match else None
            if port is None:
                return False
            if port != self.port:
                self.port = port
                self._url = f"http://{_format_host(_connect_host(self.host))}:{port}"
            self._announced = True
        return super()._ready(client)


def langgraph_command() -> list[str]:
    """How to run the LangGraph CLI with this interpreter's packages.

    The script next to ``sys.executable`` first, then ``python -m langgraph_cli``, then
    ``langgraph`` from PATH: one from another environment may lack the graph's dependencies.
    """
    sibling = Path(sys.executable).with_name("langgraph")
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return [str(sibling)]
    import importlib.util

    if importlib.util.find_spec("langgraph_cli") is not None:
        return [sys.executable, "-m", "langgraph_cli"]
    on_path = shutil.which("langgraph")
    if on_path is not None:
        return [on_path]
    raise ServerStartError(
        "langgraph dev cannot start: the LangGraph CLI is not installed; "
        'install it with: pip install "langgraph-cli[inmem]"'
    )
