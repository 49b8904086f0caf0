"""Test LLM agents through named connectors: LangGraph API servers and HTTP chat endpoints.

Names are imported on first use, so loading the pytest plugin costs almost nothing for a suite
that never touches a connector.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_MODULES: dict[str, tuple[str, ...]] = {
    "models": (
        "AuthType",
        "Connector",
        "ConnectorConfig",
        "ConnectorInvokeInput",
        "ConnectorInvokeResult",
        "ConnectorTestResult",
        "ConnectorType",
        "ContentBlock",
        "CreateConnectorInput",
        "HttpConnectorConfig",
        "LangGraphConnectorConfig",
        "Message",
        "ToolCall",
        "UpdateConnectorInput",
    ),
    "errors": (
        "ConnectorError",
        "ConnectorFileError",
        "ConnectorNotFoundError",
        "DuplicateConnectorNameError",
        "InvalidInputError",
        "MissingVariableError",
        "ServerStartError",
    ),
    "store": ("ConnectorStore",),
    "client": (
        "AsyncConnectorClient",
        "ConnectorClient",
        "ainvoke_connector",
        "atest_connector",
        "invoke_connector",
        "test_connector",
    ),
    "conversation": ("BoundInvoker", "ConnectorCallFailed", "Conversation"),
    "toolcalls": ("ToolCallMismatch", "assert_tool_calls"),
    "registry": (
        "create_connector",
        "delete_connector",
        "get_connector",
        "get_connector_by_name",
        "get_connector_types",
        "list_connectors",
        "update_connector",
    ),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "AsyncConnectorClient",
    "AuthType",
    "BoundInvoker",
    "Connector",
    "ConnectorCallFailed",
    "ConnectorClient",
    "ConnectorConfig",
    "ConnectorError",
    "ConnectorFileError",
    "ConnectorInvokeInput",
    "ConnectorInvokeResult",
    "ConnectorNotFoundError",
    "ConnectorStore",
    "ConnectorTestResult",
    "ConnectorType",
    "ContentBlock",
    "Conversation",
    "CreateConnectorInput",
    "DuplicateConnectorNameError",
    "HttpConnectorConfig",
    "InvalidInputError",
    "LangGraphConnectorConfig",
    "Message",
    "MissingVariableError",
    "ServerStartError",
    "ToolCall",
    "ToolCallMismatch",
    "UpdateConnectorInput",
    "ainvoke_connector",
    "assert_tool_calls",
    "atest_connector",
    "create_connector",
    "delete_connector",
    "get_connector",
    "get_connector_by_name",
    "get_connector_types",
    "invoke_connector",
    "list_connectors",
    "test_connector",
    "update_connector",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_connectors' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from .client import (
        AsyncConnectorClient,
        ConnectorClient,
        ainvoke_connector,
        atest_connector,
        invoke_connector,
        test_connector,
    )
    from .conversation import BoundInvoker, ConnectorCallFailed, Conversation
    from .errors import (
        ConnectorError,
        ConnectorFileError,
        ConnectorNotFoundError,
        DuplicateConnectorNameError,
        InvalidInputError,
        MissingVariableError,
        ServerStartError,
    )
    from .models import (
        AuthType,
        Connector,
        ConnectorConfig,
        ConnectorInvokeInput,
        ConnectorInvokeResult,
        ConnectorTestResult,
        ConnectorType,
        ContentBlock,
        CreateConnectorInput,
        HttpConnectorConfig,
        LangGraphConnectorConfig,
        Message,
        ToolCall,
        UpdateConnectorInput,
    )
    from .registry import (
        create_connector,
        delete_connector,
        get_connector,
        get_connector_by_name,
        get_connector_types,
        list_connectors,
        update_connector,
    )
    from .store import ConnectorStore
    from .toolcalls import ToolCallMismatch, assert_tool_calls
