"""The replay figures of a session, built once from per-case records for every writer.

A case record is plain JSON so it rides on pytest reports across xdist workers; the terminal
section, the JSON report's ``replay`` object and the JUnit properties all come from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_connectors.evaluation.latency import percentile
from pytest_connectors.replay.case import ReplayCase
from pytest_connectors.replay.compare import ReplayResult


def _divergence(result: ReplayResult) -> tuple[int, str] | None:
    """The first diverging turn and why, as the test last asserted (else as the run judged)."""
    if result.verdict is not None:
        return (result.verdict, result.verdict_reason or "") if result.verdict else None
    return result.divergence()


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
    ratios: list[float] = []
    candidate: list[float] = []
    production: list[float] = []
    for r in ordered:
        for ours, theirs in zip(
            r["candidate_latency_ms"], r["production_latency_ms"], strict=False
        ):
            if ours is not None:
                candidate.append(ours)
            if theirs is not None:
                production.append(theirs)
            if ours is not None and theirs:
                ratios.append(ours / theirs)
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
        "latency": {
            "replayed_turns": len(candidate),
            "candidate_p50_ms": percentile(candidate, 50) if candidate else None,
            "production_p50_ms": percentile(production, 50) if production else None,
            "p50_ratio": round(percentile(ratios, 50), 3) if ratios else None,
        },
        "skipped_cases": [
            {"test": r["test"], "reason": r["skip_reason"]} for r in ordered if r["skip_reason"]
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
