"""The database layer: opening, the schema version, scoping, upserts and the job claim."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, update

from pytest_connectors.errors import (
    DatabaseError,
    DuplicateImportConnectorError,
    OutOfScopeError,
    SchemaVersionError,
)
from pytest_connectors.models.imports import (
    ImportCategory,
    ImportConnector,
    Job,
    JobStatus,
    JobTrigger,
    Scope,
)
from pytest_connectors.storage import connectors, jobs, records
from pytest_connectors.storage.engine import database_url
from pytest_connectors.storage.migrations import CURRENT_VERSION
from pytest_connectors.storage.schema import imported_traces, schema_version
from pytest_connectors.storage.store import Store

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def connector(agent: str, name: str = "prod", tenant: str = "default") -> ImportConnector:
    return ImportConnector(
        id=f"imp_{tenant}_{agent}_{name}",
        tenant_id=tenant,
        agent_id=agent,
        name=name,
        category=ImportCategory.LLM_TRACING,
        provider="langsmith",
        config={"apiKey": "${KEY}", "projectName": "p"},
        created_at=NOW,
        updated_at=NOW,
    )


@pytest.fixture
def store(db_url: str) -> Store:
    opened = Store(db_url)
    yield opened  # type: ignore[misc]
    opened.close()


# -- opening -----------------------------------------------------------------------------------


def test_sqlite_file_is_private_with_wal_and_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "connectors.db"
    with Store(path) as opened, opened.read() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert mode == "wal"
    assert timeout == 30_000


def test_default_database_sits_next_to_the_connector_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_CONNECTORS_DB", raising=False)
    monkeypatch.setenv("PYTEST_CONNECTORS_FILE", str(tmp_path / "conf" / "connectors.json"))
    assert database_url() == f"sqlite:///{tmp_path / 'conf' / 'connectors.db'}"
    monkeypatch.setenv("PYTEST_CONNECTORS_DB", "postgresql://u@h/db")
    assert database_url() == "postgresql+psycopg://u@h/db"
    assert database_url("other.db", project_dir=tmp_path) == f"sqlite:///{tmp_path / 'other.db'}"


def test_schema_version_is_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    Store(path).close()
    Store(path).close()
    rows = sqlite3.connect(path).execute("SELECT version FROM schema_version").fetchall()
    assert rows == [(v,) for v in range(1, CURRENT_VERSION + 1)]


def test_a_version_1_database_gains_the_session_pending_column(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    Store(path).close()
    old = sqlite3.connect(path)
    with old:  # as version 1 wrote it: a stored session, no pending column
        old.execute("ALTER TABLE user_sessions DROP COLUMN pending")
        old.execute("ALTER TABLE imported_traces DROP COLUMN source_version")  # version 5's
        old.execute("DELETE FROM schema_version WHERE version > 1")
        old.execute(
            "INSERT INTO user_sessions (connector_id, provider_id, tenant_id, agent_id, user_id,"
            " occurred_at, content_hash, body, missing, first_seen_at, updated_at) VALUES"
            " ('c', 'u:1', 'default', 'a', 'u', '2026-03-01 00:00:00', 'h', '{}', 0,"
            " '2026-03-01 00:00:00', '2026-03-01 00:00:00')"
        )
    old.close()
    Store(path).close()
    opened = sqlite3.connect(path)
    assert opened.execute("SELECT provider_id, pending FROM user_sessions").fetchall() == [
        ("u:1", 0)
    ]
    versions = opened.execute("SELECT version FROM schema_version").fetchall()
    opened.close()
    assert versions == [(v,) for v in range(1, CURRENT_VERSION + 1)]


def test_a_newer_database_is_refused_untouched(db_url: str) -> None:
    with Store(db_url) as opened, opened.begin() as connection:
        connection.execute(
            schema_version.insert().values(version=CURRENT_VERSION + 1, applied_at=NOW)
        )
    with pytest.raises(SchemaVersionError, match=f"version {CURRENT_VERSION + 1}.*upgrade"):
        Store(db_url)
    engine = create_engine(database_url(db_url))
    with engine.connect() as connection:
        versions = connection.execute(select(schema_version.c.version)).scalars().all()
    engine.dispose()
    assert max(versions) == CURRENT_VERSION + 1  # left as it was


def test_a_bad_url_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match=r"cannot open nosuchdriver.*SQLite file path"):
        Store("nosuchdriver+x://")
    with pytest.raises(DatabaseError, match=r"cannot open postgresql\+psycopg://u:\*\*\*@"):
        Store("postgresql://u:topsecret@127.0.0.1:1/db")


# -- scoping -----------------------------------------------------------------------------------


def test_scopes_see_only_their_rows_and_foreign_rows_look_missing(store: Store) -> None:
    mine, sibling, foreign = connector("a1"), connector("a2"), connector("a1", tenant="t2")
    with store.begin() as connection:
        for item in (mine, sibling, foreign):
            connectors.insert(connection, Scope.owner(), item)
    tenant, agent = Scope(tenant_id="default"), Scope(tenant_id="default", agent_id="a1")
    with store.begin() as connection:
        assert len(connectors.list_all(connection, Scope.owner())) == 3
        assert {c.id for c in connectors.list_all(connection, tenant)} == {mine.id, sibling.id}
        assert [c.id for c in connectors.list_all(connection, agent)] == [mine.id]
        assert connectors.get(connection, agent, sibling.id) is None
        assert connectors.get(connection, tenant, foreign.id) is None
        assert connectors.find(connection, agent, sibling.name) is not None  # its own "prod"
        assert connectors.update_fields(connection, agent, sibling.id, {"name": "x"}) is None
        assert not connectors.delete_with_data(connection, agent, sibling.id)
        assert connectors.get(connection, Scope.owner(), sibling.id) is not None
    with store.begin() as connection, pytest.raises(OutOfScopeError):
        connectors.insert(connection, agent, connector("a2", name="other"))


def test_names_are_unique_per_agent(store: Store) -> None:
    with store.begin() as connection:
        connectors.insert(connection, Scope.owner(), connector("a1"))
        connectors.insert(connection, Scope.owner(), connector("a2"))
    duplicate = connector("a1").model_copy(update={"id": "imp_other"})
    with (
        pytest.raises(DuplicateImportConnectorError, match="'a1' already has"),
        store.begin() as connection,
    ):
        connectors.insert(connection, Scope.owner(), duplicate)


# -- upserts -----------------------------------------------------------------------------------


def trace_row(number: int, content: str = "x") -> dict[str, object]:
    return {
        "provider_id": f"r{number}",
        "tenant_id": "default",
        "agent_id": "a1",
        "thread_key": f"t{number}",
        "occurred_at": NOW + timedelta(minutes=number),
        "content_hash": content,
        "payload": {"n": number, "c": content},
        "pending": False,
        "first_seen_at": NOW,
        "updated_at": NOW,
    }


def test_upserts_count_created_updated_unchanged_without_duplicates(store: Store) -> None:
    item = connector("a1")
    with store.begin() as connection:
        connectors.insert(connection, Scope.owner(), item)
        first = records.upsert_traces(connection, item.id, [trace_row(1), trace_row(2)])
        again = records.upsert_traces(connection, item.id, [trace_row(1), trace_row(2, "y")])
        assert (len(first.created), len(first.updated), first.unchanged) == (2, 0, 0)
        assert (len(again.created), len(again.updated), again.unchanged) == (0, 1, 1)
        stored = connection.execute(select(imported_traces.c.payload)).scalars().all()
    assert sorted(p["c"] for p in stored) == ["x", "y"]


def test_missing_records_are_tombstoned_and_revived(store: Store) -> None:
    item = connector("a1")
    with store.begin() as connection:
        connectors.insert(connection, Scope.owner(), item)
        records.upsert_traces(connection, item.id, [trace_row(n) for n in (1, 2, 3)])
        gone = records.mark_missing(
            connection, imported_traces, item.id, NOW, NOW + timedelta(hours=1), {"r1", "r3"}, NOW
        )
        assert [row["provider_id"] for row in gone] == ["r2"]
        assert records.count_traces(connection, item.id, missing=True) == 1
        revived = records.upsert_traces(connection, item.id, [trace_row(2)])
        assert len(revived.updated) == 1
        assert records.count_traces(connection, item.id, missing=True) == 0
        assert records.count_traces(connection, item.id) == 3


# -- the job claim -----------------------------------------------------------------------------


def queue(store: Store, item: ImportConnector, number: int) -> Job:
    job = Job(
        id=f"job{number}",
        connector_id=item.id,
        trigger=JobTrigger.SYNC,
        status=JobStatus.QUEUED,
        created_at=NOW + timedelta(seconds=number),
    )
    with store.begin() as connection:
        return jobs.insert(
            connection, job=job, tenant_id="default", agent_id=item.agent_id, snapshot={}
        )


def test_one_running_job_per_connector_and_expired_leases_are_taken_over(store: Store) -> None:
    first, second = connector("a1"), connector("a2")
    with store.begin() as connection:
        connectors.insert(connection, Scope.owner(), first)
        connectors.insert(connection, Scope.owner(), second)
    queue(store, first, 1), queue(store, first, 2), queue(store, second, 3)
    lease = timedelta(seconds=30)

    def claim(worker: str, now: datetime = NOW) -> str | None:
        with store.begin() as connection:
            found = jobs.claim(connection, worker_id=worker, now=now, lease=lease)
        return found.id if found else None

    assert claim("w1") == "job1"
    assert claim("w2") == "job3"  # job2 waits: job1 of the same connector is running
    assert claim("w3") is None
    later = NOW + timedelta(minutes=1)  # w1 died: its lease ran out
    with store.begin() as connection:
        taken = jobs.claim(connection, worker_id="w4", now=later, lease=lease)
    assert taken is not None and taken.id == "job1" and taken.job.attempts == 2
    with store.begin() as connection:
        assert jobs.heartbeat(connection, "job1", "w1", later, lease) is None  # not its job now
        assert jobs.heartbeat(connection, "job1", "w4", later, lease) is False


def test_unique_running_index_refuses_a_second_running_job(store: Store) -> None:
    item = connector("a1")
    with store.begin() as connection:
        connectors.insert(connection, Scope.owner(), item)
    queue(store, item, 1), queue(store, item, 2)
    with store.begin() as connection:
        connection.execute(
            update(jobs.import_jobs)
            .where(jobs.import_jobs.c.id == "job1")
            .values(status="running", lease_expires_at=NOW + timedelta(hours=1))
        )
    # The race the index exists for: a claim that did not see job1 running.
    with store.begin() as connection:
        found = jobs.claim(
            connection, worker_id="w", now=NOW, lease=timedelta(seconds=5), job_id="job2"
        )
    assert found is None


def test_database_file_is_not_world_readable_even_with_a_lax_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        Store(tmp_path / "lax.db").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "lax.db").stat().st_mode) == 0o600
