"""Test LLM agents through named connectors: LangGraph API servers and HTTP chat endpoints.

Layers, each importing only from the layers below it (checked by ``tests/test_architecture.py``):

    pytest_plugin | cli | service   entry points; only ``pytest_plugin`` imports pytest and only
                                    ``service`` and ``fakes`` the web framework
    replay                          production conversations replayed as test cases
    evaluation | imports | fakes    test-author API (conversations, tool-call assertions,
                                    latency); import connectors (providers, sync jobs); stand-in
                                    LangSmith and FullStory servers (the ``server`` extra)
    client | servers | storage      calling agents; launching local agent servers; the database
                                    (only ``storage`` opens it)
    registry                        where connector definitions come from
    wire                            sans-I/O requests and replies (OpenAI-style HTTP, LangGraph,
                                    OTLP trace exports)
    models                          pydantic schemas, no I/O
    _support                        leaf helpers: atomic writes, paths, ${VAR} references, secrets
    errors                          the one exception tree

Names are imported on first use, so loading the pytest plugin costs almost nothing for a suite
that never touches a connector.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_MODULES: dict[str, tuple[str, ...]] = {
    "models.connector": (
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
        "ApiKeyNotFoundError",
        "ConnectorError",
        "ConnectorFileError",
        "ConnectorNotFoundError",
        "ConversationNotFoundError",
        "CriteriaNotMet",
        "DatabaseError",
        "DuplicateConnectorNameError",
        "DuplicateImportConnectorError",
        "ImportConnectorNotFoundError",
        "InvalidInputError",
        "JobNotFoundError",
        "JobTimeoutError",
        "JudgeError",
        "MissingDependencyError",
        "MissingVariableError",
        "OutOfScopeError",
        "ProviderError",
        "ProviderPluginError",
        "RecordNotFoundError",
        "ReportFileError",
        "ScenarioFileError",
        "SchemaVersionError",
        "ScoreNotMet",
        "ServerStartError",
        "ServiceAuthError",
        "ServiceError",
        "SimulatorError",
    ),
    "imports.facade": ("Imports",),
    "registry.json_file": ("ConnectorStore",),
    "client.clients": (
        "AsyncConnectorClient",
        "ConnectorClient",
        "ainvoke_connector",
        "atest_connector",
        "invoke_connector",
        "test_connector",
    ),
    "evaluation.conversation": ("BoundInvoker", "ConnectorCallFailed", "Conversation"),
    "evaluation.scenarios": ("Persona", "Scenario", "ScenarioCase", "load_scenarios"),
    "evaluation.scorers": ("contains", "json_matches", "matches", "similar"),
    "evaluation.simulation": ("Simulation", "Simulator"),
    "evaluation.toolcalls": ("ToolCallMismatch", "assert_tool_calls"),
    "replay.compare": ("ReplayMismatch",),
    "evaluation.judging": ("Judge", "Judgement", "assert_criteria", "judged"),
    "registry.functions": (
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

__all__ = sorted(_EXPORTS)


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
    from pytest_connectors.client.clients import (
        AsyncConnectorClient as AsyncConnectorClient,
    )
    from pytest_connectors.client.clients import (
        ConnectorClient as ConnectorClient,
    )
    from pytest_connectors.client.clients import (
        ainvoke_connector as ainvoke_connector,
    )
    from pytest_connectors.client.clients import (
        atest_connector as atest_connector,
    )
    from pytest_connectors.client.clients import (
        invoke_connector as invoke_connector,
    )
    from pytest_connectors.client.clients import (
        test_connector as test_connector,
    )
    from pytest_connectors.errors import (
        ApiKeyNotFoundError as ApiKeyNotFoundError,
    )
    from pytest_connectors.errors import (
        ConnectorError as ConnectorError,
    )
    from pytest_connectors.errors import (
        ConnectorFileError as ConnectorFileError,
    )
    from pytest_connectors.errors import (
        ConnectorNotFoundError as ConnectorNotFoundError,
    )
    from pytest_connectors.errors import (
        ConversationNotFoundError as ConversationNotFoundError,
    )
    from pytest_connectors.errors import (
        CriteriaNotMet as CriteriaNotMet,
    )
    from pytest_connectors.errors import (
        DatabaseError as DatabaseError,
    )
    from pytest_connectors.errors import (
        DuplicateConnectorNameError as DuplicateConnectorNameError,
    )
    from pytest_connectors.errors import (
        DuplicateImportConnectorError as DuplicateImportConnectorError,
    )
    from pytest_connectors.errors import (
        ImportConnectorNotFoundError as ImportConnectorNotFoundError,
    )
    from pytest_connectors.errors import (
        InvalidInputError as InvalidInputError,
    )
    from pytest_connectors.errors import (
        JobNotFoundError as JobNotFoundError,
    )
    from pytest_connectors.errors import (
        JobTimeoutError as JobTimeoutError,
    )
    from pytest_connectors.errors import (
        JudgeError as JudgeError,
    )
    from pytest_connectors.errors import (
        MissingDependencyError as MissingDependencyError,
    )
    from pytest_connectors.errors import (
        MissingVariableError as MissingVariableError,
    )
    from pytest_connectors.errors import (
        OutOfScopeError as OutOfScopeError,
    )
    from pytest_connectors.errors import (
        ProviderError as ProviderError,
    )
    from pytest_connectors.errors import (
        ProviderPluginError as ProviderPluginError,
    )
    from pytest_connectors.errors import (
        RecordNotFoundError as RecordNotFoundError,
    )
    from pytest_connectors.errors import (
        ReportFileError as ReportFileError,
    )
    from pytest_connectors.errors import (
        ScenarioFileError as ScenarioFileError,
    )
    from pytest_connectors.errors import (
        SchemaVersionError as SchemaVersionError,
    )
    from pytest_connectors.errors import (
        ScoreNotMet as ScoreNotMet,
    )
    from pytest_connectors.errors import (
        ServerStartError as ServerStartError,
    )
    from pytest_connectors.errors import (
        ServiceAuthError as ServiceAuthError,
    )
    from pytest_connectors.errors import (
        ServiceError as ServiceError,
    )
    from pytest_connectors.errors import (
        SimulatorError as SimulatorError,
    )
    from pytest_connectors.evaluation.conversation import (
        BoundInvoker as BoundInvoker,
    )
    from pytest_connectors.evaluation.conversation import (
        ConnectorCallFailed as ConnectorCallFailed,
    )
    from pytest_connectors.evaluation.conversation import (
        Conversation as Conversation,
    )
    from pytest_connectors.evaluation.judging import Judge as Judge
    from pytest_connectors.evaluation.judging import Judgement as Judgement
    from pytest_connectors.evaluation.judging import assert_criteria as assert_criteria
    from pytest_connectors.evaluation.judging import judged as judged
    from pytest_connectors.evaluation.scenarios import Persona as Persona
    from pytest_connectors.evaluation.scenarios import Scenario as Scenario
    from pytest_connectors.evaluation.scenarios import ScenarioCase as ScenarioCase
    from pytest_connectors.evaluation.scenarios import load_scenarios as load_scenarios
    from pytest_connectors.evaluation.scorers import contains as contains
    from pytest_connectors.evaluation.scorers import json_matches as json_matches
    from pytest_connectors.evaluation.scorers import matches as matches
    from pytest_connectors.evaluation.scorers import similar as similar
    from pytest_connectors.evaluation.simulation import Simulation as Simulation
    from pytest_connectors.evaluation.simulation import Simulator as Simulator
    from pytest_connectors.evaluation.toolcalls import ToolCallMismatch as ToolCallMismatch
    from pytest_connectors.evaluation.toolcalls import assert_tool_calls as assert_tool_calls
    from pytest_connectors.imports.facade import Imports as Imports
    from pytest_connectors.models.connector import (
        AuthType as AuthType,
    )
    from pytest_connectors.models.connector import (
        Connector as Connector,
    )
    from pytest_connectors.models.connector import (
        ConnectorConfig as ConnectorConfig,
    )
    from pytest_connectors.models.connector import (
        ConnectorInvokeInput as ConnectorInvokeInput,
    )
    from pytest_connectors.models.connector import (
        ConnectorInvokeResult as ConnectorInvokeResult,
    )
    from pytest_connectors.models.connector import (
        ConnectorTestResult as ConnectorTestResult,
    )
    from pytest_connectors.models.connector import (
        ConnectorType as ConnectorType,
    )
    from pytest_connectors.models.connector import (
        ContentBlock as ContentBlock,
    )
    from pytest_connectors.models.connector import (
        CreateConnectorInput as CreateConnectorInput,
    )
    from pytest_connectors.models.connector import (
        HttpConnectorConfig as HttpConnectorConfig,
    )
    from pytest_connectors.models.connector import (
        LangGraphConnectorConfig as LangGraphConnectorConfig,
    )
    from pytest_connectors.models.connector import (
        Message as Message,
    )
    from pytest_connectors.models.connector import (
        ToolCall as ToolCall,
    )
    from pytest_connectors.models.connector import (
        UpdateConnectorInput as UpdateConnectorInput,
    )
    from pytest_connectors.registry.functions import (
        create_connector as create_connector,
    )
    from pytest_connectors.registry.functions import (
        delete_connector as delete_connector,
    )
    from pytest_connectors.registry.functions import (
        get_connector as get_connector,
    )
    from pytest_connectors.registry.functions import (
        get_connector_by_name as get_connector_by_name,
    )
    from pytest_connectors.registry.functions import (
        get_connector_types as get_connector_types,
    )
    from pytest_connectors.registry.functions import (
        list_connectors as list_connectors,
    )
    from pytest_connectors.registry.functions import (
        update_connector as update_connector,
    )
    from pytest_connectors.registry.json_file import ConnectorStore as ConnectorStore
    from pytest_connectors.replay.compare import ReplayMismatch as ReplayMismatch
