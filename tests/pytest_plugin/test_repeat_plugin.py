"""Repeated runs against the example HTTP agent: ``@pytest.mark.repeat`` and
``--connectors-repeat``, pass rates in the summary, the JSON report and JUnit, serial and
under xdist. A test fails on the runs it names, so every pass rate here is known in advance."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from children import python_path
from pytester_ini import write_ini

from pytest_connectors import ConnectorStore
from pytest_connectors.servers.launch import UvicornServer

SUITE = """
import pytest

@pytest.mark.repeat(5, min_pass_rate=0.8)
def test_tolerated(conversation, connectors_run):
    reply = conversation.send("hello")
    assert connectors_run[0] != 2, "run 2 fails on purpose"
    assert reply.text == "You said: hello"

@pytest.mark.repeat(4, min_pass_rate=0.75)
def test_too_flaky(conversation, connectors_run):
    conversation.send("hello")
    assert connectors_run[0] > 2, "runs 1 and 2 fail on purpose"

def test_plain(conversation, connectors_run):
    assert connectors_run is None or connectors_run[1] == 3
    conversation.send("hello")
"""


@pytest.fixture(autouse=True)
def project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    http_agent_server: UvicornServer,
    http_agent_token: str,
) -> None:
    monkeypatch.delenv("PYTEST_CONNECTORS_FILE", raising=False)
    write_ini(pytester)
    ConnectorStore(pytester.path / "data" / "connectors.json").create(
        {
            "name": "HTTP Agent",
            "type": "http",
            "baseUrl": http_agent_server.url,
            "authType": "bearer",
            "authValue": http_agent_token,
            "config": {"path": "/v1/chat/completions"},
        }
    )
    pytester.makepyfile(test_flaky=SUITE)


AGENT = ("--connector", "HTTP Agent", "-p", "no:cacheprovider")


def test_a_test_passes_when_its_pass_rate_is_reached_and_fails_when_not(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest(
        *AGENT, "-rx", "--connectors-report", "report.json", "--junitxml", "j.xml"
    )
    # test_tolerated: 4 passed, run 2 tolerated (xfailed). test_too_flaky: 2 passed, one failure
    # tolerated, the other a failure. test_plain: run once.
    result.assert_outcomes(passed=7, xfailed=2, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*= pass rates =*",
            "test_flaky.py::test_tolerated[HTTP Agent]: 4 of 5 runs passed (80%, 95% CI "
            "38%-96%); needs 80%: met",
            "test_flaky.py::test_too_flaky[HTTP Agent]: 2 of 4 runs passed (50%, 95% CI "
            "15%-85%); needs 75%: NOT met",
        ]
    )
    result.stdout.fnmatch_lines(["XFAIL *test_tolerated?*run2of5* - run 2 of 5 failed, tolerated*"])
    report = json.loads((pytester.path / "report.json").read_text())
    rates = {r["test"].split("::")[1]: r for r in report["pass_rates"]}
    assert rates["test_tolerated[HTTP Agent]"] == {
        "test": "test_flaky.py::test_tolerated[HTTP Agent]",
        "runs": 5,
        "passed": 4,
        "failed": 1,
        "pass_rate": 0.8,
        "ci95": [0.3755, 0.9638],
        "min_pass_rate": 0.8,
        "met": True,
    }
    assert rates["test_too_flaky[HTTP Agent]"]["met"] is False
    # Every run is a call of the agent's: 5 + 4 + 1.
    assert report["connectors"]["HTTP Agent"]["calls"] == 10
    runs = [
        p.get("value")
        for case in ET.parse(pytester.path / "j.xml").iter("testcase")
        for p in case.iter("property")
        if p.get("name") == "repeat_run"
    ]
    assert sorted(runs) == sorted(
        [f"{i}/5" for i in range(1, 6)] + [f"{i}/4" for i in (1, 2, 3, 4)]
    )


def test_a_passing_rate_passes_the_session(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*AGENT, "-k", "tolerated or plain")
    result.assert_outcomes(passed=5, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


def test_the_option_repeats_every_connector_test_and_the_marker_wins(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest(*AGENT, "-k", "tolerated or plain", "--connectors-repeat", "3")
    result.assert_outcomes(passed=7, xfailed=1)  # plain: 3 runs; tolerated keeps its 5
    result.stdout.fnmatch_lines(["*test_plain?HTTP Agent?: 3 of 3 runs passed (100%, *: met"])


def test_pass_rates_are_counted_across_xdist_workers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", python_path())
    result = pytester.runpytest_subprocess(*AGENT, "-n", "2")
    result.assert_outcomes(passed=7, xfailed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_tolerated?HTTP Agent?: 4 of 5 runs passed (80%*: met"])


@pytest.mark.parametrize(
    ("marker", "problem"),
    [
        ("repeat(0)", "give a whole number of runs >= 1; got 0"),
        ("repeat(3, min_pass_rate=1.5)", "min_pass_rate must be from 0 to 1; got 1.5"),
        ("repeat(min_pass_rate=0.5)", "use repeat(n, min_pass_rate=0.8)*"),
    ],
)
def test_a_bad_repeat_marker_is_a_usage_error(
    pytester: pytest.Pytester, marker: str, problem: str
) -> None:
    pytester.makepyfile(
        test_flaky=f"import pytest\n\n@pytest.mark.{marker}\ndef test_x():\n    pass\n"
    )
    result = pytester.runpytest(*AGENT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: test_flaky.py::test_x: @pytest.mark.repeat: {problem}"])


def test_a_bad_repeat_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*AGENT, "--connectors-repeat", "many")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --connectors-repeat: give a whole number of runs >= 1*"])
