"""``pytest-connectors report merge | html | compare``: shards of one suite become one report
with the figures of a single run, rendered as HTML and compared with a baseline in CI."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from agent_connectors import http_connector
from report_pages import Page, diverging_case
from test_cli import ok, run

from pytest_connectors import ConnectorStore
from pytest_connectors.errors import ReportFileError
from pytest_connectors.evaluation.comparison import load_report
from pytest_connectors.evaluation.latency import percentile
from pytest_connectors.servers.launch import UvicornServer

SHARDS = {
    "test_one": """
def test_weather(conversation):
    assert conversation.send("What's the weather in Paris?").success

def test_fails(conversation):
    assert conversation.send("hello").text == "no"
""",
    "test_two": """
def test_two_turns(conversation):
    conversation.send("hello")
    conversation.send("again")

def test_error(conversation):
    assert not conversation.send("please fail", check=False).success
""",
    "test_three": """
import pytest

def test_invoke(invoke_connector):
    assert invoke_connector("hi").success

@pytest.mark.skip(reason="later")
def test_skipped(conversation):
    pass

@pytest.mark.replay(path="cases")
def test_case(replay):
    replay.run().assert_matches()
""",
}


def _without_timing(document: dict[str, Any]) -> tuple[Any, ...]:
    tests = [
        {**t, "duration_ms": None, "message": re.sub(r"\(\d+ ms\)", "", t["message"] or "")}
        for t in document["tests"]
    ]
    calls = [(c["test"], c["connector"], c["turn"], c["success"]) for c in document["calls"]]
    figures = {
        name: (s["calls"], s["errors"], s["expected_errors"])
        for name, s in document["connectors"].items()
    }
    replay = json.loads(json.dumps(document["replay"]))
    replay["latency"] = replay["latency"]["replayed_turns"]  # p50s are the calls' (above)
    for conversation in replay["conversations"]:
        for turn in conversation["turns"]:
            turn["candidate"]["latency_ms"] = None
    return tests, calls, figures, replay


def test_three_shards_merged_equal_the_whole_suite_run_at_once(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    http_agent_server: UvicornServer,
    http_agent_token: str,
) -> None:
    monkeypatch.delenv("PYTEST_CONNECTORS_FILE", raising=False)
    monkeypatch.setenv("AGENT_TOKEN", http_agent_token)
    store = ConnectorStore(pytester.path / "data" / "connectors.json")
    for name in ("HTTP Agent", "Echo Agent"):
        store.create(http_connector(name, http_agent_server.url, "${AGENT_TOKEN}"))
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(**SHARDS)
    diverging_case(pytester.path / "cases")  # a replay on each connector, diverging at turn 2
    both = ("--connector", "HTTP Agent", "--connector", "Echo Agent")
    pytester.runpytest(*both, "--connectors-report", "whole.json").assert_outcomes(
        passed=8, failed=4, skipped=2
    )
    for shard in SHARDS:
        pytester.runpytest(f"{shard}.py", *both, "--connectors-report", f"{shard}.json")
    shards = [str(pytester.path / f"{shard}.json") for shard in SHARDS]
    out = ok(run("report", "merge", *shards, "-o", "merged.json", cwd=pytester.path))
    assert out == "Merged 3 reports (14 tests, 16 calls) into merged.json.\n"
    merged = json.loads((pytester.path / "merged.json").read_text())
    whole = json.loads((pytester.path / "whole.json").read_text())
    assert _without_timing(merged) == _without_timing(whole)
    # The percentiles are those of the merged calls, not averages of the shards' percentiles.
    for name, figures in merged["connectors"].items():
        latencies = [c["latency_ms"] for c in merged["calls"] if c["connector"] == name]
        for q in (50, 95, 99):
            assert figures[f"p{q}_ms"] == percentile(latencies, q)
        assert figures["max_ms"] == max(latencies)
    # So are the replay's: production's recorded latencies are the same in both runs, the
    # candidate's are those of the merged conversations.
    latency, turns = (
        merged["replay"]["latency"],
        [
            turn
            for c in merged["replay"]["conversations"]
            for turn in c["turns"]
            if turn["candidate"]
        ],
    )
    assert latency["production_p50_ms"] == whole["replay"]["latency"]["production_p50_ms"]
    assert latency["production_p50_ms"] is not None
    candidate = [turn["candidate"]["latency_ms"] for turn in turns]
    assert latency["candidate_p50_ms"] == percentile(candidate, 50)
    ratios = [t["candidate"]["latency_ms"] / t["production"]["latency_ms"] for t in turns]
    assert latency["p50_ratio"] == round(percentile(ratios, 50), 3)


def _report(tests: dict[str, str], latencies: dict[str, list[float]]) -> dict[str, Any]:
    calls = [
        {
            "test": test,
            "connector": "Agent",
            "turn": turn,
            "latency_ms": ms,
            "success": True,
            "error": None,
            "tools": [],
            "attempts": 1,
        }
        for test, values in latencies.items()
        for turn, ms in enumerate(values, 1)
    ]
    return {
        "version": 2,
        "connectors": {},
        "calls": calls,
        "tests": [
            {"test": t, "connector": "Agent", "outcome": o, "message": None, "duration_ms": 1.0}
            for t, o in tests.items()
        ],
    }


_call = _report({}, {"t": [1.0]})["calls"][0]


def _replay(**sides: Any) -> dict[str, Any]:
    """A replay section of one conversation of one turn with the given sides."""
    turn = {"turn": 1, "user": [], "production": None, "candidate": None, **sides}
    return {
        **{"cases": 1, "passed": 1, "failed": 0, "skipped": 0, "diverged": []},
        "latency": {"replayed_turns": 0},
        "skipped_cases": [],
        "conversations": [{"test": "t", "turns": [turn]}],
    }


def _write(path: Path, document: dict[str, Any]) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def test_merged_percentiles_are_recomputed_never_averaged(tmp_path: Path) -> None:
    # Shard a: one slow call among fast ones; shard b: all fast. Averaging the shards' p50
    # (or p99) gives a latency no call had.
    a = _write(tmp_path / "a.json", _report({"t1": "passed"}, {"t1": [10.0, 10.0, 900.0]}))
    b = _write(tmp_path / "b.json", _report({"t2": "passed"}, {"t2": [20.0]}))
    ok(run("report", "merge", a, b, "-o", "m.json", cwd=tmp_path))
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o644 & ~umask  # a CI artifact
    figures = json.loads((tmp_path / "m.json").read_text())["connectors"]["Agent"]
    assert (figures["calls"], figures["p50_ms"], figures["p99_ms"]) == (4, 10.0, 900.0)


def test_a_test_failing_in_any_shard_stays_failed_in_the_merge(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.json", _report({"t": "failed"}, {}))
    b = _write(tmp_path / "b.json", _report({"t": "passed"}, {}))
    ok(run("report", "merge", b, a, "-o", "m.json", cwd=tmp_path))
    tests = json.loads((tmp_path / "m.json").read_text())["tests"]
    assert [(t["test"], t["outcome"]) for t in tests] == [("t", "failed")]


def test_compare_exits_1_on_regressions_only(tmp_path: Path) -> None:
    base = _write(tmp_path / "base.json", _report({"a": "passed", "b": "failed"}, {}))
    worse = _write(tmp_path / "worse.json", _report({"a": "failed", "b": "failed"}, {}))
    better = _write(tmp_path / "better.json", _report({"a": "passed", "b": "passed"}, {}))
    result = run("report", "compare", base, worse, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr == ""
    assert result.stdout.splitlines()[1] == "  REGRESSED  a (passed -> failed)"
    out = ok(run("report", "compare", base, better, "--json", cwd=tmp_path))
    assert [f["test"] for f in json.loads(out)["fixes"]] == ["b"]


def test_html_renders_a_report_file_with_its_comparison(tmp_path: Path) -> None:
    base = _write(tmp_path / "base.json", _report({"a": "passed"}, {"a": [5.0]}))
    now = _write(tmp_path / "now.json", _report({"a": "failed"}, {"a": [5.0]}))
    ok(run("report", "html", now, "--baseline", base, "-o", "out/r.html", cwd=tmp_path))
    page = Page((tmp_path / "out" / "r.html").read_text(encoding="utf-8"))
    assert page.by_id("comparison") and "1 regressed" in page.text
    assert [a.get("data-outcome") for a in page.tags("article")] == ["failed"]


def _broken(**sections: Any) -> str:
    """A report whose shape is right but for the given sections."""
    return json.dumps({**_report({"a": "passed"}, {"a": [5.0]}), **sections})


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such report file"),
        ("[1, 2", "not a JSON report"),
        (
            '{"version": 2, "connectors": {}, "tests": [], '
            '"calls": [{"test": "t", "connector": "a", "turn": 1}]}',
            "not a well-formed connectors report (calls[0]",
        ),
        (_broken(tests=[{"test": "t", "connector": None, "outcome": "passed"}]), "tests[0]"),
        (_broken(judgements="x"), "judgements"),
        (_broken(replay={"cases": 1}), "replay"),
    ],
)
def test_an_unreadable_report_is_one_line_and_exit_2(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    if content is not None:
        (tmp_path / "bad.json").write_text(content)
    good = _write(tmp_path / "good.json", _report({"a": "passed"}, {}))
    for args in (
        ("merge", good, "bad.json", "-o", "m.json"),
        ("html", "bad.json", "-o", "r.html"),
        ("compare", good, "bad.json"),
    ):
        result = run("report", *args, cwd=tmp_path)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"tests": [{"test": "t", "outcome": "passed"}]}, "tests[0].message"),
        ({"judgements": "x"}, "judgements is not a list"),
        ({"judgements": [{"test": "t", "criteria": [1]}]}, "judgements[0].criteria[0]"),
        ({"replay": {"cases": 1}}, "replay.passed"),
        ({"calls": [{**_call, "tool_calls": [{"args": {}}]}]}, "calls[0].tool_calls[0].name"),
        (
            {"replay": _replay(production={"tool_calls": [{"args": {}}]})},
            "replay.conversations[0].turns[0].production.tool_calls[0].name",
        ),
        ({"replay": _replay(candidate="x")}, "replay.conversations[0].turns[0].candidate"),
    ],
)
def test_without_jsonschema_the_parts_the_commands_read_are_still_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sections: dict[str, Any], expected: str
) -> None:
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # as in a core install
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**_report({"a": "passed"}, {}), **sections}))
    with pytest.raises(ReportFileError) as raised:
        load_report(path)
    assert str(raised.value).startswith(f"{path}: not a well-formed connectors report (")
    assert expected in str(raised.value)


def test_report_commands_offer_no_connector_file_option(tmp_path: Path) -> None:
    """Report files are given by path: the connector file (--file) means nothing to them."""
    for command in (("report",), ("report", "merge"), ("report", "html"), ("report", "compare")):
        assert "--file" not in ok(run(*command, "--help", cwd=tmp_path))


def test_a_merged_report_is_valid_against_the_schema_which_documents_its_shards(
    tmp_path: Path,
) -> None:
    import jsonschema

    from pytest_connectors.pytest_plugin.reports import REPORT_SCHEMA

    schema = json.loads(REPORT_SCHEMA.read_text())
    environment = {"when": "2026-01-01T00:00:00+00:00", "connectors": []}
    a = _write(tmp_path / "a.json", {**_report({"a": "passed"}, {}), "environment": environment})
    ok(run("report", "merge", a, a, "-o", "m.json", cwd=tmp_path))
    merged = json.loads((tmp_path / "m.json").read_text())
    assert merged["environment"]["shards"] == 2
    jsonschema.validate(merged, schema)
    assert "shards" in schema["properties"]["environment"]["properties"]
