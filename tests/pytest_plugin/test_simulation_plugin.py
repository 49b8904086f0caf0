"""Simulated users in pytest: ``--simulator-connector``, ``@pytest.mark.scenario`` and the
reports; against the example HTTP agent and the rules-following model server."""

from __future__ import annotations

import json

import pytest
from fakes.models import MODEL_TOKEN, ModelFake
from pytester_ini import write_ini

from pytest_connectors import ConnectorStore
from pytest_connectors.servers.launch import UvicornServer

SCENARIOS = {
    "personas": [
        {"name": "patient", "description": "asks calmly"},
        {"name": "quitter", "description": "an impatient user who gives up"},
    ],
    "scenarios": [
        {
            "name": "name recall",
            "instructions": 'Say "My name is Ada", then ask "What is my name?"',
            "successCriteria": ['says "Your name is Ada"'],
            "personas": ["patient", "quitter"],
        },
        {
            "name": "echo",
            "instructions": 'Say "hello"',
            "successCriteria": ['says "You said: hello"'],
        },
    ],
}

SUITE = """
import pytest

@pytest.mark.scenario(path="scenarios")
def test_scenarios(conversation, scenario):
    scenario.run(conversation)

def test_by_hand(conversation, simulator):
    simulation = conversation.simulate('Say "hello"', "a terse user", max_turns=1)
    assert simulation.ended == "max_turns"
    assert simulator.name == "Rules User"
"""


@pytest.fixture(autouse=True)
def project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    http_agent_server: UvicornServer,
    http_agent_token: str,
    model_server: UvicornServer,
) -> None:
    for name in ("FILE", "JUDGE", "SIMULATOR"):
        monkeypatch.delenv(f"PYTEST_CONNECTORS_{name}", raising=False)
    write_ini(pytester, "judge_connector = Rules Judge")
    store = ConnectorStore(pytester.path / "data" / "connectors.json")
    store.create(
        {
            "name": "HTTP Agent",
            "type": "http",
            "baseUrl": http_agent_server.url,
            "authType": "bearer",
            "authValue": http_agent_token,
            "config": {"path": "/v1/chat/completions"},
        }
    )
    for name, model in (("Rules Judge", "rules-judge"), ("Rules User", "rules-user")):
        store.create(
            {
                "name": name,
                "type": "http",
                "baseUrl": model_server.url,
                "authType": "bearer",
                "authValue": MODEL_TOKEN,
                "config": {
                    "path": "/v1/chat/completions",
                    "body": {"model": model},
                    "retries": 1,
                    "retryBackoffMs": 10,
                },
            }
        )
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "support.json").write_text(json.dumps(SCENARIOS))


AGENT = ("--connector", "HTTP Agent", "-p", "no:cacheprovider", "--judge-cache", "off")


def test_one_test_per_scenario_and_persona_each_judged_by_its_criteria(
    pytester: pytest.Pytester, model_fake: ModelFake
) -> None:
    pytester.makepyfile(test_sim=SUITE)
    result = pytester.runpytest(
        *AGENT, "--simulator-connector", "Rules User", "--connectors-report", "report.json", "-v"
    )
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_scenarios?name recall as patient-HTTP Agent? PASSED*",
            "*test_scenarios?name recall as quitter-HTTP Agent? FAILED*",
            "*test_scenarios?echo-HTTP Agent? PASSED*",
            "*= simulated users =*",
            "simulated users: 4 conversations (2 goal reached, 1 abandoned, 1 at max_turns, "
            "0 stopped by until), 5 user turns; the simulator cost 8 calls, * tokens, *s",
        ]
    )
    # The quitter gave up after one message, so the agent never said the name.
    result.stdout.fnmatch_lines(["*FAIL success criterion 'says \"Your name is Ada\"'*"])
    # Simulator and judge calls are not the agent's: only its 5 turns are in its figures.
    result.stdout.fnmatch_lines(["HTTP Agent: 5 calls, 0 errors, p50 *"])
    report = json.loads((pytester.path / "report.json").read_text())
    endings = {s["test"].split("[")[1]: s["ended"] for s in report["simulations"]}
    assert endings == {
        "name recall as patient-HTTP Agent]": "goal_reached",
        "name recall as quitter-HTTP Agent]": "abandoned",
        "echo-HTTP Agent]": "goal_reached",
        "HTTP Agent]": "max_turns",
    }
    assert MODEL_TOKEN not in result.stdout.str() + (pytester.path / "report.json").read_text()


def test_the_simulator_comes_from_the_ini_or_the_environment(
    pytester: pytest.Pytester, model_fake: ModelFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_sim=SUITE)
    write_ini(pytester, "judge_connector = Rules Judge\nsimulator_connector = Rules User")
    pytester.runpytest(*AGENT, "-k", "patient or hand").assert_outcomes(passed=2)
    write_ini(pytester, "judge_connector = Rules Judge")
    monkeypatch.setenv("PYTEST_CONNECTORS_SIMULATOR", "Rules User")
    pytester.runpytest(*AGENT, "-k", "patient or hand").assert_outcomes(passed=2)


def test_without_a_simulator_or_when_it_is_down_the_test_errors(
    pytester: pytest.Pytester, model_fake: ModelFake
) -> None:
    pytester.makepyfile(test_sim=SUITE)
    result = pytester.runpytest(*AGENT, "-k", "hand")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no simulated user is selected: pass simulator=NAME*"])
    model_fake.script(500, 500)
    down = pytester.runpytest(*AGENT, "-k", "echo", "--simulator-connector", "Rules User")
    down.assert_outcomes(errors=1)
    down.stdout.fnmatch_lines(["*simulated user 'Rules User' gave no next message: the call*"])
    assert MODEL_TOKEN not in down.stdout.str()


@pytest.mark.parametrize(
    ("test", "problem"),
    [
        (
            '@pytest.mark.scenario(path="nowhere")\ndef test_s(conversation, scenario):\n    pass',
            "*test_s: @pytest.mark.scenario: *nowhere: no such file or folder of scenarios",
        ),
        (
            '@pytest.mark.scenario(path="scenarios")\ndef test_s(conversation):\n    pass',
            "*test_s: a test marked scenario(...) takes a `scenario` argument",
        ),
        (
            "@pytest.mark.scenario()\ndef test_s(conversation, scenario):\n    pass",
            "*test_s: use @pytest.mark.scenario(path='scenarios/') with one file or folder*",
        ),
    ],
)
def test_a_bad_scenario_marker_is_a_usage_error(
    pytester: pytest.Pytester, test: str, problem: str
) -> None:
    pytester.makepyfile(test_sim="import pytest\n\n" + test)
    result = pytester.runpytest(*AGENT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {problem}"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
