"""What a test session shares: the connector file, one client, and any servers it launched.

A LangGraph connector whose ``config.launch`` names a local project is served on demand: when its
base URL does not answer, ``langgraph dev`` is started for the session on a free port and the
connector is pointed at it (in memory; the file is not changed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from pytest_connectors._support.variables import resolve
from pytest_connectors.client.clients import ConnectorClient
from pytest_connectors.errors import ServerStartError
from pytest_connectors.models.connector import Connector, LangGraphConnectorConfig
from pytest_connectors.registry.json_file import ConnectorStore

if TYPE_CHECKING:
    from pytest_connectors.servers.launch import LangGraphDevServer

PROBE_TIMEOUT_S = 1.0


def answers(base_url: str) -> bool:
    """Whether a LangGraph API server answers ``/ok`` at ``base_url``."""
    try:
        response = httpx.get(base_url.rstrip("/") + "/ok", timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError:
        return False
    return response.is_success


class ConnectorSession:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.store = ConnectorStore(path)
        self.client = ConnectorClient(path=self.store.path)
        self._ready: dict[str, Connector] = {}
        self._servers: dict[Path, LangGraphDevServer] = {}
        self._failures: dict[Path, ServerStartError] = {}

    def connector(self, name: str) -> Connector:
        """The named connector, with its agent started first if it is managed and not running."""
        ready = self._ready.get(name)
        if ready is None:
            ready = self._ready[name] = self._prepare(self.store.find(name))
        return ready

    def launch_dir(self, connector: Connector) -> Path | None:
        config = connector.config
        if not isinstance(config, LangGraphConnectorConfig) or not config.launch:
            return None
        target = Path(config.launch).expanduser()
        if not target.is_absolute():
            target = self.store.path.parent / target
        return target.parent if target.suffix == ".json" else target

    def _prepare(self, connector: Connector) -> Connector:
        project = self.launch_dir(connector)
        if project is None:
            return connector
        if answers(resolve(connector.base_url, connector=connector.name)):
            return connector
        if project in self._failures:  # tried once this session: do not pay the start-up again
            raise self._failures[project]
        server = self._servers.get(project)
        if server is None:
            try:
                server = self._servers[project] = self._launch(connector, project)
            except ServerStartError as exc:
                self._failures[project] = exc
                raise
        return connector.model_copy(update={"base_url": server.url})

    def _launch(self, connector: Connector, project: Path) -> LangGraphDevServer:
        from pytest_connectors.servers.launch import LangGraphDevServer

        if not (project / "langgraph.json").is_file():
            raise ServerStartError(
                f"connector {connector.name!r}: config.launch points at {project}, "
                "which holds no langgraph.json"
            )
        return LangGraphDevServer(project).start()

    def close(self) -> None:
        self.client.close()
        for server in self._servers.values():
            server.stop()
        self._servers.clear()
