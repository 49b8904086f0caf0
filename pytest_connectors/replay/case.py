"""A replay case: one recorded conversation, where it came from, and whether it can be replayed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from pytest_connectors.models.imports import Conversation, RecordedTurn, UserSession

_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._:@-]+")


def readable_id(text: str) -> str:
    """A test-id and file-name friendly form of a thread key: no spaces, brackets or slashes."""
    return _UNSAFE_ID.sub("-", text).strip("-") or "conversation"


def unreplayable_reason(conversation: Conversation) -> str | None:
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
    conversation: Conversation | None
    sessions: tuple[UserSession, ...] = field(default=())
    skip_reason: str | None = None

    @classmethod
    def of(
        cls,
        conversation: Conversation,
        source: str,
        sessions: tuple[UserSession, ...] = (),
    ) -> ReplayCase:
        return cls(
            id=readable_id(conversation.thread_key or conversation.id),
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
