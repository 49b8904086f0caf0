"""Redaction of recorded conversations before anything is written outside the database.

A :class:`Redaction` runs, in order: your hook (any function that takes a RecordedConversation and
returns the one to write, e.g. to drop a metadata key), the exact secret values you list, then
the patterns: every string of the conversation and its linked sessions (messages, answers, tool
arguments and results, errors, metadata keys and values, tags, ids) has each match replaced by
the mask of :mod:`pytest_connectors._support.secrets`. By default the patterns are that module's
:data:`~pytest_connectors._support.secrets.SHAPES` (emails, phone, card and account numbers,
credentials and API keys of many issuers); pass ``patterns=`` to replace them, or
``extra_patterns=`` to add to them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pytest_connectors._support.secrets import MASK, SHAPES, Redactor, Shape, mask_shapes
from pytest_connectors.models.imports import RecordedConversation, UserSession

Hook = Callable[[RecordedConversation], RecordedConversation]


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
        self._shapes: tuple[Shape, ...] = SHAPES if patterns is None else ()
        self._patterns = _compile([*(patterns or ()), *extra_patterns])
        self._secrets = Redactor(secrets)
        self._hook = hook

    def text(self, value: str) -> str:
        value = mask_shapes(self._secrets.scrub(value), self._shapes)
        for pattern in self._patterns:
            value = pattern.sub(MASK, value)
        return value

    def json(self, value: Any) -> Any:
        """A copy of a JSON value (strings, lists, dicts) with every string and key scrubbed."""
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, dict):
            walked: dict[str, Any] = {}
            for key, item in value.items():
                # An email used as a key is masked too; masked keys stay apart (****, ****-2).
                name, copy = self.text(key), 1
                while name in walked:
                    copy += 1
                    name = f"{self.text(key)}-{copy}"
                walked[name] = self._walk(item)
            return walked
        return value

    def conversation(self, conversation: RecordedConversation) -> RecordedConversation:
        if self._hook is not None:
            conversation = self._hook(conversation)
            if not isinstance(conversation, RecordedConversation):
                raise TypeError("the redaction hook must return the RecordedConversation to write")
        scrubbed = self._walk(conversation.model_dump(mode="json", by_alias=True))
        return RecordedConversation.model_validate(scrubbed)

    def session(self, session: UserSession) -> UserSession:
        scrubbed = self._walk(session.model_dump(mode="json", by_alias=True))
        return UserSession.model_validate(scrubbed)
