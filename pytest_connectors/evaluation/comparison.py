"""A run aligned with a baseline run: what regressed, what was fixed, what got slower.

Both sides are JSON reports (``--connectors-report``), so a baseline is whatever an earlier run
left, e.g. the main branch's CI artifact. Latency is compared per test on the p50 of its calls,
and flagged only beyond both a ratio and an absolute difference: shared CI machines are noisy,
and a 2 ms call that takes 4 ms is not news.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_connectors.errors import ReportFileError
from pytest_connectors.evaluation.latency import REPORT_VERSION, percentile

# A test's p50 must change by both this ratio and this many milliseconds to be reported.
LATENCY_RATIO = 1.5
LATENCY_MIN_MS = 100.0
# A judge score must move by at least this much (scores are 0..1).
SCORE_DELTA = 0.1
FAILING = ("failed", "error")


def load_report(path: Path) -> dict[str, Any]:
    """A JSON report read back, or one line saying why it cannot be used."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportFileError(f"{path}: no such report file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportFileError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(document, dict) or document.get("version") != REPORT_VERSION:
        found = document.get("version") if isinstance(document, dict) else None
        raise ReportFileError(
            f"{path}: not a version {REPORT_VERSION} connectors report (version {found!r}); "
            "write it with --connectors-report from this version"
        )
    if not isinstance(document.get("tests"), list):
        raise ReportFileError(
            f"{path}: the report has no per-test outcomes (written by an older version); "
            "write it again with --connectors-report"
        )
    problem = _malformed(document)
    if problem:
        raise ReportFileError(f"{path}: not a well-formed connectors report ({problem})")
    return document


def _malformed(document: Mapping[str, Any]) -> str | None:
    """What makes a report unusable by compare, merge and html (the rest is optional)."""
    for index, test in enumerate(document["tests"]):
        if not (isinstance(test, dict) and isinstance(test.get("test"), str)):
            return f"tests[{index}] has no test id"
        if not isinstance(test.get("outcome"), str):
            return f"tests[{index}] has no outcome"
    calls = document.get("calls", [])
    if not isinstance(calls, list):
        return "calls is not a list"
    for index, call in enumerate(calls):
        if not isinstance(call, dict) or not all(
            isinstance(call.get(key), str) for key in ("test", "connector")
        ):
            return f"calls[{index}] has no test or connector"
        latency, turn = call.get("latency_ms"), call.get("turn")
        if not isinstance(latency, int | float) or isinstance(latency, bool) or latency < 0:
            return f"calls[{index}] has no latency_ms"
        if not isinstance(turn, int):
            return f"calls[{index}] has no turn"
    return None


def _outcomes(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["test"]: t for t in document.get("tests", [])}


def _p50_by_test(document: Mapping[str, Any]) -> dict[str, float]:
    latencies: dict[str, list[float]] = {}
    for call in document.get("calls", []):
        latencies.setdefault(call["test"], []).append(call["latency_ms"])
    return {test: percentile(values, 50) for test, values in latencies.items()}


def _scores(document: Mapping[str, Any]) -> dict[tuple[str, str], float]:
    scores: dict[tuple[str, str], float] = {}
    for judgement in document.get("judgements", []):
        for criterion in judgement.get("criteria", []):
            if isinstance(criterion.get("score"), int | float):
                scores[(judgement["test"], criterion["criterion"])] = criterion["score"]
    return scores


def compare(baseline: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON report's ``comparison`` object."""
    before, after = _outcomes(baseline), _outcomes(current)
    regressions, fixes = [], []
    for test in sorted(before.keys() & after.keys()):
        was, now = before[test]["outcome"], after[test]["outcome"]
        if was == "passed" and now in FAILING:
            regressions.append(
                {"test": test, "before": was, "after": now, "message": after[test]["message"]}
            )
        elif was in FAILING and now == "passed":
            fixes.append({"test": test, "before": was, "after": now})
    latency = []
    p50_before, p50_after = _p50_by_test(baseline), _p50_by_test(current)
    for test in sorted(p50_before.keys() & p50_after.keys()):
        old, new = p50_before[test], p50_after[test]
        slower, faster = new >= old * LATENCY_RATIO, old >= new * LATENCY_RATIO
        if (slower or faster) and abs(new - old) >= LATENCY_MIN_MS:
            latency.append(
                {
                    "test": test,
                    "before_p50_ms": old,
                    "after_p50_ms": new,
                    "ratio": round(new / old, 3) if old else None,
                }
            )
    scores_before, scores_after = _scores(baseline), _scores(current)
    scores = [
        {"test": test, "criterion": criterion, "before": scores_before[key], "after": score}
        for key, score in sorted(scores_after.items())
        if key in scores_before and abs(score - scores_before[key]) >= SCORE_DELTA
        for test, criterion in [key]
    ]
    return {
        "baseline_tests": len(before),
        "regressions": regressions,
        "fixes": fixes,
        "new": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "latency": latency,
        "scores": scores,
    }


def comparison_lines(comparison: Mapping[str, Any], *, limit: int = 20) -> list[str]:
    """The terminal's view: counts first, then each regression and change (the first ``limit``)."""
    lines = [
        f"against a baseline of {comparison['baseline_tests']} tests: "
        f"{len(comparison['regressions'])} regressed, {len(comparison['fixes'])} fixed, "
        f"{len(comparison['new'])} new, {len(comparison['removed'])} removed, "
        f"{len(comparison['latency'])} latency changes, {len(comparison['scores'])} score changes"
    ]
    rows: list[str] = []
    for r in comparison["regressions"]:
        rows.append(f"  REGRESSED  {r['test']} ({r['before']} -> {r['after']})")
    for r in comparison["fixes"]:
        rows.append(f"  fixed      {r['test']} ({r['before']} -> {r['after']})")
    for r in comparison["latency"]:
        rows.append(
            f"  latency    {r['test']}: p50 {r['before_p50_ms']:.1f} ms -> "
            f"{r['after_p50_ms']:.1f} ms"
        )
    for r in comparison["scores"]:
        rows.append(
            f"  score      {r['test']} {r['criterion']!r}: {r['before']:.2f} -> {r['after']:.2f}"
        )
    for test in comparison["new"]:
        rows.append(f"  new        {test}")
    for test in comparison["removed"]:
        rows.append(f"  removed    {test}")
    lines += rows[:limit]
    if len(rows) > limit:
        lines.append(f"  ... and {len(rows) - limit} more (see the JSON or HTML report)")
    return lines


def has_regressions(comparison: Mapping[str, Any]) -> bool:
    return bool(comparison["regressions"])


__all__: Sequence[str] = ["compare", "comparison_lines", "has_regressions", "load_report"]
