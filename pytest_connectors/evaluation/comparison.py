"""A run aligned with a baseline run: what regressed, what was fixed, what got slower.

Both sides are JSON reports (``--connectors-report``), so a baseline is whatever an earlier run
left, e.g. the main branch's CI artifact. Latency is compared per test. With few calls on a side
it is flagged only when the p50 moved beyond both a ratio and an absolute difference: shared CI
machines are noisy, and a 2 ms call that takes 4 ms is not news. With enough calls on both
sides a rank test (Mann-Whitney U) decides whether the shift is real, as it looks at every call
rather than one figure, and the p50 must still have moved by the ratio or the absolute
difference, so a real but tiny shift (2.0 to 2.6 ms) is not flagged; each flagged change says
which method decided.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_connectors._support.text import counted
from pytest_connectors.errors import ReportFileError
from pytest_connectors.evaluation.latency import REPORT_VERSION, percentile

# A test's p50 must change by both this ratio and this many milliseconds to be reported.
LATENCY_RATIO = 1.5
LATENCY_MIN_MS = 100.0
# With at least this many calls on each side, the rank test decides, at this significance.
RANK_TEST_MIN_CALLS = 8
RANK_TEST_ALPHA = 0.01
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


# The JSON Schema of the report, shipped with the package (read as data, not imported).
REPORT_SCHEMA = Path(__file__).parent.parent / "pytest_plugin" / "report.schema.json"


def _where(path: Iterable[object]) -> str:
    """``tests[0].message``: where in the document a problem is."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "top level"


def _schema_problem(document: Mapping[str, Any]) -> str | None:
    """The first place the report breaks its JSON Schema; None when jsonschema is missing."""
    try:
        jsonschema: Any = importlib.import_module("jsonschema")
    except ImportError:
        return None
    schema = json.loads(REPORT_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is None:
        return None
    return f"{_where(error.absolute_path)}: {error.message[:200]}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _list_of_objects(value: object, where: str, *keys: str) -> str | None:
    """None when ``value`` is a list of objects each with a string at every one of ``keys``."""
    if not isinstance(value, list):
        return f"{where} is not a list"
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            return f"{where}[{index}] is not an object"
        for key in keys:
            if not isinstance(item.get(key), str):
                return f"{where}[{index}].{key} is not a string"
    return None


def _malformed(document: Mapping[str, Any]) -> str | None:
    """What makes a report unusable by compare, merge and html: its JSON Schema when jsonschema
    is installed, then, always, the parts they read."""
    problem = _schema_problem(document)
    if problem:
        return problem
    for index, test in enumerate(document["tests"]):
        if not (isinstance(test, dict) and isinstance(test.get("test"), str)):
            return f"tests[{index}] has no test id"
        if not isinstance(test.get("outcome"), str):
            return f"tests[{index}] has no outcome"
        if not isinstance(test.get("message", 0), str | None):
            return f"tests[{index}].message is missing or not a string or null"
    calls = document.get("calls", [])
    if not isinstance(calls, list):
        return "calls is not a list"
    for index, call in enumerate(calls):
        if not isinstance(call, dict) or not all(
            isinstance(call.get(key), str) for key in ("test", "connector")
        ):
            return f"calls[{index}] has no test or connector"
        latency, turn = call.get("latency_ms"), call.get("turn")
        if not (isinstance(latency, int | float) and _is_number(latency) and latency >= 0):
            return f"calls[{index}] has no latency_ms"
        if not isinstance(turn, int):
            return f"calls[{index}] has no turn"
        problem = _list_of_objects(call.get("tool_calls", []), f"calls[{index}].tool_calls", "name")
        if problem:
            return problem
    judgements = document.get("judgements", [])
    problem = _list_of_objects(judgements, "judgements", "test")
    for index, judgement in enumerate(judgements if problem is None else []):
        problem = problem or _list_of_objects(
            judgement.get("criteria", []), f"judgements[{index}].criteria", "criterion"
        )
    return problem or _replay_problem(document.get("replay"))


def _replay_problem(replay: object) -> str | None:
    """The parts of the ``replay`` object merge and html read."""
    if replay is None:
        return None
    if not isinstance(replay, dict):
        return "replay is not an object"
    for key in ("cases", "passed", "failed", "skipped"):
        if not isinstance(replay.get(key), int):
            return f"replay.{key} is not a number"
    latency = replay.get("latency")
    if not isinstance(latency, dict) or not isinstance(latency.get("replayed_turns"), int):
        return "replay.latency.replayed_turns is not a number"
    problem = (
        _list_of_objects(replay.get("diverged"), "replay.diverged", "test")
        or _list_of_objects(replay.get("skipped_cases", []), "replay.skipped_cases", "test")
        or _list_of_objects(replay.get("conversations", []), "replay.conversations", "test")
    )
    for index, conversation in enumerate(replay.get("conversations", []) if not problem else []):
        problem = _conversation_problem(conversation, f"replay.conversations[{index}].turns")
        if problem:
            return problem
    return problem


def _conversation_problem(conversation: Mapping[str, Any], where: str) -> str | None:
    """The parts of a replayed conversation's turns the page and the merge read."""
    turns = conversation.get("turns", [])
    problem = _list_of_objects(turns, where)
    for number, turn in enumerate(turns if not problem else []):
        for side in ("production", "candidate"):
            value, place = turn.get(side), f"{where}[{number}].{side}"
            if value is None:
                continue
            if not isinstance(value, dict):
                return f"{place} is not an object"
            if not (value.get("latency_ms") is None or _is_number(value["latency_ms"])):
                return f"{place}.latency_ms is not a number"
            problem = _list_of_objects(value.get("tool_calls", []), f"{place}.tool_calls", "name")
            if problem:
                return problem
    return problem


def _outcomes(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["test"]: t for t in document.get("tests", [])}


def _latencies_by_test(document: Mapping[str, Any]) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {}
    for call in document.get("calls", []):
        latencies.setdefault(call["test"], []).append(call["latency_ms"])
    return latencies


def mann_whitney_p(before: Sequence[float], after: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test: the normal approximation with the tie
    correction and a continuity correction, good from about 8 values a side. 1.0 when every
    value is the same."""
    n1, n2 = len(before), len(after)
    ordered = sorted([(value, 0) for value in before] + [(value, 1) for value in after])
    n = n1 + n2
    rank_sum, ties, start = 0.0, 0.0, 0
    while start < n:  # runs of equal values share their average rank
        end = start
        while end + 1 < n and ordered[end + 1][0] == ordered[start][0]:
            end += 1
        size = end - start + 1
        average = (start + end) / 2 + 1
        rank_sum += average * sum(1 for _, side in ordered[start : end + 1] if side == 0)
        ties += size**3 - size
        start = end + 1
    u = rank_sum - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = max(0.0, abs(u - mean) - 0.5) / math.sqrt(variance)
    return math.erfc(z / math.sqrt(2))


def latency_change(before: Sequence[float], after: Sequence[float]) -> dict[str, Any] | None:
    """How a test's latency changed, when the change exceeds the noise; None when it does not."""
    old, new = percentile(before, 50), percentile(after, 50)
    change: dict[str, Any] = {
        "before_p50_ms": old,
        "after_p50_ms": new,
        "ratio": round(new / old, 3) if old else None,
    }
    by_ratio = new >= old * LATENCY_RATIO or old >= new * LATENCY_RATIO
    by_ms = abs(new - old) >= LATENCY_MIN_MS
    if min(len(before), len(after)) >= RANK_TEST_MIN_CALLS:
        # The rank test says the shift is real; one of the thresholds, that it is worth a look.
        p_value = mann_whitney_p(before, after)
        if p_value >= RANK_TEST_ALPHA or not (by_ratio or by_ms):
            return None
        return {**change, "method": "rank_test", "p_value": round(p_value, 6)}
    if by_ratio and by_ms:
        return {**change, "method": "thresholds", "p_value": None}
    return None


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
                {"test": test, "before": was, "after": now, "message": after[test].get("message")}
            )
        elif was in FAILING and now == "passed":
            fixes.append({"test": test, "before": was, "after": now})
    latency = []
    calls_before, calls_after = _latencies_by_test(baseline), _latencies_by_test(current)
    for test in sorted(calls_before.keys() & calls_after.keys()):
        change = latency_change(calls_before[test], calls_after[test])
        if change is not None:
            latency.append({"test": test, **change})
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
        f"against a baseline of {counted(comparison['baseline_tests'], 'test')}: "
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
        how = f"rank test p={r['p_value']:.2g}" if r.get("method") == "rank_test" else "p50"
        rows.append(
            f"  latency    {r['test']}: p50 {r['before_p50_ms']:.1f} ms -> "
            f"{r['after_p50_ms']:.1f} ms ({how})"
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


__all__: Sequence[str] = [
    "compare",
    "comparison_lines",
    "has_regressions",
    "latency_change",
    "load_report",
    "mann_whitney_p",
]
