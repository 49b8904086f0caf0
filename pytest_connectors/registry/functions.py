"""Module-level registry functions on the default connector file.

The default file is looked up on every call (``$PYTEST_CONNECTORS_FILE``, then
``./data/connectors.json``), so changing directory or environment takes effect at once; pass
``path=`` to use another file, or keep a :class:`~pytest_connectors.store.ConnectorStore`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pytest_connectors._support.paths import ENV_FILE, resolve_path
from pytest_connectors.models.connector import (
    CONNECTOR_TYPE_DESCRIPTIONS,
    Connector,
    ConnectorType,
    CreateConnectorInput,
    UpdateConnectorInput,
)
from pytest_connectors.registry.json_file import ConnectorStore

PathArg = str | os.PathLike[str] | None

_stores: dict[str, ConnectorStore] = {}
_lookups: dict[tuple[str | None, str | None, str], ConnectorStore] = {}


def store_for(path: PathArg = None) -> ConnectorStore:
    """One store per file, so its read cache is shared by every call.

    Keyed on what decides the file (argument, environment, working directory), which is far
    cheaper than resolving the path on every call.
    """
    key = (None if path is None else os.fspath(path), os.environ.get(ENV_FILE), os.getcwd())
    store = _lookups.get(key)
    if store is None:
        resolved = str(resolve_path(path))
        store = _stores.get(resolved)
        if store is None:
            store = _stores[resolved] = ConnectorStore(resolved)
        _lookups[key] = store
    return store


def create_connector(
    data: CreateConnectorInput | Mapping[str, Any], *, path: PathArg = None
) -> Connector:
    return store_for(path).create(data)


def get_connector(connector_id: str, *, path: PathArg = None) -> Connector | None:
    return store_for(path).get(connector_id)


def get_connector_by_name(name: str, *, path: PathArg = None) -> Connector | None:
    return store_for(path).get_by_name(name)


def list_connectors(*, path: PathArg = None) -> list[Connector]:
    return store_for(path).list()


def update_connector(
    connector_id: str, data: UpdateConnectorInput | Mapping[str, Any], *, path: PathArg = None
) -> Connector | None:
    return store_for(path).update(connector_id, data)


def delete_connector(connector_id: str, *, path: PathArg = None) -> bool:
    return store_for(path).delete(connector_id)


def get_connector_types() -> dict[ConnectorType, str]:
    return dict(CONNECTOR_TYPE_DESCRIPTIONS)
