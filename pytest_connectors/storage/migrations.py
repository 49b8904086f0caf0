"""Schema versions: an ordered list of steps, applied at open, each exactly once.

Step ``n`` (1-based) brings the database from version ``n - 1`` to ``n``. Each step is a frozen
module of :mod:`pytest_connectors.storage.history`; a new table or column is a new step appended
here, and a step already released is never edited. A database whose version is newer than the
last step was written by a newer package and is refused untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, func, inspect, select, text

from pytest_connectors.errors import SchemaVersionError
from pytest_connectors.storage.history import (
    v001_tables,
    v002_session_pending,
    v003_native_scoped_ids,
    v004_browser_sessions,
    v005_trace_source_version,
)
from pytest_connectors.storage.schema import schema_version

Migration = Callable[[Connection], None]

MIGRATIONS: list[Migration] = [
    v001_tables.upgrade,
    v002_session_pending.upgrade,
    v003_native_scoped_ids.upgrade,
    v004_browser_sessions.upgrade,
    v005_trace_source_version.upgrade,
]
CURRENT_VERSION = len(MIGRATIONS)

# Any constant works: it only has to be the same for every process migrating one database.
_PG_MIGRATION_LOCK = 0x70637462


def current_version(connection: Connection) -> int:
    if not inspect(connection).has_table(schema_version.name):
        return 0
    found = connection.execute(select(func.max(schema_version.c.version))).scalar()
    return int(found or 0)


def migrate(connection: Connection, *, to: int = CURRENT_VERSION) -> int:
    """Bring the schema up to version ``to`` (the newest by default) inside the caller's
    transaction; return the version. An older ``to`` makes a database as that release did."""
    if connection.dialect.name == "postgresql":
        # Two processes opening a fresh database at once: the second waits, then sees version n.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    version = current_version(connection)
    if version > CURRENT_VERSION:
        raise SchemaVersionError(version, CURRENT_VERSION)
    if version < to:
        # The version table itself never changes: every release reads it the same way.
        schema_version.create(connection, checkfirst=True)
        for number in range(version + 1, to + 1):
            MIGRATIONS[number - 1](connection)
            connection.execute(
                schema_version.insert().values(version=number, applied_at=datetime.now(UTC))
            )
    return max(version, to)
