"""JSON reports of shards of one suite (CI jobs, pytest-split, several machines) as one report.

The figures are recomputed from the merged calls, never averaged from the shards' figures: the
p95 of two shards is not the mean of their p95s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_connectors.evaluation.latency import report_document

FAILING = ("failed", "error")
# Sections that are lists of per-test entries: the shards' lists, concatenated.
LISTS = ("judgements", "pass_rates", "simulations")


def _merge_replay(replays: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts add up and lists join; the shards' p50s cannot be combined, so they are left out."""
    return {
        "cases": sum(r["cases"] for r in replays),
        "passed": sum(r["passed"] for r in replays),
        "failed": sum(r["failed"] for r in replays),
        "skipped": sum(r["skipped"] for r in replays),
        "diverged": sorted((d for r in replays for d in r["diverged"]), key=lambda d: d["test"]),
        "latency": {
            "replayed_turns": sum(r["latency"]["replayed_turns"] for r in replays),
            "candidate_p50_ms": None,
            "production_p50_ms": None,
            "p50_ratio": None,
        },
        "skipped_cases": sorted(
            (s for r in replays for s in r.get("skipped_cases", [])), key=lambda s: s["test"]
        ),
        "conversations": sorted(
            (c for r in replays for c in r.get("conversations", [])), key=lambda c: c["test"]
        ),
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
