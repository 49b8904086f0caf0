"""What a test session shares: the connector file, one client, and the agents it launched.

A connector is made ready once per session: by the ``prepare`` callable when one is given (the
pytest plugin passes its ``pytest_connectors_prepare`` hook), else by its ``config.launch``
(see `pytest_connectors.servers.managed`). The result, or the error, is kept for the session,
so a test never pays for a start-up that already failed.

Run ids in tests name threads private to one test of one session (`TestThreads`): every run
of a suite, and every test in it, starts from fresh LangGraph threads.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

from pytest_connectors.client.clients import ConnectorClient
from pytest_connectors.errors import ConnectorError
from pytest_connectors.models.connector import Connector
from pytest_connectors.registry.json_file import ConnectorStore
from pytest_connectors.servers.managed import ManagedAgents

__all__ = ["ConnectorSession", "Prepare", "TestThreads"]

# Given a connector and the session, the connector to use; None lets config.launch decide.
Prepare = Callable[[Connector, "ConnectorSession"], Connector | None]

_TEST_THREADS = uuid.UUID("2b9d8a8e-5f71-4f0c-a3a4-0c6f7d1e9b52")


class TestThreads:
    """Thread ids for run ids used inside tests, private to one test of one session.

    ``thread_for(test, run_id)`` is a UUID derived from this session's random id, the test's
    node id and the run id: the same run id names the same thread within a test, and a
    different one in any other test, or in any later run against a long-lived server.
    """

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, session_id: str | None = None) -> None:
        self.session_id = session_id or uuid.uuid4().hex

    def thread_for(self, test: str, run_id: str) -> str:
        return str(uuid.uuid5(_TEST_THREADS, f"{self.session_id}\0{test}\0{run_id}"))


class ConnectorSession:
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        prepare: Prepare | None = None,
        log_dir: Path | None = None,
    ) -> None:
        """``log_dir`` keeps the logs of the agents the session launches (else removed)."""
        self.store = ConnectorStore(path)
        self.client = ConnectorClient(path=self.store.path)
        self.agents = ManagedAgents(self.store.path.parent, log_dir=log_dir)
        self.threads = TestThreads()
        self._prepare = prepare
        self._ready: dict[str, Connector] = {}
        self._failures: dict[str, ConnectorError] = {}

    def connector(self, name: str) -> Connector:
        """The named connector, ready to call: its agent started first if it must be."""
        ready = self._ready.get(name)
        if ready is not None:
            return ready
        if name in self._failures:
            raise self._failures[name]
        try:
            ready = self._make_ready(self.store.find(name))
        except ConnectorError as exc:
            self._failures[name] = exc
            raise
        self._ready[name] = ready
        return ready

    def _make_ready(self, connector: Connector) -> Connector:
        if self._prepare is not None:
            prepared = self._prepare(connector, self)
            if prepared is not None:
                return prepared
        return self.launch(connector)

    def launch(self, connector: Connector) -> Connector:
        """The connector, pointed at its ``config.launch`` agent if that had to be started."""
        return self.agents.prepare(connector)

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            self.agents.close()
