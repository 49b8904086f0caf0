"""Which FullStory sessions an agent conversation happened in, and how sure the join is.

Nothing joins the two automatically, so the evidence is ranked, strongest first:

1. ``metadata``: the app wrote the FullStory session into the trace metadata
   (``fullstory_session_url``, ``fullstory_session_id``, or any URL holding
   ``/session/<UserId>:<SessionId>``);
2. ``custom_event``: the app sent FullStory a custom event carrying the conversation's thread id;
3. ``user_time_overlap`` (weak): the session's app user id (``UserAppKey``) is the conversation's
   ``user_id`` and the two overlap in time.

Each (conversation, session) pair is linked once, by the strongest method that holds. A
conversation may link to several sessions (a user with two tabs); the method says how much to
trust each link. Pure functions: no I/O.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pytest_connectors.imports.session_events import thread_references
from pytest_connectors.models.imports import RecordedConversation, SessionLink, UserSession

__all__ = ["OVERLAP_SLACK", "link_sessions"]

Method = Literal["metadata", "custom_event", "user_time_overlap"]
RANK: dict[Method, int] = {"metadata": 0, "custom_event": 1, "user_time_overlap": 2}

# Clocks of the browser and of the agent's tracer differ, and a chat may open as a session ends.
OVERLAP_SLACK = timedelta(minutes=5)

# ``/session/<UserId>:<SessionId>``, the colon possibly percent-encoded, maybe a ``:<time>`` after.
_SESSION_IN_URL = re.compile(r"/session/([^/?#\s:%]+)(?::|%3A)([^/?#\s:%&]+)", re.IGNORECASE)
_MAX_DEPTH = 4  # how deep nested metadata is searched for session URLs

# Metadata keys compared without case, underscores or dashes.
_SESSION_ID_KEYS = {"fullstorysessionid", "fssessionid"}
_THREAD_KEYS = {"threadid", "conversationid"}
_USER_KEYS = {"userid"}


def link_sessions(
    conversations: Iterable[RecordedConversation],
    sessions: Iterable[UserSession],
    *,
    slack: timedelta = OVERLAP_SLACK,
) -> list[SessionLink]:
    """Links between the conversations and the sessions, strongest method first."""
    index = _SessionIndex(sessions)
    best: dict[tuple[str, str], Method] = {}

    def found(
        conversation: RecordedConversation, session_ids: Iterable[str], method: Method
    ) -> None:
        for session_id in session_ids:
            key = (conversation.id, session_id)
            if key not in best or RANK[method] < RANK[best[key]]:
                best[key] = method

    for conversation in conversations:
        found(conversation, index.named_in(conversation.metadata), "metadata")
        found(conversation, index.carrying(_thread_ids(conversation)), "custom_event")
        found(conversation, index.overlapping(conversation, slack), "user_time_overlap")
    links = [
        SessionLink(conversation_id=conversation_id, session_id=session_id, method=method)
        for (conversation_id, session_id), method in best.items()
    ]
    links.sort(key=lambda link: (RANK[link.method], link.conversation_id, link.session_id))
    return links


class _SessionIndex:
    def __init__(self, sessions: Iterable[UserSession]) -> None:
        self.by_id: dict[str, UserSession] = {}
        self.by_session_part: dict[str, set[str]] = defaultdict(set)
        self.by_thread: dict[str, set[str]] = defaultdict(set)
        self.by_app_user: dict[str, list[UserSession]] = defaultdict(list)
        for session in sessions:
            self.by_id[session.id] = session
            self.by_session_part[session.id.rpartition(":")[2]].add(session.id)
            for event in session.custom_events:
                properties = event.get("properties")
                if isinstance(properties, Mapping):
                    for reference in thread_references(properties):
                        self.by_thread[reference].add(session.id)
            if session.app_user_id:
                self.by_app_user[session.app_user_id].append(session)

    def named_in(self, metadata: Mapping[str, Any]) -> set[str]:
        named: set[str] = set()
        for key, value in _walk(metadata):
            if not isinstance(value, str):
                continue
            if key in _SESSION_ID_KEYS:
                named |= self._by_given_id(value)
            for user_id, session_id in _SESSION_IN_URL.findall(value):
                candidate = f"{user_id}:{session_id}"
                if candidate in self.by_id:
                    named.add(candidate)
        return named

    def _by_given_id(self, value: str) -> set[str]:
        value = value.strip().replace("%3A", ":").replace("%3a", ":")
        if value in self.by_id:
            return {value}
        if ":" not in value:  # a bare SessionId: only if no two users share it
            owners = self.by_session_part.get(value, set())
            return set(owners) if len(owners) == 1 else set()
        return set()

    def carrying(self, thread_ids: set[str]) -> set[str]:
        return {sid for thread_id in thread_ids for sid in self.by_thread.get(thread_id, ())}

    def overlapping(self, conversation: RecordedConversation, slack: timedelta) -> set[str]:
        user = _user_id(conversation.metadata)
        span = _conversation_span(conversation)
        if user is None or span is None:
            return set()
        begin, end = span
        linked = set()
        for session in self.by_app_user.get(user, ()):
            if session.started_at is None:
                continue
            session_end = session.ended_at or session.started_at
            if begin <= session_end + slack and session.started_at - slack <= end:
                linked.add(session.id)
        return linked


def _normal(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def _walk(value: Any, key: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(normalised key, value) of every entry of nested metadata, to a bounded depth."""
    if isinstance(value, Mapping):
        if depth < _MAX_DEPTH:
            for child_key, child in value.items():
                yield from _walk(child, _normal(str(child_key)), depth + 1)
    elif isinstance(value, list | tuple):
        if depth < _MAX_DEPTH:
            for child in value:
                yield from _walk(child, key, depth + 1)
    else:
        yield key, value


def _thread_ids(conversation: RecordedConversation) -> set[str]:
    ids = {conversation.thread_key} if conversation.thread_key else set()
    for key, value in conversation.metadata.items():
        if _normal(str(key)) in _THREAD_KEYS and isinstance(value, str | int) and str(value):
            ids.add(str(value))
    return ids


def _user_id(metadata: Mapping[str, Any]) -> str | None:
    for key, value in metadata.items():
        if _normal(str(key)) in _USER_KEYS and isinstance(value, str | int):
            text = str(value).strip()
            if text:
                return text
    return None


def _conversation_span(conversation: RecordedConversation) -> tuple[datetime, datetime] | None:
    moments = [m for m in (conversation.started_at, conversation.ended_at) if m is not None]
    moments += [turn.started_at for turn in conversation.turns if turn.started_at is not None]
    if not moments:
        return None
    return min(moments), max(moments)
