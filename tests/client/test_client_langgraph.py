"""invoke_connector / test_connector (and their async twins) against a real `langgraph dev`.

Each run on the in-memory server costs 0.5-1 s of queue polling, so every turn here checks as
much as it can.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from pytest_connectors.client.clients import (
    ainvoke_connector,
    atest_connector,
    invoke_connector,
    test_connector,
)
from pytest_connectors.client.flows import CANCEL_BUDGET_S
from pytest_connectors.models.connector import Connector, ConnectorInvokeResult, Message
from pytest_connectors.registry.json_file import ConnectorStore
from pytest_connectors.servers.launch import LangGraphDevServer
from pytest_connectors.wire.langgraph import thread_id_for

WEATHER_ANSWER = "The weather in Paris is sunny, 21°C."


def make_connector(base_url: str, **config: Any) -> Connector:
    now = datetime.now(UTC)
    return Connector.model_validate(
        {
            "id": str(uuid.uuid4()),
            "name": "graph",
            "type": "langgraph",
            "baseUrl": base_url,
            "config": {"assistantId": "agent", **config},
            "createdAt": now,
            "updatedAt": now,
        }
    )


@pytest.fixture
def graph(langgraph_server: LangGraphDevServer) -> Connector:
    return make_connector(langgraph_server.url)


@pytest.fixture
def sdk(langgraph_server: LangGraphDevServer) -> Iterator[SyncLangGraphClient]:
    """The server's own view of a thread, to check what the connector stored there."""
    with get_sync_client(url=langgraph_server.url, api_key=None) as client:
        yield client


def unique(prefix: str) -> str:
    """A run id no other test (or xdist worker sharing nothing) will reuse on this server."""
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def thread_messages(sdk: SyncLangGraphClient, thread_id: str) -> list[dict[str, Any]]:
    state = sdk.threads.get_state(thread_id)
    values = state["values"]
    assert isinstance(values, dict)
    messages: list[dict[str, Any]] = values["messages"]
    return messages


def ok(result: ConnectorInvokeResult) -> ConnectorInvokeResult:
    assert result.success, result.error
    assert result.error is None
    return result


# --- conversations ----------------------------------------------------------------------------


def test_whole_history_each_turn_keeps_memory_and_stores_each_message_once(
    graph: Connector, sdk: SyncLangGraphClient
) -> None:
    run_id = unique("my run")
    history: list[Message | dict[str, str]] = [user("Hi, my name is Ada.")]

    first = ok(invoke_connector(graph, history, run_id=run_id))
    assert first.text == "Nice to meet you, Ada."
    assert first.messages == [first.message]
    assert first.thread_id == thread_id_for(run_id)
    assert first.status_code == 200
    assert first.latency_ms > 0

    assert first.message is not None
    history += [first.message, user("How many messages are in this thread?")]
    second = ok(invoke_connector(graph, history, run_id=run_id))
    # Had the whole history been sent again, the graph would count 5 (or more), not 3.
    assert second.text == "This thread holds 3 messages."

    assert second.message is not None
    history += [second.message, user("What is my name?")]
    third = ok(invoke_connector(graph, history, run_id=run_id))
    assert third.text == "Your name is Ada."
    assert [m.text for m in third.messages] == ["Your name is Ada."]
    assert first.thread_id == second.thread_id == third.thread_id

    stored = thread_messages(sdk, third.thread_id)
    humans = [m["content"] for m in stored if m["type"] == "human"]
    assert humans == [
        "Hi, my name is Ada.",
        "How many messages are in this thread?",
        "What is my name?",
    ]
    contents = [m["content"] for m in stored]
    assert len(contents) == len(set(contents)) == 6


def test_only_the_new_message_each_turn_keeps_memory_under_a_free_text_run_id(
    graph: Connector, sdk: SyncLangGraphClient
) -> None:
    run_id = unique("ticket-42")
    first = ok(invoke_connector(graph, "My name is Grace.", run_id=run_id))
    assert first.text == "Nice to meet you, Grace."
    second = ok(invoke_connector(graph, [user("what is my name")], run_id=run_id))
    assert second.text == "Your name is Grace."

    # A run id that is not a UUID still names one stable thread.
    assert first.thread_id == second.thread_id == thread_id_for(run_id)
    assert first.thread_id is not None
    assert str(uuid.UUID(first.thread_id)) == first.thread_id
    assert len(thread_messages(sdk, first.thread_id)) == 4

    # Giving back a history the thread already holds has nothing to ask: said, not re-run.
    assert second.message is not None
    same = invoke_connector(graph, [user("what is my name"), second.message], run_id=run_id)
    assert not same.success
    assert same.error is not None
    assert "already holds every message" in same.error
    assert len(thread_messages(sdk, first.thread_id)) == 4


def test_tool_call_turn_returns_call_result_and_answer_in_order(
    graph: Connector, sdk: SyncLangGraphClient
) -> None:
    run_id = str(uuid.uuid4())
    result = ok(invoke_connector(graph, "What's the weather in Paris?", run_id=run_id))

    assert result.thread_id == run_id  # a UUID run id is used as is
    call_message, tool_message, answer = result.messages
    assert call_message.role == "assistant"
    assert call_message.tool_calls is not None
    [call] = call_message.tool_calls
    assert (call.name, call.args) == ("get_weather", {"city": "Paris"})
    assert call.id
    assert tool_message.role == "tool"
    assert tool_message.tool_call_id == call.id
    assert tool_message.text == "Sunny, 21°C in Paris"
    assert answer.role == "assistant"
    assert answer.text == WEATHER_ANSWER
    assert result.message == answer
    assert result.text == WEATHER_ANSWER
    assert result.tool_calls == [call]
    assert len(thread_messages(sdk, run_id)) == 4


# --- failures the server reports ----------------------------------------------------------------


def test_a_graph_that_raises_is_a_failure_not_an_exception(graph: Connector) -> None:
    result = invoke_connector(graph, "please fail")
    assert not result.success
    assert result.error == "RuntimeError: the agent failed on purpose"
    assert result.status_code == 200
    assert result.raw_response is not None
    assert "__error__" in result.raw_response
    assert result.message is None
    assert result.messages == []
    assert result.attempts == 1


def test_unknown_assistant_reports_the_servers_422_detail(
    langgraph_server: LangGraphDevServer,
) -> None:
    connector = make_connector(langgraph_server.url, assistantId="no-such-graph")
    result = invoke_connector(connector, "hello")
    assert not result.success
    assert result.error is not None
    assert result.error.startswith("HTTP 422")
    assert "no-such-graph" in result.error
    assert result.status_code == 422
    assert result.attempts == 1  # a client error is not retried


# --- stateless calls and the connectivity check -------------------------------------------------


def test_stateless_call_by_name_from_a_connector_file(graph: Connector, tmp_path: Path) -> None:
    path = tmp_path / "connectors.json"
    ConnectorStore(path).create(
        {"name": "graph", "type": "langgraph", "baseUrl": graph.base_url, "config": graph.config}
    )
    result = ok(invoke_connector("graph", "hello", path=path))
    assert result.text == "You said: hello"
    assert result.thread_id is None
    assert [m.role for m in result.messages] == ["assistant"]


def test_test_connector_says_hello(graph: Connector) -> None:
    result = test_connector(graph)
    assert result.success, result.error
    assert result.response == "You said: hello"
    assert result.latency_ms > 0
    assert result.error is None


# --- the async twins --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_conversation_keeps_memory_on_the_same_thread(
    graph: Connector, sdk: SyncLangGraphClient
) -> None:
    run_id = unique("async run")
    history: list[Message | dict[str, str]] = [user("my name is Alan")]
    first = ok(await ainvoke_connector(graph, history, run_id=run_id))
    assert first.text == "Nice to meet you, Alan."
    assert first.message is not None
    history += [first.message, user("What is my name?")]
    second = ok(await ainvoke_connector(graph, history, run_id=run_id))
    assert second.text == "Your name is Alan."
    assert first.thread_id == second.thread_id == thread_id_for(run_id)
    assert second.thread_id is not None
    humans = [m["content"] for m in thread_messages(sdk, second.thread_id) if m["type"] == "human"]
    assert humans == ["my name is Alan", "What is my name?"]


@pytest.mark.asyncio
async def test_async_tool_call_turn(graph: Connector) -> None:
    result = ok(await ainvoke_connector(graph, "What's the weather in Paris?", run_id=unique("w")))
    assert [m.role for m in result.messages] == ["assistant", "tool", "assistant"]
    assert [(c.name, c.args) for c in result.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert result.text == WEATHER_ANSWER


@pytest.mark.asyncio
async def test_async_graph_error_and_unknown_assistant(graph: Connector) -> None:
    failed = await ainvoke_connector(graph, "please fail")
    assert (failed.success, failed.error) == (False, "RuntimeError: the agent failed on purpose")
    assert failed.raw_response is not None
    assert "__error__" in failed.raw_response

    wrong = make_connector(graph.base_url, assistantId="no-such-graph")
    result = await ainvoke_connector(wrong, "hello")
    assert not result.success
    assert result.error is not None
    assert result.error.startswith("HTTP 422")


@pytest.mark.asyncio
async def test_async_test_connector(graph: Connector) -> None:
    result = await atest_connector(graph)
    assert result.success, result.error
    assert result.response == "You said: hello"
    assert result.latency_ms > 0


# --- timeouts ---------------------------------------------------------------------------------


def _run_statuses(sdk: SyncLangGraphClient, thread_id: str) -> list[str]:
    """The thread's run statuses once none is pending or running (waits up to 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        statuses = [str(run["status"]) for run in sdk.runs.list(thread_id)]
        if not {"pending", "running"} & set(statuses) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.2)


def test_a_slow_run_times_out_at_the_configured_timeout_and_is_cancelled(
    langgraph_server: LangGraphDevServer, sdk: SyncLangGraphClient
) -> None:
    """The whole call (state look-up, run, cancel) ends near config.timeout, not 10 x later."""
    connector = make_connector(langgraph_server.url, timeout=2000)
    started = time.perf_counter()
    result = invoke_connector(connector, "sleep 15000", run_id=unique("slow"))
    elapsed = time.perf_counter() - started
    assert not result.success
    assert result.error is not None
    assert result.error.startswith("timed out after 2000 ms")
    assert result.error.endswith("; the run was stopped on the server")
    assert result.attempts == 1
    assert elapsed < 2 + CANCEL_BUDGET_S + 1.5
    assert result.thread_id is not None
    assert _run_statuses(sdk, result.thread_id) == ["interrupted"]


@pytest.mark.asyncio
async def test_a_slow_stateless_run_times_out_too(langgraph_server: LangGraphDevServer) -> None:
    connector = make_connector(langgraph_server.url, timeout=1500)
    started = time.perf_counter()
    result = await ainvoke_connector(connector, "sleep 15000")
    elapsed = time.perf_counter() - started
    assert result.error is not None
    assert result.error.startswith("timed out after 1500 ms")
    assert elapsed < 1.5 + 1.5
