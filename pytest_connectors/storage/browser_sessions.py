"""The service's browser sessions in the database, so that every process of one deployment (and
the next one after a restart) knows them. A session is found by the SHA-256 of its cookie's id:
a leaked database names no session a browser could present."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select

from pytest_connectors.storage.schema import browser_sessions as _table
from pytest_connectors.storage.store import Store


@dataclass(frozen=True, slots=True)
class StoredSession:
    key_prefix: str
    key_digest: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"StoredSession(key_prefix={self.key_prefix!r}, key_digest='****')"


def id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def save(
    store: Store, session_id: str, stored: StoredSession, *, now: datetime, keep_per_key: int
) -> None:
    """Stores a new session, dropping the expired ones and a key's oldest past
    ``keep_per_key``: the table stays as small as the sessions alive, however often a key
    signs in."""
    mine = _table.c.key_prefix == stored.key_prefix
    newest = select(_table.c.id_hash).where(mine).order_by(_table.c.created_at.desc())
    with store.begin() as connection:
        connection.execute(delete(_table).where(_table.c.expires_at <= now))
        connection.execute(
            insert(_table).values(
                id_hash=id_hash(session_id),
                key_prefix=stored.key_prefix,
                key_digest=stored.key_digest,
                created_at=now,
                expires_at=stored.expires_at,
            )
        )
        kept = newest.limit(keep_per_key).scalar_subquery()
        connection.execute(delete(_table).where(mine, _table.c.id_hash.not_in(kept)))


def find(store: Store, session_id: str) -> StoredSession | None:
    query = select(_table.c.key_prefix, _table.c.key_digest, _table.c.expires_at).where(
        _table.c.id_hash == id_hash(session_id)
    )
    with store.read() as connection:
        row = connection.execute(query).first()
    return None if row is None else StoredSession(row.key_prefix, row.key_digest, row.expires_at)


def remove(store: Store, session_id: str) -> None:
    with store.begin() as connection:
        connection.execute(delete(_table).where(_table.c.id_hash == id_hash(session_id)))
