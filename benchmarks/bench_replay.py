"""8. Replay: recorded three-turn conversations replayed concurrently against a 200 ms agent.

Each conversation's turns go one after the other (a turn needs the previous answer), so the
ideal wall time is conversations x turns x delay / concurrency; a serial run takes
concurrency times as long. The suite is frozen case files and one replay test, run by pytest
in a subprocess: in one process with ``--replay-concurrency 16``, and with ``-n 4
--replay-concurrency 16``. The figure is the run's wall time minus that of the same command on a
one-test suite (pytest's and the workers' start-up, which the ideal leaves out; both are in the
detail). Every case must pass, or the run counts as an error.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from bench_report import Row, check, median, spread
from bench_suites import Runner, timed_rounds

from pytest_connectors import Connector

TURNS = 3
DELAY_MS = 200
CONCURRENCY = 16
TOLERANCE = 1.5
TEST = """\
import pytest


@pytest.mark.replay(path="cases")
def test_replay(replay):
    replay.run().assert_matches()
"""


def _case(n: int) -> dict[str, object]:
    turn = {
        "userMessages": [f"sleep {DELAY_MS}"],
        "answer": f"Slept {DELAY_MS} ms.",
        "latencyMs": float(DELAY_MS),
    }
    return {
        "format": "pytest-connectors/replay-case",
        "version": 1,
        "conversation": {
            "id": f"conversation-{n:04d}",
            "threadKey": f"t-{n:04d}",
            "startedAt": f"2026-11-20T09:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
            "turns": [{"index": i, **turn} for i in range(TURNS)],
        },
    }


def write_empty_suite(root: Path) -> Path:
    """One trivial test: what pytest (and xdist's workers) cost before any replay."""
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    return root


def write_suite(root: Path, conversations: int) -> Path:
    cases = root / "cases"
    cases.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "test_replay.py").write_text(TEST)
    for n in range(conversations):
        (cases / f"t-{n:04d}.json").write_text(json.dumps(_case(n)))
    return root


def replay(
    root: Path,
    runner: Runner,
    connectors_file: Path,
    delay_connector: contextlib.AbstractContextManager[Connector],
    conversations: int,
    rounds: int,
    warm_up: bool = True,
) -> list[Row]:
    suite = write_suite(root / "suite", conversations)
    empty = write_empty_suite(root / "empty")
    ideal = conversations * TURNS * DELAY_MS / 1000 / CONCURRENCY
    target = TOLERANCE * ideal
    configs = {
        "one process": ["--replay-concurrency", str(CONCURRENCY)],
        "-n 4": ["-n", "4", "--replay-concurrency", str(CONCURRENCY)],
    }
    with delay_connector as connector:
        base = ["--connector", connector.name, f"--connectors-file={connectors_file}"]
        runs = {}
        for name, args in configs.items():
            runs[name] = (suite, [*base, *args])
            runs[f"{name}, empty"] = (empty, [*base, *args])
        walls = timed_rounds(runs, runner, rounds, warm_up)
    rows = []
    for name, args in configs.items():
        full, start = walls[name], walls[f"{name}, empty"]
        work = [a - b for a, b in zip(full, start, strict=True)]
        figure = median(work)
        rows.append(
            Row(
                f"8. Replay, {name}",
                f"{figure:.2f} s",
                f"<= {target:.2f} s",
                check(figure <= target),
                value=round(figure, 3),
                unit="s",
                detail=f"{conversations} conversations x {TURNS} turns at {DELAY_MS} ms, "
                f"{' '.join(args)}: ideal {ideal:.2f} s (serial {ideal * CONCURRENCY:.0f} s); "
                f"whole run {median(full):.2f} s minus the same run of a one-test suite "
                f"{median(start):.2f} s (pytest and worker start-up); median of {rounds}; "
                f"{spread(work, 2)}",
            )
        )
    return rows
