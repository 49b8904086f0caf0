"""Crash safety: a worker process killed (SIGKILL) in the middle of a job.

The job stays ``running`` under the dead worker's lease; once the lease has run out another
worker takes it over, resumes from the last stored checkpoint (the LangSmith cursor), and the
result has every run exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from children import python_path
from sqlalchemy import func, select

from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer, seed_runs
from pytest_connectors.imports.local import LocalBackend
from pytest_connectors.models.imports import JobStatus
from pytest_connectors.storage import jobs as job_rows
from pytest_connectors.storage.schema import import_jobs, imported_traces
from pytest_connectors.storage.store import Store

ROOT = Path(__file__).resolve().parents[2]
RUNS = 450  # five pages of at most 100


def test_a_killed_worker_leaves_a_job_that_resumes_without_duplicates_or_losses(
    db_url: str, langsmith_fake: LangSmithServer
) -> None:
    began = datetime.now(UTC) - timedelta(hours=3)
    ids = seed_runs(
        langsmith_fake.fake, RUNS, project="crash", start=began, spacing=timedelta(seconds=1)
    )
    with Store(db_url) as store:
        backend = LocalBackend(store=store, environ={"CRASH_TEST_KEY": API_KEY})
        connector = backend.create_connector(
            {
                "agentId": "agt",
                "name": "crash",
                "category": "llm-tracing",
                "provider": "langsmith",
                "config": {
                    "apiKey": "${CRASH_TEST_KEY}",
                    "projectName": "crash",
                    "apiUrl": langsmith_fake.url,
                },
            }
        )
        job = backend.connect(connector.id).job
        # Every page answers slowly: the worker is killed between two stored pages.
        langsmith_fake.fake.slow_next("/runs/query", 0.8, times=20)
        env = {**os.environ, "PYTHONPATH": python_path(ROOT), "CRASH_TEST_KEY": API_KEY}
        worker = subprocess.Popen(
            [sys.executable, "-m", "pytest_connectors.cli", "worker", "--once",
             "--db", db_url, "--lease", "2"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        try:
            checkpoint = _first_checkpoint(store, job.id, worker)
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
            if worker.stderr is not None:
                worker.stderr.close()
        with store.read() as connection:
            record = job_rows.get_record(connection, job.id)
        assert record is not None and record.job.status is JobStatus.RUNNING
        stored_before = record.job.stats.created
        assert 0 < stored_before < RUNS

        langsmith_fake.fake.faults.clear()
        done = backend.wait_job(job.id, timeout=120)  # claims it once the lease has run out

        assert done.status is JobStatus.SUCCEEDED, done.error
        assert done.attempts == 2
        assert (done.stats.fetched, done.stats.created) == (RUNS, RUNS)
        with store.read() as connection:
            count = connection.execute(select(func.count()).select_from(imported_traces)).scalar()
            stored = set(connection.execute(select(imported_traces.c.provider_id)).scalars())
            leftover = connection.execute(select(import_jobs.c.checkpoint)).scalar()
    assert count == RUNS and stored == set(ids)
    assert leftover is None
    resumed = [
        r.body for r in langsmith_fake.fake.requests
        if r.path == "/runs/query" and isinstance(r.body, dict) and r.body.get("cursor")
    ]  # fmt: skip
    assert resumed, "the second attempt did not continue from a cursor"
    assert checkpoint


def _first_checkpoint(store: Store, job_id: str, worker: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with store.read() as connection:
            record = job_rows.get_record(connection, job_id)
        if record is not None and record.checkpoint:
            return record.checkpoint
        if worker.poll() is not None:
            error = worker.stderr.read().decode() if worker.stderr else ""
            raise AssertionError(f"the worker exited early ({worker.returncode}): {error}")
        time.sleep(0.05)
    raise AssertionError("the worker stored no checkpoint within 90 s")
