"""Result rows, the statistics behind them, and their table and JSON forms.

Every figure is a median (or a ratio of medians) of samples taken side by side in one run:
shared 2-core machines are too noisy for absolute numbers compared across runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["PASS", "MISS", "INFO", "ERROR"]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a measured figure and whether it meets its target."""

    name: str
    figure: str
    target: str
    status: Status
    value: float | None = None
    unit: str = ""
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def check(ok: bool) -> Status:
    return "PASS" if ok else "MISS"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float], digits: int = 3) -> str:
    """``min-max`` of per-round figures, to show how much one run can be trusted."""
    if len(values) < 2:
        return "1 round"
    return f"rounds {min(values):.{digits}f}-{max(values):.{digits}f}"


def error_row(name: str, exc: BaseException) -> Row:
    """A measurement that could not run still gets its row, so nothing goes missing silently."""
    message = f"{type(exc).__name__}: {exc}"
    return Row(name, message.splitlines()[0][:60], "-", "ERROR", detail=message)


def table(rows: Sequence[Row]) -> str:
    """Fixed-width columns; a row's detail goes on the line under it."""
    headers = ("measurement", "figure", "target", "result")
    cells = [(r.name, r.figure, r.target, r.status) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*headers), line.format(*("-" * w for w in widths))]
    for row, cell in zip(rows, cells, strict=True):
        out.append(line.format(*cell).rstrip())
        if row.detail:
            out.append(f"    {row.detail}")
    return "\n".join(out)
