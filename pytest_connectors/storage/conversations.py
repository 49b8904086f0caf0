"""Conversations (derived from imported traces, or written natively) and their session links."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Row,
    String,
    Text,
    and_,
    cast,
    delete,
    func,
    or_,
    select,
    update,
)

from pytest_connectors.errors import InvalidInputError
from pytest_connectors.models.imports import RecordedConversation, Scope, SessionLink, UserSession
from pytest_connectors.storage.records import to_session
from pytest_connectors.storage.schema import conversations, session_links, user_sessions
from pytest_connectors.storage.scoping import matching, within
from pytest_connectors.storage.upsert import chunks, upsert

_C = conversations
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Kept in their own columns; the rest of the record is the JSON body.
_COLUMNS = {"id", "connector_id", "agent_id", "thread_key", "origin", "started_at", "ended_at"}
_COLUMNS |= {"pending", "missing"}


# PostgreSQL refuses longer values where SQLite would store them.
def _length(column: Column[str] | Column[str | None]) -> int:
    kind = column.type
    assert isinstance(kind, String) and kind.length is not None
    return kind.length


_LENGTHS = {
    "id": _length(_C.c.id),
    "agentId": _length(_C.c.agent_id),
    "threadKey": _length(_C.c.thread_key),
}


def to_conversation(row: Row[Any]) -> RecordedConversation:
    data = row._mapping
    body = dict(data["body"] or {})
    body.update(
        id=data["id"],
        connector_id=data["connector_id"],
        agent_id=data["agent_id"],
        thread_key=data["thread_key"],
        origin=data["origin"],
        started_at=data["started_at"],
        ended_at=data["ended_at"],
        pending=bool(data["pending"]),
        missing=bool(data["missing"]),
    )
    return RecordedConversation.model_validate(body)


NATIVE_STORAGE_PREFIX = "nat_"


def storage_id(tenant_id: str, conversation: RecordedConversation) -> str:
    """Where a conversation is stored. An imported id is unique already (it is derived from its
    connector); a native id is the client's, so it is stored under its tenant and agent, and the
    same id written by another tenant or agent is another conversation."""
    if conversation.origin != "native":
        return conversation.id
    scoped = [tenant_id, conversation.agent_id, conversation.id]
    digest = hashlib.sha256(json.dumps(scoped).encode())
    return NATIVE_STORAGE_PREFIX + digest.hexdigest()[:60]


def _row(conversation: RecordedConversation, tenant_id: str, now: datetime) -> dict[str, Any]:
    body = conversation.model_dump(mode="json", by_alias=False, exclude=_COLUMNS)
    return {
        "storage_id": storage_id(tenant_id, conversation),
        "id": conversation.id,
        "connector_id": conversation.connector_id,
        "tenant_id": tenant_id,
        "agent_id": conversation.agent_id,
        "thread_key": conversation.thread_key,
        "origin": conversation.origin,
        "started_at": conversation.started_at,
        "ended_at": conversation.ended_at,
        "turn_count": len(conversation.turns),
        "body": body,
        "pending": conversation.pending,
        "missing": conversation.missing,
        "updated_at": now,
    }


def save(
    connection: Connection, items: Sequence[RecordedConversation], *, tenant_id: str, now: datetime
) -> None:
    """Insert or replace conversations of one tenant (the caller checked it may write them).

    A native conversation replaces only the one of its own tenant, agent and id, so no write
    reaches, or tells anything about, a conversation of another tenant or agent. The one id a
    writer may not use is one its own agent holds for a conversation of the other origin.
    """
    if not items:
        return
    for conversation in items:
        _check_fits(conversation)
    rows = [_row(conversation, tenant_id, now) for conversation in items]
    keys = {(row["agent_id"], row["id"]): row["storage_id"] for row in rows}
    for part in chunks(sorted({row["id"] for row in rows})):
        for key, conversation_id, agent_id in connection.execute(
            select(_C.c.storage_id, _C.c.id, _C.c.agent_id).where(
                _C.c.tenant_id == tenant_id, _C.c.id.in_(part)
            )
        ):
            if keys.get((agent_id, conversation_id), key) != key:
                raise InvalidInputError(_taken(conversation_id))
    upsert(connection, _C, rows)


def _taken(conversation_id: str) -> str:
    return f"conversation id {conversation_id!r} is already taken; choose another id"


def _check_fits(conversation: RecordedConversation) -> None:
    for name, value in (
        ("id", conversation.id),
        ("agentId", conversation.agent_id),
        ("threadKey", conversation.thread_key),
    ):
        limit = _LENGTHS[name]
        if value is not None and not 0 < len(value) <= limit:
            raise InvalidInputError(
                f"conversation {name} must be 1 to {limit} characters, not {len(value)}"
            )


def mark_missing(connection: Connection, ids: Iterable[str], now: datetime) -> None:
    for part in chunks(sorted(set(ids))):
        connection.execute(
            update(_C).where(_C.c.storage_id.in_(part)).values(missing=True, updated_at=now)
        )


@dataclass(frozen=True)
class StoredConversation:
    """A conversation and the tenant it is stored under (its session links are per agent)."""

    conversation: RecordedConversation
    tenant_id: str

    @classmethod
    def of(cls, row: Row[Any]) -> StoredConversation:
        return cls(to_conversation(row), row.tenant_id)


def find(
    connection: Connection, scope: Scope, conversation_id: str, *, agent_id: str | None = None
) -> StoredConversation | None:
    """The conversation with this id in the scope (and agent, if given).

    Native ids are unique per agent only: when the scope reaches two agents holding the id, the
    caller must say which (one agent's key never meets this).
    """
    query = select(_C).where(_C.c.id == conversation_id, within(_C, scope))
    if agent_id is not None:
        query = query.where(_C.c.agent_id == agent_id)
    rows = connection.execute(query.order_by(_C.c.tenant_id, _C.c.agent_id).limit(2)).all()
    if len(rows) > 1:
        # Only holders the scope reaches are named; the owner's reach spans tenants.
        holders = " and ".join(
            repr(row.agent_id)
            if scope.tenant_id
            else f"{row.agent_id!r} of tenant {row.tenant_id!r}"
            for row in rows
        )
        raise InvalidInputError(
            f"conversation id {conversation_id!r} is held by agents {holders}; "
            "give agentId to say which"
        )
    return StoredConversation.of(rows[0]) if rows else None


def get(
    connection: Connection, scope: Scope, conversation_id: str, *, agent_id: str | None = None
) -> RecordedConversation | None:
    found = find(connection, scope, conversation_id, agent_id=agent_id)
    return found.conversation if found is not None else None


def with_thread_key(
    connection: Connection,
    scope: Scope,
    thread_key: str,
    *,
    limit: int,
    agent_id: str | None = None,
) -> list[StoredConversation]:
    """The conversations (of any connector, or native) whose thread key is ``thread_key``."""
    query = select(_C).where(_C.c.thread_key == thread_key, within(_C, scope))
    if agent_id is not None:
        query = query.where(_C.c.agent_id == agent_id)
    rows = connection.execute(query.order_by(_C.c.id, _C.c.storage_id).limit(limit))
    return [StoredConversation.of(row) for row in rows]


@dataclass(frozen=True)
class ConversationPage:
    items: list[RecordedConversation]
    next_cursor: str | None


def _encode_cursor(started_at: datetime | None, key: str) -> str:
    moment = (started_at or _EPOCH).isoformat()
    raw = json.dumps([moment, key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, key = json.loads(raw)
        when = datetime.fromisoformat(moment)
        if when.tzinfo is None:  # every cursor given out names UTC
            raise ValueError(moment)
        return when, str(key)
    except (ValueError, TypeError):
        raise InvalidInputError(
            f"cursor {cursor!r} is not one this server gave out; start without a cursor"
        ) from None


# A text search checks at most this many rows a page, read this many at a time.
SEARCH_SCAN = 2000
SEARCH_BATCH = 200


def list_page(
    connection: Connection,
    scope: Scope,
    *,
    connector_id: str | None = None,
    agent_id: str | None = None,
    origin: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    include_missing: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
    text: str | None = None,
) -> ConversationPage:
    """Newest first, ``limit`` at a time; ``next_cursor`` continues after the last one.

    ``text`` is found in the thread key, messages, tool calls (names, arguments, results),
    answers, errors, tags and metadata, ignoring case. The database narrows the rows down (its
    JSON text holds the text); each is then checked here on its values, not its field names. At
    most ``SEARCH_SCAN`` rows are checked a call: a page may then come back short, with a
    cursor to go on from where the scan stopped."""
    started = func.coalesce(_C.c.started_at, _EPOCH)
    query = select(_C).where(
        matching(
            _C,
            scope,
            connector_id=connector_id,
            agent_id=agent_id,
            include_missing=include_missing,
        )
    )
    if origin is not None:
        query = query.where(_C.c.origin == origin)
    if since is not None:
        query = query.where(_C.c.started_at >= since)
    if until is not None:
        query = query.where(_C.c.started_at < until)
    wanted = text.casefold() if text else None
    if text:
        # The record is JSON text: look for the text as JSON writes it inside a string (with
        # non-ASCII characters as they are, or escaped, whichever the database was given).
        lowered = text.lower()
        body = func.lower(cast(_C.c.body, Text))
        forms = {json.dumps(lowered, ensure_ascii=False)[1:-1], json.dumps(lowered)[1:-1]}
        query = query.where(
            or_(
                func.lower(_C.c.thread_key).contains(lowered, autoescape=True),
                *(body.contains(form, autoescape=True) for form in sorted(forms)),
            )
        )
    order = (started.desc(), _C.c.storage_id.desc())
    items: list[RecordedConversation] = []
    position = _decode_cursor(cursor) if cursor is not None else None
    taken: tuple[datetime | None, str] | None = None  # where the last item taken stands
    scanned = 0
    while True:
        batch = query
        if position is not None:
            # Ordered by the stored key: a tenant's agents may share a native id.
            moment, last_key = position
            batch = batch.where(
                or_(started < moment, and_(started == moment, _C.c.storage_id < last_key))
            )
        size = limit + 1 if wanted is None else SEARCH_BATCH
        rows = connection.execute(batch.order_by(*order).limit(size)).all()
        for row in rows:
            conversation = to_conversation(row)
            here = (conversation.started_at or _EPOCH, str(row.storage_id))
            scanned += 1
            if wanted is None or wanted in searchable_text(conversation):
                if len(items) == limit:  # one more exists: the page ends at the last one taken
                    assert taken is not None
                    return ConversationPage(items, _encode_cursor(*taken))
                items.append(conversation)
                taken = here
            position = here
            if wanted is not None and scanned >= SEARCH_SCAN:
                return ConversationPage(items, _encode_cursor(*position))
        if len(rows) < size:
            return ConversationPage(items, None)


def searchable_text(conversation: RecordedConversation) -> str:
    """The values of a conversation a text search looks at, case-folded."""
    parts: list[str] = [conversation.thread_key, *conversation.tags]
    parts.append(json.dumps(conversation.metadata, ensure_ascii=False))
    for turn in conversation.turns:
        parts += turn.user_messages
        parts += [turn.answer or "", turn.error or ""]
        for call in turn.tool_calls:
            parts += [call.name, json.dumps(call.args, ensure_ascii=False), call.result or ""]
    return "\n".join(parts).casefold()


def for_agent(
    connection: Connection, tenant_id: str, agent_id: str, *, origin: str | None = None
) -> list[RecordedConversation]:
    query = select(_C).where(
        _C.c.tenant_id == tenant_id, _C.c.agent_id == agent_id, _C.c.missing.is_(False)
    )
    if origin is not None:
        query = query.where(_C.c.origin == origin)
    return [to_conversation(row) for row in connection.execute(query.order_by(_C.c.id))]


def any_for_agent(connection: Connection, tenant_id: str, agent_id: str) -> bool:
    """Whether the agent has a conversation that is not missing, without reading any."""
    query = select(_C.c.id).where(
        _C.c.tenant_id == tenant_id, _C.c.agent_id == agent_id, _C.c.missing.is_(False)
    )
    return connection.execute(query.limit(1)).first() is not None


def ids_of_threads(
    connection: Connection, connector_id: str, thread_keys: Iterable[str]
) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in chunks(sorted(set(thread_keys))):
        for key, conversation_id in connection.execute(
            select(_C.c.thread_key, _C.c.id).where(
                _C.c.connector_id == connector_id, _C.c.thread_key.in_(part)
            )
        ):
            found[key] = conversation_id
    return found


def replace_links(
    connection: Connection,
    *,
    tenant_id: str,
    agent_id: str,
    links: Sequence[SessionLink],
    sessions: Sequence[UserSession],
) -> int:
    """The agent's links, replaced by ``links`` (as computed from all its data)."""
    connection.execute(
        delete(session_links).where(
            session_links.c.tenant_id == tenant_id, session_links.c.agent_id == agent_id
        )
    )
    connectors_of: dict[str, set[str]] = {}
    for session in sessions:
        connectors_of.setdefault(session.id, set()).add(session.connector_id or "")
    rows = [
        {
            "conversation_id": link.conversation_id,
            "session_connector_id": connector_id,
            "session_id": link.session_id,
            "tenant_id": tenant_id,
            "agent_id": agent_id,
            "method": link.method,
        }
        for link in links
        for connector_id in sorted(connectors_of.get(link.session_id, {""}))
    ]
    unique = list(
        {
            (r["conversation_id"], r["session_connector_id"], r["session_id"]): r for r in rows
        }.values()
    )
    for part in chunks(unique):
        connection.execute(session_links.insert(), list(part))
    return len(unique)


def linked_sessions(
    connection: Connection, found: StoredConversation
) -> list[tuple[SessionLink, UserSession]]:
    """The sessions linked to a conversation :func:`find` returned (links are per agent)."""
    link, session = session_links, user_sessions
    rows = connection.execute(
        select(link.c.method, link.c.session_id, session)
        .join(
            session,
            and_(
                session.c.connector_id == link.c.session_connector_id,
                session.c.provider_id == link.c.session_id,
            ),
        )
        .where(
            link.c.conversation_id == found.conversation.id,
            link.c.tenant_id == found.tenant_id,
            link.c.agent_id == found.conversation.agent_id,
        )
        .order_by(link.c.method, link.c.session_id)
    ).all()
    found_links = []
    for row in rows:
        record = SessionLink(
            conversation_id=found.conversation.id, session_id=row.session_id, method=row.method
        )
        found_links.append((record, to_session(row)))
    return found_links


def remove(connection: Connection, scope: Scope, conversation_ids: Iterable[str]) -> None:
    """Delete native conversations within ``scope`` (one whose last turn moved elsewhere)."""
    for part in chunks(sorted(set(conversation_ids))):
        connection.execute(
            delete(_C).where(_C.c.id.in_(part), _C.c.origin == "native", within(_C, scope))
        )
