"""The replay figures of a session, built once from per-case records for every writer.

A case record is plain JSON so it rides on pytest reports across xdist workers; the terminal
section, the JSON report's ``replay`` object and the JUnit properties all come from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_connectors._support.secrets import mask_fields
from pytest_connectors.evaluation.latency import bounded_json, replay_latency, tool_result_text
from pytest_connectors.evaluation.report_html import is_web_link
from pytest_connectors.models.imports import RecordedTurn
from pytest_connectors.replay.case import ReplayCase
from pytest_connectors.replay.compare import CandidateTurn, ReplayResult

# Metadata keys of a recorded conversation that may hold a link to its trace or session.
TRACE_LINK_KEYS = ("langsmith_trace_url", "langsmith_url", "trace_url")
SESSION_LINK_KEYS = ("fullstory_session_url",)


def _divergence(result: ReplayResult) -> tuple[int, str] | None:
    """The first diverging turn and why, as the test last asserted (else as the run judged)."""
    if result.verdict is not None:
        return (result.verdict, result.verdict_reason or "") if result.verdict else None
    return result.divergence()


def _side(turn: RecordedTurn | CandidateTurn) -> dict[str, Any]:
    """One side of a replayed turn as plain JSON: long texts cut, secret-looking arguments and
    tool results masked, as the call records of the report are."""
    calls = [(call.name, call.args) for call in turn.tool_calls]
    if isinstance(turn, CandidateTurn):
        results: list[str | None] = list(turn.tool_results)
    else:
        results = [call.result for call in turn.tool_calls]
    tool_calls = []
    for index, (name, args) in enumerate(calls):
        record: dict[str, Any] = {"name": name, "args": bounded_json(mask_fields(args))}
        result = results[index] if index < len(results) else None
        if result is not None:
            record["result"] = tool_result_text(result)
        tool_calls.append(record)
    return {
        "answer": bounded_json(turn.answer or ""),
        "tool_calls": tool_calls,
        "error": bounded_json(turn.error) if turn.error else None,
        "latency_ms": turn.latency_ms,
    }


def _links(case: ReplayCase) -> list[dict[str, str]]:
    """Where a reader finds the conversation in production: its LangSmith trace and FullStory
    sessions, when the import knew them. Only http(s) links; the page shows nothing else."""
    links: list[dict[str, str]] = []
    metadata = case.conversation.metadata if case.conversation is not None else {}
    candidates = [("LangSmith trace", metadata.get(key)) for key in TRACE_LINK_KEYS]
    candidates += [("FullStory session", metadata.get(key)) for key in SESSION_LINK_KEYS]
    candidates += [("FullStory session", session.url) for session in case.sessions]
    seen: set[str] = set()
    for label, url in candidates:
        if isinstance(url, str) and is_web_link(url) and url not in seen:
            seen.add(url)
            links.append({"label": label, "url": url})
    return links


def conversation_record(case: ReplayCase, result: ReplayResult | None) -> dict[str, Any]:
    """The conversation turn by turn, production and candidate side by side, for the report."""
    compared = {turn.position: turn for turn in result.turns} if result is not None else {}
    turns = []
    for position, recorded in enumerate(case.turns, start=1):
        candidate = compared[position].candidate if position in compared else None
        turns.append(
            {
                "turn": position,
                "user": [bounded_json(text) for text in recorded.user_messages],
                "production": _side(recorded),
                "candidate": _side(candidate) if candidate is not None else None,
            }
        )
    return {"links": _links(case), "turns": turns}


def case_record(
    *, test: str, connector: str, case: ReplayCase, result: ReplayResult | None, outcome: str
) -> dict[str, Any]:
    candidate: list[float | None] = []
    production: list[float | None] = []
    if result is not None:
        for turn in result.turns:
            production.append(turn.production.latency_ms)
            candidate.append(turn.candidate.latency_ms if turn.candidate is not None else None)
    divergence = _divergence(result) if result is not None else None
    return {
        "test": test,
        "connector": connector,
        "case": case.id,
        "source": case.source,
        "outcome": outcome,
        "turns": len(case.turns),
        "replayed": len(result.replayed) if result is not None else 0,
        "diverged_at": divergence[0] if divergence else None,
        "diverged_because": divergence[1] if divergence else None,
        "audit": bool(result and result.audit),
        "skip_reason": case.skip_reason,
        "candidate_latency_ms": candidate,
        "production_latency_ms": production,
        "conversation": conversation_record(case, result),
    }


def progress_line(record: dict[str, Any]) -> str | None:
    """What one replayed conversation did, in a line shown under its test (``-v``)."""
    if record["skip_reason"]:
        return None  # pytest shows the reason with SKIPPED
    done = "audited" if record["audit"] else "replayed"
    line = f"{done} {record['replayed']} of {_count(record['turns'], 'turn')}"
    if record["diverged_at"] is not None:
        line += f", diverged at turn {record['diverged_at']}"
    elif record["replayed"]:
        line += ", matching production"
    latencies = [ms for ms in record["candidate_latency_ms"] if ms is not None]
    if latencies and not record["audit"]:
        line += f" (agent time {sum(latencies):.0f} ms)"
    return line


def junit_properties(record: dict[str, Any]) -> list[tuple[str, object]]:
    properties: list[tuple[str, object]] = [
        ("replay_case", record["case"]),
        ("replay_source", record["source"]),
        ("replay_turns", record["turns"]),
        ("replay_replayed_turns", record["replayed"]),
    ]
    if record["diverged_at"] is not None:
        properties.append(("replay_diverged_at_turn", record["diverged_at"]))
    if record["skip_reason"]:
        properties.append(("replay_skip_reason", record["skip_reason"]))
    return properties


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The JSON report's ``replay`` object (see ``pytest_plugin/report.schema.json``)."""
    ordered = sorted(records, key=lambda r: r["test"])
    outcomes = [r["outcome"] for r in ordered]
    turns = [
        pair
        for r in ordered
        for pair in zip(r["candidate_latency_ms"], r["production_latency_ms"], strict=False)
    ]
    return {
        "cases": len(ordered),
        "passed": outcomes.count("passed"),
        "failed": outcomes.count("failed"),
        "skipped": outcomes.count("skipped"),
        "diverged": [
            {
                "test": r["test"],
                "turn": r["diverged_at"],
                "turns": r["turns"],
                "reason": r["diverged_because"],
            }
            for r in ordered
            if r["diverged_at"] is not None
        ],
        "latency": replay_latency(turns),
        "skipped_cases": [
            {"test": r["test"], "reason": r["skip_reason"]} for r in ordered if r["skip_reason"]
        ],
        "conversations": [
            {
                "test": r["test"],
                "connector": r["connector"],
                "case": r["case"],
                "source": r["source"],
                "diverged_at": r["diverged_at"],
                **r["conversation"],
            }
            for r in ordered
            if r.get("conversation") and r["conversation"]["turns"] and not r["skip_reason"]
        ],
    }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def summary_lines(summary: dict[str, Any]) -> list[str]:
    lines = [
        f"{_count(summary['cases'], 'case')}: {summary['passed']} passed, "
        f"{summary['failed']} failed, {summary['skipped']} skipped"
    ]
    for diverged in summary["diverged"]:
        lines.append(
            f"  diverged at turn {diverged['turn']} of {diverged['turns']}: {diverged['test']}"
        )
        if diverged["reason"]:
            lines.append(f"    {diverged['reason']}")
    for skipped in summary["skipped_cases"]:
        lines.append(f"  skipped: {skipped['test']}: {skipped['reason']}")
    latency = summary["latency"]
    if latency["candidate_p50_ms"] is not None:
        # Only the replayed turns: the connectors section's p50 is over every call of the run.
        production = latency["production_p50_ms"]
        line = (
            f"latency p50 of the {_count(latency['replayed_turns'], 'replayed turn')}: "
            f"candidate {latency['candidate_p50_ms']:.1f} ms"
        )
        line += f", production (recorded) {production:.1f} ms" if production is not None else ""
        if latency["p50_ratio"] is not None:
            line += f", p50 ratio (candidate / production, per turn) {latency['p50_ratio']:.2f}"
        lines.append(line)
    return lines
