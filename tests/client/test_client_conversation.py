"""Conversations that answer the tool calls an agent leaves to the caller (OpenAI function calling).

The example HTTP agent (examples/http_agent/app.py, served by uvicorn) asks for ``get_weather``
and answers from the ``tool`` message it gets back, as an OpenAI-compatible model would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agent_connectors import TOKEN_VARIABLE, make_connector

from pytest_connectors.client.clients import ConnectorClient
from pytest_connectors.errors import InvalidInputError
from pytest_connectors.evaluation.conversation import (
    MAX_TOOL_ROUNDS,
    BoundInvoker,
    ConnectorCallFailed,
    Conversation,
)
from pytest_connectors.models.connector import Connector
from pytest_connectors.servers.launch import LangGraphDevServer, UvicornServer

WEATHER = "What's the weather in Paris?"


@pytest.fixture
def chat(
    http_agent_server: UvicornServer, http_agent_token: str, monkeypatch: pytest.MonkeyPatch
) -> Connector:
    monkeypatch.setenv(TOKEN_VARIABLE, http_agent_token)
    return make_connector(http_agent_server.url)


@pytest.fixture
def client() -> Iterator[ConnectorClient]:
    with ConnectorClient() as shared:
        yield shared


def conversation(connector: Connector, client: ConnectorClient, **kwargs: Any) -> Conversation:
    return Conversation(connector, run_id=f"run {uuid.uuid4()}", client=client, **kwargs)


class Weather:
    """A tool that remembers how it was called."""

    def __init__(self, forecast: str = "Rainy, 9°C") -> None:
        self.forecast = forecast
        self.calls: list[dict[str, Any]] = []

    def __call__(self, city: str) -> str:
        self.calls.append({"city": city})
        return f"{self.forecast} in {city}"


def test_tools_answer_the_calls_until_the_agent_answers_in_text(
    chat: Connector, client: ConnectorClient
) -> None:
    weather = Weather()
    recorded: list[float] = []
    talk = conversation(chat, client, on_result=lambda r: recorded.append(r.latency_ms))
    reply = talk.send(WEATHER, tools={"get_weather": weather})
    assert reply.success, reply.error
    assert reply.text == "The weather in Paris is rainy, 9°C."
    assert weather.calls == [{"city": "Paris"}]
    assert [call.name for call in reply.tool_calls] == ["get_weather"]
    assert [m.role for m in reply.messages] == ["assistant", "tool", "assistant"]
    tool = reply.messages[1]
    assert (tool.content, tool.name) == ("Rainy, 9°C in Paris", "get_weather")
    assert tool.tool_call_id == reply.tool_calls[0].id
    assert [m.role for m in talk.messages] == ["user", "assistant", "tool", "assistant"]
    assert talk.pending_tool_calls == []
    assert len(recorded) == 2  # each call is reported: the tool call, then the answer
    assert reply.latency_ms == pytest.approx(sum(recorded))
    assert reply.attempts == 2


def test_tools_given_to_the_conversation_serve_every_turn(
    chat: Connector, client: ConnectorClient
) -> None:
    weather = Weather("Snow, -2°C")
    talk = conversation(chat, client, tools={"get_weather": weather})
    assert talk.send(WEATHER).text == "The weather in Paris is snow, -2°C."
    assert talk.send("And the weather in Rome?").text == "The weather in Rome is snow, -2°C."
    assert [call.args["city"] for call in talk.tool_calls] == ["Paris", "Rome"]


def test_tool_calls_can_be_answered_by_hand(chat: Connector, client: ConnectorClient) -> None:
    talk = conversation(chat, client)
    first = talk.send(WEATHER)
    assert first.text == ""
    [pending] = talk.pending_tool_calls
    assert (pending.name, pending.args) == ("get_weather", {"city": "Paris"})
    assert pending.id is not None
    answer = talk.answer_tool_calls({pending.id: "Foggy, 11°C in Paris"})
    assert answer.text == "The weather in Paris is foggy, 11°C."
    assert talk.pending_tool_calls == []
    assert [m.role for m in talk.messages] == ["user", "assistant", "tool", "assistant"]


def test_answers_by_tool_name_and_a_missing_answer_says_which(
    chat: Connector, client: ConnectorClient
) -> None:
    talk = conversation(chat, client)
    talk.send(WEATHER)
    with pytest.raises(InvalidInputError, match=r"no result given for tool call 'get_weather'"):
        talk.answer_tool_calls({"other_tool": "x"})
    result = talk.answer_tool_calls({"get_weather": {"forecast": "hail"}})
    assert result.success
    assert json.loads(talk.messages[2].text) == {"forecast": "hail"}
    with pytest.raises(InvalidInputError, match="no tool call is waiting"):
        talk.answer_tool_calls({"get_weather": "x"})


def test_a_tool_the_test_did_not_give_is_left_pending(
    chat: Connector, client: ConnectorClient
) -> None:
    talk = conversation(chat, client, tools={"get_time": lambda: "noon"})
    reply = talk.send(WEATHER)
    assert reply.success
    assert [call.name for call in talk.pending_tool_calls] == ["get_weather"]


@pytest.mark.asyncio
async def test_asend_runs_the_same_tool_loop(chat: Connector, client: ConnectorClient) -> None:
    weather = Weather()
    talk = conversation(chat, client)
    reply = await talk.asend(WEATHER, tools={"get_weather": weather})
    assert reply.text == "The weather in Paris is rainy, 9°C."
    assert weather.calls == [{"city": "Paris"}]
    talk.send("And the weather in Rome?")
    answered = await talk.aanswer_tool_calls({"get_weather": "Hot, 30°C in Rome"})
    assert answered.text == "The weather in Rome is hot, 30°C."


def _always_a_tool_call(request: httpx.Request) -> httpx.Response:
    call = {"id": f"c{uuid.uuid4().hex[:6]}", "function": {"name": "spin", "arguments": "{}"}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    return httpx.Response(200, json={"choices": [{"message": message}]})


def test_an_agent_that_never_stops_asking_for_tools_fails_the_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, "t")
    with ConnectorClient(transport=httpx.MockTransport(_always_a_tool_call)) as mock:
        talk = conversation(make_connector("http://agent.test"), mock)
        with pytest.raises(ConnectorCallFailed, match="still asked for tools after"):
            talk.send("go", tools={"spin": lambda: "again"})
    assert len(talk.last.tool_calls) == MAX_TOOL_ROUNDS + 1


def _run_bodies(requests: list[httpx.Request]) -> list[dict[str, Any]]:
    return [json.loads(r.content) for r in requests if r.url.path.endswith("/runs/wait")]


def test_langgraph_config_and_context_reach_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, "t")
    seen: list[httpx.Request] = []

    def graph(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        sent = json.loads(request.content)["input"]["messages"]
        state = [*sent, {"type": "ai", "content": "done", "id": "a1"}]
        return httpx.Response(200, json={"messages": state})

    config = {"configurable": {"model": "small"}, "recursion_limit": 5}
    context = {"user_id": "u-1"}
    connector = make_connector("http://graph.test", kind="langgraph")
    with ConnectorClient(transport=httpx.MockTransport(graph)) as mock:
        talk = conversation(connector, mock, config=config)
        assert talk.send("hi").text == "done"
        assert talk.send("again", context=context).text == "done"
        bound = BoundInvoker(connector, client=mock)
        assert bound("hi", config=config, context=context).text == "done"
        assert mock.invoke(connector, "hi").text == "done"
    bodies = _run_bodies(seen)
    assert [b.get("config") for b in bodies] == [config, config, config, None]
    assert [b.get("context") for b in bodies] == [None, context, context, None]


def test_an_agent_that_runs_its_own_tools_never_calls_the_given_ones(
    langgraph_server: LangGraphDevServer, client: ConnectorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, "unused")
    graph = make_connector(langgraph_server.url, kind="langgraph")
    weather = Weather()
    reply = conversation(graph, client).send(WEATHER, tools={"get_weather": weather})
    assert reply.success, reply.error
    assert [call.name for call in reply.tool_calls] == ["get_weather"]
    assert reply.text == "The weather in Paris is sunny, 21°C."  # the graph's own tool
    assert weather.calls == []
