"""Sync jobs: checkpoints and resumption, retries, permanent failures, stop requests,
sync semantics (tombstones, watermark, pending traces), and several workers on one database."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from scripted_provider import (
    BASE,
    DERIVATION,
    ScriptedProvider,
    permanent,
    run,
    session,
    transient,
)
from sqlalchemy import select, update

from pytest_connectors.client.retry import RetryPolicy
from pytest_connectors.imports.backend import ConversationQuery
from pytest_connectors.imports.local import LocalBackend
from pytest_connectors.imports.worker import Worker
from pytest_connectors.models.connector import utc_now
from pytest_connectors.models.imports import ImportConnector, JobStatus, Scope
from pytest_connectors.storage import records
from pytest_connectors.storage.schema import (
    import_connectors,
    import_jobs,
    imported_traces,
    user_sessions,
)
from pytest_connectors.storage.store import Store

SECRET = "fs-and-ls-secret-value-123"
FAST = RetryPolicy(retries=2, first_delay_s=0.01, max_delay_s=0.05, jitter=False)
DAY = {"from_": BASE, "to": BASE + timedelta(days=1)}


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store(db_url) as opened:
        yield opened


class Harness:
    """A local backend whose connectors all read from one scripted provider."""

    def __init__(self, store: Store, provider: ScriptedProvider) -> None:
        self.store = store
        self.provider = provider
        self.seen_keys: list[str] = []
        self.backend = LocalBackend(
            store=store, provider_factory=self.factory, derivation=DERIVATION
        )
        self.backend._worker = self.worker()
        self.connector = self.backend.create_connector(
            {
                "agentId": "agt_1",
                "name": "prod",
                "category": "llm-tracing",
                "provider": "langsmith",
                "config": {"apiKey": SECRET, "projectName": "p"},
            }
        )
        self.backend.connect(self.connector.id)
        self.backend.wait_job(self.backend.connect(self.connector.id).job.id)

    def factory(self, connector: ImportConnector) -> ScriptedProvider:
        self.seen_keys.append(str(connector.config.get("apiKey")))
        return self.provider

    def worker(self, **options: Any) -> Worker:
        return Worker(
            self.store,
            provider_factory=self.factory,
            derivation=DERIVATION,
            retry=options.pop("retry", FAST),
            **options,
        )

    def sync(self, **window: Any) -> Any:
        job = self.backend.sync(self.connector.id, **(window or DAY))
        return self.backend.wait_job(job.id, timeout=120)

    def stored(self) -> dict[str, dict[str, Any]]:
        with self.store.read() as connection:
            rows = connection.execute(select(imported_traces)).all()
        return {row.provider_id: dict(row._mapping) for row in rows}


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider(records=[run(n, thread=f"t{n % 4}") for n in range(10)])


@pytest.fixture
def harness(store: Store, provider: ScriptedProvider) -> Harness:
    return Harness(store, provider)


def test_a_transient_failure_is_retried_and_resumes_from_the_checkpoint(
    harness: Harness, provider: ScriptedProvider
) -> None:
    provider.faults = {provider.pages_served + 2: transient()}
    done = harness.sync()
    assert done.status is JobStatus.SUCCEEDED
    assert done.attempts == 2
    assert provider.resumed_from[-2:] == [None, "6"]  # two pages stored before the failure
    assert done.stats.fetched == 10 and done.stats.created == 10
    assert len(harness.stored()) == 10
    conversation = harness.backend.list_conversations(ConversationQuery(connector="prod")).items
    assert sorted(len(c.turns) for c in conversation) == [2, 2, 3, 3]


def test_a_permanent_failure_fails_at_once_with_its_code(
    harness: Harness, provider: ScriptedProvider
) -> None:
    provider.faults = {provider.pages_served: permanent("auth_failed")}
    done = harness.sync()
    assert (done.status, done.error_code, done.attempts) == (JobStatus.FAILED, "auth_failed", 1)
    assert "check apiKey" in (done.error or "")
    assert harness.backend.get_connector("prod").last_error == done.error


def test_transient_failures_give_up_after_the_attempt_budget(
    harness: Harness, provider: ScriptedProvider
) -> None:
    first = provider.pages_served
    provider.faults = {first + n: transient("rate_limited") for n in range(5)}
    done = harness.sync()
    assert (done.status, done.error_code, done.attempts) == (
        JobStatus.FAILED,
        "rate_limited",
        FAST.attempts,
    )


def test_a_secret_in_an_error_message_is_scrubbed(
    harness: Harness, provider: ScriptedProvider
) -> None:
    provider.faults = {
        provider.pages_served: RuntimeError(f"boom while sending x-api-key: {SECRET}")
    }
    done = harness.sync()
    assert done.error_code == "internal_error"
    assert SECRET not in (done.error or "") and "****" in (done.error or "")
    with harness.store.read() as connection:
        everything = str([dict(r._mapping) for r in connection.execute(select(import_jobs))])
    assert SECRET not in everything


def test_resync_creates_no_duplicates_and_counts_unchanged(harness: Harness) -> None:
    first = harness.sync()
    before = harness.stored()
    again = harness.sync()
    assert (first.stats.created, again.stats.created, again.stats.unchanged) == (10, 0, 10)
    after = harness.stored()
    assert after == before  # not even updated_at moved: nothing was written


def test_changed_runs_are_updated_missing_ones_tombstoned_and_revived(
    harness: Harness, provider: ScriptedProvider
) -> None:
    harness.sync()
    provider.records[0] = run(0, thread="t0", answer="a corrected answer")
    removed = provider.records.pop(5)
    done = harness.sync()
    assert (done.stats.updated, done.stats.marked_missing, done.stats.unchanged) == (1, 1, 8)
    stored = harness.stored()
    assert stored[removed["id"]]["missing"] is True
    thread = next(
        c
        for c in harness.backend.list_conversations(ConversationQuery()).items
        if c.thread_key == "t1"
    )
    assert [t.user_messages for t in thread.turns] == [["q1"], ["q9"]]  # q5 left the thread
    provider.records.append(removed)
    revived = harness.sync()
    assert (revived.stats.updated, revived.stats.marked_missing) == (1, 0)
    assert harness.stored()[removed["id"]]["missing"] is False


def test_a_record_outside_the_window_is_not_marked_missing(
    harness: Harness, provider: ScriptedProvider
) -> None:
    harness.sync()
    provider.records.clear()
    done = harness.sync(from_=BASE + timedelta(days=2), to=BASE + timedelta(days=3))
    assert done.stats.marked_missing == 0
    assert not any(row["missing"] for row in harness.stored().values())


def test_pending_runs_are_stored_pending_and_completed_by_a_later_sync(
    harness: Harness, provider: ScriptedProvider
) -> None:
    now = utc_now()
    late = now - timedelta(hours=1)  # older than the overlap of an incremental sync
    provider.records = [
        run(1, thread="t", at=now - timedelta(hours=2)),
        run(2, thread="t", at=late, pending=True),
    ]
    harness.sync(from_=now - timedelta(hours=3), to=now)
    assert harness.stored()["run-00002"]["pending"] is True
    assert harness.backend.list_conversations(ConversationQuery()).items[0].pending
    provider.records[1] = run(2, thread="t", at=late)  # finished remotely meanwhile
    done = harness.backend.wait_job(harness.backend.sync(harness.connector.id).id)
    assert provider.windows[-1].start <= late  # the incremental sync reached back to it
    assert done.stats.updated == 1
    assert harness.stored()["run-00002"]["pending"] is False
    assert not harness.backend.list_conversations(ConversationQuery()).items[0].pending


def test_pending_sessions_are_stored_pending_and_read_again_by_a_later_sync(
    harness: Harness, provider: ScriptedProvider
) -> None:
    now = utc_now()
    late = now - timedelta(hours=1)  # older than the overlap of an incremental sync
    provider.kind = "session"
    provider.records = [
        session("u1", 1, at=now - timedelta(hours=2)),
        {**session("u2", 2, at=late), "status": "pending"},  # still active at the window's end
    ]
    harness.sync(from_=now - timedelta(hours=3), to=now)

    def pending() -> dict[str, bool]:
        with harness.store.read() as connection:
            rows = connection.execute(select(user_sessions.c.provider_id, user_sessions.c.pending))
            return {provider_id: bool(flag) for provider_id, flag in rows}

    assert pending() == {"u1:1": False, "u2:2": True}
    provider.records[1] = session("u2", 2, at=late)  # ended meanwhile
    done = harness.backend.wait_job(harness.backend.sync(harness.connector.id).id)
    assert provider.windows[-1].start <= late  # the incremental sync reached back to it
    assert done.stats.updated == 1
    assert pending() == {"u1:1": False, "u2:2": False}
    harness.backend.wait_job(harness.backend.sync(harness.connector.id).id)
    assert provider.windows[-1].start > late  # nothing pending holds the next one back


def test_sync_without_window_continues_from_the_watermark_with_an_overlap(
    harness: Harness, provider: ScriptedProvider
) -> None:
    # The harness connected the connector: its job was the first sync.
    start, end = provider.windows[0].start, provider.windows[0].end
    assert end - start >= timedelta(days=7) - timedelta(minutes=1)  # default look-back
    harness.backend.wait_job(harness.backend.sync(harness.connector.id).id)
    second = provider.windows[-1]
    assert second.start == end - timedelta(minutes=10)


def test_the_watermark_does_not_jump_a_gap(harness: Harness) -> None:
    harness.backend.wait_job(harness.backend.sync(harness.connector.id).id)
    with harness.store.read() as connection:
        before = connection.execute(select(import_connectors.c.watermark)).scalar()
    future = utc_now() + timedelta(days=30)
    harness.sync(from_=future, to=future + timedelta(days=1))
    with harness.store.read() as connection:
        after = connection.execute(select(import_connectors.c.watermark)).scalar()
    assert after == before


def test_disconnect_stops_a_running_job_after_its_page(
    harness: Harness, provider: ScriptedProvider
) -> None:
    job = harness.backend.sync(harness.connector.id, **DAY)
    first = provider.pages_served

    def disconnect_on_second_page(number: int) -> None:
        if number == first + 1:
            harness.backend.disconnect("prod")

    provider.on_page = disconnect_on_second_page
    lease = timedelta(seconds=0.3)  # heartbeats every 0.1 s carry the stop request
    harness.worker(lease=lease).run_once(job.id)
    done = harness.backend.get_job(job.id)
    assert done.status is JobStatus.CANCELLED
    assert 0 < done.stats.fetched < 10
    assert len(harness.stored()) == done.stats.fetched  # what was fetched is kept


def test_jobs_run_with_the_config_they_were_queued_with(harness: Harness) -> None:
    job = harness.backend.sync(harness.connector.id, **DAY)
    harness.backend.update_connector(
        "prod", {"config": {"projectName": "other", "apiKey": "rotated-key"}}
    )
    seen: list[dict[str, Any]] = []
    original = harness.factory

    def spy(connector: ImportConnector) -> ScriptedProvider:
        seen.append(dict(connector.config))
        return original(connector)

    worker = Worker(harness.store, provider_factory=spy, derivation=DERIVATION, retry=FAST)
    worker.run_once(job.id)
    # the window and project as queued; the key as it is now (keys never sit in job records)
    assert seen == [{"projectName": "p", "apiKey": "rotated-key"}]


def test_a_missing_variable_fails_the_job_naming_it(store: Store) -> None:
    backend = LocalBackend(store=store, derivation=DERIVATION, environ={})
    created = backend.create_connector(
        {
            "agentId": "a",
            "name": "n",
            "category": "llm-tracing",
            "provider": "langsmith",
            "config": {"apiKey": "${NO_SUCH_KEY_VAR}", "projectName": "p"},
        }
    )
    done = backend.wait_job(backend.connect(created.id).job.id, timeout=60)
    assert done.status is JobStatus.FAILED and done.error_code == "missing_variable"
    assert "NO_SUCH_KEY_VAR" in (done.error or "")


def test_a_worker_that_lost_its_lease_writes_nothing_more(
    harness: Harness, provider: ScriptedProvider
) -> None:
    job = harness.backend.sync(harness.connector.id, **DAY)
    first = provider.pages_served

    def steal(number: int) -> None:
        if number == first + 1:  # read while the first page is stored: steal once it is
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with harness.store.read() as connection:
                    if records.count_traces(connection, harness.connector.id) == 3:
                        break
                time.sleep(0.01)
            with harness.store.begin() as connection:
                connection.execute(
                    update(import_jobs)
                    .where(import_jobs.c.id == job.id)
                    .values(worker_id="someone-else")
                )

    provider.on_page = steal
    harness.worker().run_once(job.id)
    assert harness.backend.get_job(job.id).status is JobStatus.RUNNING  # left to its owner
    with harness.store.read() as connection:
        assert records.count_traces(connection, harness.connector.id) == 3  # one page


def test_several_workers_run_each_job_exactly_once(store: Store) -> None:
    runs_by_job: dict[str, int] = {}
    lock = threading.Lock()

    backend = LocalBackend(store=store, derivation=DERIVATION)
    jobs = []
    for number in range(25 if store.dialect == "sqlite" else 100):
        created = backend.create_connector(
            {
                "agentId": f"agt_{number % 5}",
                "name": f"c{number}",
                "category": "llm-tracing",
                "provider": "langsmith",
                "config": {"apiKey": SECRET, "projectName": "p"},
            }
        )
        jobs.append(backend.connect(created.id).job.id)

    def factory(connector: ImportConnector) -> ScriptedProvider:
        with lock:
            runs_by_job[connector.name] = runs_by_job.get(connector.name, 0) + 1
        recent = utc_now() - timedelta(hours=1)
        return ScriptedProvider(records=[run(1, thread=connector.name, at=recent)], page_size=1)

    workers = [
        Worker(store, provider_factory=factory, derivation=DERIVATION, worker_id=f"w{i}")
        for i in range(4)
    ]
    threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    statuses = [backend.get_job(job_id) for job_id in jobs]
    assert all(job.status is JobStatus.SUCCEEDED for job in statuses)
    assert all(job.attempts == 1 for job in statuses)
    assert sorted(runs_by_job.values()) == [1] * len(jobs)
    with store.read() as connection:
        assert len(records.list_sessions(connection, Scope.owner())) == 0
        assert len(connection.execute(select(imported_traces)).all()) == len(jobs)


def test_each_retry_of_a_job_says_why_and_when_it_gives_up(
    harness: Harness, provider: ScriptedProvider, caplog: pytest.LogCaptureFixture
) -> None:
    provider.faults = {provider.pages_served + n: transient("rate_limited") for n in range(5)}
    with caplog.at_level(logging.INFO, logger="pytest_connectors.imports.retry"):
        done = harness.sync()

    retries = [
        r.getMessage() for r in caplog.records if r.name == "pytest_connectors.imports.retry"
    ]
    assert done.status is JobStatus.FAILED
    assert len(retries) == FAST.attempts - 1  # the last attempt fails the job instead
    assert retries[0].startswith(f"job {done.id}: attempt 1 of {FAST.attempts} failed (")
    assert "the provider answered 503" in retries[0]  # why
    assert retries[0].endswith(" s") and "runs again in" in retries[0]  # when
