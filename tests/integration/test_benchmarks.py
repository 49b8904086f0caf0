"""The benchmark harness runs end to end: ``benchmarks/run.py --quick`` prints every row.

Only the harness is checked, never a figure: a shared machine may be slow, and a slow machine
is no bug. Each run starts its own agent servers on free loopback ports and stops them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "benchmarks" / "run.py"
MEASUREMENTS = (
    "1. HTTP overhead",
    "2. LangGraph overhead",
    "3. Plugin cost",
    "4. Start-up",
    "5. Scale",
    "6. Latency truth",
    "8. Replay",
    "9. Service",
    "10. Judges",
    "11a. OTLP receiver",
    "11c. Langfuse",
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


def test_one_quick_run_prints_the_table_and_writes_the_json(tmp_path: Path) -> None:
    """The harness runs once: the table on stdout and the same rows as JSON in a file."""
    out = tmp_path / "bench.json"
    result = bench("--quick", "--json-file", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    for name in MEASUREMENTS:
        assert name in result.stdout, f"no {name!r} row in:\n{result.stdout}"
    assert "ERROR" not in result.stdout
    rows = [line for line in result.stdout.splitlines() if re.match(r"\d+[a-z]?\. ", line)]
    assert rows, result.stdout
    assert all(line.rstrip().endswith(("PASS", "MISS", "INFO")) for line in rows), rows
    document = json.loads(out.read_text())
    assert document["mode"] == "quick"
    names = [row["name"] for row in document["rows"]]
    assert len(names) == len(rows)
    for name in MEASUREMENTS:
        assert any(n.startswith(name) for n in names), names
    for row in document["rows"]:
        assert row["status"] in {"PASS", "MISS", "INFO"}, row
        assert row["target"] and row["figure"], row
    startup = [n for n in names if n.startswith("4. Start-up")]
    assert "4. Start-up: base install vs pytest+pytest-asyncio+httpx" in startup
    truth = [r for r in document["rows"] if r["name"].startswith("6. Latency truth")]
    assert truth and all(r["target"] == "|median diff| <= 0.5 ms" for r in truth)


def test_repeat_must_be_positive() -> None:
    result = bench("--repeat", "0")
    assert result.returncode == 2
    assert "--repeat must be at least 1" in result.stderr
