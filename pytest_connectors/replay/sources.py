"""Where cases come from: a folder or file of frozen cases, or an import connector's data.

The data is read through the import facade (:class:`~pytest_connectors.imports.facade.Imports`),
whatever its backend: the local database or the service answer the same pages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

from pytest_connectors.imports.backend import Origin
from pytest_connectors.imports.facade import Imports
from pytest_connectors.models.imports import RecordedConversation, UserSession
from pytest_connectors.replay.case import ReplayCase
from pytest_connectors.replay.frozen import read_cases
from pytest_connectors.replay.redact import Redaction
from pytest_connectors.replay.where import Where

PAGE = 500  # the most one page of the facade holds


def cases_from_path(path: str | os.PathLike[str]) -> list[ReplayCase]:
    return read_cases(path)


def conversations_of(
    imports: Imports,
    *,
    connector: str | None = None,
    agent_id: str | None = None,
    origin: Origin | None = "imported",
    limit: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[RecordedConversation]:
    """Every matching conversation, newest first, page after page (at most ``limit``)."""
    cursor: str | None = None
    left = limit
    while left is None or left > 0:
        size = PAGE if left is None else min(PAGE, left)
        page = imports.conversations.list(
            connector=connector,
            agent_id=agent_id,
            origin=origin,
            limit=size,
            cursor=cursor,
            since=since,
            until=until,
        )
        yield from page.items
        if left is not None:
            left -= len(page.items)
        cursor = page.next_cursor
        if not cursor:
            return


def linked_sessions(
    imports: Imports, conversation: RecordedConversation
) -> tuple[UserSession, ...]:
    detail = imports.conversations.get(conversation.id, agent_id=conversation.agent_id)
    return tuple(linked.session for linked in detail.sessions)


def cases_from_imports(
    imports: Imports,
    connector: str,
    *,
    agent_id: str | None = None,
    redaction: Redaction | None = None,
) -> list[ReplayCase]:
    """Every imported conversation of ``connector`` (a name or id), with its linked sessions.

    With ``redaction``, the case ids (test ids) show the thread keys redacted; the cases keep
    what production said, which is what is replayed.
    """
    return [
        ReplayCase.of(
            conversation,
            connector,
            linked_sessions(imports, conversation),
            shown_key=redaction.text(conversation.thread_key) if redaction else None,
        )
        for conversation in conversations_of(imports, connector=connector, agent_id=agent_id)
    ]


NATIVE = "native"  # the source a native case names: no import connector wrote it


def cases_from_native(
    imports: Imports, where: Where, *, redaction: Redaction | None = None
) -> list[ReplayCase]:
    """The native conversations (test sessions' and the OTLP receiver's) of ``where``'s agent
    and time window, asked of the backend; ``where``'s other conditions are checked later,
    with every source's."""
    assert where.since is None or isinstance(where.since, datetime)
    assert where.until is None or isinstance(where.until, datetime)
    return [
        ReplayCase.of(
            conversation,
            NATIVE,
            linked_sessions(imports, conversation),
            shown_key=redaction.text(conversation.thread_key) if redaction else None,
        )
        for conversation in conversations_of(
            imports, agent_id=where.agent, origin="native", since=where.since, until=where.until
        )
    ]
