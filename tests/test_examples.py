"""The example suite runs as its README says: ``pytest examples --connector "LangGraph Dev"``.

The "LangGraph Dev" connector has ``config.launch``, so the plugin starts ``langgraph dev`` on
the example agent by itself (the managed-server path); the test pinned to "HTTP Agent" gets its
server from examples/conftest.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
EXAMPLE_TESTS = 13  # 7 in test_agent_eval.py, 6 replayed conversations in test_replay.py


def run_examples(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "HTTP_AGENT_")) and key != "PYTEST_CONNECTORS_FILE"
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "examples", *args, "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_examples_pass_against_the_managed_langgraph_server() -> None:
    proc = run_examples("--connector", "LangGraph Dev")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    lines = proc.stdout.splitlines()
    assert re.fullmatch(rf"=+ {EXAMPLE_TESTS} passed in .*", lines[-1]), output
    assert f"connectors: LangGraph Dev (file: {EXAMPLES / 'data' / 'connectors.json'})" in lines
    # Every conversation turn was recorded: 25 on LangGraph (two failing on purpose, one of them
    # replayed from production), 1 on HTTP.
    assert any(line.startswith("LangGraph Dev: 25 calls, 2 errors, p50 ") for line in lines)
    assert "6 cases: 6 passed, 0 failed, 0 skipped" in lines
    assert any(line.startswith("HTTP Agent: 1 calls, 0 errors, p50 ") for line in lines)


def test_examples_compare_both_connectors_side_by_side() -> None:
    proc = run_examples(
        "--connector", "LangGraph Dev", "--connector", "HTTP Agent", "--collect-only", "-q"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    prefix = "test_agent_eval.py::"  # rootdir is examples/, for its pytest.ini
    assert f"{prefix}test_remembers_the_users_name[LangGraph Dev]" in ids
    assert f"{prefix}test_remembers_the_users_name[HTTP Agent]" in ids
    assert [i for i in ids if "test_http_agent_speaks_openai" in i] == [
        f"{prefix}test_http_agent_speaks_openai[HTTP Agent]"
    ]
    assert len(ids) == 2 * EXAMPLE_TESTS - 1
