"""FullStory sessions imported through the facade into a real database and linked to
conversations imported from the LangSmith fake: every part real but the two remote services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pytest_connectors import Imports
from pytest_connectors.fakes.fullstory import API_KEY as FULLSTORY_KEY
from pytest_connectors.fakes.fullstory import FullStoryServer, session_events
from pytest_connectors.fakes.langsmith import API_KEY as LANGSMITH_KEY
from pytest_connectors.fakes.langsmith import LangSmithServer
from pytest_connectors.models.imports import ImportConnector, JobStatus

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(hours=3)
WINDOW = {"from_": T0 - timedelta(hours=1), "to": NOW}
PROJECT = "support-bot"


def root_run(thread: str, start: datetime, **metadata: Any) -> dict[str, Any]:
    run_id = str(uuid.uuid4())
    return {
        "id": run_id,
        "trace_id": run_id,
        "name": "LangGraph",
        "run_type": "chain",
        "start_time": start,
        "end_time": start + timedelta(seconds=4),
        "inputs": {"messages": [{"role": "user", "content": f"help with {thread}"}]},
        "outputs": {"messages": [{"type": "ai", "content": "done", "id": f"ai-{run_id}"}]},
        "extra": {"metadata": {"thread_id": thread, **metadata}},
        "tags": [],
    }


@pytest.fixture(autouse=True)
def fullstory_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The FullStory connector refers to its key as ``${E2E_FULLSTORY_KEY}``."""
    monkeypatch.setenv("E2E_FULLSTORY_KEY", FULLSTORY_KEY)


def connectors(
    imports: Imports, langsmith: LangSmithServer, fullstory: FullStoryServer
) -> tuple[ImportConnector, ImportConnector]:
    traces = imports.connectors.create(
        {
            "agentId": "support",
            "name": "LangSmith prod",
            "category": "llm-tracing",
            "provider": "langsmith",
            "config": {"apiKey": LANGSMITH_KEY, "projectName": PROJECT, "apiUrl": langsmith.url},
        }
    )
    sessions = imports.connectors.create(
        {
            "agentId": "support",
            "name": "FullStory prod",
            "category": "session-data",
            "provider": "fullstory",
            "config": {"apiKey": "${E2E_FULLSTORY_KEY}", "apiUrl": fullstory.url},
        }
    )
    return traces, sessions


def test_sessions_are_imported_and_linked_by_each_method(
    langsmith_fake: LangSmithServer,
    fullstory_fake: FullStoryServer,
    tmp_path: Path,
) -> None:
    url = "https://app.fullstory.com/ui/o-1/session/201%3A1"
    langsmith_fake.fake.add_project(PROJECT)
    langsmith_fake.fake.add_runs(
        [
            root_run("by-url", T0, fullstory_session_url=url),
            root_run("by-event", T0 + timedelta(minutes=30)),
            root_run("by-user", T0 + timedelta(minutes=62), user_id="customer-7"),
        ],
        project=PROJECT,
    )
    fullstory_fake.fake.add_events(
        session_events(201, 1, T0 - timedelta(minutes=2))
        + session_events(
            202, 2, T0 + timedelta(minutes=29), custom=[("Chat Opened", {"thread_id": "by-event"})]
        )
        + session_events(203, 3, T0 + timedelta(minutes=60), app_user_id="customer-7")
        + session_events(204, 4, T0 + timedelta(minutes=90), frustrated=2)
    )

    with Imports(tmp_path / "connectors.db") as imports:
        traces, sessions = connectors(imports, langsmith_fake, fullstory_fake)
        for connector in (traces, sessions):
            job = imports.connectors.connect(connector.id).job
            finished = imports.jobs.wait(imports.connectors.sync(connector.id, **WINDOW).id, 120)
            assert finished.status is JobStatus.SUCCEEDED, finished.error
            assert imports.jobs.wait(job.id, 120).status is JobStatus.SUCCEEDED
        stored = {s.id: s for s in imports.sessions.list(connector="FullStory prod")}
        linked = {
            c.thread_key: [(link.method, link.session.id) for link in detail.sessions]
            for c in imports.conversations.list(connector=traces.id).items
            for detail in [imports.conversations.get(c.id)]
        }

    assert set(stored) == {"201:1", "202:2", "203:3", "204:4"}
    assert stored["204:4"].frustrated_clicks == 2
    assert stored["202:2"].custom_events[0]["properties"] == {"thread_id": "by-event"}
    assert linked == {
        "by-url": [("metadata", "201:1")],
        "by-event": [("custom_event", "202:2")],
        "by-user": [("user_time_overlap", "203:3")],
    }
    for written in (p for p in tmp_path.rglob("*") if p.is_file()):  # the database, its WAL
        assert FULLSTORY_KEY.encode() not in written.read_bytes()


def test_a_second_sync_of_the_same_window_changes_nothing(
    langsmith_fake: LangSmithServer,
    fullstory_fake: FullStoryServer,
    tmp_path: Path,
) -> None:
    for n in range(20):
        fullstory_fake.fake.add_events(
            session_events(300 + n, n, T0 + timedelta(minutes=n), custom=[("x", {"n": n})])
        )

    with Imports(tmp_path / "connectors.db") as imports:
        _, sessions = connectors(imports, langsmith_fake, fullstory_fake)
        imports.connectors.update(sessions.id, {"config": {"orgId": "o-9"}})
        imports.connectors.connect(sessions.id)
        first = imports.jobs.wait(imports.connectors.sync(sessions.id, **WINDOW).id, 120)
        again = imports.jobs.wait(imports.connectors.sync(sessions.id, **WINDOW).id, 120)
        urls = {s.id: s.url for s in imports.sessions.list(connector=sessions.id)}

    assert first.status is again.status is JobStatus.SUCCEEDED
    assert (again.stats.fetched, again.stats.created, again.stats.updated) == (20, 0, 0)
    assert again.stats.unchanged == 20
    # With orgId each session gets the address a person opens it at in FullStory.
    assert urls["300:0"] == "https://app.fullstory.com/ui/o-9/session/300:0"
    assert len(urls) == 20 and all(url and "/ui/o-9/session/" in url for url in urls.values())


def test_a_plan_without_export_fails_the_job_at_once_with_its_code(
    langsmith_fake: LangSmithServer,
    fullstory_fake: FullStoryServer,
    tmp_path: Path,
) -> None:
    fullstory_fake.fake.knobs.export_add_on = False

    with Imports(tmp_path / "connectors.db") as imports:
        _, sessions = connectors(imports, langsmith_fake, fullstory_fake)
        job = imports.jobs.wait(imports.connectors.connect(sessions.id).job.id, 120)
        connector = imports.connectors.get(sessions.id)

    assert job.status is JobStatus.FAILED
    assert job.error_code == "plan_without_export"
    assert job.attempts == 1
    assert job.error is not None and "Segment Export add-on" in job.error
    assert FULLSTORY_KEY not in job.error
    assert connector.last_error is not None and "Segment Export" in connector.last_error
