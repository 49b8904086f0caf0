"""Simulated users, repeated runs and scorers: for agents that never answer the same way twice.

A model plays the user (the example's rules-following model server, examples/model_server,
selected by `simulator_connector` in pytest.ini); the transcript is judged against criteria.

pytest examples --connector "LangGraph Dev"
"""

from __future__ import annotations

import pytest

from pytest_connectors import assert_criteria, contains, similar


def get_weather(city: str) -> str:
    """Answers the tool calls of agents that leave them to the caller (the HTTP agent)."""
    return f"Sunny, 21°C in {city}"


def test_a_simulated_user_reaches_its_goal(conversation):
    conversation.tools = {"get_weather": get_weather}
    simulation = conversation.simulate(
        'Say "My name is Ada", ask "What\'s the weather in Paris?", then "What is my name?"',
        persona="Ada, a regular customer",
        max_turns=5,
    )
    assert simulation.goal_reached
    assert_criteria(
        simulation,
        success=['gives the weather: "sunny"', 'remembers the name: "Your name is Ada"'],
        failure=['admits ignorance: "I don\'t know"'],
    )


@pytest.mark.scenario(path="scenarios")
def test_scenarios(conversation, scenario):
    """One test per scenario and persona of scenarios/, each judged by its own criteria."""
    conversation.tools = {"get_weather": get_weather}
    scenario.run(conversation)


@pytest.mark.repeat(3, min_pass_rate=2 / 3)
def test_the_weather_answer_holds_across_runs(conversation):
    reply = conversation.send("What's the weather in Paris?", tools={"get_weather": get_weather})
    contains("sunny", "Paris").check(reply)
    similar(0.8, to="The weather in Paris is sunny, 21°C.").check(reply)
