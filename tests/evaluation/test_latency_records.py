"""recording.py: call records, nearest-rank percentiles, summaries and latency budgets."""

from __future__ import annotations

import json
import math
import random

import pytest

from pytest_connectors import ConnectorInvokeResult, Message, ToolCall
from pytest_connectors._support.secrets import MASK
from pytest_connectors.evaluation.latency import (
    MAX_TEXT,
    CallRecord,
    mark_expected,
    over_budget,
    percentile,
    record_of,
    report_document,
    summarize,
    summary_lines,
)


def record(
    latency_ms: float,
    *,
    test: str = "t.py::test_a",
    connector: str = "A",
    turn: int = 1,
    success: bool = True,
) -> CallRecord:
    return CallRecord(
        test=test,
        connector=connector,
        turn=turn,
        latency_ms=latency_ms,
        success=success,
        error=None if success else "HTTP 500: boom",
        tools=[],
        attempts=1,
    )


# --- percentile ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0, 15), (5, 15), (20, 15), (30, 20), (40, 20), (50, 35), (80, 40), (95, 50), (100, 50)],
)
def test_percentile_is_the_nearest_rank(q: float, expected: float) -> None:
    # The classic example: ordinal rank ceil(q/100 * n) of the sorted values.
    assert percentile([35, 20, 15, 50, 40], q) == expected


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([7.5], 50) == percentile([7.5], 99) == 7.5


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(percentile([], 50))


def test_percentile_is_always_an_observed_value() -> None:
    rng = random.Random(1234)
    for _ in range(200):
        values = [round(rng.uniform(0, 1000), 1) for _ in range(rng.randint(1, 40))]
        q = rng.choice([50, 90, 95, 99])
        p = percentile(values, q)
        assert p in values
        ordered = sorted(values)
        # At least q% of the values are <= p, and fewer than q% are < p.
        assert sum(v <= p for v in ordered) >= q / 100 * len(ordered)
        assert sum(v < p for v in ordered) < q / 100 * len(ordered)


def test_percentile_does_not_reorder_its_input() -> None:
    values = [3.0, 1.0, 2.0]
    percentile(values, 50)
    assert values == [3.0, 1.0, 2.0]


# --- record_of -----------------------------------------------------------------------------


def test_record_of_an_invoke_result() -> None:
    result = ConnectorInvokeResult(
        success=True,
        latency_ms=12.34567,
        attempts=2,
        messages=[
            Message(
                role="assistant",
                tool_calls=[
                    ToolCall(name="get_weather", args={"city": "Paris"}),
                    ToolCall(name="search", args={}),
                ],
            ),
            Message(role="tool", content="Sunny"),
            Message(role="assistant", content="Sunny in Paris."),
        ],
    )
    assert record_of("t.py::test_x[A]", "A", 3, result) == {
        "test": "t.py::test_x[A]",
        "connector": "A",
        "turn": 3,
        "latency_ms": 12.346,
        "success": True,
        "error": None,
        "tools": ["get_weather", "search"],
        "attempts": 2,
        "user": [],
        "answer": "",  # no final message in this result
        "tool_calls": [
            {"name": "get_weather", "args": {"city": "Paris"}, "result": "Sunny"},
            {"name": "search", "args": {}},
        ],
    }


def test_record_of_a_conversation_turn_says_what_was_said_small_and_masked() -> None:
    result = ConnectorInvokeResult(
        success=True,
        latency_ms=5.0,
        message=Message(role="assistant", content="done " + "x" * 5000),
        messages=[
            Message(
                role="assistant",
                tool_calls=[
                    ToolCall(
                        name="send_mail",
                        args={"to": "a@b.c", "api_key": "sk-live-123456", "body": "y" * 5000},
                    )
                ],
            ),
            Message(role="tool", content="sent"),
            Message(role="assistant", content="done " + "x" * 5000),
        ],
    )
    sent = [
        Message(role="user", content="earlier question"),
        Message(role="assistant", content="earlier answer"),
        Message(role="user", content="mail Ada"),
    ]
    rec = record_of("t", "A", 2, result, sent)
    assert rec["user"] == ["mail Ada"]  # the new turn only, not the transcript sent before it
    assert rec["answer"].startswith("done x") and len(rec["answer"]) == MAX_TEXT
    (call,) = rec["tool_calls"]
    assert call["args"]["to"] == "a@b.c"
    assert call["args"]["api_key"] == MASK
    assert len(call["args"]["body"]) == MAX_TEXT
    assert "sk-live-123456" not in json.dumps(rec)


def test_record_of_a_failure_keeps_the_error() -> None:
    result = ConnectorInvokeResult(success=False, latency_ms=1.0, error="HTTP 500: boom")
    rec = record_of("t", "A", 1, result)
    assert (rec["success"], rec["error"], rec["tools"]) == (False, "HTTP 500: boom", [])
    json.dumps(rec)  # plain JSON values: it rides on xdist reports


# --- summarize -----------------------------------------------------------------------------


def test_summarize_per_connector() -> None:
    records = [
        record(10, connector="B"),
        record(30, connector="A", test="t.py::test_a", turn=1),
        record(20, connector="A", test="t.py::test_a", turn=2, success=False),
        record(50, connector="A", test="t.py::test_b", turn=1),
        record(40, connector="A", test="t.py::test_c", turn=1),
    ]
    summary = summarize(records)
    assert list(summary) == ["A", "B"]  # sorted by name
    a = summary["A"]
    assert (a["calls"], a["errors"]) == (4, 1)
    assert (a["p50_ms"], a["p95_ms"], a["p99_ms"], a["max_ms"]) == (30, 50, 50, 50)
    assert a["slowest"] == [
        {"test": "t.py::test_b", "turn": 1, "latency_ms": 50},
        {"test": "t.py::test_c", "turn": 1, "latency_ms": 40},
        {"test": "t.py::test_a", "turn": 1, "latency_ms": 30},
        {"test": "t.py::test_a", "turn": 2, "latency_ms": 20},
    ]
    assert summary["B"] == {
        "calls": 1,
        "errors": 0,
        "expected_errors": 0,
        "p50_ms": 10,
        "p95_ms": 10,
        "p99_ms": 10,
        "max_ms": 10,
        "slowest": [{"test": "t.py::test_a", "turn": 1, "latency_ms": 10}],
    }


def test_summary_lines_count_in_good_english_and_say_which_errors_were_expected() -> None:
    one = [record(12.5, connector="Solo")]
    assert summary_lines(one)[0].startswith("Solo: 1 call, 0 errors, p50 12.5 ms, ")
    expected = record(5, connector="A", test="t.py::test_a", success=False)
    unexpected = record(7, connector="A", test="t.py::test_b", success=False)
    mark_expected([expected], test_passed=True)
    mark_expected([unexpected], test_passed=False)
    assert expected["expected_failure"] and not unexpected["expected_failure"]
    line = summary_lines([expected, record(9, connector="A")])[0]
    assert line.startswith("A: 2 calls, 1 error (1 expected: its test passed), p50 ")
    line = summary_lines([expected, dict(expected), unexpected])[0]
    assert line.startswith("A: 3 calls, 3 errors (2 expected: their tests passed), p50 ")
    assert summary_lines([unexpected])[0].startswith("A: 1 call, 1 error, p50 ")


def test_summarize_keeps_the_five_slowest() -> None:
    records = [record(float(ms), turn=ms) for ms in range(1, 21)]
    slowest = summarize(records)["A"]["slowest"]
    assert [s["latency_ms"] for s in slowest] == [20, 19, 18, 17, 16]
    assert summarize(records)["A"]["p95_ms"] == 19  # ceil(0.95 * 20) = 19th


def test_summarize_nothing() -> None:
    assert summarize([]) == {}


def test_report_document_orders_calls_and_is_json() -> None:
    records = [
        record(5, test="t.py::test_b", turn=1),
        record(6, test="t.py::test_a", turn=2),
        record(7, test="t.py::test_a", turn=1, connector="B"),
        record(8, test="t.py::test_a", turn=1),
    ]
    document = report_document(records)
    assert document["version"] == 2
    assert [(c["test"], c["connector"], c["turn"]) for c in document["calls"]] == [
        ("t.py::test_a", "A", 1),
        ("t.py::test_a", "A", 2),
        ("t.py::test_a", "B", 1),
        ("t.py::test_b", "A", 1),
    ]
    assert document["connectors"] == summarize(records)
    assert json.loads(json.dumps(document)) == document


# --- over_budget ---------------------------------------------------------------------------


def test_within_budget_gives_no_problems() -> None:
    records = [record(50, turn=1), record(100, turn=2)]
    assert over_budget(records, 100, 100) == []  # equal to the budget is within it
    assert over_budget(records, None, None) == []
    assert over_budget([], 1, 1) == []


def test_max_ms_lists_every_call_over_budget() -> None:
    records = [record(150.04, turn=1), record(20, turn=2), record(300.26, turn=3, connector="B")]
    assert over_budget(records, 100, None) == [
        "turn 1 on 'A': 150.0 ms > max_ms 100",
        "turn 3 on 'B': 300.3 ms > max_ms 100",
    ]


def test_p95_ms_is_checked_per_connector() -> None:
    records = [record(10, turn=1), record(250, turn=2), record(20, turn=3)]
    records += [record(5, connector="B", turn=1)]
    assert over_budget(records, None, 100) == [
        "p95 on 'A': 250.0 ms > p95_ms 100 over 3 calls (over budget: turn 2 250.0 ms)"
    ]


def test_p95_ignores_a_rare_outlier() -> None:
    records = [record(10, turn=n) for n in range(1, 21)] + [record(500, turn=21)]
    assert percentile([r["latency_ms"] for r in records], 95) == 10
    assert over_budget(records, None, 100) == []
    assert over_budget(records, 100, None) == ["turn 21 on 'A': 500.0 ms > max_ms 100"]


def test_both_budgets_report_both_problems() -> None:
    problems = over_budget([record(150.5)], 100, 120.5)
    assert problems == [
        "turn 1 on 'A': 150.5 ms > max_ms 100",
        "p95 on 'A': 150.5 ms > p95_ms 120.5 over 1 calls (over budget: turn 1 150.5 ms)",
    ]
