"""Judges in pytest: selection, the fixture, errors, cached verdicts across sessions and under
xdist, and the reports; against the example HTTP agent and the rules-following model server."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest
from children import python_path
from documentation import block
from fakes.models import MODEL_TOKEN, ModelFake
from pytester_ini import write_ini
from report_pages import Page

from pytest_connectors import ConnectorStore
from pytest_connectors.pytest_plugin.reports import REPORT_SCHEMA
from pytest_connectors.servers.launch import UvicornServer

SUITE = """
from pytest_connectors import assert_criteria

def test_remembers(conversation):
    conversation.send("My name is Ada")
    conversation.send("What is my name?")
    assert_criteria(conversation, success=['says "Your name is Ada"'], failure=['says "sorry"'])

def test_scored(conversation, judge):
    conversation.send("hello")
    assert judge.score(conversation, 'says "You said: hello"') == 1.0
"""


@pytest.fixture(autouse=True)
def project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    http_agent_server: UvicornServer,
    http_agent_token: str,
    model_server: UvicornServer,
) -> ConnectorStore:
    monkeypatch.delenv("PYTEST_CONNECTORS_FILE", raising=False)
    monkeypatch.delenv("PYTEST_CONNECTORS_JUDGE", raising=False)
    write_ini(pytester)
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
    store.create(
        {
            "name": "Rules Judge",
            "type": "http",
            "baseUrl": model_server.url,
            "authType": "bearer",
            "authValue": MODEL_TOKEN,
            "config": {
                "path": "/v1/chat/completions",
                "body": {"model": "rules-judge", "temperature": 0},
                "retries": 1,
                "retryBackoffMs": 10,
            },
        }
    )
    return store


AGENT = ("--connector", "HTTP Agent", "-p", "no:cacheprovider")


def test_a_judged_suite_passes_and_reports_its_verdicts(
    pytester: pytest.Pytester, model_fake: ModelFake
) -> None:
    pytester.makepyfile(test_judged=SUITE)
    result = pytester.runpytest(*AGENT, "--judge-connector", "Rules Judge")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*= judges =*",
            "judge: 3 verdicts (0 cached, 3 asked); the misses cost 3 calls, * tokens, *s",
        ]
    )
    # Judge calls are not the agent's: only the agent's three calls are in its figures.
    result.stdout.fnmatch_lines(["HTTP Agent: 3 calls, 0 errors, p50 *"])
    assert model_fake.calls == 3


def test_the_documented_judged_test_runs(pytester: pytest.Pytester, model_fake: ModelFake) -> None:
    """docs/judges.md's example, judged by the rules judge (a criterion without a quoted phrase
    is met, one with a phrase only when the agent said it)."""
    pytester.makepyfile(test_judged=block("python", "def test_a_conversation_judged_against"))
    result = pytester.runpytest(*AGENT, "--judge-connector", "Rules Judge", "--judge-cache=off")
    result.assert_outcomes(passed=1)
    # Three criteria, each asked once: a met failure criterion would be asked twice more.
    assert model_fake.calls == 3


def test_verdicts_are_cached_across_sessions(
    pytester: pytest.Pytester, model_fake: ModelFake
) -> None:
    pytester.makepyfile(test_judged=SUITE)
    args = (*AGENT, "--judge-connector", "Rules Judge", "--judge-cache-dir", "verdicts")
    pytester.runpytest(*args).assert_outcomes(passed=2)
    again = pytester.runpytest(*args)
    again.assert_outcomes(passed=2)
    again.stdout.fnmatch_lines(["judge: 3 verdicts (3 cached, 0 asked); the misses cost 0 calls*"])
    assert model_fake.calls == 3
    refreshed = pytester.runpytest(*args, "--judge-cache", "refresh")
    refreshed.stdout.fnmatch_lines(["judge: 3 verdicts (0 cached, 3 asked)*"])


def test_verdicts_are_cached_under_xdist(
    pytester: pytest.Pytester, model_fake: ModelFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", python_path())
    pytester.makepyfile(test_judged=SUITE)
    args = (*AGENT, "--judge-connector", "Rules Judge", "--judge-cache-dir", "v", "-n", "2")
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=2)
    again = pytester.runpytest_subprocess(*args)
    again.assert_outcomes(passed=2)
    again.stdout.fnmatch_lines(["judge: 3 verdicts (3 cached, 0 asked)*"])
    assert model_fake.calls == 3


def test_the_judge_comes_from_the_ini_or_the_environment(
    pytester: pytest.Pytester, model_fake: ModelFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_judged=SUITE)
    write_ini(pytester, "judge_connector = Rules Judge")
    pytester.runpytest(*AGENT).assert_outcomes(passed=2)
    write_ini(pytester)
    monkeypatch.setenv("PYTEST_CONNECTORS_JUDGE", "Rules Judge")
    pytester.runpytest(*AGENT).assert_outcomes(passed=2)


def test_without_a_judge_the_test_errors_saying_how_to_select_one(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_judged=SUITE)
    result = pytester.runpytest(*AGENT)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*no judge is selected: pass judge=NAME, run pytest with*"])


def test_an_unknown_judge_errors_naming_the_known_connectors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_judged=SUITE)
    result = pytester.runpytest(*AGENT, "--judge-connector", "Nope")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*unknown connector 'Nope'; known connectors: 'HTTP Agent'*"])


def test_a_judge_without_a_verdict_errors_the_test_and_a_miss_fails_it(
    pytester: pytest.Pytester, model_fake: ModelFake
) -> None:
    pytester.makepyfile(
        test_judged="""
from pytest_connectors import assert_criteria

def test_garbled(conversation):
    conversation.send("hello")
    assert_criteria(conversation, ['says "hello"'])

def test_missed(conversation):
    conversation.send("hello")
    assert_criteria(conversation, ['says "goodbye"'], judge="Rules Judge")
"""
    )
    model_fake.script("garbage")
    result = pytester.runpytest(*AGENT, "--judge-connector", "Rules Judge", "--judge-cache", "off")
    result.assert_outcomes(errors=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*judge 'Rules Judge' gave no verdict: its reply is not a verdict*",
            "*its reply: 'I would rather not say.'*",
            "*FAIL success criterion 'says \"goodbye\"': not met *the agent never said 'goodbye'*",
        ]
    )
    assert MODEL_TOKEN not in result.stdout.str()


def test_junit_and_the_json_report_carry_every_verdict(
    pytester: pytest.Pytester, model_fake: ModelFake
) -> None:
    pytester.makepyfile(test_judged=SUITE)
    result = pytester.runpytest(
        *AGENT,
        "--judge-connector",
        "Rules Judge",
        "--junitxml",
        "junit.xml",
        "--connectors-report",
        "report.json",
        "--connectors-html",
        "report.html",
    )
    result.assert_outcomes(passed=2)
    tree = ET.parse(pytester.path / "junit.xml")
    properties = {
        p.get("name"): p.get("value")
        for case in tree.iter("testcase")
        if case.get("name") == "test_remembers[HTTP Agent]"
        for p in case.iter("property")
    }
    assert properties["judge"] == "Rules Judge"
    assert properties["judge_verdicts"] == "2"
    criteria = json.loads(properties["judge_criteria"])
    assert criteria[0][:3] == ['says "Your name is Ada"', True, 1.0]
    report = json.loads((pytester.path / "report.json").read_text())
    assert [j["test"].split("::")[1] for j in report["judgements"]] == [
        "test_remembers[HTTP Agent]",
        "test_scored[HTTP Agent]",
    ]
    assert report["judgements"][0]["criteria"][1]["kind"] == "failure"
    jsonschema.validate(report, json.loads(REPORT_SCHEMA.read_text()))
    # The page shows each verdict with its criterion, under its test.
    page = Page((pytester.path / "report.html").read_text(encoding="utf-8"))
    assert page.tags("table").count({"class": "verdicts"}) == 2
    assert 'says "Your name is Ada"met1.0' in page.text.replace("\n", "")
    assert MODEL_TOKEN not in (pytester.path / "report.json").read_text()
    assert MODEL_TOKEN not in (pytester.path / "junit.xml").read_text()
