"""Syncs against a hostile provider on loopback: memory stays bounded, jobs end, one bad record
costs one record.

Each sync runs in a worker process of its own, as operators run it (``pytest-connectors worker``),
so its peak memory is its own: the worker reports its ``VmHWM`` as it exits (``ru_maxrss`` would
count the pytest process it was forked from, before ``exec``). The
bound, for every attack here (a 200 MB page, 15 MiB of tiny objects, a 1 GiB gzip bomb), is
``PEAK_MB``; an idle worker peaks at about half of it. Before the limits, the 200 MB page alone
took a worker past 890 MB.

Times are generous outer bounds that only prove "does not hang": a trickled reply would hold the
old worker for ever, and the killer below ends any worker after ``WORKER_DEADLINE_S``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakes.hostile import PROJECT, HostileServer
from service_support import child_env

from pytest_connectors.cli.main import main

PEAK_MB = 250
WORKER_DEADLINE_S = 120.0
PROVIDER_KEY = "lsv2-hostile-test-key-0123456789"


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    hostile = HostileServer().start()
    yield hostile
    hostile.stop()


@pytest.fixture
def hostile(server: HostileServer) -> HostileServer:
    server.app.attack, server.app.queries = "none", 0
    server.app.queried.clear()
    return server


class Cli:
    """The CLI in this process, on one database file."""

    def __init__(self, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.db = db
        self.capsys = capsys

    def json(self, *argv: str) -> Any:
        code = main([*argv, "--db", str(self.db), "--json"])
        out, err = self.capsys.readouterr()
        assert code == 0, err
        return json.loads(out)

    def connect(self, server: HostileServer, provider: str = "langsmith") -> str:
        """A connector of ``provider`` reading ``server``; the id of the job connecting queued."""
        config = ["--config", f"apiUrl={server.url}"]
        if provider == "langsmith":
            config += ["--config", f"projectName={PROJECT}"]
        self.json(
            "imports", "create", "--agent", "agt_hostile", "--name", "hostile",
            "--category", "llm-tracing" if provider == "langsmith" else "session-data",
            "--provider", provider, "--provider-key", PROVIDER_KEY, *config,
        )  # fmt: skip
        job_id: str = self.json("imports", "connect", "hostile")["job"]["id"]
        return job_id

    def job(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = self.json("jobs", "get", job_id)
        return job


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path / "imports.db", capsys)


@dataclass
class Finished:
    returncode: int
    peak_mb: float
    output: str


# `pytest-connectors worker ...`, which prints its peak resident set size (KiB) last when it exits.
_WORKER_REPORTING_PEAK = """
import atexit, re, sys
from pytest_connectors.cli.main import main
def peak():
    status = open("/proc/self/status").read()
    print("peak-kib", re.search(r"VmHWM:\\s+(\\d+)", status)[1], flush=True)
atexit.register(peak)
sys.exit(main(sys.argv[1:]))
"""


def start_worker(db: Path, limits: Mapping[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER_REPORTING_PEAK, "worker", "--db", str(db), *extra],
        env=child_env(limits),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(worker: subprocess.Popen[str]) -> Finished:
    """Wait for the worker (killed past the deadline); its exit code and peak memory."""
    killer = threading.Timer(WORKER_DEADLINE_S, worker.kill)
    killer.start()
    try:
        assert worker.stdout is not None
        output = worker.stdout.read()
        worker.wait()
    finally:
        killer.cancel()
    worker.stdout.close()
    lines = output.rstrip("\n").split("\n")
    peak_mb = float("nan")  # killed before it could say: fails every bound
    if lines[-1].startswith("peak-kib "):
        peak_mb = int(lines.pop().split()[1]) / 1024
    return Finished(worker.returncode, peak_mb, "\n".join(lines) + "\n")


def run_once(cli: Cli, **limits: str) -> Finished:
    """One worker that runs what is runnable and exits."""
    finished = finish(start_worker(cli.db, limits, "--once"))
    assert finished.returncode == 0, finished.output
    return finished


def test_an_idle_worker_is_well_under_the_bound(cli: Cli, hostile: HostileServer) -> None:
    job_id = cli.connect(hostile)
    finished = run_once(cli)
    assert cli.job(job_id)["status"] == "succeeded"
    assert finished.peak_mb < PEAK_MB / 1.5, finished.peak_mb


# --- memory --------------------------------------------------------------------------------------


def test_a_200_mb_page_fails_the_job_at_the_reply_limit(cli: Cli, hostile: HostileServer) -> None:
    hostile.app.attack = "huge_page"
    job_id = cli.connect(hostile)
    finished = run_once(cli)
    job = cli.job(job_id)
    assert (job["status"], job["errorCode"]) == ("failed", "reply_too_large")
    assert "16777216 bytes" in job["error"] and "PYTEST_CONNECTORS_MAX_REPLY_BYTES" in job["error"]
    assert finished.peak_mb < PEAK_MB, finished.peak_mb


def test_millions_of_tiny_objects_fail_the_job_before_they_are_parsed(
    cli: Cli, hostile: HostileServer
) -> None:
    hostile.app.attack = "small_objects"
    job_id = cli.connect(hostile)
    finished = run_once(cli)
    job = cli.job(job_id)
    assert (job["status"], job["errorCode"]) == ("failed", "reply_too_large")
    assert "1048576 JSON values" in job["error"]
    assert finished.peak_mb < PEAK_MB, finished.peak_mb


def test_a_gzip_bomb_export_stops_at_the_download_limit(cli: Cli, hostile: HostileServer) -> None:
    hostile.app.attack = "gzip_bomb"
    job_id = cli.connect(hostile, provider="fullstory")
    finished = run_once(cli, PYTEST_CONNECTORS_MAX_DOWNLOAD_BYTES=str(64 * 1024 * 1024))
    job = cli.job(job_id)
    assert (job["status"], job["errorCode"]) == ("failed", "export_too_large"), job
    assert "PYTEST_CONNECTORS_MAX_DOWNLOAD_BYTES" in job["error"]
    assert finished.peak_mb < PEAK_MB, finished.peak_mb


# --- time ----------------------------------------------------------------------------------------


def test_a_trickled_page_ends_at_the_request_deadline(cli: Cli, hostile: HostileServer) -> None:
    hostile.app.attack = "trickle"
    job_id = cli.connect(hostile)
    run_once(
        cli, PYTEST_CONNECTORS_REQUEST_TIMEOUT="1", PYTEST_CONNECTORS_PAGE_TIMEOUT="3"
    )  # returns: the page did not hold the worker
    job = cli.job(job_id)
    # Transient: queued again for a later attempt, never "succeeded" on half a page.
    assert (job["status"], job["errorCode"]) == ("queued", "timeout")
    assert "PYTEST_CONNECTORS_REQUEST_TIMEOUT" in job["error"]


def test_disconnecting_stops_a_job_in_the_middle_of_a_trickled_request(
    cli: Cli, hostile: HostileServer
) -> None:
    hostile.app.attack = "trickle"
    job_id = cli.connect(hostile)
    # Deadlines far away: only the stop can end this request.
    limits = {"PYTEST_CONNECTORS_REQUEST_TIMEOUT": "600", "PYTEST_CONNECTORS_PAGE_TIMEOUT": "600"}
    worker = start_worker(cli.db, limits, "--lease", "3", "--poll", "0.2")
    try:
        assert hostile.app.queried.wait(60), "the worker never asked for a page"
        cli.json("imports", "disconnect", "hostile")
        deadline = time.monotonic() + 60
        while cli.job(job_id)["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        job = cli.job(job_id)
    finally:
        worker.send_signal(signal.SIGTERM)
        finished = finish(worker)
    assert (job["status"], job["errorCode"], job["error"]) == (
        "cancelled",
        "stopped",
        "stopped: disconnected",
    )
    assert finished.returncode == 0, finished.output


def test_fresh_cursors_for_ever_stop_at_the_page_limit(cli: Cli, hostile: HostileServer) -> None:
    hostile.app.attack = "fresh_cursors"
    job_id = cli.connect(hostile)
    run_once(cli, PYTEST_CONNECTORS_MAX_PAGES="25")
    job = cli.job(job_id)
    assert (job["status"], job["errorCode"]) == ("failed", "too_many_pages")
    assert "more than 25 pages" in job["error"] and "PYTEST_CONNECTORS_MAX_PAGES" in job["error"]
    assert hostile.app.queries == 25


# --- what the provider says ---------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["langsmith", "fullstory"])
def test_job_errors_quote_nothing_the_provider_answered(
    cli: Cli, hostile: HostileServer, provider: str
) -> None:
    hostile.app.attack = "chatty_refusal"
    job_id = cli.connect(hostile, provider=provider)
    finished = run_once(cli)
    job = cli.job(job_id)
    assert (job["status"], job["errorCode"]) == ("failed", "bad_request")
    assert "400" in job["error"]
    assert "10.1.2.3" not in job["error"] and "shard" not in job["error"]
    assert PROVIDER_KEY not in job["error"] and PROVIDER_KEY not in finished.output


def test_a_bad_limit_in_the_environment_is_one_line(cli: Cli) -> None:
    finished = finish(start_worker(cli.db, {"PYTEST_CONNECTORS_MAX_PAGES": "lots"}, "--once"))
    assert finished.returncode != 0
    assert finished.output.strip().splitlines() == [
        "pytest-connectors: error: PYTEST_CONNECTORS_MAX_PAGES='lots' is not a whole number "
        "above 0; fix it or unset it for the default"
    ]


# --- bad records ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attack", "skipped"),
    [
        ("bad_records", {"invalid_text": 1, "no_id": 1}),
        ("deep_nesting", {"nested_too_deep": 1}),
    ],
)
def test_bad_records_are_skipped_and_counted_and_the_window_succeeds(
    cli: Cli, hostile: HostileServer, attack: str, skipped: dict[str, int]
) -> None:
    hostile.app.attack = attack
    job_id = cli.connect(hostile)
    run_once(cli)
    job = cli.job(job_id)
    assert job["status"] == "succeeded", job["error"]
    assert job["stats"]["skipped"] == skipped and job["stats"]["created"] == 1
    conversations = cli.json("conversations", "list", "--connector", "hostile")
    assert [c["threadKey"] for c in conversations["items"]] == ["thread-1"]
