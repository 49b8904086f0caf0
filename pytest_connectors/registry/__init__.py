"""Where connector definitions come from: the JSON connector file today.

The module-level functions work on the default file (``$PYTEST_CONNECTORS_FILE``, then
``./data/connectors.json``); :class:`ConnectorStore` works on one file.
"""

from pytest_connectors.registry.functions import (
    PathArg,
    create_connector,
    delete_connector,
    get_connector,
    get_connector_by_name,
    get_connector_types,
    list_connectors,
    store_for,
    update_connector,
)
from pytest_connectors.registry.json_file import ConnectorStore
from pytest_connectors.registry.merge import apply_update, merge_config
from pytest_connectors.registry.source import ConnectorSource

__all__ = [
    "ConnectorSource",
    "ConnectorStore",
    "PathArg",
    "apply_update",
    "create_connector",
    "delete_connector",
    "get_connector",
    "get_connector_by_name",
    "get_connector_types",
    "list_connectors",
    "merge_config",
    "store_for",
    "update_connector",
]
