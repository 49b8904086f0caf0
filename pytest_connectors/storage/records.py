"""What the sync jobs import: traces and sessions keyed on provider ids, tombstones included."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, func, select, update

from pytest_connectors.models.imports import Scope, UserSession
from pytest_connectors.storage.schema import imported_traces, user_sessions
from pytest_connectors.storage.scoping import matching
from pytest_connectors.storage.upsert import UpsertResult, chunks, upsert_by_hash


def upsert_traces(
    connection: Connection, connector_id: str, rows: Sequence[dict[str, Any]]
) -> UpsertResult:
    """Rows: provider_id, tenant_id, agent_id, thread_key, occurred_at, content_hash, payload,
    pending, source_version, first_seen_at, updated_at."""
    return upsert_by_hash(connection, imported_traces, connector_id, rows, aside="source_version")


def stored_versions(
    connection: Connection, connector_id: str, provider_ids: Iterable[str]
) -> dict[str, str]:
    """The source version of each of ``provider_ids`` stored finished and not missing: those a
    provider may skip when its listing shows the same version (pending ones are fetched again)."""
    t = imported_traces
    found: dict[str, str] = {}
    for part in chunks(sorted(set(provider_ids))):
        for provider_id, version in connection.execute(
            select(t.c.provider_id, t.c.source_version).where(
                t.c.connector_id == connector_id,
                t.c.provider_id.in_(part),
                t.c.source_version.is_not(None),
                t.c.pending.is_(False),
                t.c.missing.is_(False),
            )
        ):
            found[provider_id] = version
    return found


def upsert_sessions(
    connection: Connection, connector_id: str, rows: Sequence[dict[str, Any]]
) -> UpsertResult:
    return upsert_by_hash(connection, user_sessions, connector_id, rows)


def mark_missing(
    connection: Connection,
    table: Table,
    connector_id: str,
    start: datetime,
    end: datetime,
    seen: set[str],
    now: datetime,
) -> list[dict[str, Any]]:
    """Tombstone the stored records of ``[start, end)`` that a complete scan did not return.

    Returns the rows marked (their provider ids, and thread keys for traces)."""
    columns = [table.c.provider_id]
    if "thread_key" in table.c:
        columns.append(table.c.thread_key)
    stored = connection.execute(
        select(*columns).where(
            table.c.connector_id == connector_id,
            table.c.occurred_at >= start,
            table.c.occurred_at < end,
            table.c.missing.is_(False),
        )
    ).all()
    gone = [dict(row._mapping) for row in stored if row[0] not in seen]
    for part in chunks([row["provider_id"] for row in gone]):
        connection.execute(
            update(table)
            .where(table.c.connector_id == connector_id, table.c.provider_id.in_(part))
            .values(missing=True, updated_at=now)
        )
    return gone


def trace_payloads(
    connection: Connection,
    connector_id: str,
    thread_keys: Iterable[str],
    *,
    known: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The stored (not missing) trace payloads of each thread, oldest first.

    ``known`` payloads (provider id -> payload, the page just written) are not read back.
    """
    known = known or {}
    t = imported_traces
    members: dict[str, list[str]] = {}
    for part in chunks(sorted(set(thread_keys))):
        rows = connection.execute(
            select(t.c.thread_key, t.c.provider_id)
            .where(
                t.c.connector_id == connector_id,
                t.c.thread_key.in_(part),
                t.c.missing.is_(False),
            )
            .order_by(t.c.occurred_at, t.c.provider_id)
        )
        for key, provider_id in rows:
            members.setdefault(key, []).append(provider_id)
    wanted = [pid for ids in members.values() for pid in ids if pid not in known]
    loaded: dict[str, dict[str, Any]] = dict(known)
    for part in chunks(wanted):
        for provider_id, payload in connection.execute(
            select(t.c.provider_id, t.c.payload).where(
                t.c.connector_id == connector_id, t.c.provider_id.in_(part)
            )
        ):
            loaded[provider_id] = payload
    return {key: [loaded[pid] for pid in ids] for key, ids in members.items()}


def earliest_pending(connection: Connection, connector_id: str) -> datetime | None:
    """When the connector's oldest trace or session still pending started, if any."""
    found: list[datetime] = []
    for t in (imported_traces, user_sessions):
        value: datetime | None = connection.execute(
            select(t.c.occurred_at)
            .where(t.c.connector_id == connector_id, t.c.pending.is_(True), t.c.missing.is_(False))
            .order_by(t.c.occurred_at)
            .limit(1)
        ).scalar()
        if value is not None:
            found.append(value)
    return min(found, default=None)


def count_traces(connection: Connection, connector_id: str, *, missing: bool | None = None) -> int:
    t = imported_traces
    query = select(func.count()).select_from(t).where(t.c.connector_id == connector_id)
    if missing is not None:
        query = query.where(t.c.missing.is_(missing))
    return int(connection.execute(query).scalar() or 0)


def to_session(row: Any) -> UserSession:
    data = row._mapping
    session = UserSession.model_validate(data["body"])
    return session.model_copy(
        update={"connector_id": data["connector_id"], "missing": bool(data["missing"])}
    )


def list_sessions(
    connection: Connection,
    scope: Scope,
    *,
    connector_id: str | None = None,
    agent_id: str | None = None,
    include_missing: bool = True,
) -> list[UserSession]:
    s = user_sessions
    query = select(s).where(
        matching(
            s, scope, connector_id=connector_id, agent_id=agent_id, include_missing=include_missing
        )
    )
    rows = connection.execute(query.order_by(s.c.occurred_at, s.c.provider_id)).all()
    return [to_session(row) for row in rows]
