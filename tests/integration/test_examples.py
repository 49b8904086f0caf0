"""The example suite runs as its README says: ``pytest examples --connector "LangGraph Dev"``.

Both example connectors have ``config.launch``: the plugin starts ``langgraph dev`` on the
example graph (the LangGraph folder shorthand) and uvicorn on the example HTTP agent (a command
with ``{port}``) by itself, and so do the CLI's ``test`` and ``invoke``. The examples hold no
conftest: nothing else starts a server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
CONNECTORS = EXAMPLES / "data" / "connectors.json"
# 8 in test_agent_eval.py, 8 replayed conversations in test_replay.py, 6 in
# test_simulated_users.py (one by hand, one per persona of scenarios/, three repeated runs)
EXAMPLE_TESTS = 22


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
    # Every connector the run uses is named before the tests run, not only the selected one.
    assert (
        "connectors: LangGraph Dev (21 tests), HTTP Agent (1 test) "
        f"(file: {EXAMPLES / 'data' / 'connectors.json'})"
    ) in lines
    # Every conversation turn was recorded: 44 on LangGraph (two failing on purpose, one of them
    # replayed from production, both expected by their passing tests), 1 on the HTTP agent,
    # launched by its config.launch. The judge's and the simulated user's calls are not among
    # them.
    assert any(
        line.startswith("LangGraph Dev: 44 calls, 2 errors (2 expected: their tests passed), p50 ")
        for line in lines
    ), output
    assert "8 cases: 8 passed, 0 failed, 0 skipped" in lines
    # The rules judge, launched by its config.launch, gave 17 verdicts (some cached by an
    # earlier run of the examples, which is what the cache is for).
    assert any(line.startswith("judge: 17 verdicts (") for line in lines), output
    # The rules user played three conversations to their goal; three runs made a pass rate.
    assert any(
        line.startswith("simulated users: 3 conversations (3 goal reached, 0 abandoned, ")
        for line in lines
    ), output
    assert any(
        line.startswith("test_simulated_users.py::test_the_weather_answer_holds_across_runs[")
        and line.endswith("3 of 3 runs passed (100%, 95% CI 44%-100%); needs 67%: met")
        for line in lines
    ), output
    assert any(line.startswith("HTTP Agent: 1 call, 0 errors, p50 ") for line in lines), output
    assert not (EXAMPLES / "conftest.py").exists()


def test_examples_pass_on_both_connectors_side_by_side() -> None:
    """The HTTP agent leaves its tool calls to the caller: the example test gives its tool, and
    replays answer them with production's recorded results."""
    proc = run_examples("--connector", "LangGraph Dev", "--connector", "HTTP Agent")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    lines = proc.stdout.splitlines()
    assert re.fullmatch(rf"=+ {2 * EXAMPLE_TESTS - 1} passed in .*", lines[-1]), output
    assert "16 cases: 16 passed, 0 failed, 0 skipped" in lines


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


def test_the_cli_starts_a_launchable_agent_and_stops_it() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    command = [sys.executable, "-m", "pytest_connectors.cli", "--file", str(CONNECTORS)]
    test = subprocess.run(
        [*command, "test", "HTTP Agent"], env=env, capture_output=True, text=True, timeout=120
    )
    assert test.returncode == 0, test.stdout + test.stderr
    assert test.stdout.startswith("OK  HTTP Agent answered in "), test.stdout
    invoke = subprocess.run(
        [*command, "invoke", "HTTP Agent", "-m", "My name is Ada", "-m", "What is my name?"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert invoke.returncode == 0, invoke.stdout + invoke.stderr
    assert "assistant: Your name is Ada." in invoke.stdout
    assert "example-agent-token" not in test.stdout + invoke.stdout + invoke.stderr
