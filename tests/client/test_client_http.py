"""invoke_connector / test_connector (and their async twins) against a real HTTP chat agent.

examples/http_agent/app.py is served by uvicorn: OpenAI-style replies on /v1/chat/completions and
one route per response shape on /shape/<name>, all behind a bearer token.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from pytest_connectors.client.clients import (
    ainvoke_connector,
    atest_connector,
    invoke_connector,
    test_connector,
)
from pytest_connectors.models.connector import Connector, ConnectorInvokeResult, Message, ToolCall
from pytest_connectors.servers.launch import UvicornServer

TOKEN_VARIABLE = "PYTEST_CONNECTORS_TEST_AGENT_TOKEN"


def make_connector(
    base_url: str, *, auth_value: str = f"${{{TOKEN_VARIABLE}}}", **config: Any
) -> Connector:
    now = datetime.now(UTC)
    return Connector.model_validate(
        {
            "id": str(uuid.uuid4()),
            "name": "chat",
            "type": "http",
            "baseUrl": base_url,
            "authType": "bearer",
            "authValue": auth_value,
            "config": {"path": "/v1/chat/completions", **config},
            "createdAt": now,
            "updatedAt": now,
        }
    )


@pytest.fixture
def agent_url(
    http_agent_server: UvicornServer, http_agent_token: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The agent's URL, with its token in the environment variable the connectors refer to."""
    monkeypatch.setenv(TOKEN_VARIABLE, http_agent_token)
    return http_agent_server.url


@pytest.fixture
def chat(agent_url: str) -> Connector:
    return make_connector(agent_url)


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def ok(result: ConnectorInvokeResult) -> ConnectorInvokeResult:
    assert result.success, result.error
    assert result.error is None
    return result


# --- the chat endpoint ------------------------------------------------------------------------


def test_reply_text(chat: Connector) -> None:
    result = ok(invoke_connector(chat, "hello"))
    assert result.text == "You said: hello"
    assert result.messages == [result.message]
    assert result.status_code == 200
    assert result.attempts == 1
    assert result.thread_id is None
    assert result.raw_response is not None
    assert '"chat.completion"' in result.raw_response
    assert result.latency_ms > 0


def test_tool_call_in_openai_shape_then_the_answer_from_the_tool_result(chat: Connector) -> None:
    question = user("What's the weather in Paris?")
    asked = ok(invoke_connector(chat, [question]))
    assert asked.message is not None
    assert asked.message.role == "assistant"
    assert asked.text == ""
    # OpenAI's function.arguments JSON string arrives as an args dict.
    assert asked.tool_calls == [
        ToolCall(id="call_weather_1", name="get_weather", args={"city": "Paris"}, type="tool_call")
    ]

    tool_result = Message(
        role="tool", content="Sunny, 21°C in Paris", tool_call_id="call_weather_1"
    )
    answered = ok(invoke_connector(chat, [question, asked.message, tool_result]))
    assert answered.text == "The weather in Paris is sunny, 21°C."
    assert answered.tool_calls == []


def test_the_whole_history_gives_the_agent_its_memory(chat: Connector) -> None:
    history: list[Message | dict[str, str]] = [user("Hi, my name is Ada.")]
    first = ok(invoke_connector(chat, history))
    assert first.text == "Nice to meet you, Ada."
    assert first.message is not None
    history += [first.message, user("What is my name?")]
    assert ok(invoke_connector(chat, history)).text == "Your name is Ada."
    # Without the history there is nothing to remember.
    assert ok(invoke_connector(chat, "What is my name?")).text == "I don't know your name yet."


def test_a_wrong_token_is_a_401_failure(agent_url: str) -> None:
    result = invoke_connector(make_connector(agent_url, auth_value="not-the-token"), "hello")
    assert not result.success
    assert result.error == "HTTP 401: invalid token"
    assert result.status_code == 401
    assert result.attempts == 1
    assert result.message is None


def test_an_agent_error_is_a_500_failure_with_the_detail(chat: Connector) -> None:
    result = invoke_connector(chat, "please fail")
    assert not result.success
    assert result.error == "HTTP 500: the agent failed on purpose"
    assert result.status_code == 500
    assert result.attempts == 1  # a 500 is the agent's answer, not a hiccup: not retried


def test_latency_is_measured_around_the_request(chat: Connector) -> None:
    result = ok(invoke_connector(chat, "sleep 200"))
    assert result.text == "Slept 200 ms."
    assert isinstance(result.latency_ms, float)
    assert 200 <= result.latency_ms < 2200


def test_a_slow_agent_times_out_at_the_configured_timeout(agent_url: str) -> None:
    connector = make_connector(agent_url, timeout=300)
    started = time.perf_counter()
    result = invoke_connector(connector, "sleep 2000")
    elapsed = time.perf_counter() - started
    assert not result.success
    assert result.error is not None
    assert result.error.startswith("timed out after 300 ms")
    assert "config.timeout" in result.error
    assert result.attempts == 1  # the agent may still be working: no second request
    assert elapsed < 1.8


def test_test_connector_on_the_http_agent(chat: Connector) -> None:
    result = test_connector(chat)
    assert result.success, result.error
    assert result.response == "You said: hello"
    assert result.latency_ms > 0


def test_test_connector_reports_a_wrong_token(agent_url: str) -> None:
    result = test_connector(make_connector(agent_url, auth_value="not-the-token"))
    assert not result.success
    assert result.error == "HTTP 401: invalid token"
    assert result.response is None


# --- response shapes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "config"),
    [
        ("openai", {}),
        ("message", {}),
        ("content", {}),
        ("response", {}),
        ("messages", {}),  # echoes the history first: only the new entry is the reply
        ("json-string", {}),
        ("text", {}),
        ("nested", {"responsePath": "data.reply.text"}),
    ],
)
def test_each_reply_shape_gives_the_same_answer(
    agent_url: str, shape: str, config: dict[str, Any]
) -> None:
    connector = make_connector(agent_url, path=f"/shape/{shape}", **config)
    history = [user("my name is Ada"), {"role": "assistant", "content": "Hi Ada"}, user("ping")]
    result = ok(invoke_connector(connector, history))
    assert result.messages == [Message(role="assistant", content="You said: ping")]
    assert result.message == result.messages[0]


def test_a_nested_reply_without_response_path_says_how_to_point_at_it(agent_url: str) -> None:
    result = invoke_connector(make_connector(agent_url, path="/shape/nested"), "ping")
    assert not result.success
    assert result.error is not None
    assert "top-level keys: data" in result.error
    assert "config.responsePath" in result.error


def test_langchain_shaped_tool_calls(agent_url: str) -> None:
    result = ok(invoke_connector(make_connector(agent_url, path="/shape/langchain-tools"), "ping"))
    assert result.tool_calls == [
        ToolCall(id="call_1", name="get_weather", args={"city": "Paris"}, type="tool_call")
    ]
    assert result.text == ""


@pytest.mark.parametrize(
    ("shape", "says"),
    [
        ("empty", "no assistant message"),
        ("html", "HTML page"),
        ("bad-json", "says it is JSON but is not"),
    ],
)
def test_a_200_that_is_not_a_chat_reply_is_a_failure(agent_url: str, shape: str, says: str) -> None:
    result = invoke_connector(make_connector(agent_url, path=f"/shape/{shape}"), "ping")
    assert not result.success
    assert result.error is not None
    assert result.error.startswith("HTTP 200, but ")
    assert says in result.error
    assert result.status_code == 200
    assert result.raw_response  # the body is kept, to see what came back
    assert result.message is None


def test_test_connector_accepts_any_200_reply(agent_url: str) -> None:
    # A connectivity check need not understand the reply; it shows what came back.
    result = test_connector(make_connector(agent_url, path="/shape/empty"))
    assert result.success, result.error
    assert result.response == "{}"


# --- async twins ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_invoke_gives_the_same_results(chat: Connector, agent_url: str) -> None:
    first = ok(await ainvoke_connector(chat, "my name is Ada"))
    assert first.message is not None
    second = ok(
        await ainvoke_connector(
            chat, [user("my name is Ada"), first.message, user("what is my name")]
        )
    )
    assert second.text == "Your name is Ada."

    tools = ok(await ainvoke_connector(chat, "What's the weather in Paris?"))
    assert [(c.name, c.args) for c in tools.tool_calls] == [("get_weather", {"city": "Paris"})]

    failed = await ainvoke_connector(chat, "please fail")
    assert (failed.success, failed.error) == (False, "HTTP 500: the agent failed on purpose")

    wrong = await ainvoke_connector(make_connector(agent_url, auth_value="nope"), "hello")
    assert wrong.error == "HTTP 401: invalid token"

    slow = await ainvoke_connector(make_connector(agent_url, timeout=300), "sleep 2000")
    assert slow.error is not None
    assert slow.error.startswith("timed out after 300 ms")


@pytest.mark.asyncio
async def test_async_test_connector(chat: Connector) -> None:
    result = await atest_connector(chat)
    assert result.success, result.error
    assert result.response == "You said: hello"


def test_a_reply_past_max_response_bytes_fails_on_a_real_socket(agent_url: str) -> None:
    """The limit holds on a network stream too, not only on in-memory test bodies."""
    connector = make_connector(agent_url, maxResponseBytes=300)
    result = invoke_connector(connector, "x" * 400)
    assert not result.success
    assert result.error is not None
    assert "larger than config.maxResponseBytes (300 bytes" in result.error
    assert ok(invoke_connector(connector, "short")).text == "You said: short"
