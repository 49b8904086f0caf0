"""Every agent call a test makes, and the latency figures built from them.

Records are plain dicts of JSON values so they can ride on pytest reports across pytest-xdist
workers unchanged: the controller aggregates exactly what a serial run would.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any, NotRequired, TypedDict

from pytest_connectors._support.secrets import mask_fields, mask_url
from pytest_connectors.models.connector import ConnectorInvokeResult, Message

SLOWEST = 5
# Texts kept in a record: enough to read a turn back, small enough to ride on every report.
MAX_TEXT = 2000
# A tool's result is often a whole API response: its start says what came back.
MAX_TOOL_RESULT = 500


class ToolCallRecord(TypedDict):
    name: str
    args: dict[str, Any]
    # What the tool returned (masked, cut at MAX_TOOL_RESULT); absent when nothing came back.
    result: NotRequired[str]


class CallRecord(TypedDict):
    test: str
    connector: str
    turn: int
    latency_ms: float
    success: bool
    error: str | None
    tools: list[str]
    attempts: int
    # What was said: the user messages of the call, the answer, and the tool calls with their
    # arguments (secret-looking argument values masked, long texts cut).
    user: NotRequired[list[str]]
    answer: NotRequired[str]
    tool_calls: NotRequired[list[ToolCallRecord]]
    # A failed call whose test passed: the test expected it (check=False, then asserted on).
    expected_failure: NotRequired[bool]


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def bounded_json(value: Any) -> Any:
    """A JSON value with every long text cut, small enough to ride on a report."""
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, dict):
        return {str(k): bounded_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [bounded_json(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _cut(str(value))


def tool_result_text(text: str) -> str:
    """A tool's result as a report keeps it: a JSON object's secret-looking fields and any URL's
    credentials masked by the one policy, then cut to ``MAX_TOOL_RESULT`` characters."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        text = json.dumps(mask_fields(value), ensure_ascii=False)
    text = mask_url(text)
    return text if len(text) <= MAX_TOOL_RESULT else text[: MAX_TOOL_RESULT - 3] + "..."


def tool_call_records(result: ConnectorInvokeResult) -> list[ToolCallRecord]:
    """The call's tool calls, arguments masked, each with the result of the ``tool`` message
    answering it (by its id, else the one in the same place)."""
    answers = [m for m in result.messages if m.role == "tool"]
    by_id = {m.tool_call_id: m.text for m in answers if m.tool_call_id}
    records = []
    for index, call in enumerate(result.tool_calls):
        record = ToolCallRecord(name=call.name, args=bounded_json(mask_fields(call.args)))
        if call.id is not None and call.id in by_id:
            record["result"] = tool_result_text(by_id[call.id])
        elif index < len(answers) and not (call.id and answers[index].tool_call_id):
            record["result"] = tool_result_text(answers[index].text)
        records.append(record)
    return records


def user_texts(sent: Sequence[Message]) -> list[str]:
    """The user messages a call sent after the agent last spoke (the whole new turn)."""
    texts: list[str] = []
    for message in reversed(sent):
        if message.role == "assistant":
            break
        if message.role == "user":
            texts.append(_cut(message.text))
    return texts[::-1]


def record_of(
    test: str,
    connector: str,
    turn: int,
    result: ConnectorInvokeResult,
    sent: Sequence[Message] = (),
) -> CallRecord:
    """One call as plain JSON; ``sent`` (the messages the call sent) gives its user text."""
    return CallRecord(
        test=test,
        connector=connector,
        turn=turn,
        latency_ms=round(result.latency_ms, 3),
        success=result.success,
        error=result.error,
        tools=[call.name for call in result.tool_calls],
        attempts=result.attempts,
        user=user_texts(sent),
        answer=_cut(result.text),
        tool_calls=tool_call_records(result),
    )


def mark_expected(records: Iterable[CallRecord], *, test_passed: bool) -> None:
    """Mark the failed calls of a test that passed as expected by it."""
    for record in records:
        record["expected_failure"] = test_passed and not record["success"]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: always a latency that was actually observed."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(records: Iterable[CallRecord]) -> dict[str, dict[str, Any]]:
    """Per connector: calls, errors, p50/p95/p99/max latency and the slowest calls."""
    by_connector: dict[str, list[CallRecord]] = {}
    for record in records:
        by_connector.setdefault(record["connector"], []).append(record)
    summary: dict[str, dict[str, Any]] = {}
    for name in sorted(by_connector):
        calls = by_connector[name]
        latencies = [c["latency_ms"] for c in calls]
        slowest = sorted(calls, key=lambda c: c["latency_ms"], reverse=True)[:SLOWEST]
        summary[name] = {
            "calls": len(calls),
            "errors": sum(1 for c in calls if not c["success"]),
            "expected_errors": sum(1 for c in calls if c.get("expected_failure")),
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99),
            "max_ms": max(latencies),
            "slowest": [
                {"test": c["test"], "turn": c["turn"], "latency_ms": c["latency_ms"]}
                for c in slowest
            ],
        }
    return summary


def replay_latency(turns: Iterable[tuple[float | None, float | None]]) -> dict[str, Any]:
    """The replay object's ``latency`` from every replayed case's turns as (candidate,
    production) latencies, None where a side has none: one place, so a merge of shards gives
    the figures of one run."""
    candidate: list[float] = []
    production: list[float] = []
    ratios: list[float] = []
    for ours, theirs in turns:
        if ours is not None:
            candidate.append(ours)
        if theirs is not None:
            production.append(theirs)
        if ours is not None and theirs:
            ratios.append(ours / theirs)
    return {
        "replayed_turns": len(candidate),
        "candidate_p50_ms": percentile(candidate, 50) if candidate else None,
        "production_p50_ms": percentile(production, 50) if production else None,
        "p50_ratio": round(percentile(ratios, 50), 3) if ratios else None,
    }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def summary_lines(records: Iterable[CallRecord]) -> list[str]:
    """The terminal summary: per connector its calls, errors, latency and slowest calls.

    Failed calls that their passing tests expected are said to be expected, so a green run
    does not read as one whose agent failed.
    """
    lines = []
    for name, s in summarize(records).items():
        errors = _count(s["errors"], "error")
        expected = s["expected_errors"]
        if expected:
            whose = "its test" if expected == 1 else "their tests"
            errors += f" ({expected} expected: {whose} passed)"
        lines.append(
            f"{name}: {_count(s['calls'], 'call')}, {errors}, p50 {s['p50_ms']:.1f} ms, "
            f"p95 {s['p95_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, max {s['max_ms']:.1f} ms"
        )
        for slow in s["slowest"]:
            lines.append(f"  {slow['latency_ms']:9.1f} ms  {slow['test']} (turn {slow['turn']})")
    return lines


# The JSON report's format: its keys are snake_case throughout, described by the JSON Schema
# pytest_connectors/pytest_plugin/report.schema.json. Version 2: the replay object's keys were
# camelCase in version 1, and a diverged case says why.
REPORT_VERSION = 2


def report_document(records: Sequence[CallRecord]) -> dict[str, Any]:
    """The JSON report: the summary, then every call in the order the tests ran."""
    ordered = sorted(records, key=lambda r: (r["test"], r["connector"], r["turn"]))
    return {"version": REPORT_VERSION, "connectors": summarize(ordered), "calls": ordered}


def over_budget(
    records: Sequence[CallRecord], max_ms: float | None, p95_ms: float | None
) -> list[str]:
    """Lines describing every budget a test's calls broke (empty when all is well)."""
    problems = []
    if max_ms is not None:
        for r in records:
            if r["latency_ms"] > max_ms:
                problems.append(
                    f"turn {r['turn']} on {r['connector']!r}: {r['latency_ms']:.1f} ms "
                    f"> max_ms {max_ms:g}"
                )
    if p95_ms is not None and records:
        by_connector: dict[str, list[float]] = {}
        for r in records:
            by_connector.setdefault(r["connector"], []).append(r["latency_ms"])
        for name, latencies in by_connector.items():
            p95 = percentile(latencies, 95)
            if p95 > p95_ms:
                over = ", ".join(
                    f"turn {r['turn']} {r['latency_ms']:.1f} ms"
                    for r in records
                    if r["connector"] == name and r["latency_ms"] > p95_ms
                )
                problems.append(
                    f"p95 on {name!r}: {p95:.1f} ms > p95_ms {p95_ms:g} over "
                    f"{len(latencies)} calls (over budget: {over})"
                )
    return problems
