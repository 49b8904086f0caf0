"""An evaluation suite for the example agent, written as ordinary pytest tests.

pytest examples --connector "LangGraph Dev"
pytest examples --connector "LangGraph Dev" --connector "HTTP Agent"   # side by side
"""

from __future__ import annotations

import pytest

from pytest_connectors import assert_criteria, assert_tool_calls


def test_remembers_the_users_name(conversation):
    conversation.send("My name is Ada")
    reply = conversation.send("What is my name?")
    assert reply.text == "Your name is Ada."


def get_weather(city: str) -> str:
    """The weather tool, for agents that leave tool calls to the caller (the HTTP agent).

    An agent that runs its own tools (the LangGraph one) never asks for it.
    """
    return f"Sunny, 21°C in {city}"


def test_weather_question_calls_the_weather_tool(conversation):
    reply = conversation.send("What's the weather in Paris?", tools={"get_weather": get_weather})
    assert_tool_calls(reply, [{"name": "get_weather", "args": {"city": "Paris"}}])
    assert "sunny" in reply.text.lower()


def test_every_tool_call_of_the_conversation(conversation):
    conversation.send("What's the weather in Paris?")
    conversation.send("And the weather in Rome?")
    assert_tool_calls(conversation, ["get_weather", "get_weather"], args="ignore")
    assert [call.args["city"] for call in conversation.tool_calls] == ["Paris", "Rome"]


def test_a_conversation_judged_against_criteria(conversation):
    """Answers worded differently every run are judged in plain words, not compared as text."""
    conversation.send("My name is Ada")
    conversation.send("What's the weather in Paris?", tools={"get_weather": get_weather})
    assert_criteria(
        conversation,
        success=['greets the user by name, "Ada"', 'gives the weather in Paris, "sunny"'],
        failure=['admits ignorance: "I don\'t know"'],
    )


@pytest.mark.latency(max_ms=10_000, p95_ms=5_000)
def test_small_talk_stays_within_budget(conversation):
    for text in ("hello", "how are you?", "thanks"):
        assert conversation.send(text).text == f"You said: {text}"


def test_a_failing_agent_is_reported_not_raised(conversation):
    reply = conversation.send("please fail", check=False)
    assert not reply.success
    assert reply.error


@pytest.mark.connector("HTTP Agent")
def test_http_agent_speaks_openai(conversation):
    reply = conversation.send("What's the weather in Paris?")
    assert_tool_calls(reply, [{"name": "get_weather", "args": {"city": "Paris"}}])


@pytest.mark.asyncio
async def test_async_tests_await_the_same_conversation(conversation):
    reply = await conversation.asend("hello")
    assert reply.text == "You said: hello"
