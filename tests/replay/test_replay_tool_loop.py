"""Replaying against an agent that leaves its tool calls to the caller (the example HTTP agent).

The agent (examples/http_agent/app.py under uvicorn) asks for ``get_weather`` and answers from
the ``tool`` message it gets back. A replay answers with the result production recorded, so the
candidate's answer is built from production's data, with no tool code in the test.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from agent_connectors import TOKEN_VARIABLE, make_connector

from pytest_connectors.client.clients import AsyncConnectorClient
from pytest_connectors.models.connector import Connector, ToolCall
from pytest_connectors.models.imports import RecordedToolCall, RecordedTurn
from pytest_connectors.replay.case import ReplayCase
from pytest_connectors.replay.compare import ReplayResult
from pytest_connectors.replay.frozen import read_case
from pytest_connectors.replay.runner import RunOptions, replay_case
from pytest_connectors.replay.tool_answers import RecordedAnswers
from pytest_connectors.servers.launch import UvicornServer

EXAMPLE_CASE = Path(__file__).resolve().parents[2] / "examples" / "replay" / "t-1041.json"


@pytest.fixture
def agent(
    http_agent_server: UvicornServer, http_agent_token: str, monkeypatch: pytest.MonkeyPatch
) -> Connector:
    monkeypatch.setenv(TOKEN_VARIABLE, http_agent_token)
    return make_connector(http_agent_server.url)


def replay(case: ReplayCase, connector: Connector, options: RunOptions | None = None) -> Any:
    sent: list[Any] = []

    async def run() -> ReplayResult:
        async with AsyncConnectorClient() as client:
            return await replay_case(
                case, connector, client, options, on_result=lambda *call: sent.append(call)
            )

    return asyncio.run(run()), sent


def with_recorded_result(case: ReplayCase, result: str) -> ReplayCase:
    assert case.conversation is not None
    turns = [
        turn.model_copy(
            update={
                "tool_calls": [c.model_copy(update={"result": result}) for c in turn.tool_calls]
            }
        )
        for turn in case.conversation.turns
    ]
    conversation = case.conversation.model_copy(update={"turns": turns})
    return ReplayCase.of(conversation, case.source)


def test_tool_calls_are_answered_with_production_results(agent: Connector) -> None:
    case = with_recorded_result(read_case(EXAMPLE_CASE), "Snowing, -3°C (as recorded)")
    result, sent = replay(case, agent)
    result.assert_matches(tools="strict", args="exact")
    for turn in result.turns:
        assert turn.candidate is not None
        # The agent answered in text from the recorded result, not from any local tool.
        assert "Snowing, -3°C (as recorded)" in turn.candidate.tool_results
        assert "snowing" in turn.candidate.answer.lower()
    # One record per user turn, its latency the sum of the turn's calls.
    assert [position for position, _user, _reply in sent] == [1, 2]
    assert all(reply.success and reply.text for _p, _u, reply in sent)


def test_tools_given_to_the_run_replace_the_recording(agent: Connector) -> None:
    calls: list[str] = []

    def get_weather(city: str) -> str:
        calls.append(city)
        return f"Foggy, 9°C in {city}"

    options = RunOptions(tools=(("get_weather", get_weather),))
    result, _sent = replay(read_case(EXAMPLE_CASE), agent, options)
    result.assert_matches()
    assert calls == ["Paris", "Tokyo"]
    assert all("foggy" in t.candidate.answer.lower() for t in result.turns if t.candidate)


def test_a_call_production_never_made_gets_no_recorded_result_and_diverges(
    agent: Connector,
) -> None:
    case = read_case(EXAMPLE_CASE)
    assert case.conversation is not None
    first = case.conversation.turns[0]
    renamed = first.model_copy(
        update={
            "tool_calls": [c.model_copy(update={"name": "get_forecast"}) for c in first.tool_calls]
        }
    )
    conversation = case.conversation.model_copy(update={"turns": [renamed]})
    result, _sent = replay(ReplayCase.of(conversation, case.source), agent)
    turn = result.turns[0]
    assert turn.candidate is not None
    (answer,) = turn.candidate.tool_results
    assert json.loads(answer)["error"].startswith("no recorded result: production made no ")
    assert result.diverged_at() == 1
    with pytest.raises(AssertionError, match="get_forecast"):
        result.assert_matches()


def call(name: str, **args: Any) -> ToolCall:
    return ToolCall(name=name, args=args)


def test_recorded_answers_match_by_arguments_then_by_name_in_order() -> None:
    turn = RecordedTurn(
        index=0,
        user_messages=["weather?"],
        tool_calls=[
            RecordedToolCall(name="get_weather", args={"city": "Paris"}, result="paris"),
            RecordedToolCall(name="get_weather", args={"city": "Rome"}, result="rome"),
            RecordedToolCall(name="get_weather", args={"city": "Oslo"}, result="oslo"),
        ],
    )
    answers = RecordedAnswers(turn)
    assert answers.answer(call("get_weather", city="Rome")) == "rome"
    assert answers.answer(call("get_weather", city="Lima")) == "paris"  # next by name, in order
    assert answers.answer(call("get_weather", city="Rome")) == "oslo"  # each result used once
    spent = json.loads(answers.answer(call("get_weather", city="Paris")))
    assert spent == {
        "error": 'no recorded result: production made no get_weather call with {"city": "Paris"}'
    }
    assert "no recorded result" in answers.answer(call("search", q="x"))
