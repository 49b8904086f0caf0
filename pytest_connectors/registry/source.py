"""Where connector definitions come from, as the rest of the package sees it."""

from __future__ import annotations

import builtins
from typing import Protocol

from pytest_connectors.models.connector import Connector


class ConnectorSource(Protocol):
    """A place that holds connectors: the JSON file today, the database or the service next."""

    def find(self, ref: str) -> Connector:
        """The connector with this id or name, or ``ConnectorNotFoundError`` naming the known."""
        ...

    def list(self) -> list[Connector]: ...

    def names(self) -> builtins.list[str]: ...
