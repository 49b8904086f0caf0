"""A service restarted in the middle of a running sync job: the job resumes, nothing is lost.

The LangSmith fake serves 600 runs in slow pages; the service (one in-process worker, a lease of
two seconds) is killed with SIGKILL (or stopped with SIGTERM) once the job has checkpointed a
page, then started again on the same database. The new process takes the job over when the
lease runs out, resumes from the checkpoint, and every run arrives exactly once.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from service_support import ServiceProcess, client, issue_key

from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer, seed_runs

RUNS = 600
PROJECT = "restart"
START = datetime(2026, 1, 1, tzinfo=UTC)


def _job(url: str, key: str, job_id: str, wait: float = 0) -> dict[str, Any]:
    with client(url, key, timeout=wait + 30) as api:
        response = api.get(f"/api/jobs/{job_id}", params={"wait": wait} if wait else None)
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_job_cut_by_a_restart_resumes_from_its_checkpoint(
    langsmith_fake: LangSmithServer, tmp_path: Path, how: str
) -> None:
    fake = langsmith_fake.fake
    seed_runs(fake, RUNS, project=PROJECT, start=START, spacing=timedelta(seconds=1))
    fake.slow_next("/runs/query", 1.0, times=RUNS // 100 + 2)
    db = str(tmp_path / "service.db")
    key = issue_key(db, "acme", "a1")
    env = {"PYTEST_CONNECTORS_JOB_LEASE": "2"}
    server = ServiceProcess(db, workers=1, env=env).start()
    try:
        with client(server.url, key) as api:
            made = api.post(
                "/api/connectors",
                json={
                    "name": "LangSmith prod",
                    "category": "llm-tracing",
                    "provider": "langsmith",
                    "config": {
                        "apiKey": API_KEY,
                        "projectName": PROJECT,
                        "apiUrl": langsmith_fake.url,
                    },
                },
            )
            assert made.status_code == 201, made.text
            connector = made.json()["id"]
            assert api.post(f"/api/connectors/{connector}/connect").status_code == 200
            window = {"from": START.isoformat(), "to": (START + timedelta(hours=1)).isoformat()}
            job_id = api.post(f"/api/connectors/{connector}/sync", json=window).json()["id"]
        deadline = time.monotonic() + 60
        while True:  # until at least one page is checkpointed, and the job still runs
            job = _job(server.url, key, job_id)
            if job["status"] == "running" and job["stats"]["fetched"] >= 100:
                break
            assert job["status"] in ("queued", "running"), job
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert server.pid is not None
        if how == "SIGKILL":
            os.killpg(server.pid, signal.SIGKILL)
        server.stop()  # SIGTERM: uvicorn shuts down while the job's page is in flight
        server.start()
        finished = _job(server.url, key, job_id, wait=60)
        for _ in range(3):
            if finished["status"] in ("succeeded", "failed", "cancelled"):
                break
            finished = _job(server.url, key, job_id, wait=60)
        assert finished["status"] == "succeeded", finished
        if how == "SIGKILL":  # taken over by the new process, not run once from the start
            assert finished["attempts"] >= 2, finished
        # (SIGTERM: the stopping service gives its running job some seconds to finish; either
        # it did, or the new process took it over. Both must deliver every run once.)
        with client(server.url, key) as api:
            turns, cursor = 0, None
            while True:
                params = {
                    "connectorId": connector,
                    "limit": 500,
                    **({"cursor": cursor} if cursor else {}),
                }
                page = api.get("/api/conversations", params=params).json()
                turns += sum(len(c["turns"]) for c in page["items"])
                cursor = page["nextCursor"]
                if cursor is None:
                    break
        assert turns == RUNS
    finally:
        server.stop()
