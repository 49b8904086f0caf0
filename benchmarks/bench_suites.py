"""Whole pytest runs in subprocesses: generated suites, timed from launch to exit.

Each suite is its own rootdir (its own ``pytest.ini``), so neither the project's settings nor
its conftest take part. Its conftest holds a session-scoped ``httpx.Client`` for the
hand-written tests and a probe that makes the controller write its own peak RSS
(``getrusage(RUSAGE_SELF)``: that process alone, not its xdist workers) and how many agent
calls reached it on reports.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template
from typing import Any, Literal

from bench_report import Row, check, median, spread
from venvs import base_requirements, make_venv

Kind = Literal["conversation", "raw", "plain", "conversation3", "raw3"]
PER_FILE = 50
RUN_TIMEOUT_S = 600.0
PROBE_ENV = "BENCH_PROBE_FILE"  # read by suite_conftest.py
NO_TESTS = 5  # pytest's exit code for "collected nothing"

CONFTEST = Path(__file__).with_name("suite_conftest.py")
HEADERS: dict[Kind, str] = {
    "raw3": """\
TURNS = [
    ("my name is Ada", "Nice to meet you, Ada."),
    ("what is my name", "Your name is Ada."),
    ("how many messages", "This thread holds 5 messages."),
]
""",
}
TESTS: dict[Kind, Template] = {
    "plain": Template("""\
def test_$i():
    assert $i + 1 > $i
"""),
    "conversation": Template("""\
def test_$i(conversation):
    assert conversation.send("hello").text == "You said: hello"
"""),
    "raw": Template("""\
def test_$i(http):
    hello = {"role": "user", "content": "hello"}
    reply = http.post("/v1/chat/completions", json={"messages": [hello]})
    reply.raise_for_status()
    assert reply.json()["choices"][0]["message"]["content"] == "You said: hello"
"""),
    "conversation3": Template("""\
def test_$i(conversation):
    conversation.send("my name is Ada")
    assert conversation.send("what is my name").text == "Your name is Ada."
    assert conversation.send("how many messages").text == "This thread holds 5 messages."
"""),
    "raw3": Template("""\
def test_$i(http):
    messages = []
    for text, want in TURNS:
        messages.append({"role": "user", "content": text})
        reply = http.post("/v1/chat/completions", json={"messages": messages})
        reply.raise_for_status()
        answer = reply.json()["choices"][0]["message"]
        assert answer["content"] == want
        messages.append(answer)
"""),
}


def write_suite(root: Path, kind: Kind, tests: int) -> Path:
    """``tests`` test functions of one kind, ``PER_FILE`` to a module, in a fresh rootdir."""
    suite = root / f"{kind}-{tests}"
    suite.mkdir(parents=True)
    (suite / "pytest.ini").write_text("[pytest]\n")
    shutil.copyfile(CONFTEST, suite / "conftest.py")
    for first in range(0, tests, PER_FILE):
        numbers = range(first, min(first + PER_FILE, tests))
        functions = [TESTS[kind].substitute(i=i) for i in numbers]
        module = HEADERS.get(kind, "") + "\n\n".join(functions)
        (suite / f"test_{kind}_{first // PER_FILE:03d}.py").write_text(module)
    return suite


class Runner:
    """Runs pytest on suites with one environment and connector file; returns wall seconds."""

    def __init__(self, env: Mapping[str, str], connectors_file: Path, connector: str) -> None:
        self.env = dict(env)
        self.connector_args = ["--connector", connector, "--connectors-file", str(connectors_file)]

    def run(
        self, suite: Path, *args: str, probe: Path | None = None, ok: Sequence[int] = (0,)
    ) -> float:
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
        env = {**self.env, PROBE_ENV: str(probe)} if probe else self.env
        start = time.perf_counter()
        # Its own session: on any error or Ctrl-C the whole group (xdist workers too) is ended.
        process = subprocess.Popen(
            command,
            cwd=suite,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=RUN_TIMEOUT_S)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        wall = time.perf_counter() - start
        if process.returncode not in ok:
            tail = "\n".join(output.decode(errors="replace").splitlines()[-15:])
            raise RuntimeError(
                f"pytest {' '.join(args)} in {suite.name} exited {process.returncode}:\n{tail}"
            )
        return wall

    def warm_up(self, root: Path) -> None:
        """One connector test, so the byte-code cache holds everything a run imports."""
        self.run(write_suite(root, "conversation", 1), *self.connector_args)

    def probed(self, suite: Path, *args: str) -> tuple[float, dict[str, Any]]:
        probe = suite / "probe.json"
        wall = self.run(suite, *args, probe=probe)
        data: dict[str, Any] = json.loads(probe.read_text())
        return wall, data


def timed_rounds(
    configs: Mapping[str, tuple[Path, list[str]]], runner: Runner, rounds: int, warm_up: bool
) -> dict[str, list[float]]:
    """Wall seconds per config: a discarded warm-up each, then ``rounds`` rotated rounds."""
    names = list(configs)
    if warm_up:
        for suite, args in configs.values():
            runner.run(suite, *args)  # compiles and caches the test modules, warms the disk
    walls: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            suite, args = configs[name]
            walls[name].append(runner.run(suite, *args))
    return walls


def plugin_cost(
    root: Path, runner: Runner, *, tests: int, rounds: int, warm_up: bool = True
) -> list[Row]:
    """3. What the plugin adds per test: with its fixture in use, and with it merely loaded.

    Connector tests: the ``conversation`` fixture against hand-written ``httpx`` tests run with
    ``-p no:connectors``. One-time costs (imports, the connector file, the session client) are
    measured on one-test suites of each kind and taken out, so the figure is per test.
    """
    off = ["-p", "no:connectors"]
    configs = {
        "conv": (write_suite(root, "conversation", tests), runner.connector_args),
        "raw": (write_suite(root, "raw", tests), off),
        "conv1": (write_suite(root, "conversation", 1), runner.connector_args),
        "raw1": (write_suite(root, "raw", 1), off),
        "plain_on": (write_suite(root, "plain", tests), []),
    }
    configs["plain_off"] = (configs["plain_on"][0], off)
    walls = timed_rounds(configs, runner, rounds, warm_up)
    med = {name: median(values) for name, values in walls.items()}
    once_ms = (med["conv1"] - med["raw1"]) * 1000
    per_test = ((med["conv"] - med["raw"]) * 1000 - once_ms) / (tests - 1)
    per_round = [
        ((c - r) - (c1 - r1)) * 1000 / (tests - 1)
        for c, r, c1, r1 in zip(
            walls["conv"], walls["raw"], walls["conv1"], walls["raw1"], strict=True
        )
    ]
    pct = (med["plain_on"] / med["plain_off"] - 1) * 100
    pct_rounds = [
        (a / b - 1) * 100 for a, b in zip(walls["plain_on"], walls["plain_off"], strict=True)
    ]
    return [
        Row(
            "3. Plugin cost per connector test",
            f"{per_test:+.3f} ms/test",
            "<= 1 ms/test",
            check(per_test <= 1.0),
            value=round(per_test, 4),
            unit="ms/test",
            detail=f"{tests} one-call tests: conversation fixture {med['conv']:.2f} s vs "
            f"hand-written httpx {med['raw']:.2f} s (plugin off); one-time {once_ms:+.0f} ms "
            f"taken out; median of {rounds}; {spread(per_round)}",
        ),
        Row(
            "3. Plugin cost, tests without connectors",
            f"{pct:+.1f} %",
            "<= 5 %",
            check(abs(pct) <= 5),
            value=round(pct, 2),
            unit="%",
            detail=f"{tests} plain tests: plugin loaded {med['plain_on']:.2f} s vs "
            f"-p no:connectors {med['plain_off']:.2f} s; median of {rounds}; "
            f"{spread(pct_rounds, 1)}",
        ),
    ]


def startup(root: Path, runner: Runner, *, runs: int) -> Row:
    """4. ``pytest --co -q`` on an empty suite, with the plugin and with ``-p no:connectors``."""
    suite = root / "empty"
    suite.mkdir(parents=True)
    (suite / "pytest.ini").write_text("[pytest]\n")
    walls: dict[str, list[float]] = {"on": [], "off": []}
    runner.run(suite, "--co", ok=(NO_TESTS,))
    for i in range(runs):
        order = ("on", "off") if i % 2 == 0 else ("off", "on")
        for name in order:
            args = ["--co"] if name == "on" else ["--co", "-p", "no:connectors"]
            walls[name].append(runner.run(suite, *args, ok=(NO_TESTS,)))
    on, off = median(walls["on"]) * 1000, median(walls["off"]) * 1000
    return Row(
        "4. Start-up: pytest --co, empty suite",
        f"{on - off:+.0f} ms ({on:.0f} vs {off:.0f} ms)",
        "<= 150 ms",
        check(on - off <= 150),
        value=round(on - off, 1),
        unit="ms",
        detail=f"median of {runs} runs each, plugin loaded vs -p no:connectors; every other "
        "installed plugin (pytest-asyncio, xdist, langsmith, anyio) loads in both",
    )


MINIMAL_STACK = ["pytest", "pytest-asyncio", "httpx"]


def _timed(command: Sequence[str], cwd: Path, env: Mapping[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run, which must exit 5 (nothing collected)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != NO_TESTS:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}")
    return wall, usage.ru_maxrss / 1024


def startup_vs_minimal(root: Path, env: Mapping[str, str], *, runs: int) -> Row:
    """4. ``pytest --co`` in a venv with our base install vs one with just the stack we build on.

    The base install is what ``pip install pytest-connectors`` brings (no extras); the minimal
    venv holds pytest, pytest-asyncio and httpx. Same package versions in both, copied from
    this environment, so the difference is what installing us adds to every pytest run.
    """
    venvs = {
        "ours": make_venv(root / "ours", base_requirements(), with_this_package=True),
        "minimal": make_venv(root / "minimal", MINIMAL_STACK),
    }
    suite = root / "empty"
    suite.mkdir(parents=True)
    (suite / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    clean = {
        k: v
        for k, v in env.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"} and not k.startswith("PYTEST_")
    }
    header = subprocess.run(
        [str(venvs["ours"]), "-m", "pytest", "--co", "-p", "no:cacheprovider"],
        cwd=suite,
        env=clean,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    ).stdout
    if "connectors-" not in header:
        raise RuntimeError(f"the plugin did not load in the base-install venv:\n{header}")
    walls: dict[str, list[float]] = {"ours": [], "minimal": []}
    rss: dict[str, list[float]] = {"ours": [], "minimal": []}
    for i in range(runs + 1):  # the first round compiles byte code and is discarded
        order = ("ours", "minimal") if i % 2 == 0 else ("minimal", "ours")
        for name in order:
            command = [str(venvs[name]), "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"]
            wall, peak = _timed(command, suite, clean)
            if i:
                walls[name].append(wall)
                rss[name].append(peak)
    ours, minimal = median(walls["ours"]) * 1000, median(walls["minimal"]) * 1000
    ratio = ours / minimal
    rounds = [a / b for a, b in zip(walls["ours"], walls["minimal"], strict=True)]
    return Row(
        "4. Start-up: base install vs pytest+pytest-asyncio+httpx",
        f"x{ratio:.3f} ({ours:.0f} vs {minimal:.0f} ms)",
        "<= x1.10",
        check(ratio <= 1.10),
        value=round(ratio, 4),
        unit="ratio",
        detail=f"pytest --co on an empty suite, median of {runs} runs each, interleaved; peak "
        f"RSS {median(rss['ours']):.0f} vs {median(rss['minimal']):.0f} MiB; venvs hold "
        f"{' '.join(base_requirements())} vs {' '.join(MINIMAL_STACK)}; {spread(rounds)}",
    )


def scale(root: Path, runner: Runner, *, tests: int, small: int, rounds: int) -> list[Row]:
    """5. Three-turn conversation tests: throughput serial and with ``-n 4``, controller memory.

    Memory per recorded call is the slope of the controller's peak RSS between a ``small`` and
    the full suite, less the slope of the same tests written by hand with the plugin off: what
    is left is what recording (and the fixture objects) keep, not pytest's own per-test cost.
    """
    off = ["-p", "no:connectors"]
    conv, raw = write_suite(root, "conversation3", tests), write_suite(root, "raw3", tests)
    conv_small, raw_small = (
        write_suite(root, "conversation3", small),
        write_suite(root, "raw3", small),
    )
    for suite in (conv, raw):
        runner.run(suite, "--co")  # compiles and caches the modules
    configs: dict[str, tuple[Path, list[str]]] = {
        "serial": (conv, runner.connector_args),
        "raw": (raw, off),
        "xdist": (conv, [*runner.connector_args, "-n", "4"]),
        "raw_xdist": (raw, [*off, "-n", "4"]),
        "small": (conv_small, runner.connector_args),
        "raw_small": (raw_small, off),
    }
    walls: dict[str, list[float]] = {name: [] for name in configs}
    peaks: dict[str, list[float]] = {name: [] for name in configs}
    cpus: dict[str, list[float]] = {name: [] for name in configs}
    calls: dict[str, int] = {}
    for _ in range(rounds):
        for name, (suite, args) in configs.items():
            seconds, probe = runner.probed(suite, *args)
            walls[name].append(seconds)
            peaks[name].append(probe["peak_rss_kb"] / 1024)
            cpus[name].append(probe["cpu_s"])
            calls[name] = probe["calls"]
    wall = {name: median(values) for name, values in walls.items()}
    peak = {name: median(values) for name, values in peaks.items()}
    cpu = {name: median(values) for name, values in cpus.items()}
    if calls["serial"] != 3 * tests or calls["xdist"] != 3 * tests:
        raise RuntimeError(f"the controller saw {calls} calls, expected {3 * tests} per run")
    speedup = wall["serial"] / wall["xdist"]
    thousand_calls = (calls["serial"] - calls["small"]) / 1000
    growth = (peak["serial"] - peak["small"]) / thousand_calls
    baseline = (peak["raw"] - peak["raw_small"]) / thousand_calls
    of = f"median of {rounds}"
    return [
        Row(
            "5. Scale: serial",
            f"{tests / wall['serial']:.0f} tests/s",
            "-",
            "INFO",
            value=round(tests / wall["serial"], 1),
            unit="tests/s",
            detail=f"{tests} three-turn tests in {wall['serial']:.1f} s (hand-written httpx, "
            f"plugin off: {tests / wall['raw']:.0f} tests/s); controller peak RSS "
            f"{peak['serial']:.0f} MB (httpx: {peak['raw']:.0f} MB); {of}",
        ),
        Row(
            "5. Scale: -n 4",
            f"{tests / wall['xdist']:.0f} tests/s, speed-up x{speedup:.2f}",
            "-",
            "INFO",
            value=round(speedup, 3),
            unit="speed-up",
            detail=f"{wall['xdist']:.1f} s (hand-written httpx -n 4: {wall['raw_xdist']:.1f} s); "
            f"controller peak RSS {peak['xdist']:.0f} MB (httpx: {peak['raw_xdist']:.0f} MB), "
            f"CPU {cpu['xdist']:.1f} s (httpx: {cpu['raw_xdist']:.1f} s); {os.cpu_count()} CPUs "
            f"shared by 4 workers, the controller and the agent; {of}",
        ),
        Row(
            "5. Memory per 1000 recorded calls",
            f"{growth - baseline:.2f} MB",
            "<= 3 MB",
            check(growth - baseline <= 3),
            value=round(growth - baseline, 3),
            unit="MB/1000 calls",
            detail=f"controller peak RSS slope {small}->{tests} tests (serial): "
            f"{growth:.2f} MB/1000 calls, less {baseline:.2f} MB for the same tests by hand "
            f"with the plugin off; {of}",
        ),
    ]
