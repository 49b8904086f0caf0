"""docs/imports.md's examples run as written: the shell one against the demo provider the page
starts, the Python one against the LangSmith fake."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from children import python_path
from documentation import block
from fakes.fixtures import recent_thread
from service_support import on_port, readme_server

from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(langsmith_fake: LangSmithServer, tmp_path: Path) -> dict[str, str]:
    langsmith_fake.fake.add_runs(recent_thread(), project="support-prod")
    bin_dir = Path(sys.executable).parent
    environ = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": python_path(ROOT),
        "LANGSMITH_API_KEY": API_KEY,
        "LANGSMITH_ENDPOINT": langsmith_fake.url,
    }
    for name in ("PYTEST_CONNECTORS_FILE", "PYTEST_CONNECTORS_DB"):
        environ.pop(name, None)
    return environ


def shell_env() -> dict[str, str]:
    """A user's shell: the commands on PATH, no connector or provider setting of ours."""
    bin_dir = Path(sys.executable).parent
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LANGSMITH_"))}
    environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    environ["PYTHONPATH"] = python_path(ROOT)
    return environ


def test_the_shell_example_runs_against_the_demo(tmp_path: Path) -> None:
    start, exports = block("bash", "pytest-connectors demo langsmith").split("\n", 1)
    with readme_server(start, "/healthz") as demo:
        # What the demo prints to export is what the page exports.
        assert on_port(exports.strip(), {1984: demo.port}) in demo.log_tail()
        script = exports + block("bash", "pytest-connectors imports create")
        run = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", on_port(script, {1984: demo.port})],
            cwd=tmp_path, env=shell_env(), capture_output=True, text=True, timeout=300,
            check=False,
        )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "succeeded: 10 fetched, 10 created" in run.stdout
    listed = dict(re.findall(r"^cnv_\w+\s+(t-\d+)\s+(\d+)\s", run.stdout, flags=re.M))
    assert listed == {"t-1041": "2", "t-1042": "3", "t-1043": "3", "t-1044": "2"}
    assert API_KEY not in run.stdout + run.stderr
    assert (tmp_path / "data" / "connectors.db").exists()


def test_the_python_example_runs(env: dict[str, str], tmp_path: Path) -> None:
    snippet = block("python", "Imports()")
    run = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "succeeded 2 traces imported"
    assert lines[1:] == [
        "[\"What's the weather in Paris?\"] ['get_weather'] It is 18C and sunny in Paris.",
        "['Thanks!'] [] You're welcome!",
    ]
