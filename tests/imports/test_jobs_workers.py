"""Four worker processes on one PostgreSQL database, 100 jobs: each job runs exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from children import python_path

from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer
from pytest_connectors.imports.local import LocalBackend
from pytest_connectors.models.imports import JobStatus
from pytest_connectors.storage.store import Store

ROOT = Path(__file__).resolve().parents[2]
JOBS = 100
WORKERS = 4


def test_four_worker_processes_run_each_of_100_jobs_once(
    postgres_database: str, langsmith_fake: LangSmithServer
) -> None:
    fake = langsmith_fake.fake
    recent = datetime.now(UTC) - timedelta(hours=1)
    with Store(postgres_database) as store:
        backend = LocalBackend(store=store)
        jobs = []
        for number in range(JOBS):
            project = f"project-{number:03d}"
            fake.add_run(
                {"id": f"00000000-0000-4000-8000-{number:012d}", "start_time": recent,
                 "end_time": recent + timedelta(seconds=1), "inputs": {"q": number},
                 "outputs": {"a": number}},
                project=project,
            )  # fmt: skip
            connector = backend.create_connector(
                {
                    "agentId": f"agt_{number % 7}",
                    "name": project,
                    "category": "llm-tracing",
                    "provider": "langsmith",
                    "config": {
                        "apiKey": "${WORKERS_TEST_KEY}",
                        "projectName": project,
                        "apiUrl": langsmith_fake.url,
                    },
                }
            )
            jobs.append(backend.connect(connector.id).job.id)
        env = {**os.environ, "PYTHONPATH": python_path(ROOT), "WORKERS_TEST_KEY": API_KEY}
        command = [sys.executable, "-m", "pytest_connectors.cli", "worker", "--once",
                   "--db", postgres_database, "--poll", "0.1"]  # fmt: skip
        workers = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(WORKERS)
        ]
        outputs = [worker.communicate(timeout=600) for worker in workers]
        for worker, (_, err) in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, err.decode()[-2000:]
        finished = [backend.get_job(job_id) for job_id in jobs]

    assert Counter(job.status for job in finished) == {JobStatus.SUCCEEDED: JOBS}
    assert {job.attempts for job in finished} == {1}
    assert all(job.stats.created == 1 for job in finished)
    # Each project was read by exactly one job: no job ran twice.
    lookups = Counter(
        request.query.get("name") for request in fake.requests if request.path == "/sessions"
    )
    assert lookups == Counter({f"project-{n:03d}": 1 for n in range(JOBS)})
    ran = [int(out.decode().rsplit("ran ", 1)[1].split()[0]) for out, _ in outputs]
    assert sum(ran) == JOBS
    assert sum(1 for count in ran if count > 0) >= 2  # the work was shared
