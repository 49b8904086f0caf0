"""Idempotent writes keyed on provider ids: one comparison of content hashes per page.

Rows already stored with the same hash are not written at all (a re-sync of an unchanged window
writes nothing); new rows are inserted and changed or missing ones updated with one upsert
statement, so a second writer racing on the same keys cannot create a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite

from pytest_connectors.errors import DatabaseError

# Keeps every statement's parameter count well under SQLite's and PostgreSQL's limits.
CHUNK = 500


@dataclass
class UpsertResult:
    created: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def upsert_by_hash(
    connection: Connection,
    table: Table,
    connector_id: str,
    rows: Sequence[dict[str, Any]],
    *,
    keep_on_update: Sequence[str] = ("first_seen_at",),
    aside: str | None = None,
) -> UpsertResult:
    """Write ``rows`` (each with ``provider_id`` and ``content_hash``) of one connector.

    A stored row that is marked missing counts as changed: it is revived. The ``aside`` column
    (bookkeeping, not content) of an unchanged row is brought up to date without counting it.
    """
    result = UpsertResult()
    if not rows:
        return result
    latest = {row["provider_id"]: row for row in rows}  # a page may repeat a record
    stored: dict[str, tuple[str, bool, Any]] = {}
    keys = list(latest)
    columns = [table.c.provider_id, table.c.content_hash, table.c.missing]
    if aside is not None:
        columns.append(table.c[aside])
    for part in chunks(keys):
        for provider_id, content_hash, missing, *extra in connection.execute(
            table.select()
            .with_only_columns(*columns)
            .where(table.c.connector_id == connector_id, table.c.provider_id.in_(part))
        ):
            stored[provider_id] = (content_hash, bool(missing), extra[0] if extra else None)
    writes: list[dict[str, Any]] = []
    asides: list[dict[str, Any]] = []
    for provider_id, row in latest.items():
        before = stored.get(provider_id)
        if before is None:
            result.created.append(row)
        elif before[0] != row["content_hash"] or before[1]:
            result.updated.append(row)
        else:
            result.unchanged += 1
            if aside is not None and aside in row and before[2] != row[aside]:
                asides.append({"key": provider_id, "value": row[aside]})
            continue
        writes.append({**row, "connector_id": connector_id, "missing": False})
    if writes:
        upsert(connection, table, writes, keep_on_update)
    if asides:
        assert aside is not None
        statement = (
            update(table)
            .where(table.c.connector_id == connector_id, table.c.provider_id == bindparam("key"))
            .values({aside: bindparam("value")})
        )
        connection.execute(statement, asides)
    return result


def upsert(
    connection: Connection,
    table: Table,
    writes: Sequence[dict[str, Any]],
    keep_on_update: Sequence[str] = (),
) -> None:
    """Insert ``writes`` (rows with the same columns), replacing those whose key is stored."""
    dialect = connection.dialect.name
    insert: Any
    if dialect == "postgresql":
        insert = postgresql.insert(table)
    elif dialect == "sqlite":
        insert = sqlite.insert(table)
    else:
        raise DatabaseError(f"{dialect} is not supported; use SQLite or PostgreSQL")
    keys = [column.name for column in table.primary_key.columns]
    changing = [name for name in writes[0] if name not in keys and name not in keep_on_update]
    statement = insert.on_conflict_do_update(
        index_elements=keys, set_={name: insert.excluded[name] for name in changing}
    )
    for part in chunks(writes):
        connection.execute(statement, list(part))
