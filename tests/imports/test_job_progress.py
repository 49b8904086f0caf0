"""How far a sync job has got through its window: a fraction that grows page by page as the
provider's time-ordered records come in, is stored with the job's counts, and is 1.0 once the
job succeeded."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from pytest_connectors.fakes.langfuse import PUBLIC_KEY, SECRET_KEY, LangfuseServer, iso
from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer, seed_runs
from pytest_connectors.imports.local import LocalBackend
from pytest_connectors.imports.progress import RUNNING_CEILING, window_progress
from pytest_connectors.imports.provider import FetchedRecord, Window
from pytest_connectors.imports.providers import spec_of
from pytest_connectors.imports.providers.langfuse.provider import LangfuseProvider
from pytest_connectors.models.imports import JobStats, JobStatus
from pytest_connectors.storage.store import Store

START = datetime(2026, 1, 1, tzinfo=UTC)  # the window is given: nothing here depends on today
RUNS = 600  # six pages of the provider's 100, one a minute across the window
WINDOW = Window(START, START + timedelta(minutes=RUNS))


def _at(minutes: float) -> FetchedRecord:
    moment = START + timedelta(minutes=minutes)
    return FetchedRecord(kind="trace", provider_id=f"run-{minutes}", occurred_at=moment, payload={})


def test_a_langsmith_sync_reports_its_place_in_the_window_page_by_page(
    db_url: str, langsmith_fake: LangSmithServer
) -> None:
    seed_runs(
        langsmith_fake.fake, RUNS, project="progress", start=START, spacing=timedelta(minutes=1)
    )
    reported: dict[str, list[float | None]] = {}
    stored: dict[str, list[float | None]] = {}
    with Store(db_url) as store:

        def seen(job_id: str, stats: JobStats) -> None:
            reported.setdefault(job_id, []).append(stats.progress)
            stored.setdefault(job_id, []).append(backend.get_job(job_id).stats.progress)

        backend = LocalBackend(store=store, on_progress=seen)
        connector = backend.create_connector(
            {
                "agentId": "agt_1",
                "name": "prod",
                "category": "llm-tracing",
                "provider": "langsmith",
                "config": {
                    "apiKey": API_KEY,
                    "projectName": "progress",
                    "apiUrl": langsmith_fake.url,
                },
            }
        )
        backend.connect(connector.id)
        job = backend.sync(connector.id, WINDOW.start, WINDOW.end)
        done = backend.wait_job(job.id, timeout=120)

    assert done.status is JobStatus.SUCCEEDED and done.stats.fetched == RUNS
    assert done.stats.progress == 1.0
    assert stored == reported  # stored with each page: what the API shows
    assert all(value is not None for value in reported[job.id])
    fractions = [value for value in reported[job.id] if value is not None]
    assert fractions == sorted(fractions), fractions
    assert all(0 < value < 1 for value in fractions), fractions
    # After page n the latest run fetched started (100 n - 1) minutes into the window (the
    # fake ends with an empty page, which leaves it where it was).
    expected = [round(min((100 * n - 1) / RUNS, RUNNING_CEILING), 4) for n in range(1, 7)]
    assert sorted(set(fractions)) == expected


def test_the_place_in_the_window_never_moves_back() -> None:
    ahead = window_progress(None, WINDOW, [_at(120), _at(300)])
    assert ahead == 0.5
    assert window_progress(ahead, WINDOW, [_at(60)]) == 0.5  # an earlier page, or a retry
    assert window_progress(ahead, WINDOW, []) == 0.5  # a page without records
    assert window_progress(None, WINDOW, []) is None  # nothing fetched yet: still unknown


def test_a_running_job_is_never_shown_complete_and_stray_records_are_clamped() -> None:
    assert window_progress(None, WINDOW, [_at(RUNS)]) == RUNNING_CEILING
    assert window_progress(None, WINDOW, [_at(RUNS * 2)]) == RUNNING_CEILING
    assert window_progress(None, WINDOW, [_at(-30)]) == 0.0
    naive = FetchedRecord(
        "trace", "naive", (START + timedelta(minutes=150)).replace(tzinfo=None), {}
    )
    assert window_progress(None, WINDOW, [naive]) == 0.25  # a zoneless time is taken as UTC
    empty = Window(START, START)
    assert window_progress(0.3, empty, [_at(10)]) == 0.3


@pytest.mark.parametrize("provider", ["langsmith", "langfuse", "fullstory"])
def test_the_built_in_providers_say_they_fetch_in_time_order(provider: str) -> None:
    """What lets their jobs show a place in the window; each provider's own tests check the
    order it asks for (LangSmith ``order: asc``, FullStory's start-ordered spool)."""
    assert spec_of(provider).time_ordered


def test_langfuse_pages_come_in_time_order(langfuse_fake: LangfuseServer) -> None:
    minutes = list(range(150))  # two pages of the provider's 100
    random.Random(17).shuffle(minutes)
    for minute in minutes:
        moment = START + timedelta(minutes=minute)
        langfuse_fake.fake.add_trace({"id": f"trace-{minute:03d}", "timestamp": iso(moment)})
    with LangfuseProvider(
        public_key=PUBLIC_KEY, secret_key=SECRET_KEY, base_url=langfuse_fake.url
    ) as provider:
        pages = [page for page in provider.fetch(WINDOW) if page.records]

    assert len(pages) >= 2
    starts = [record.occurred_at for page in pages for record in page.records]
    assert len(starts) == 150 and starts == sorted(starts)


def test_a_langfuse_resync_that_reads_nothing_again_still_moves_through_the_window(
    db_url: str, langfuse_fake: LangfuseServer
) -> None:
    traces = 250  # pages of 100, 100 and 50, one trace a minute
    for n in range(traces):
        langfuse_fake.fake.add_trace(
            {"id": f"t{n:03}", "timestamp": iso(START + timedelta(minutes=n)), "output": "ok"}
        )
    window = Window(START, START + timedelta(minutes=traces))
    reported: dict[str, list[float | None]] = {}
    with Store(db_url) as store:
        backend = LocalBackend(
            store=store,
            on_progress=lambda job_id, stats: reported.setdefault(job_id, []).append(
                stats.progress
            ),
        )
        config = {"publicKey": PUBLIC_KEY, "secretKey": SECRET_KEY, "baseUrl": langfuse_fake.url}
        connector = backend.create_connector(
            {
                "agentId": "agt_1",
                "name": "lf",
                "category": "llm-tracing",
                "provider": "langfuse",
                "config": config,
            }
        )
        backend.connect(connector.id)
        first = backend.wait_job(backend.sync(connector.id, window.start, window.end).id, 120)
        again = backend.wait_job(backend.sync(connector.id, window.start, window.end).id, 120)

    assert first.stats.created == traces
    assert (again.stats.unchanged, again.stats.created, again.stats.updated) == (traces, 0, 0)
    expected = [round(min((100 * n - 1) / traces, RUNNING_CEILING), 4) for n in (1, 2)]
    expected.append(round(min((traces - 1) / traces, RUNNING_CEILING), 4))
    assert reported[again.id] == expected
