"""JSON reports of shards of one suite (CI jobs, pytest-split, several machines) as one report.

The figures are recomputed from the merged calls, never averaged from the shards' figures: the
p95 of two shards is not the mean of their p95s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_connectors.evaluation.latency import replay_latency, report_document

FAILING = ("failed", "error")
# Sections that are lists of per-test entries: the shards' lists, concatenated.
LISTS = ("judgements", "pass_rates", "simulations")


def _latency_turns(conversation: Mapping[str, Any]) -> list[tuple[float | None, float | None]]:
    """A replayed conversation's (candidate, production) latencies, turn by turn, as the run
    summed them; nothing for a case the run never replayed (no candidate turn at all)."""
    turns = conversation.get("turns", [])
    if all(turn.get("candidate") is None for turn in turns):
        return []
    return [
        (
            (turn.get("candidate") or {}).get("latency_ms"),
            (turn.get("production") or {}).get("latency_ms"),
        )
        for turn in turns
    ]


def _merge_replay(replays: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts add up and lists join; the latency figures are recomputed from the conversations'
    turns (none when a shard's report is from a release that kept no conversations)."""
    conversations = sorted(
        (c for r in replays for c in r.get("conversations", [])), key=lambda c: c["test"]
    )
    latency = replay_latency(turn for c in conversations for turn in _latency_turns(c))
    replayed_turns = sum(r["latency"]["replayed_turns"] for r in replays)
    if latency["replayed_turns"] != replayed_turns:  # turns the shards did not keep
        latency = {key: None for key in latency} | {"replayed_turns": replayed_turns}
    return {
        "cases": sum(r["cases"] for r in replays),
        "passed": sum(r["passed"] for r in replays),
        "failed": sum(r["failed"] for r in replays),
        "skipped": sum(r["skipped"] for r in replays),
        "diverged": sorted((d for r in replays for d in r["diverged"]), key=lambda d: d["test"]),
        "latency": latency,
        "skipped_cases": sorted(
            (s for r in replays for s in r.get("skipped_cases", [])), key=lambda s: s["test"]
        ),
        "conversations": conversations,
    }


def merge_reports(documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One report of every shard's tests and calls. A test found in several shards (a rerun)
    keeps its failing outcome when one failed, so a merge never hides a failure."""
    merged = report_document([call for d in documents for call in d.get("calls", [])])
    tests: dict[str, Mapping[str, Any]] = {}
    for document in documents:
        for test in document.get("tests", []):
            seen = tests.get(test["test"])
            if seen is None or (test["outcome"] in FAILING and seen["outcome"] not in FAILING):
                tests[test["test"]] = test
    merged["tests"] = [tests[name] for name in sorted(tests)]
    environments = [d["environment"] for d in documents if d.get("environment")]
    if environments:
        merged["environment"] = {**environments[0], "shards": len(documents)}
    for key in LISTS:
        entries = [entry for d in documents for entry in d.get(key, [])]
        if entries:
            merged[key] = entries
    replays = [d["replay"] for d in documents if d.get("replay")]
    if replays:
        merged["replay"] = _merge_replay(replays)
    return merged
