"""Jobs wake their waiters on PostgreSQL (LISTEN/NOTIFY) instead of being polled for.

Each waiter here polls at an interval far longer than the test's outer deadline, so only a
wake-up can end the wait in time; on SQLite the same waits are plain sleeps.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer
from pytest_connectors.imports.local import LocalBackend
from pytest_connectors.imports.worker import Worker
from pytest_connectors.models.imports import JobStatus, Scope
from pytest_connectors.storage import jobs as job_rows
from pytest_connectors.storage.signals import announce
from pytest_connectors.storage.store import Store

NEVER_S = 600  # a poll interval no waiter here may reach
DEADLINE_S = 60  # generous: only proves that the waiter was woken, not how fast


def test_a_write_in_another_connection_wakes_a_waiter(postgres_database: str) -> None:
    with Store(postgres_database) as waiting, Store(postgres_database) as writing:
        signals = waiting.job_signals
        seen = signals.generation
        woken: list[bool] = []
        waiter = threading.Thread(target=lambda: woken.append(signals.wait(seen, NEVER_S)))
        waiter.start()
        time.sleep(0.2)  # let the waiter start listening; a wake-up before it is kept anyway
        with writing.begin() as connection:
            announce(connection, "job_x")
        waiter.join(DEADLINE_S)
        assert woken == [True]


def test_without_a_change_a_wait_ends_at_its_timeout(postgres_database: str) -> None:
    with Store(postgres_database) as store:
        signals = store.job_signals
        assert signals.wait(signals.generation, 0.3) is False


def test_on_sqlite_a_wait_is_a_sleep(tmp_path: object) -> None:
    with Store(f"{tmp_path}/jobs.db") as store:
        signals = store.job_signals
        assert signals.wait(signals.generation, 0.05) is False
        assert signals.interval(0.2) == 0.2


def test_a_queued_job_wakes_an_idle_worker(
    postgres_database: str, langsmith_fake: LangSmithServer, monkeypatch: object
) -> None:
    recent = datetime.now(UTC) - timedelta(hours=1)
    langsmith_fake.fake.add_run(
        {"id": "00000000-0000-4000-8000-000000000001", "start_time": recent,
         "end_time": recent + timedelta(seconds=1), "inputs": {"q": 1}, "outputs": {"a": 1}},
        project="woken",
    )  # fmt: skip
    with Store(postgres_database) as worker_store, Store(postgres_database) as client_store:
        stop = threading.Event()
        worker = Worker(worker_store, environ={"SIGNALS_TEST_KEY": API_KEY})
        thread = threading.Thread(
            target=worker.run, kwargs={"stop": stop, "poll_interval": NEVER_S}
        )
        thread.start()
        try:
            time.sleep(0.5)  # the worker found nothing to do and waits
            backend = LocalBackend(store=client_store)
            connector = backend.create_connector(
                {
                    "agentId": "agt_woken",
                    "name": "woken",
                    "category": "llm-tracing",
                    "provider": "langsmith",
                    "config": {
                        "apiKey": "${SIGNALS_TEST_KEY}",
                        "projectName": "woken",
                        "apiUrl": langsmith_fake.url,
                    },
                }
            )
            job_id = backend.connect(connector.id).job.id
            deadline = time.monotonic() + DEADLINE_S
            while True:
                with client_store.read() as connection:
                    job = job_rows.get(connection, Scope.owner(), job_id)
                assert job is not None
                if job.status.finished or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert job.status is JobStatus.SUCCEEDED, job.error
        finally:
            stop.set()
            thread.join(10)
        assert not thread.is_alive()
