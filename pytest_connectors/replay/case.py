"""A replay case: one recorded conversation, where it came from, and whether it can be replayed."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from pytest_connectors.models.imports import RecordedConversation, RecordedTurn, UserSession

_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._:@-]+")
_UNSAFE_FILE_NAME = re.compile(r"[^A-Za-z0-9_-]+")  # no dots, colons or at signs: any OS
# Long enough to read, short enough for any file system's 255-byte names and for test ids.
MAX_READABLE = 64
HASH_LENGTH = 12  # 48 bits: no two of millions of conversations share one by chance


def _bounded(text: str) -> str:
    return text[:MAX_READABLE].strip("-") or "conversation"


def readable_id(text: str) -> str:
    """A test-id friendly form of a thread key: no spaces, brackets or slashes; bounded."""
    return _bounded(_UNSAFE_ID.sub("-", text).strip("-"))


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LENGTH]


def case_id(conversation: RecordedConversation, key: str | None = None) -> str:
    """The id of a conversation's test: its thread key as written when that is a short plain id.

    Any other key (``key``: the thread key as shown, e.g. redacted) is made readable and gets a
    short hash of the conversation id, so two keys that read alike stay two ids, the same on
    every run.
    """
    written = conversation.thread_key or conversation.id
    shown = written if key is None else key
    readable = readable_id(shown)
    return readable if readable == written else f"{readable}-{short_hash(conversation.id)}"


def case_file_name(thread_key: str | None, conversation_id: str) -> str:
    """``<readable thread key>-<hash of the conversation id>.json``: unique, stable, bounded."""
    readable = _bounded(_UNSAFE_FILE_NAME.sub("-", thread_key or "").strip("-"))
    return f"{readable}-{short_hash(conversation_id)}.json"


def unreplayable_reason(conversation: RecordedConversation) -> str | None:
    """Why the recorded conversation cannot be re-sent to an agent, or None when it can."""
    if not conversation.turns:
        return "the recorded conversation has no turns"
    if not any(turn.user_messages for turn in conversation.turns):
        return "the recorded conversation has no user turn"
    for position, turn in enumerate(conversation.turns, start=1):
        if not turn.user_messages or not all(isinstance(m, str) for m in turn.user_messages):
            return f"turn {position} has no user message to send"
    if conversation.pending:
        return "the recorded conversation is still pending in the tracing provider"
    return None


@dataclass(frozen=True)
class ReplayCase:
    """``id`` names the case in test ids; ``source`` is the import connector or the frozen file."""

    id: str
    source: str
    conversation: RecordedConversation | None
    sessions: tuple[UserSession, ...] = field(default=())
    skip_reason: str | None = None

    @classmethod
    def of(
        cls,
        conversation: RecordedConversation,
        source: str,
        sessions: tuple[UserSession, ...] = (),
        *,
        shown_key: str | None = None,
    ) -> ReplayCase:
        """``shown_key``: the thread key as test ids may show it (redacted), when not as written."""
        return cls(
            id=case_id(conversation, shown_key),
            source=source,
            conversation=conversation,
            sessions=tuple(sessions),
            skip_reason=unreplayable_reason(conversation),
        )

    @classmethod
    def unreadable(cls, id: str, source: str, reason: str) -> ReplayCase:
        return cls(id=readable_id(id), source=source, conversation=None, skip_reason=reason)

    @property
    def replayable(self) -> bool:
        return self.skip_reason is None

    @property
    def turns(self) -> list[RecordedTurn]:
        return list(self.conversation.turns) if self.conversation is not None else []

    @property
    def started_at(self) -> datetime | None:
        if self.conversation is None:
            return None
        if self.conversation.started_at is not None:
            return self.conversation.started_at
        return next((t.started_at for t in self.conversation.turns if t.started_at), None)

    def __repr__(self) -> str:
        state = "replayable" if self.replayable else f"skipped: {self.skip_reason}"
        return f"<ReplayCase {self.id!r} from {self.source!r}, {len(self.turns)} turns, {state}>"
