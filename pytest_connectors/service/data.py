"""What the routes ask of the data layer: the facade's backend, bound to the caller's scope.

One backend per request, over the one shared store, so every read and write the service makes
is filtered by the key that asked; the backend resolves ``ref`` as an id or a name within that
scope. A transient database failure (SQLite busy past its timeout, a PostgreSQL serialization
failure or deadlock) is retried whole: every call is one transaction, so a retry repeats
nothing that was committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pytest_connectors.imports.local import LocalBackend
from pytest_connectors.imports.reach import Reach
from pytest_connectors.models.imports import ImportConnector, Scope
from pytest_connectors.service.bodies import CreateConnectorBody
from pytest_connectors.service.problems import ServiceProblem
from pytest_connectors.storage.store import Store
from pytest_connectors.storage.transient import retry_transient

T = TypeVar("T")


class Data:
    def __init__(self, store: Store, reach: Reach) -> None:
        self.store = store
        self.reach = reach

    def backend(self, scope: Scope) -> LocalBackend:
        if scope.is_owner:  # never from a key: a key always names its tenant
            raise PermissionError("the service acts only for a tenant or an agent")
        return LocalBackend(store=self.store, scope=scope, reach=self.reach)

    def run(self, scope: Scope, action: Callable[[LocalBackend], T]) -> T:
        backend = self.backend(scope)
        return retry_transient(lambda: action(backend))

    def create_connector(self, scope: Scope, body: CreateConnectorBody) -> ImportConnector:
        """The create of the API and of the pages: with an agent key, the key's agent when the
        body names none."""
        agent_id = body.agent_id or scope.agent_id
        if agent_id is None:
            raise ServiceProblem(
                422, "agentId: a tenant-scoped key must name the agent the connector belongs to"
            )
        data = {
            "agentId": agent_id,
            "name": body.name,
            "category": body.category,
            "provider": body.provider,
            "config": body.config,
        }
        return self.run(scope, lambda b: b.create_connector(data))
