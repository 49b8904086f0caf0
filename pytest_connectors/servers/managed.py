"""Agents started on demand for connectors that say how (``config.launch``).

When a connector's base URL does not answer, its ``config.launch`` is started and the connector
is pointed at it (in memory: the connector file is never changed). One server per launch
description, shared by every connector naming it, started at most once: a launch that failed is
not tried again by the same `ManagedAgents`, whose ``close()`` stops everything it started.

Readiness follows Playwright's ``webServer``: a URL is ready when it answers 2xx, 3xx or
400-403 (a protected endpoint answering 401 is up).
"""

from __future__ import annotations

import contextlib
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from pytest_connectors._support.variables import resolve
from pytest_connectors.errors import MissingVariableError, ServerStartError
from pytest_connectors.models.connector import Connector, ConnectorType, LaunchConfig
from pytest_connectors.servers.launch import LangGraphDevServer, LocalServer

if TYPE_CHECKING:
    import httpx

PROBE_TIMEOUT_S = 1.0
DEFAULT_START_TIMEOUT_MS = 60_000
LANGGRAPH_READY = "/ok"
LOOPBACK = "127.0.0.1"


def ready_status(status: int) -> bool:
    """Whether an HTTP status means "the server is up" (2xx, 3xx, 400-403)."""
    return 200 <= status <= 403


def answers(url: str, *, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether ``url`` answers a GET with a ready status now (proxies from the env ignored)."""
    import httpx

    try:
        response = httpx.get(url, timeout=timeout, trust_env=False)
    except httpx.HTTPError:
        return False
    return ready_status(response.status_code)


def _join(base: str, ready: str) -> str:
    if ready.startswith(("http://", "https://")):
        return ready
    return base.rstrip("/") + "/" + ready.lstrip("/") if ready else base


@dataclass(frozen=True, slots=True)
class LaunchPlan:
    """A connector's ``config.launch`` made concrete: paths absolute, variables resolved.

    Equal plans describe the same server, so connectors sharing one share its process.
    """

    connector: str
    command: tuple[str, ...]
    project: Path | None
    cwd: Path
    env: tuple[tuple[str, str], ...]
    ready: str
    timeout_s: float
    reuse: bool
    configured_url: str | None

    @property
    def uses_port(self) -> bool:
        return any("{port}" in part for part in self.command)

    @property
    def probe_url(self) -> str | None:
        """Where a server that already runs would answer (None: the base URL is unknown)."""
        if self.configured_url is None:
            return None
        return _join(self.configured_url, LANGGRAPH_READY if self.project else self.ready)

    def base_url_on(self, server: LocalServer) -> str:
        """The connector's base URL once ``server`` runs."""
        if self.project is not None or self.configured_url is None:
            return server.url
        if not self.uses_port:
            return self.configured_url
        return server.url + urlsplit(self.configured_url).path.rstrip("/")

    def server(self, log_path: Path | None = None) -> LocalServer:
        """The server to start; without ``log_path`` its log is removed when it stops."""
        env = dict(self.env)
        if self.project is not None:
            return LangGraphDevServer(
                self.project, startup_timeout=self.timeout_s, env=env, log_path=log_path
            )
        if self.uses_port:
            ready = _join(f"http://{LOOPBACK}:{{port}}", self.ready)
        else:
            assert self.configured_url is not None  # checked by launch_plan
            ready = _join(self.configured_url, self.ready)
        return CommandServer(
            self.command,
            ready_url=ready,
            cwd=self.cwd,
            env=env,
            startup_timeout=self.timeout_s,
            name=f"the agent of connector {self.connector!r}",
            log_path=log_path,
        )


class CommandServer(LocalServer):
    """Any command serving HTTP; ready when ``ready_url`` (``{port}`` filled) answers."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        ready_url: str,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = DEFAULT_START_TIMEOUT_MS / 1000,
        name: str = "agent",
        log_path: Path | None = None,
    ) -> None:
        super().__init__(
            command, cwd=cwd, env=env, startup_timeout=startup_timeout, log_path=log_path
        )
        self.ready_url = ready_url
        self.name = name

    def _ready(self, client: httpx.Client) -> bool:
        import httpx

        try:
            response = client.get(self.fill(self.ready_url))
        except httpx.TransportError:
            return False
        return ready_status(response.status_code)

    def _not_ready(self) -> str:
        return f"{self.fill(self.ready_url)} did not answer 2xx, 3xx or 400-403"


def launch_plan(connector: Connector, base_dir: Path) -> LaunchPlan | None:
    """The connector's launch, made concrete; None when it has no ``config.launch``."""
    launch = connector.config.launch if connector.config is not None else None
    if launch is None:
        return None
    if isinstance(launch, str):
        launch = LaunchConfig(project=launch)
    name = connector.name
    try:
        configured: str | None = resolve(connector.base_url, connector=name)
    except MissingVariableError:
        configured = None  # nothing to reuse; the launched server gives the URL
    env = tuple(
        (key, resolve(value, connector=name)) for key, value in sorted((launch.env or {}).items())
    )
    cwd = _absolute(launch.cwd, base_dir) if launch.cwd else base_dir
    if not cwd.is_dir():
        raise ServerStartError(
            f"connector {name!r}: config.launch.cwd is {cwd}, which is not a folder; "
            "relative paths start from the connector file's folder"
        )
    project = None
    command: tuple[str, ...] = ()
    if launch.project is not None:
        if connector.type is not ConnectorType.LANGGRAPH:
            raise ServerStartError(
                f"connector {name!r}: config.launch names a LangGraph project, but the "
                'connector is an http one; give {"command": "... {port} ..."} instead'
            )
        target = _absolute(launch.project, base_dir)
        project = target.parent if target.suffix == ".json" else target
        if not (project / "langgraph.json").is_file():
            raise ServerStartError(
                f"connector {name!r}: config.launch points at {project}, "
                "which holds no langgraph.json"
            )
    else:
        raw = launch.command or ()
        command = tuple(shlex.split(raw) if isinstance(raw, str) else raw)
    plan = LaunchPlan(
        connector=name,
        command=command,
        project=project,
        cwd=cwd,
        env=env,
        ready=launch.ready or "",
        timeout_s=(launch.timeout or DEFAULT_START_TIMEOUT_MS) / 1000,
        reuse=launch.reuse_existing is not False,
        configured_url=configured,
    )
    if project is None and not plan.uses_port and configured is None:
        raise ServerStartError(
            f"connector {name!r}: config.launch.command has no {{port}}, so the agent must "
            f"serve at baseUrl, but {connector.base_url} cannot be resolved; set the variable "
            "or put {port} in the command"
        )
    return plan


def _absolute(path: str, base_dir: Path) -> Path:
    target = Path(path).expanduser()
    return target if target.is_absolute() else (base_dir / target).resolve()


class ManagedAgents:
    """Starts the agents of launchable connectors on demand and stops them on ``close()``.

    ``base_dir`` is the connector file's folder, which relative launch paths start from. With
    ``log_dir``, each agent's log is kept there (``<connector>.log``), so the one a start-up
    error points to can still be opened after the agent stopped.
    """

    def __init__(self, base_dir: str | Path, log_dir: Path | None = None) -> None:
        self.base_dir = Path(base_dir)
        self.log_dir = log_dir
        self._servers: dict[LaunchPlan, LocalServer] = {}
        self._failures: dict[LaunchPlan, ServerStartError] = {}

    def prepare(self, connector: Connector) -> Connector:
        """The connector, pointed at its launched agent when it has to be started."""
        plan = launch_plan(connector, self.base_dir)
        if plan is None:
            return connector
        server = self._servers.get(plan)
        if server is None:
            probe = plan.probe_url
            if plan.reuse and probe is not None and answers(probe):
                return connector
            if plan in self._failures:  # tried once: do not pay the start-up again
                raise self._failures[plan]
            try:
                server = self._servers[plan] = plan.server(self._log_path(plan)).start()
            except ServerStartError as exc:
                self._failures[plan] = exc
                raise
        return connector.model_copy(update={"base_url": plan.base_url_on(server)})

    def _log_path(self, plan: LaunchPlan) -> Path | None:
        if self.log_dir is None:
            return None
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", plan.connector).strip("-.") or "agent"
        path, n = self.log_dir / f"{stem}.log", 1
        while path.exists():  # another launch of the session, or a name that reads the same
            n += 1
            path = self.log_dir / f"{stem}-{n}.log"
        return path

    @property
    def servers(self) -> list[LocalServer]:
        return list(self._servers.values())

    def close(self) -> None:
        servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextlib.contextmanager
def launched(connector: Connector, base_dir: str | Path) -> Iterator[Connector]:
    """``connector`` ready to call, its agent started if it must be; stopped on exit."""
    with ManagedAgents(base_dir) as agents:
        yield agents.prepare(connector)
