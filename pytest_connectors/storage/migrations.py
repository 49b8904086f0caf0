"""Schema versions: an ordered list of steps, applied at open, each exactly once.

Step ``n`` (1-based) brings the database from version ``n - 1`` to ``n``. A new table or column
is a new step appended here; a step already released is never edited. A database whose version
is newer than the last step was written by a newer package and is refused untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, func, inspect, select, text

from pytest_connectors.errors import SchemaVersionError
from pytest_connectors.storage import schema

Migration = Callable[[Connection], None]


def _initial_tables(connection: Connection) -> None:
    schema.metadata.create_all(connection, checkfirst=True)


def _session_pending(connection: Connection) -> None:
    """Sessions still active at the end of a window are stored pending, like traces."""
    table = schema.user_sessions.name
    if "pending" not in {c["name"] for c in inspect(connection).get_columns(table)}:
        connection.execute(
            text(f"ALTER TABLE {table} ADD COLUMN pending BOOLEAN NOT NULL DEFAULT false")
        )


MIGRATIONS: list[Migration] = [_initial_tables, _session_pending]
CURRENT_VERSION = len(MIGRATIONS)

# Any constant works: it only has to be the same for every process migrating one database.
_PG_MIGRATION_LOCK = 0x70637462


def current_version(connection: Connection) -> int:
    if not inspect(connection).has_table(schema.schema_version.name):
        return 0
    found = connection.execute(select(func.max(schema.schema_version.c.version))).scalar()
    return int(found or 0)


def migrate(connection: Connection) -> int:
    """Bring the schema up to date inside the caller's transaction; return the version."""
    if connection.dialect.name == "postgresql":
        # Two processes opening a fresh database at once: the second waits, then sees version n.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    version = current_version(connection)
    if version > CURRENT_VERSION:
        raise SchemaVersionError(version, CURRENT_VERSION)
    if version < CURRENT_VERSION:
        schema.schema_version.create(connection, checkfirst=True)
        for number in range(version + 1, CURRENT_VERSION + 1):
            MIGRATIONS[number - 1](connection)
            connection.execute(
                schema.schema_version.insert().values(version=number, applied_at=datetime.now(UTC))
            )
    return CURRENT_VERSION
