"""Redaction of recorded conversations before anything is written outside the database.

A :class:`Redaction` runs, in order: your hook (any function that takes a Conversation and
returns the one to write, e.g. to drop a metadata key), the exact secret values you list, then
the patterns: every string of the conversation and its linked sessions (messages, answers, tool
arguments and results, errors, metadata, tags, ids) has each match replaced by the mask of
:mod:`pytest_connectors._support.secrets`. By default the patterns catch email addresses and
common secret shapes (bearer tokens, ``sk-``/``ghp_``-style API keys, AWS access keys, JWTs and
``password=...``-style assignments); pass ``patterns=`` to replace them, or
``extra_patterns=`` to add to them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pytest_connectors._support.secrets import MASK, Redactor
from pytest_connectors.models.imports import Conversation, UserSession

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
DEFAULT_PATTERNS: tuple[str, ...] = (
    EMAIL,
    r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}",
    r"\b(?:sk|pk|rk|lsv2|ls|ghp|gho|ghs|xox[abpr])[-_][A-Za-z0-9_-]{12,}",
    r"\bAKIA[0-9A-Z]{16}\b",
    r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}",
)
# key=value or "key": "value" where the key names a secret: only the value is masked.
ASSIGNMENT = re.compile(
    r"(?i)\b((?:api[_-]?key|secret|token|password|passwd|pwd)\"?\s*[:=]\s*\"?)[^\s\"',;}]{4,}"
)

Hook = Callable[[Conversation], Conversation]


def _compile(patterns: Iterable[str | re.Pattern[str]]) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(pattern if isinstance(pattern, re.Pattern) else re.compile(pattern))
        except re.error as exc:
            raise ValueError(
                f"redaction pattern {pattern!r} is not a regular expression: {exc}"
            ) from None
    return tuple(compiled)


class Redaction:
    """What to scrub before a conversation is exported; call :meth:`conversation`."""

    def __init__(
        self,
        patterns: Sequence[str | re.Pattern[str]] | None = None,
        *,
        extra_patterns: Sequence[str | re.Pattern[str]] = (),
        secrets: Iterable[str] = (),
        hook: Hook | None = None,
    ) -> None:
        chosen: list[str | re.Pattern[str]] = (
            list(DEFAULT_PATTERNS) if patterns is None else list(patterns)
        )
        self._assignment = ASSIGNMENT if patterns is None else None
        self._patterns = _compile([*chosen, *extra_patterns])
        self._secrets = Redactor(secrets)
        self._hook = hook

    def text(self, value: str) -> str:
        value = self._secrets.scrub(value)
        if self._assignment is not None:
            value = self._assignment.sub(lambda m: m.group(1) + MASK, value)
        for pattern in self._patterns:
            value = pattern.sub(MASK, value)
        return value

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, dict):
            return {k: self._walk(v) for k, v in value.items()}
        return value

    def conversation(self, conversation: Conversation) -> Conversation:
        if self._hook is not None:
            conversation = self._hook(conversation)
            if not isinstance(conversation, Conversation):
                raise TypeError("the redaction hook must return the Conversation to write")
        scrubbed = self._walk(conversation.model_dump(mode="json", by_alias=True))
        return Conversation.model_validate(scrubbed)

    def session(self, session: UserSession) -> UserSession:
        scrubbed = self._walk(session.model_dump(mode="json", by_alias=True))
        return UserSession.model_validate(scrubbed)
