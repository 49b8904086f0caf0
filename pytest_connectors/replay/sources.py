"""Where cases come from: a folder or file of frozen cases, or an import connector's data.

The data is read through the import facade (``pytest_connectors.imports.facade.Imports``), on a
local database (``db=``) or on the service (``url=`` and ``api_key=``); both answer the same
``conversations.list`` pages, so this module does not care which one it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Protocol

from pytest_connectors.models.imports import Conversation, UserSession
from pytest_connectors.replay.case import ReplayCase
from pytest_connectors.replay.frozen import read_cases

PAGE = 200


class _Page(Protocol):
    items: list[Conversation]
    next_cursor: str | None


def cases_from_path(path: str | os.PathLike[str]) -> list[ReplayCase]:
    return read_cases(path)


def _pages(imports: Any, **filters: Any) -> Iterator[Conversation]:
    cursor: str | None = None
    while True:
        page = imports.conversations.list(limit=PAGE, cursor=cursor, **filters)
        items = page if isinstance(page, list) else page.items
        yield from items
        cursor = None if isinstance(page, list) else page.next_cursor
        if not cursor:
            return


def _sessions(imports: Any, conversation: Conversation) -> tuple[UserSession, ...]:
    """Linked FullStory sessions, when the facade offers them."""
    lookup = getattr(imports.conversations, "sessions", None)
    if lookup is None:
        return ()
    found = lookup(conversation.id)
    return tuple(item[1] if isinstance(item, tuple) else item for item in found)


def conversations_of(
    imports: Any,
    *,
    connector: str | None = None,
    agent_id: str | None = None,
    origin: str | None = "imported",
) -> list[Conversation]:
    return list(_pages(imports, connector=connector, agent_id=agent_id, origin=origin))


def cases_from_imports(
    imports: Any, connector: str, *, agent_id: str | None = None, with_sessions: bool = True
) -> list[ReplayCase]:
    """Every imported conversation of ``connector`` (a name or id) as a case."""
    cases = []
    for conversation in conversations_of(imports, connector=connector, agent_id=agent_id):
        sessions = _sessions(imports, conversation) if with_sessions else ()
        cases.append(ReplayCase.of(conversation, connector, sessions))
    return cases
