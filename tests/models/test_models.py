"""The connector models: JSON round trips with the file format's camelCase keys, and masking."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from pytest_connectors.models.connector import (
    AuthType,
    Connector,
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

SECRET = "sk-live-SECRET-123"

HTTP_CONFIG = {
    "method": "PUT",
    "headers": {"X-Tenant": "acme", "X-Trace": "on"},
    "timeout": 30000,
    "path": "/v1/chat",
    "responsePath": "choices.0.message.content",
    "retries": 3,
    "retryBackoffMs": 250.0,
}
LANGGRAPH_CONFIG = {
    "assistantId": "support-agent",
    "launch": "examples/langgraph.json",
    "headers": {"X-Api-Version": "2"},
    "timeout": 60000,
    "retries": 1,
    "retryBackoffMs": 100.0,
}


def http_record(**overrides: Any) -> dict[str, Any]:
    record = {
        "id": "9b2e4d71-0c3a-4f58-8e6b-2a7d1c9f4e30",
        "name": "Production API",
        "type": "http",
        "baseUrl": "https://api.example.com",
        "authType": "bearer",
        "authValue": SECRET,
        "config": HTTP_CONFIG,
        "createdAt": "2024-01-15T10:30:00.000Z",
        "updatedAt": "2024-02-03T17:45:12.345Z",
    }
    return {**record, **overrides}


def langgraph_record(**overrides: Any) -> dict[str, Any]:
    record = {
        "id": "3f6c1a52-8d4e-4b7a-9c21-5e0f7d2a8b14",
        "name": "Support Agent",
        "type": "langgraph",
        "baseUrl": "http://localhost:2024",
        "authType": "api-key",
        "authValue": "${LANGSMITH_API_KEY}",
        "config": LANGGRAPH_CONFIG,
        "createdAt": "2024-01-15T10:30:00.000Z",
        "updatedAt": "2024-01-15T10:30:00.000Z",
    }
    return {**record, **overrides}


def round_trip(model: BaseModel) -> dict[str, Any]:
    """Assert the model survives its own JSON; return the dumped object for key checks."""
    dumped = model.model_dump_json()
    assert type(model).model_validate_json(dumped) == model
    return json.loads(dumped)


# -- Connector ---------------------------------------------------------------------------------


def test_http_connector_round_trips_with_camel_case_keys() -> None:
    connector = Connector.model_validate(http_record())

    dumped = round_trip(connector)

    assert dumped == http_record()
    assert isinstance(connector.config, HttpConnectorConfig)
    assert connector.base_url == "https://api.example.com"
    assert connector.auth_type is AuthType.BEARER
    assert connector.config.response_path == "choices.0.message.content"
    assert connector.config.retry_backoff_ms == 250.0


def test_langgraph_connector_round_trips_with_camel_case_keys() -> None:
    connector = Connector.model_validate(langgraph_record())

    dumped = round_trip(connector)

    assert dumped == langgraph_record()
    assert isinstance(connector.config, LangGraphConnectorConfig)
    assert connector.type is ConnectorType.LANGGRAPH
    assert connector.config.assistant_id == "support-agent"
    assert connector.config.launch == "examples/langgraph.json"


def test_connector_accepts_snake_case_names() -> None:
    snake = {
        "id": "3f6c1a52-8d4e-4b7a-9c21-5e0f7d2a8b14",
        "name": "Support Agent",
        "type": "langgraph",
        "base_url": "http://localhost:2024",
        "auth_type": "api-key",
        "auth_value": "${LANGSMITH_API_KEY}",
        "config": {
            "assistant_id": "support-agent",
            "launch": "examples/langgraph.json",
            "headers": {"X-Api-Version": "2"},
            "timeout": 60000,
            "retries": 1,
            "retry_backoff_ms": 100.0,
        },
        "created_at": "2024-01-15T10:30:00.000Z",
        "updated_at": "2024-01-15T10:30:00.000Z",
    }

    assert Connector.model_validate(snake) == Connector.model_validate(langgraph_record())


@pytest.mark.parametrize(
    ("given", "written"),
    [
        (datetime(2024, 1, 15, 10, 30, tzinfo=UTC), "2024-01-15T10:30:00.000Z"),
        ("2024-01-15T10:30:00.000Z", "2024-01-15T10:30:00.000Z"),
        ("2024-01-15T12:30:00.123+02:00", "2024-01-15T10:30:00.123Z"),
    ],
)
def test_timestamps_are_written_like_javascript_to_iso_string(
    given: datetime | str, written: str
) -> None:
    connector = Connector.model_validate(http_record(createdAt=given, updatedAt=given))

    assert connector.model_dump(mode="json")["createdAt"] == written
    assert json.loads(connector.model_dump_json())["updatedAt"] == written


def test_config_class_follows_the_connector_type() -> None:
    # The same keys would fit both config classes; the record's type decides.
    config = {"headers": {"X-A": "1"}, "assistantId": "agent"}

    as_langgraph = Connector.model_validate(langgraph_record(config=config))
    as_http = Connector.model_validate(http_record(config=config))

    assert isinstance(as_langgraph.config, LangGraphConnectorConfig)
    assert isinstance(as_http.config, HttpConnectorConfig)
    with pytest.raises(ValueError, match="assistantId"):
        Connector.model_validate(langgraph_record(config={"path": "/chat"}))


def test_http_method_is_upper_cased() -> None:
    connector = Connector.model_validate(http_record(config={"method": "patch"}))

    assert isinstance(connector.config, HttpConnectorConfig)
    assert connector.config.method == "PATCH"


# -- inputs ------------------------------------------------------------------------------------


def test_create_input_round_trips_with_camel_case_keys() -> None:
    data = {
        "name": "Production API",
        "type": "http",
        "baseUrl": "https://api.example.com",
        "authType": "bearer",
        "authValue": SECRET,
        "config": HTTP_CONFIG,
    }
    created = CreateConnectorInput.model_validate(data)

    assert round_trip(created) == data
    assert created == CreateConnectorInput(
        name="Production API",
        type=ConnectorType.HTTP,
        base_url="https://api.example.com",
        auth_type=AuthType.BEARER,
        auth_value=SECRET,
        config=HttpConnectorConfig.model_validate(HTTP_CONFIG),
    )


def test_update_input_round_trips_with_camel_case_keys() -> None:
    data = {
        "name": "Support Agent v2",
        "type": "langgraph",
        "baseUrl": "http://localhost:8123",
        "authType": "none",
        "authValue": "${TOKEN}",
        "config": LANGGRAPH_CONFIG,
    }
    update = UpdateConnectorInput.model_validate(data)

    assert round_trip(update) == data


def test_update_input_dumps_only_the_fields_that_were_set() -> None:
    update = UpdateConnectorInput(base_url="http://localhost:8123", auth_value=None)

    dumped = update.model_dump_json(exclude_unset=True)

    assert json.loads(dumped) == {"baseUrl": "http://localhost:8123", "authValue": None}
    assert UpdateConnectorInput.model_validate_json(dumped).model_fields_set == {
        "base_url",
        "auth_value",
    }


# -- results and messages ------------------------------------------------------------------------


def test_connector_test_result_round_trips() -> None:
    result = ConnectorTestResult(success=True, latency_ms=12.5, response="hello", attempts=2)

    assert round_trip(result) == {
        "success": True,
        "latencyMs": 12.5,
        "response": "hello",
        "error": None,
        "attempts": 2,
    }
    assert ConnectorTestResult.model_validate({"success": False, "latency_ms": 3}).latency_ms == 3


def full_message() -> Message:
    return Message.model_validate(
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Looking it up. "},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
            "tool_calls": [
                {"id": "call_1", "name": "search", "args": {"q": "weather"}, "type": "tool_call"}
            ],
            "tool_call_id": "call_0",
            "name": "planner",
            "additional_kwargs": {"refusal": None},
            "response_metadata": {"model_name": "gpt-4o", "finish_reason": "tool_calls"},
            "id": "run-1-msg-2",
        }
    )


def test_message_round_trips_with_snake_case_keys() -> None:
    message = full_message()

    dumped = round_trip(message)

    assert set(dumped) == {
        "role",
        "content",
        "tool_calls",
        "tool_call_id",
        "name",
        "additional_kwargs",
        "response_metadata",
        "id",
    }
    assert dumped["tool_calls"] == [
        {"id": "call_1", "name": "search", "args": {"q": "weather"}, "type": "tool_call"}
    ]
    assert dumped["content"][1] == {
        "type": "image_url",
        "text": None,
        "image_url": {"url": "https://example.com/a.png"},
    }
    assert message.text == "Looking it up. "


def test_tool_call_and_content_block_round_trip_with_unknown_keys() -> None:
    call = ToolCall.model_validate({"name": "search", "args": {"q": "x"}, "index": 0})
    block = ContentBlock.model_validate({"type": "text", "text": "hi", "cache_control": "eph"})

    assert round_trip(call) == {
        "id": None,
        "name": "search",
        "args": {"q": "x"},
        "type": None,
        "index": 0,
    }
    assert round_trip(block) == {"type": "text", "text": "hi", "cache_control": "eph"}


def test_invoke_input_round_trips_with_camel_case_keys() -> None:
    invoke = ConnectorInvokeInput(messages=[Message(role="user", content="hello")], run_id="run-42")

    dumped = round_trip(invoke)

    assert set(dumped) == {"messages", "runId"}
    assert dumped["runId"] == "run-42"
    assert ConnectorInvokeInput.model_validate(
        {"messages": [{"role": "user", "content": "hello"}], "runId": "run-42"}
    ) == ConnectorInvokeInput.model_validate(
        {"messages": [{"role": "user", "content": "hello"}], "run_id": "run-42"}
    )


def test_invoke_result_round_trips_with_camel_case_keys() -> None:
    answer = Message(role="assistant", content="It is sunny.")
    result = ConnectorInvokeResult(
        success=True,
        latency_ms=842.0,
        message=answer,
        messages=[full_message(), Message(role="tool", content="sunny"), answer],
        thread_id="thread-7",
        raw_response='{"messages": []}',
        status_code=200,
        attempts=1,
    )

    dumped = round_trip(result)

    assert set(dumped) == {
        "success",
        "latencyMs",
        "message",
        "messages",
        "threadId",
        "rawResponse",
        "error",
        "statusCode",
        "attempts",
    }
    assert dumped["latencyMs"] == 842.0
    assert dumped["threadId"] == "thread-7"
    assert dumped["statusCode"] == 200
    assert "tool_calls" in dumped["messages"][0]
    assert result.text == "It is sunny."
    assert [call.name for call in result.tool_calls] == ["search"]


# -- the auth value never shows ------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        Connector.model_validate(http_record()),
        CreateConnectorInput.model_validate(http_record()),
        UpdateConnectorInput(auth_value=SECRET),
    ],
    ids=["Connector", "CreateConnectorInput", "UpdateConnectorInput"],
)
def test_repr_and_str_mask_a_literal_auth_value(model: BaseModel) -> None:
    for shown in (repr(model), str(model)):
        assert SECRET not in shown
        assert "auth_value='****'" in shown


def test_repr_shows_a_variable_reference_as_written() -> None:
    connector = Connector.model_validate(langgraph_record(authValue="${LANGSMITH_API_KEY}"))

    assert "auth_value='${LANGSMITH_API_KEY}'" in repr(connector)
    assert "auth_value='${LANGSMITH_API_KEY}'" in str(connector)


SECRET_HEADERS = {
    "X-Api-Token": "tok-LITERAL-1",
    "X-API-Key": "key-LITERAL-2",
    "Cookie": "session=LITERAL-3",
    "X-Auth": "prefix-${AUTH_VAR}",
}


@pytest.mark.parametrize(
    "model",
    [
        lambda: Connector.model_validate(http_record(config={"headers": SECRET_HEADERS})),
        lambda: CreateConnectorInput.model_validate(
            http_record(config={"headers": SECRET_HEADERS})
        ),
        lambda: UpdateConnectorInput(config={"headers": SECRET_HEADERS}),
        lambda: LangGraphConnectorConfig(assistant_id="a", headers=SECRET_HEADERS),
    ],
    ids=["Connector", "CreateConnectorInput", "UpdateConnectorInput", "config"],
)
def test_repr_and_str_mask_literal_values_of_secret_looking_headers(model: Any) -> None:
    built = model()

    for shown in (repr(built), str(built)):
        for value in ("tok-LITERAL-1", "key-LITERAL-2", "LITERAL-3", "prefix-"):
            assert value not in shown
        assert "'X-Api-Token': '****'" in shown
        assert "'X-Auth': '****${AUTH_VAR}'" in shown  # the reference stays readable


def test_repr_shows_ordinary_headers_and_masks_secret_looking_unknown_keys() -> None:
    connector = Connector.model_validate(
        http_record(
            config={"headers": {"X-Tenant": "acme"}, "apiKey": "LITERAL-4"},
            baseUrl="https://user:pw-LITERAL-5@api.example.com/v1?key=LITERAL-6&lang=en",
            sessionToken="LITERAL-7",
        )
    )

    shown = repr(connector)

    assert "'X-Tenant': 'acme'" in shown
    assert "lang=en" in shown
    for value in ("LITERAL-4", "LITERAL-5", "LITERAL-6", "LITERAL-7"):
        assert value not in shown


# -- input checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", " \t", "must not be blank"),
        ("name", "a\nb", "control characters"),
        ("name", "a\x00", "control characters"),
        ("baseUrl", "http://", "has no host"),
        ("baseUrl", "https://:443/x", "has no host"),
        ("baseUrl", "https://?q=1", "has no host"),
        ("baseUrl", "http://a b.example.com", "spaces"),
    ],
)
def test_create_input_refuses_names_and_urls_no_request_could_use(
    field: str, value: str, message: str
) -> None:
    data = {"name": "ok", "type": "http", "baseUrl": "https://api.example.com", field: value}

    with pytest.raises(ValueError, match=message):
        CreateConnectorInput.model_validate(data)
    with pytest.raises(ValueError, match=message):
        UpdateConnectorInput.model_validate({field: value})


def test_a_name_may_hold_any_printable_text() -> None:
    name = "Support bot — équipe 👩‍💻 #2"

    assert (
        CreateConnectorInput(name=name, type=ConnectorType.HTTP, base_url="http://h").name == name
    )


@pytest.mark.parametrize(
    "url",
    ["${AGENT_URL}", "http://${HOST}:8000", "https://user@example.com/", "http://[::1]:2024"],
)
def test_urls_with_references_or_userinfo_are_accepted(url: str) -> None:
    assert CreateConnectorInput(name="ok", type=ConnectorType.HTTP, base_url=url).base_url == url


@pytest.mark.parametrize("timeout", [float("inf"), float("nan")])
def test_a_timeout_must_be_a_finite_number(timeout: float) -> None:
    with pytest.raises(ValueError, match=r"finite|greater than 0"):
        HttpConnectorConfig(timeout=timeout)


def test_a_config_problem_is_located_under_config() -> None:
    with pytest.raises(ValueError) as caught:
        Connector.model_validate(http_record(config={"retries": 99}))

    assert caught.value.errors()[0]["loc"] == ("config", "retries")  # type: ignore[attr-defined]
