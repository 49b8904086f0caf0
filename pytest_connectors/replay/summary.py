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


def _diverged_at(result: ReplayResult) -> int | None:
    if result.verdict is not None:  # what the test asserted, with its own options
        return result.verdict or None
    return result.diverged_at()


def case_record(
    *, test: str, connector: str, case: ReplayCase, result: ReplayResult | None, outcome: str
) -> dict[str, Any]:
    candidate: list[float | None] = []
    production: list[float | None] = []
    if result is not None:
        for turn in result.turns:
            production.append(turn.production.latency_ms)
            candidate.append(turn.candidate.latency_ms if turn.candidate is not None else None)
    return {
        "test": test,
        "connector": connector,
        "case": case.id,
        "source": case.source,
        "outcome": outcome,
        "turns": len(case.turns),
        "replayed": len(result.replayed) if result is not None else 0,
        "divergedAt": _diverged_at(result) if result is not None else None,
        "audit": bool(result and result.audit),
        "skipReason": case.skip_reason,
        "candidateLatencyMs": candidate,
        "productionLatencyMs": production,
    }


def junit_properties(record: dict[str, Any]) -> list[tuple[str, object]]:
    properties: list[tuple[str, object]] = [
        ("replay_case", record["case"]),
        ("replay_source", record["source"]),
        ("replay_turns", record["turns"]),
        ("replay_replayed_turns", record["replayed"]),
    ]
    if record["divergedAt"] is not None:
        properties.append(("replay_diverged_at_turn", record["divergedAt"]))
    if record["skipReason"]:
        properties.append(("replay_skip_reason", record["skipReason"]))
    return properties


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(records, key=lambda r: r["test"])
    outcomes = [r["outcome"] for r in ordered]
    ratios: list[float] = []
    candidate: list[float] = []
    production: list[float] = []
    for r in ordered:
        for ours, theirs in zip(r["candidateLatencyMs"], r["productionLatencyMs"], strict=False):
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
            {"test": r["test"], "turn": r["divergedAt"], "turns": r["turns"]}
            for r in ordered
            if r["divergedAt"] is not None
        ],
        "latency": {
            "candidateP50Ms": percentile(candidate, 50) if candidate else None,
            "productionP50Ms": percentile(production, 50) if production else None,
            "p50Ratio": round(percentile(ratios, 50), 3) if ratios else None,
        },
        "skippedCases": [
            {"test": r["test"], "reason": r["skipReason"]} for r in ordered if r["skipReason"]
        ],
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    lines = [
        f"{summary['cases']} cases: {summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['skipped']} skipped"
    ]
    for diverged in summary["diverged"]:
        lines.append(
            f"  diverged at turn {diverged['turn']} of {diverged['turns']}: {diverged['test']}"
        )
    for skipped in summary["skippedCases"]:
        lines.append(f"  skipped: {skipped['test']}: {skipped['reason']}")
    latency = summary["latency"]
    if latency["candidateP50Ms"] is not None:
        production = latency["productionP50Ms"]
        line = f"latency p50: candidate {latency['candidateP50Ms']:.1f} ms"
        line += f", production {production:.1f} ms" if production is not None else ""
        if latency["p50Ratio"] is not None:
            line += f", p50 ratio (candidate / production, per turn) {latency['p50Ratio']:.2f}"
        lines.append(line)
    return lines
