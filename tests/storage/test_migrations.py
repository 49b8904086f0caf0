"""Migrations are history: a database made by any earlier version, holding rows, upgrades to the
very schema a new database gets, with its rows kept; and the live tables are what the steps make.

On a SQLite file and a real PostgreSQL; schemas are compared as SQLAlchemy's inspector reads them
back from the database, so a step and the live ``schema`` module cannot agree by sharing code.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from postgres import PostgresServer
from sqlalchemy import Engine, MetaData, Table, inspect, select

from pytest_connectors.models.imports import RecordedConversation, RecordedTurn, Scope
from pytest_connectors.storage import conversations, schema
from pytest_connectors.storage.engine import create_database_engine, database_url
from pytest_connectors.storage.migrations import CURRENT_VERSION, current_version, migrate
from pytest_connectors.storage.store import Store

WHEN = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def blank(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with no table at all."""
    if request.param == "sqlite":
        yield database_url(str(tmp_path / "connectors.db"))
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
def engine(blank: str) -> Iterator[Engine]:
    made = create_database_engine(blank)
    yield made
    made.dispose()


def shape(engine: Engine) -> dict[str, Any]:
    """Every table as the database describes it: columns, keys, indexes and constraints."""
    inspector = inspect(engine)
    tables: dict[str, Any] = {}
    for name in sorted(inspector.get_table_names()):
        tables[name] = {
            "columns": {
                column["name"]: (repr(column["type"]), column["nullable"], column["default"])
                for column in inspector.get_columns(name)
            },
            "primary_key": sorted(inspector.get_pk_constraint(name)["constrained_columns"]),
            "indexes": sorted(
                (
                    index["name"],
                    tuple(index["column_names"]),
                    bool(index["unique"]),
                    sorted((k, str(v)) for k, v in index.get("dialect_options", {}).items()),
                )
                for index in inspector.get_indexes(name)
            ),
            "unique": sorted(
                tuple(unique["column_names"]) for unique in inspector.get_unique_constraints(name)
            ),
        }
    return tables


def fresh_shape(url: str) -> dict[str, Any]:
    """The schema a new database gets, in a scratch database of the same kind."""
    made = create_database_engine(url)
    try:
        with made.begin() as connection:
            migrate(connection)
        return shape(made)
    finally:
        made.dispose()


def empty_like(url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if url.startswith("sqlite"):
        return database_url(str(tmp_path / "fresh.db"))
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    request.addfinalizer(lambda: server.drop_database(name))
    return server.url(name)


NATIVE = RecordedConversation(
    id="native-1", agent_id="a2", thread_key="thread-native", origin="native"
)
NATIVE_STORAGE_ID = conversations.storage_id("acme", NATIVE)

# One row per table, as any version held it; each version stores the columns it has.
ROWS: dict[str, list[dict[str, Any]]] = {
    "import_connectors": [
        {
            "id": "imp_1",
            "tenant_id": "acme",
            "agent_id": "a1",
            "name": "prod",
            "category": "llm_tracing",
            "provider": "langsmith",
            "config": {"apiKey": "${KEY}", "projectName": "p"},
            "status": "connected",
            "watermark": WHEN,
            "created_at": WHEN,
            "updated_at": WHEN,
        }
    ],
    "import_jobs": [
        {
            "id": "job_1",
            "connector_id": "imp_1",
            "tenant_id": "acme",
            "agent_id": "a1",
            "trigger": "manual",
            "status": "succeeded",
            "snapshot": {"provider": "langsmith"},
            "stats": {"traces": 1},
            "created_at": WHEN,
            "updated_at": WHEN,
        }
    ],
    "imported_traces": [
        {
            "connector_id": "imp_1",
            "provider_id": "run-1",
            "tenant_id": "acme",
            "agent_id": "a1",
            "thread_key": "thread-1",
            "occurred_at": WHEN,
            "content_hash": "h1",
            "payload": '{"id":"run-1"}',
            "pending": False,
            "missing": False,
            "first_seen_at": WHEN,
            "updated_at": WHEN,
        }
    ],
    "conversations": [
        {
            "storage_id": "cnv_1",  # from version 3 on
            "id": "cnv_1",
            "connector_id": "imp_1",
            "tenant_id": "acme",
            "agent_id": "a1",
            "thread_key": "thread-1",
            "origin": "imported",
            "started_at": WHEN,
            "turn_count": 1,
            "body": {"turns": [{"index": 0, "userMessages": ["hi"], "answer": "imported"}]},
            "pending": False,
            "missing": False,
            "updated_at": WHEN,
        },
        {
            "storage_id": NATIVE_STORAGE_ID,
            "id": "native-1",
            "tenant_id": "acme",
            "agent_id": "a2",
            "thread_key": "thread-native",
            "origin": "native",
            "started_at": WHEN,
            "turn_count": 1,
            "body": {"turns": [{"index": 0, "userMessages": ["hi"], "answer": "native"}]},
            "pending": False,
            "missing": False,
            "updated_at": WHEN,
        },
    ],
    "user_sessions": [
        {
            "connector_id": "imp_2",
            "provider_id": "u:1",
            "tenant_id": "acme",
            "agent_id": "a1",
            "user_id": "u",
            "occurred_at": WHEN,
            "content_hash": "h2",
            "body": {"pages": []},
            "missing": False,
            "first_seen_at": WHEN,
            "updated_at": WHEN,
        }
    ],
    "session_links": [
        {
            "conversation_id": "cnv_1",
            "session_connector_id": "imp_2",
            "session_id": "u:1",
            "tenant_id": "acme",
            "agent_id": "a1",
            "method": "user_id",
        }
    ],
    "api_keys": [
        {
            "id": "key_1",
            "prefix": "pck_abc",
            "secret_hash": "0" * 64,
            "tenant_id": "acme",
            "created_at": WHEN,
        }
    ],
}

# What the live tables read back where it differs from what was stored: the payload is JSON text.
READ_BACK = {"imported_traces": {"payload": {"id": "run-1"}}}


def _stored(value: Any, dialect: str) -> Any:
    # The reflected SQLite DATETIME takes naive values; the live schema keeps UTC that way too.
    if isinstance(value, datetime) and dialect == "sqlite":
        return value.replace(tzinfo=None)
    return value


def seed(engine: Engine) -> None:
    """The rows above, into whatever tables and columns the database has now."""
    with engine.begin() as connection:
        reflected = MetaData()
        reflected.reflect(connection)
        for name, rows in ROWS.items():
            if name not in reflected.tables:
                continue
            table: Table = reflected.tables[name]
            for row in rows:
                values = {k: _stored(v, engine.dialect.name) for k, v in row.items()}
                values = {k: v for k, v in values.items() if k in table.c}
                connection.execute(table.insert().values(values))


@pytest.mark.parametrize("version", range(CURRENT_VERSION + 1))
def test_a_database_of_every_earlier_version_upgrades_to_the_new_schema_with_its_rows(
    engine: Engine, blank: str, version: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with engine.begin() as connection:
        migrate(connection, to=version)
        assert current_version(connection) == version
    seed(engine)

    Store(blank).close()

    assert shape(engine) == fresh_shape(empty_like(blank, tmp_path, request))
    with engine.connect() as connection:
        assert current_version(connection) == CURRENT_VERSION
        for name, rows in ROWS.items():
            table = schema.metadata.tables[name]
            found = [row._asdict() for row in connection.execute(select(table))]
            expected = [row | READ_BACK.get(name, {}) for row in rows] if version else []
            first = next(iter(rows[0]))
            found.sort(key=lambda row: str(row[first]))
            expected.sort(key=lambda row: str(row[first]))
            assert len(found) == len(expected), name
            pairs = zip(found, expected, strict=True)
            assert [{key: row[key] for key in want} for row, want in pairs] == expected, name
    if version:  # the conversations still read through their owners' scopes
        with Store(blank) as store, store.read() as connection:
            native = conversations.get(connection, Scope("acme", "a2"), "native-1")
            imported = conversations.get(connection, Scope("acme", "a1"), "cnv_1")
            assert conversations.get(connection, Scope("acme", "a1"), "native-1") is None
        assert native is not None and native.turns[0].answer == "native"
        assert imported is not None and imported.connector_id == "imp_1"
        # Written again by its agent, it is replaced, not doubled; another agent's is its own.
        again = NATIVE.model_copy(
            update={"turns": [RecordedTurn(index=0, user_messages=["hi"], answer="again")]}
        )
        other = NATIVE.model_copy(update={"agent_id": "a1"})
        with Store(blank) as store, store.begin() as connection:
            conversations.save(connection, [again, other], tenant_id="acme", now=WHEN)
        with Store(blank) as store, store.read() as connection:
            stored = connection.execute(
                select(schema.conversations.c.agent_id).where(
                    schema.conversations.c.id == "native-1"
                )
            ).scalars()
            assert sorted(stored) == ["a1", "a2"]
            native = conversations.get(connection, Scope("acme", "a2"), "native-1")
        assert native is not None and native.turns[0].answer == "again"


def test_the_live_tables_are_what_the_migrations_make(
    engine: Engine, blank: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A change to ``schema.py`` without a step to match fails here."""
    schema.metadata.create_all(engine)
    assert shape(engine) == fresh_shape(empty_like(blank, tmp_path, request))


def test_a_step_never_reads_the_live_schema() -> None:
    """Released steps are frozen: they describe their change themselves."""
    from pytest_connectors.storage import history

    folder = Path(history.__file__).parent
    for step in sorted(folder.glob("v*.py")):
        source = step.read_text()
        assert "storage.schema" not in source and "import schema" not in source, step.name
