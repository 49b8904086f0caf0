"""The benchmark harness runs end to end: ``benchmarks/run.py --quick`` prints every row.

Only the harness is checked, never a figure: a shared machine may be slow, and a slow machine
is no bug. Each run starts its own agent servers on free loopback ports and stops them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"
MEASUREMENTS = (
    "1. HTTP overhead",
    "2. LangGraph overhead",
    "3. Plugin cost",
    "4. Start-up",
    "5. Scale",
    "6. Latency truth",
    "8. Replay",
)
TIMEOUT_S = 600


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the harness; on timeout SIGTERM it first, so it stops the servers it started."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    command = [sys.executable, str(RUN), *args]
    with subprocess.Popen(
        command, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.terminate()
            stdout, stderr = process.communicate(timeout=60)
            raise AssertionError(f"{command} took over {TIMEOUT_S} s:\n{stderr[-3000:]}") from None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def test_quick_run_prints_a_row_for_every_measurement() -> None:
    result = bench("--quick")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in MEASUREMENTS:
        assert name in result.stdout, f"no {name!r} row in:\n{result.stdout}"
    assert "ERROR" not in result.stdout
    numbered = {f"{i}." for i in range(1, 9)}
    rows = [line for line in result.stdout.splitlines() if line[:2] in numbered]
    assert rows, result.stdout
    assert all(line.rstrip().endswith(("PASS", "MISS", "INFO")) for line in rows), rows


def test_quick_json_parses_with_a_target_and_verdict_per_row() -> None:
    result = bench("--quick", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    rows = document["rows"]
    names = [row["name"] for row in rows]
    for name in MEASUREMENTS:
        assert any(n.startswith(name) for n in names), names
    for row in rows:
        assert row["status"] in {"PASS", "MISS", "INFO"}, row
        assert row["target"] and row["figure"], row


def test_repeat_must_be_positive() -> None:
    result = bench("--repeat", "0")
    assert result.returncode == 2
    assert "--repeat must be at least 1" in result.stderr
