"""Pass-rate arithmetic: the Wilson score interval and exact thresholds."""

from __future__ import annotations

import pytest

from pytest_connectors.evaluation.pass_rate import PassRate, required_passes, wilson_interval


@pytest.mark.parametrize(
    ("passed", "runs", "low", "high"),
    [
        (4, 5, 0.3755, 0.9638),  # Wilson (1927); the textbook 95 % interval for 4 of 5
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (1, 2, 0.0945, 0.9055),
    ],
)
def test_the_wilson_interval_matches_published_values(
    passed: int, runs: int, low: float, high: float
) -> None:
    found = wilson_interval(passed, runs)
    assert found == pytest.approx((low, high), abs=5e-5)


def test_the_interval_never_leaves_zero_to_one() -> None:
    for runs in range(1, 30):
        for passed in range(runs + 1):
            low, high = wilson_interval(passed, runs)
            assert 0 <= low <= passed / runs <= high <= 1


@pytest.mark.parametrize(
    ("runs", "rate", "needed"),
    [(10, 0.7, 7), (5, 0.8, 4), (3, 0.5, 2), (5, 1.0, 5), (5, 0.0, 0), (3, 0.34, 2)],
)
def test_thresholds_are_exact(runs: int, rate: float, needed: int) -> None:
    # 0.7 * 10 is 7.000000000000001 in floating point; seven passes still reach 70 %.
    assert required_passes(runs, rate) == needed


def test_a_pass_rate_line_says_the_rate_its_interval_and_the_verdict() -> None:
    rate = PassRate("test_x", runs=5, min_pass_rate=0.8, passed=4, failed=1)
    assert rate.allowed_failures == 1
    assert rate.met
    assert rate.line() == "test_x: 4 of 5 runs passed (80%, 95% CI 38%-96%); needs 80%: met"
    rate.passed, rate.failed = 3, 2
    assert not rate.met
    assert rate.as_dict()["ci95"] == [0.2307, 0.8824]
