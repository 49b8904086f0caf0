"""Helpers for the tests of the service's pages: a signed-in browser-like client, the CSRF token
of a page, and conversations (with a linked FullStory session) written straight to the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from service_support import client

from pytest_connectors.models.imports import RecordedConversation, SessionLink, UserSession
from pytest_connectors.storage import conversations
from pytest_connectors.storage.schema import user_sessions
from pytest_connectors.storage.store import Store

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_ALERT = re.compile(r'role="alert">([^<]*)<')


def csrf_of(page: str) -> str:
    match = _CSRF.search(page)
    assert match is not None, "the page has no form with a CSRF token"
    return match[1]


def alert_of(page: str) -> str | None:
    """The one-line message a page shows (escaped as on the page)."""
    match = _ALERT.search(page)
    return match[1] if match else None


def sign_in(
    browser: httpx.Client, key: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """Posts ``key`` from the sign-in form, with the form's CSRF token, as a browser would."""
    token = csrf_of(browser.get("/ui/sign-in").text)
    return browser.post("/ui/sign-in", data={"key": key, "csrf": token}, headers=headers)


def signed_in(base_url: str, key: str) -> tuple[httpx.Client, str]:
    """A client holding a session of ``key`` (its cookie, never the key) and the session's
    CSRF token."""
    browser = client(base_url, follow_redirects=False)
    answer = sign_in(browser, key)
    assert answer.status_code == 303, answer.text
    page = browser.get("/ui/connectors")
    assert page.status_code == 200, page.text
    return browser, csrf_of(page.text)


@contextmanager
def browsing(base_url: str, key: str) -> Iterator[tuple[httpx.Client, str]]:
    """:func:`signed_in`, the client closed at the end."""
    browser, token = signed_in(base_url, key)
    try:
        yield browser, token
    finally:
        browser.close()


def seed(
    db: str,
    conversation: RecordedConversation,
    *,
    tenant: str,
    sessions: Sequence[UserSession] = (),
) -> None:
    """Store a conversation and link ``sessions`` (of a FullStory connector) to it."""
    now = datetime.now(UTC)
    with Store(db) as store, store.begin() as connection:
        conversations.save(connection, [conversation], tenant_id=tenant, now=now)
        for session in sessions:
            assert session.connector_id is not None
            connection.execute(
                user_sessions.insert().values(
                    connector_id=session.connector_id,
                    provider_id=session.id,
                    tenant_id=tenant,
                    agent_id=conversation.agent_id,
                    user_id=session.user_id,
                    started_at=session.started_at,
                    occurred_at=session.started_at or now,
                    content_hash="seeded",
                    body=session.model_dump(mode="json", by_alias=True),
                    missing=False,
                    first_seen_at=now,
                    updated_at=now,
                )
            )
        if sessions:
            assert conversation.agent_id is not None
            conversations.replace_links(
                connection,
                tenant_id=tenant,
                agent_id=conversation.agent_id,
                links=[
                    SessionLink(conversation_id=conversation.id, session_id=s.id, method="metadata")
                    for s in sessions
                ],
                sessions=sessions,
            )


def form(csrf: str, **fields: Any) -> dict[str, Any]:
    return {"csrf": csrf, **fields}
