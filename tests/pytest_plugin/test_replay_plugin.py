"""The replay marker and fixture as users run them, against real ``langgraph dev`` servers.

The frozen cases are the example ones (examples/replay/): conversations recorded from the example
agent. "Prod Agent" serves that same agent; "Changed Agent" serves a copy whose weather branch
calls a ``get_forecast`` tool instead of ``get_weather``, so the cases that asked about the
weather must fail at exactly the turn where they did.
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET

import httpx
import jsonschema
import pytest
from documentation import block
from pytester_ini import write_ini
from replay_agents import CASES, agents_project, literal

from pytest_connectors.pytest_plugin.reports import REPORT_SCHEMA
from pytest_connectors.servers.launch import LangGraphDevServer

TEST_MODULE = """
import pytest

@pytest.mark.replay(path="cases")
def test_case(replay):
    replay.run().assert_matches(tools="subset", args="subset")
"""


def thread_count(server: LangGraphDevServer) -> int:
    reply = httpx.post(server.url + "/threads/search", json={"limit": 1000}, timeout=30)
    reply.raise_for_status()
    return len(reply.json())


@pytest.fixture
def project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    langgraph_server: LangGraphDevServer,
    changed_server: LangGraphDevServer,
) -> pytest.Pytester:
    agents_project(pytester, monkeypatch, langgraph_server, changed_server)
    shutil.copytree(CASES, pytester.path / "cases")
    pytester.makepyfile(test_replay=TEST_MODULE)
    return pytester


def test_one_item_per_conversation_passes_against_the_same_agent(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--connector", "Prod Agent", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            literal("test_replay.py::test_case[Prod Agent-t-1041] PASSED") + "*",
            literal("test_replay.py::test_case[Prod Agent-t-1042] PASSED") + "*",
            literal("test_replay.py::test_case[Prod Agent-t-1043] PASSED") + "*",
            literal("test_replay.py::test_case[Prod Agent-t-1044] PASSED") + "*",
            "*= replay =*",
            "4 cases: 4 passed, 0 failed, 0 skipped",
            "latency p50 of the * replayed turns: candidate * ms, production (recorded) * ms, "
            "p50 ratio *",
        ]
    )


def test_a_changed_agent_fails_at_the_turn_that_diverged(project: pytest.Pytester) -> None:
    result = project.runpytest("--connector", "Changed Agent")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*replay of 't-1041' (*t-1041.json) diverged at turn 1 of 2 "
            "[[]tools='subset', args='subset'[]]",
            '*  turn 1: user said "What\'s the weather in Paris?"',
            '*    production: get_weather({"city": "Paris"}) -> answer '
            '"The weather in Paris is sunny, 21°C." (* ms)',
            '*    candidate:  get_forecast({"city": "Paris"}) -> answer '
            '"The weather in Paris is sunny, 21°C." (* ms)',
            '*    - missing: get_weather({"city": "Paris"})',
            "*  turn 2: not replayed (the run stopped at turn 1, where it diverged)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*replay of 't-1043' (*) diverged at turn 3 of 3*",
            "*  turn 1: matches",
            "*  turn 2: matches",
            '*  turn 3: user said "What\'s the weather in London?"',
            '*    candidate:  get_forecast({"city": "London"}) -> *',
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*= replay =*",
            "4 cases: 2 passed, 2 failed, 0 skipped",
            "  diverged at turn 1 of 2: test_replay.py::test_case[[]Changed Agent-t-1041[]]",
            "  diverged at turn 3 of 3: test_replay.py::test_case[[]Changed Agent-t-1043[]]",
        ]
    )
    sample = block("text", "==== replay ====").splitlines()[:6]  # the latency line varies
    result.stdout.fnmatch_lines(["*= replay =*", *(literal(line) for line in sample[1:])])


def test_a_replay_run_shows_progress_beyond_dots(project: pytest.Pytester) -> None:
    announced = "replay: 4 conversations replayed ahead of their tests, up to 8 at once*"
    quiet = project.runpytest("--connector", "Changed Agent")
    quiet.stdout.fnmatch_lines([announced, "test_replay.py F.F. *"])
    quiet.stdout.no_fnmatch_line("    replayed *")
    verbose = project.runpytest("--connector", "Changed Agent", "-v")
    verbose.assert_outcomes(passed=2, failed=2)
    verbose.stdout.fnmatch_lines(
        [
            announced,
            literal("test_replay.py::test_case[Changed Agent-t-1041] FAILED") + "*",
            "    replayed 1 of 2 turns, diverged at turn 1 (agent time * ms)",
            literal("test_replay.py::test_case[Changed Agent-t-1042] PASSED") + "*",
            "    replayed 3 of 3 turns, matching production (agent time * ms)",
        ]
    )


def _normalized(project: pytest.Pytester, *args: str) -> tuple[dict[str, str], dict[str, object]]:
    """Outcome and latency-free failure text per test, and the replay report minus latencies."""
    report = project.path / "report.json"
    junit = project.path / "junit.xml"
    result = project.runpytest_subprocess(
        "--connector",
        "Changed Agent",
        "--connectors-report",
        str(report),
        f"--junitxml={junit}",
        "-p",
        "no:cacheprovider",
        *args,
    )
    assert result.ret == 1, result.stdout.str()
    outcomes: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        failure = case.find("failure")
        text = "passed" if failure is None else failure.get("message", "") + (failure.text or "")
        outcomes[case.get("name", "")] = re.sub(r"\(\d+ ms\)", "(? ms)", text)
    document = json.loads(report.read_text())
    jsonschema.validate(document, json.loads(REPORT_SCHEMA.read_text()))
    replay = document["replay"]
    replay.pop("latency")
    for conversation in replay["conversations"]:
        for turn in conversation["turns"]:
            if turn["candidate"] is not None:
                turn["candidate"]["latency_ms"] = None
    return outcomes, replay


def test_concurrent_runs_give_the_serial_results(project: pytest.Pytester) -> None:
    serial = _normalized(project, "--replay-concurrency", "1")
    why = "tool calls do not match (match='subset', args='subset'); missing: get_weather({})"
    assert serial[1]["diverged"] == [
        {
            "test": "test_replay.py::test_case[Changed Agent-t-1041]",
            "turn": 1,
            "turns": 2,
            "reason": why.format('{"city": "Paris"}'),
        },
        {
            "test": "test_replay.py::test_case[Changed Agent-t-1043]",
            "turn": 3,
            "turns": 3,
            "reason": why.format('{"city": "London"}'),
        },
    ]
    assert sum(v == "passed" for v in serial[0].values()) == 2
    assert _normalized(project, "--replay-concurrency", "8") == serial
    assert _normalized(project, "--replay-concurrency", "8", "-n", "2") == serial


def test_junit_has_properties_per_case(project: pytest.Pytester) -> None:
    junit = project.path / "junit.xml"
    project.runpytest("--connector", "Changed Agent", f"--junitxml={junit}")
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    properties = {
        p.get("name"): p.get("value")
        for p in cases["test_case[Changed Agent-t-1043]"].iter("property")
    }
    assert properties["replay_case"] == "t-1043"
    assert properties["replay_turns"] == "3"
    assert properties["replay_diverged_at_turn"] == "3"
    assert properties["replay_source"].endswith("t-1043.json")


def test_unreplayable_cases_are_skipped_with_their_reason(project: pytest.Pytester) -> None:
    (project.path / "cases" / "broken.json").write_text("{oops")
    empty = json.loads((CASES / "t-1041.json").read_text())
    empty["conversation"]["threadKey"] = "t-empty"
    for turn in empty["conversation"]["turns"]:
        turn["userMessages"] = []
    (project.path / "cases" / "t-empty.json").write_text(json.dumps(empty))
    result = project.runpytest("--connector", "Prod Agent", "-rs")
    result.assert_outcomes(passed=4, skipped=2)
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED * replay case broken (*broken.json): broken.json is not JSON: *",
            "SKIPPED * replay case t-empty (*t-empty.json): the recorded conversation has no "
            "user turn",
        ]
    )


def test_deselected_items_are_never_replayed(
    project: pytest.Pytester, langgraph_server: LangGraphDevServer
) -> None:
    before = thread_count(langgraph_server)
    result = project.runpytest("--connector", "Prod Agent", "-k", "t-1042", "-v")
    result.assert_outcomes(passed=1)
    assert thread_count(langgraph_server) - before == 1


def test_exitfirst_stops_scheduling_after_a_failure(
    project: pytest.Pytester, changed_server: LangGraphDevServer
) -> None:
    for n in range(4):  # eight cases that all fail at their first turn
        case = json.loads((CASES / "t-1041.json").read_text())
        case["conversation"]["threadKey"] = f"t-weather-{n}"
        (project.path / "cases" / f"t-weather-{n}.json").write_text(json.dumps(case))
        (project.path / "cases" / f"t-weather-{n}b.json").write_text(
            json.dumps(case).replace(f"t-weather-{n}", f"t-weather-{n}b")
        )
    before = thread_count(changed_server)
    result = project.runpytest(
        "--connector", "Changed Agent", "-x", "--replay-concurrency", "1", "-k", "weather"
    )
    result.assert_outcomes(failed=1)
    # The first case failed; at most the one queued behind it had started by then.
    assert thread_count(changed_server) - before <= 2


def test_audit_mode_calls_no_agent(
    project: pytest.Pytester, langgraph_server: LangGraphDevServer
) -> None:
    project.makepyfile(
        test_audit="""
        import pytest

        def polite(ours, theirs):
            assert "fail" not in ours, "the answer talks about failing"

        @pytest.mark.replay(path="cases")
        def test_recorded_answers(replay):
            replay.run().assert_matches(answer=polite)
        """
    )
    before = thread_count(langgraph_server)
    result = project.runpytest("test_audit.py", "--replay-audit", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "replay: audit mode (recorded outputs, no agent called)",
            literal("test_audit.py::test_recorded_answers[recorded-t-1041] PASSED") + "*",
        ]
    )
    assert thread_count(langgraph_server) == before


def test_marker_mistakes_are_one_line_usage_errors(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.replay(path="cases", source="LangSmith prod")
        def test_both(replay):
            pass
        """
    )
    result = project.runpytest("test_bad.py", "--connector", "Prod Agent")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: test_bad.py::test_both: give @pytest.mark.replay exactly one of "
            "source='IMPORT CONNECTOR' or path='FOLDER_OR_FILE', or neither with "
            "where={'origin': 'native', ...}*"
        ]
    )
    project.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.replay(source="LangSmith prod")
        def test_source(replay):
            pass
        """
    )
    result = project.runpytest("test_bad.py", "--connector", "Prod Agent")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: replay(source=...) and replay(where={'origin': 'native'}) read "
            "conversations from *connectors.db (the "
            "default: *), which does not exist: *give --connectors-db PATH_OR_URL*"
        ]
    )


def test_options_are_listed_in_help(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*--connectors-db=PATH_OR_URL*",
            "*--connectors-url=URL*",
            "*--connectors-api-key=KEY*",
            "*--replay-concurrency=N*",
            "*--replay-audit*",
            "*--replay-unredacted*",
        ]
    )
