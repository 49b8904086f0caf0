"""Simulated users against the example HTTP agent, played and judged by the rules-following
model server: its ``rules-user`` says the scenario's quoted phrases one per turn, then says the
goal is reached (a persona that "gives up" abandons after its first message)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.models import MODEL_TOKEN, ModelFake

from pytest_connectors import (
    Connector,
    ConnectorClient,
    ConnectorStore,
    Conversation,
    CriteriaNotMet,
    ScenarioFileError,
    SimulatorError,
    assert_criteria,
    load_scenarios,
)
from pytest_connectors.servers.launch import UvicornServer

MakeConnector = Callable[..., Connector]
NAME_GAME = 'Say "My name is Ada", then ask "What is my name?"'


@pytest.fixture
def client() -> Iterator[ConnectorClient]:
    with ConnectorClient() as client:
        yield client


@pytest.fixture
def agent(http_agent_server: UvicornServer, http_agent_token: str, tmp_path: Path) -> Connector:
    return ConnectorStore(tmp_path / "agent.json").create(
        {
            "name": "HTTP Agent",
            "type": "http",
            "baseUrl": http_agent_server.url,
            "authType": "bearer",
            "authValue": http_agent_token,
            "config": {"path": "/v1/chat/completions"},
        }
    )


@pytest.fixture
def conversation(agent: Connector, client: ConnectorClient) -> Conversation:
    return Conversation(agent, run_id="simulated", client=client)


@pytest.fixture
def user(model_connector: MakeConnector) -> Connector:
    return model_connector("Rules User", model="rules-user", retries=1, retryBackoffMs=10)


@pytest.fixture
def rules_judge(model_connector: MakeConnector) -> Connector:
    return model_connector()


def simulator_prompts(fake: ModelFake) -> list[str]:
    return [r["messages"][1]["content"] for r in fake.requests() if r["model"] == "rules-user"]


def test_a_simulated_user_reaches_its_goal_and_the_transcript_is_judged(
    conversation: Conversation,
    user: Connector,
    model_fake: ModelFake,
    rules_judge: Connector,
) -> None:
    simulation = conversation.simulate(NAME_GAME, "Ada, a patient customer", simulator=user)
    assert (simulation.ended, simulation.turns) == ("goal_reached", 2)
    assert simulation.goal_reached
    assert [m.text for m in conversation.messages] == [
        "My name is Ada",
        "Nice to meet you, Ada.",
        "What is my name?",
        "Your name is Ada.",
    ]
    # Two next messages, then one ask that ends the conversation; each ask carried the persona,
    # the scenario and the transcript so far.
    prompts = simulator_prompts(model_fake)
    assert simulation.cost.calls == len(prompts) == 3
    assert "<persona>\nAda, a patient customer\n</persona>" in prompts[2]
    assert "assistant: Nice to meet you, Ada." in prompts[1]
    judgement = assert_criteria(simulation, success=['says "Your name is Ada"'], judge=rules_judge)
    assert judgement.passed
    with pytest.raises(CriteriaNotMet, match="the agent never said 'Grace'"):
        assert_criteria(simulation, success=['says "Grace"'], judge=rules_judge)


def test_a_simulated_conversation_stops_at_max_turns(
    conversation: Conversation, user: Connector, model_fake: ModelFake
) -> None:
    scenario = 'Ask "hello", then "how are you?", then "thanks"'
    simulation = conversation.simulate(scenario, max_turns=2, simulator=user)
    assert (simulation.ended, simulation.turns) == ("max_turns", 2)
    assert [m.text for m in conversation.messages if m.role == "user"] == ["hello", "how are you?"]
    assert len(simulator_prompts(model_fake)) == 2  # never asked for a third message


def test_a_persona_that_gives_up_abandons(conversation: Conversation, user: Connector) -> None:
    simulation = conversation.simulate(NAME_GAME, "an impatient user who gives up", simulator=user)
    assert (simulation.ended, simulation.turns) == ("abandoned", 1)


def test_until_stops_the_conversation_when_it_holds(
    conversation: Conversation, user: Connector
) -> None:
    simulation = conversation.simulate(
        NAME_GAME, simulator=user, until=lambda c: "Ada" in c.last.text
    )
    assert (simulation.ended, simulation.turns) == ("until", 1)


def test_a_simulator_that_stays_down_raises_simulator_error_naming_it(
    conversation: Conversation, user: Connector, model_fake: ModelFake
) -> None:
    model_fake.script(503, 503)
    with pytest.raises(SimulatorError) as raised:
        conversation.simulate(NAME_GAME, simulator=user)
    message = str(raised.value)
    assert message.startswith("simulated user 'Rules User' gave no next message: the call failed")
    assert "503" in message
    assert MODEL_TOKEN not in message
    assert conversation.messages == []  # the agent was never called


def test_without_a_simulator_it_says_how_to_select_one(
    conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_CONNECTORS_SIMULATOR", raising=False)
    with pytest.raises(SimulatorError, match="--simulator-connector NAME"):
        conversation.simulate(NAME_GAME)


# -- scenario files --------------------------------------------------------------------------


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


NAME_SCENARIO = {
    "name": "name recall",
    "instructions": NAME_GAME,
    "successCriteria": ['says "Your name is Ada"'],
    "failureCriteria": 'says "I don\'t know"',
    "personas": ["patient", "quitter"],
    "seedMessages": ["My name is Ada"],
    "maxTurns": 4,
    "id": "ignored-bookkeeping",
}
PERSONAS = {
    "personas": [
        {"name": "patient", "description": "asks calmly"},
        {"name": "quitter", "description": "an impatient user who gives up"},
    ]
}


def test_scenario_files_run_once_per_persona_with_seed_messages(
    tmp_path: Path,
    agent: Connector,
    client: ConnectorClient,
    user: Connector,
    model_fake: ModelFake,
    rules_judge: Connector,
) -> None:
    write(tmp_path / "scenarios" / "personas.json", PERSONAS)
    write(tmp_path / "scenarios" / "name.json", NAME_SCENARIO)
    (tmp_path / "scenarios" / "echo.yaml").write_text(
        'name: echo\ndescription: Say "hello"\nsuccess_criteria:\n  - \'says "You said: hello"\'\n',
        encoding="utf-8",
    )
    scenarios = load_scenarios(tmp_path / "scenarios")
    cases = [case for scenario in scenarios for case in scenario.cases()]
    assert [case.id for case in cases] == [
        "echo",
        "name recall as patient",
        "name recall as quitter",
    ]
    assert cases[1].scenario.failure == ('says "I don\'t know"',)
    results = {}
    for case in cases[:2]:
        conversation = Conversation(agent, run_id=case.id, client=client)
        results[case.id] = case.run(conversation, simulator=user, judge=rules_judge)
    patient = results["name recall as patient"]
    # The seed message is sent as written; the simulator takes over from the second turn.
    assert (patient.ended, patient.turns, patient.cost.calls) == ("goal_reached", 2, 2)
    assert patient.judgement is not None and patient.judgement.passed
    assert [c.criterion for c in patient.judgement.criteria] == [
        'says "Your name is Ada"',
        'says "I don\'t know"',
    ]
    assert (results["echo"].ended, results["echo"].turns) == ("goal_reached", 1)
    quitter = Conversation(agent, run_id="q", client=client).simulate(cases[2], simulator=user)
    assert (quitter.ended, quitter.turns, quitter.persona) == ("abandoned", 1, "quitter")


def test_the_quitter_misses_the_scenarios_criteria(
    tmp_path: Path,
    agent: Connector,
    client: ConnectorClient,
    user: Connector,
    model_fake: ModelFake,
    rules_judge: Connector,
) -> None:
    write(tmp_path / "s.json", {**PERSONAS, "scenarios": [{**NAME_SCENARIO, "seedMessages": []}]})
    (_patient, quitter) = load_scenarios(tmp_path / "s.json")[0].cases()
    conversation = Conversation(agent, run_id="q", client=client)
    with pytest.raises(CriteriaNotMet, match="the agent never said 'Your name is Ada'"):
        quitter.run(conversation, simulator=user, judge=rules_judge)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "s.json: not valid JSON: "),
        ('{"name": "x"}', "s.json: instructions: Field required"),
        ('{"name": "x", "instructions": "y", "sucess": []}', "s.json: sucess: Extra inputs"),
        ('{"name": "x", "instructions": "y", "maxTurns": 0}', "s.json: maxTurns: Input should"),
        ('{"name": "x", "instructions": "y", "personas": ["who"]}', "names persona 'who'; known"),
        ('[{"name": "x", "instructions": "y"}, {"name": "x", "instructions": "z"}]', "named 'x'"),
        ('{"scenarios": [], "people": []}', "unknown top-level key 'people'"),
    ],
)
def test_a_bad_scenario_file_is_one_line_naming_the_file_and_field(
    tmp_path: Path, content: str, problem: str
) -> None:
    (tmp_path / "s.json").write_text(content, encoding="utf-8")
    with pytest.raises(ScenarioFileError) as raised:
        load_scenarios(tmp_path / "s.json")
    assert problem in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_scenario_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(ScenarioFileError, match="no such file or folder of scenarios"):
        load_scenarios(tmp_path / "nope")
