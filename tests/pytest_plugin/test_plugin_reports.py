"""What the plugin reports (terminal summary, JSON, JUnit XML), under xdist too; what it leaves
alone when unused; and that resolved secrets never reach any of it.

All against the example HTTP agent: the reports do not depend on the connector type, and its
calls take about a millisecond.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from typing import Any

import jsonschema
import pytest
from agent_connectors import http_connector
from pytester_ini import INI, write_ini

from pytest_connectors import ConnectorStore
from pytest_connectors.pytest_plugin.reports import REPORT_SCHEMA
from pytest_connectors.servers.launch import UvicornServer

CALL_KEYS = {
    "test",
    "connector",
    "turn",
    "latency_ms",
    "success",
    "error",
    "tools",
    "attempts",
    "user",
    "answer",
    "tool_calls",
    "expected_failure",
}
SUMMARY_KEYS = {"calls", "errors", "expected_errors", "p50_ms", "p95_ms", "p99_ms", "max_ms"}
SUMMARY_KEYS |= {"slowest"}


@pytest.fixture(autouse=True)
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_CONNECTORS_FILE", raising=False)
    write_ini(pytester)


@pytest.fixture
def agents(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    http_agent_server: UvicornServer,
    http_agent_token: str,
) -> ConnectorStore:
    """Two connectors ("HTTP Agent", "Echo Agent") on the same agent, token in ${AGENT_TOKEN}."""
    monkeypatch.setenv("AGENT_TOKEN", http_agent_token)
    store = ConnectorStore(pytester.path / "data" / "connectors.json")
    for name in ("HTTP Agent", "Echo Agent"):
        store.create(http_connector(name, http_agent_server.url, "${AGENT_TOKEN}"))
    return store


REPORT_SUITE = """
def test_weather(conversation):
    assert conversation.send("What's the weather in Paris?").success

def test_two_turns(conversation):
    conversation.send("hello")
    conversation.send("sleep 30")

def test_error(conversation):
    assert not conversation.send("please fail", check=False).success

def test_invoke(invoke_connector):
    assert invoke_connector("hi").success

def test_no_calls(connector):
    pass

def test_plain():
    pass
"""
BOTH = ("--connector", "HTTP Agent", "--connector", "Echo Agent")


def expected_calls(connector: str) -> set[tuple[str, str, int, bool, tuple[str, ...]]]:
    node = "test_report.py::{}[" + connector + "]"
    return {
        (node.format("test_weather"), connector, 1, True, ("get_weather",)),
        (node.format("test_two_turns"), connector, 1, True, ()),
        (node.format("test_two_turns"), connector, 2, True, ()),
        (node.format("test_error"), connector, 1, False, ()),
        (node.format("test_invoke"), connector, 1, True, ()),
    }


def call_set(document: dict[str, Any]) -> set[tuple[str, str, int, bool, tuple[str, ...]]]:
    return {
        (c["test"], c["connector"], c["turn"], c["success"], tuple(c["tools"]))
        for c in document["calls"]
    }


# --- terminal summary ----------------------------------------------------------------------


def test_terminal_summary_has_a_connectors_section(
    pytester: pytest.Pytester, agents: ConnectorStore
) -> None:
    pytester.makepyfile(test_report=REPORT_SUITE)
    result = pytester.runpytest(*BOTH)
    result.assert_outcomes(passed=11)
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"=+ connectors =+", line))
    number = r"\d+\.\d"
    assert lines[start + 1] == (
        "every agent call of the session (replayed turns included), per connector:"
    )
    seen: dict[str, set[tuple[str, int]]] = {}
    position = start + 2
    for name in ("Echo Agent", "HTTP Agent"):  # sorted by name
        assert re.fullmatch(
            # test_error fails a call on purpose and passes: the summary says so.
            rf"{name}: 5 calls, 1 error \(1 expected: its test passed\), p50 {number} ms, "
            rf"p95 {number} ms, "
            rf"p99 {number} ms, max {number} ms",
            lines[position],
        ), lines[position]
        slowest = [
            re.fullmatch(rf" +({number}) ms  (\S+\[{name}\]) \(turn (\d)\)", line)
            for line in lines[position + 1 : position + 6]
        ]
        assert all(slowest), lines[position + 1 : position + 6]
        latencies = [float(m[1]) for m in slowest if m]
        assert latencies == sorted(latencies, reverse=True)
        seen[name] = {(m[2], int(m[3])) for m in slowest if m}
        position += 6
    assert seen["HTTP Agent"] == {(t, turn) for t, _, turn, _, _ in expected_calls("HTTP Agent")}
    assert re.fullmatch(r"=+ \d+ passed in .*", lines[position])
    result.stdout.no_fnmatch_line("connector report:*")


def test_no_connectors_section_without_calls(
    pytester: pytest.Pytester, agents: ConnectorStore
) -> None:
    pytester.makepyfile("def test_no_calls(connector): pass")
    result = pytester.runpytest("--connector", "HTTP Agent")
    result.assert_outcomes(passed=1)
    result.stdout.no_re_match_line("=+ connectors =+")


# --- JSON report ---------------------------------------------------------------------------


def check_document(document: dict[str, Any], connectors: tuple[str, ...]) -> None:
    jsonschema.validate(document, json.loads(REPORT_SCHEMA.read_text()))
    assert document["version"] == 2
    assert set(document["connectors"]) == set(connectors)
    expected = set().union(*(expected_calls(name) for name in connectors))
    assert call_set(document) == expected
    assert len(document["calls"]) == len(expected)
    for call in document["calls"]:
        assert set(call) == CALL_KEYS
        assert call["latency_ms"] > 0
        assert call["attempts"] == 1
        if call["success"]:
            assert call["error"] is None
        else:
            assert call["error"] == "HTTP 500: the agent failed on purpose"
    for name in connectors:
        summary = document["connectors"][name]
        assert set(summary) == SUMMARY_KEYS
        assert (summary["calls"], summary["errors"]) == (5, 1)
        latencies = sorted(c["latency_ms"] for c in document["calls"] if c["connector"] == name)
        assert summary["max_ms"] == latencies[-1]
        assert summary["p50_ms"] == latencies[2]  # nearest rank of 5: the 3rd
        assert summary["p95_ms"] == summary["p99_ms"] == latencies[-1]
        assert len(summary["slowest"]) == 5
        assert [s["latency_ms"] for s in summary["slowest"]] == latencies[::-1]
        assert all(set(s) == {"test", "turn", "latency_ms"} for s in summary["slowest"])


def test_the_report_schema_is_valid_and_shipped_with_the_package() -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(REPORT_SCHEMA.read_text()))
    package = REPORT_SCHEMA.parents[1]
    pyproject = tomllib.loads((package.parent / "pyproject.toml").read_text())
    shipped = pyproject["tool"]["setuptools"]["package-data"]["pytest_connectors"]
    assert REPORT_SCHEMA.relative_to(package).as_posix() in shipped


def test_json_report_from_the_command_line(
    pytester: pytest.Pytester, agents: ConnectorStore
) -> None:
    pytester.makepyfile(test_report=REPORT_SUITE)
    result = pytester.runpytest(*BOTH, "--connectors-report", "reports/out.json")
    result.assert_outcomes(passed=11)
    path = pytester.path / "reports" / "out.json"
    result.stdout.fnmatch_lines([f"connector report: {path}"])
    check_document(json.loads(path.read_text()), ("Echo Agent", "HTTP Agent"))


def test_json_report_from_the_ini(pytester: pytest.Pytester, agents: ConnectorStore) -> None:
    pytester.makeini(
        INI.format(extra="connectors_report = agent-calls.json\nconnector = HTTP Agent")
    )
    pytester.makepyfile(test_report=REPORT_SUITE)
    result = pytester.runpytest()
    result.assert_outcomes(passed=6)
    path = pytester.path / "agent-calls.json"
    result.stdout.fnmatch_lines([f"connector report: {path}"])
    check_document(json.loads(path.read_text()), ("HTTP Agent",))


def test_junit_xml_gets_per_test_connector_properties(
    pytester: pytest.Pytester, agents: ConnectorStore
) -> None:
    pytester.makepyfile(test_report=REPORT_SUITE)
    result = pytester.runpytest("--connector", "HTTP Agent", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=6)
    root = ET.parse(pytester.path / "junit.xml").getroot()
    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in root.iter("testcase")
    }
    two_turns = properties["test_two_turns[HTTP Agent]"]
    assert two_turns["connector"] == "HTTP Agent"
    assert two_turns["connector_calls"] == "2"
    assert float(two_turns["latency_max_ms"]) >= 30
    assert 0 < float(two_turns["latency_p50_ms"]) <= float(two_turns["latency_max_ms"])
    assert two_turns["connector_errors"] == "0"
    assert properties["test_error[HTTP Agent]"]["connector_calls"] == "1"
    assert properties["test_error[HTTP Agent]"]["connector_errors"] == "1"
    assert properties["test_weather[HTTP Agent]"]["connector"] == "HTTP Agent"
    assert properties["test_no_calls[HTTP Agent]"] == {}
    assert properties["test_plain"] == {}


# --- pytest-xdist --------------------------------------------------------------------------


def test_xdist_report_has_the_same_calls_as_a_serial_run(
    pytester: pytest.Pytester, agents: ConnectorStore
) -> None:
    pytester.makepyfile(test_report=REPORT_SUITE)
    serial = pytester.runpytest_subprocess(*BOTH, "--connectors-report", "serial.json")
    serial.assert_outcomes(passed=11)
    parallel = pytester.runpytest_subprocess(
        *BOTH, "-n", "2", "--connectors-report", "parallel.json"
    )
    parallel.assert_outcomes(passed=11)
    parallel.stdout.fnmatch_lines(["created: 2/2 workers"])
    one = json.loads((pytester.path / "serial.json").read_text())
    two = json.loads((pytester.path / "parallel.json").read_text())
    assert (
        call_set(two)
        == call_set(one)
        == expected_calls("HTTP Agent") | expected_calls("Echo Agent")
    )
    assert len(two["calls"]) == len(one["calls"]) == 10
    for report in (one, two):
        counts = {name: (s["calls"], s["errors"]) for name, s in report["connectors"].items()}
        assert counts == {"HTTP Agent": (5, 1), "Echo Agent": (5, 1)}
    # The controller prints the section once; workers print nothing.
    assert sum(bool(re.fullmatch(r"=+ connectors =+", line)) for line in parallel.outlines) == 1
    parallel.stdout.fnmatch_lines(["HTTP Agent: 5 calls, 1 error (1 expected: *), p50 *"])


# --- no side effects when unused -----------------------------------------------------------


def test_an_unused_plugin_reads_no_file_and_changes_nothing(pytester: pytest.Pytester) -> None:
    (pytester.path / "data").mkdir()
    (pytester.path / "data" / "connectors.json").write_text("{ this is not json")
    pytester.makepyfile(
        """
        import pytest

        def test_a():
            pass

        @pytest.mark.parametrize("n", [1, 2])
        def test_b(n, tmp_path):
            assert tmp_path.is_dir()

        def test_c():
            assert False
        """
    )
    with_plugin = pytester.runpytest_subprocess("-rA")
    without = pytester.runpytest_subprocess("-rA", "-p", "no:connectors")
    assert with_plugin.ret == without.ret == pytest.ExitCode.TESTS_FAILED
    assert with_plugin.parseoutcomes() == without.parseoutcomes() == {"passed": 3, "failed": 1}
    for result in (with_plugin, without):
        result.stdout.no_fnmatch_line("connectors:*")
        result.stdout.no_re_match_line("=+ connectors =+")
        assert not result.errlines
    assert "plugins:" in with_plugin.stdout.str()
    # Outcome lines are the same, in the same order.
    assert [line for line in with_plugin.outlines if line.startswith(("PASSED", "FAILED"))] == [
        line for line in without.outlines if line.startswith(("PASSED", "FAILED"))
    ]


def test_importing_the_plugin_loads_no_client_library() -> None:
    code = (
        "import sys, pytest_connectors.pytest_plugin.plugin\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'httpx', 'pydantic', 'langgraph_sdk', 'pytest_connectors'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = ast.literal_eval(out.strip())
    assert "pytest_connectors.pytest_plugin.plugin" in loaded
    # Only the plugin's own small modules: no client library, no pydantic, no other layer.
    assert [m for m in loaded if not m.startswith("pytest_connectors.pytest_plugin")] == [
        "pytest_connectors"
    ], loaded


# --- secrets -------------------------------------------------------------------------------

WRONG_SECRET = "wrong-secret-Zq8xK2pLw7"
LITERAL_SECRET = "literal-secret-Hn4vB9tRc1"


def test_resolved_secrets_appear_in_no_output_or_report(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    agents: ConnectorStore,
    http_agent_server: UvicornServer,
    http_agent_token: str,
) -> None:
    monkeypatch.setenv("WRONG_TOKEN", WRONG_SECRET)
    agents.create(http_connector("Locked Agent", http_agent_server.url, "${WRONG_TOKEN}"))
    agents.create(http_connector("Literal Agent", http_agent_server.url, LITERAL_SECRET))
    pytester.makepyfile(
        test_secrets="""
        import pytest

        def test_good(conversation, connector):
            print(connector)
            reply = conversation.send("hello")
            print(reply)
            assert reply.text == "You said: hello"

        @pytest.mark.connector("Locked Agent", "Literal Agent")
        def test_wrong_token(conversation, connector):
            print(repr(connector))
            conversation.send("hello")

        @pytest.mark.connector("Locked Agent", "Literal Agent")
        def test_wrong_token_invoke(invoke_connector):
            reply = invoke_connector("hello")
            print(reply.model_dump_json())
            assert reply.success, reply
        """
    )
    result = pytester.runpytest(
        "--connector",
        "HTTP Agent",
        "-vv",
        "-rA",
        "-l",
        "--tb=long",
        "--junitxml",
        "junit.xml",
        "--connectors-report",
        "report.json",
    )
    result.assert_outcomes(passed=1, failed=4)
    output = "\n".join(result.outlines + result.errlines)
    assert output.count("HTTP 401: invalid token") >= 4  # the failures are shown...
    texts = {
        "output": output,
        "junit": (pytester.path / "junit.xml").read_text(),
        "report": (pytester.path / "report.json").read_text(),
    }
    assert "HTTP 401" in texts["junit"] and "HTTP 401" in texts["report"]
    for where, text in texts.items():  # ...but never the secrets
        for secret in (http_agent_token, WRONG_SECRET, LITERAL_SECRET):
            assert secret not in text, f"{secret!r} leaked into the {where}"
