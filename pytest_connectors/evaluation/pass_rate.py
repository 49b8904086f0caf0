"""Pass rates of a test run several times, with the Wilson score interval.

An agent that is itself random passes some runs and fails others: its pass rate over n runs is
a binomial proportion, and the Wilson interval is the honest interval for small n (it never
leaves [0, 1], unlike the normal approximation). A test meets ``min_pass_rate`` when
``passed >= ceil(min_pass_rate * runs)``, computed exactly (0.7 x 10 is 7, not 7.000000001).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

__all__ = ["PassRate", "required_passes", "wilson_interval"]

Z95 = 1.959963984540054  # the standard normal quantile of 97.5 %: a two-sided 95 % interval


def wilson_interval(passed: int, runs: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``passed`` successes in ``runs`` trials."""
    if runs <= 0:
        return 0.0, 1.0
    p = passed / runs
    denominator = 1 + z * z / runs
    centre = (p + z * z / (2 * runs)) / denominator
    margin = z * math.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs)) / denominator
    # At 0 or n passes the bound is exactly 0 or 1; float rounding would leave a crumb.
    low = 0.0 if passed == 0 else max(0.0, centre - margin)
    high = 1.0 if passed == runs else min(1.0, centre + margin)
    return low, high


def required_passes(runs: int, min_pass_rate: float) -> int:
    """How many of ``runs`` must pass to reach ``min_pass_rate``."""
    exact = Fraction(str(min_pass_rate)) * runs
    return math.ceil(exact)


@dataclass
class PassRate:
    """The runs of one test: how many passed and failed, against its threshold."""

    test: str
    runs: int
    min_pass_rate: float
    passed: int = 0
    failed: int = 0  # failures and errors

    @property
    def done(self) -> int:
        return self.passed + self.failed

    @property
    def rate(self) -> float:
        return self.passed / self.done if self.done else 0.0

    @property
    def allowed_failures(self) -> int:
        return self.runs - required_passes(self.runs, self.min_pass_rate)

    @property
    def met(self) -> bool:
        return self.done > 0 and self.passed >= required_passes(self.done, self.min_pass_rate)

    def line(self) -> str:
        low, high = wilson_interval(self.passed, self.done)
        verdict = "met" if self.met else "NOT met"
        return (
            f"{self.test}: {self.passed} of {self.done} runs passed ({self.rate:.0%}, 95% CI "
            f"{low:.0%}-{high:.0%}); needs {self.min_pass_rate:.0%}: {verdict}"
        )

    def as_dict(self) -> dict[str, Any]:
        low, high = wilson_interval(self.passed, self.done)
        return {
            "test": self.test,
            "runs": self.done,
            "passed": self.passed,
            "failed": self.failed,
            "pass_rate": round(self.rate, 4),
            "ci95": [round(low, 4), round(high, 4)],
            "min_pass_rate": self.min_pass_rate,
            "met": self.met,
        }
