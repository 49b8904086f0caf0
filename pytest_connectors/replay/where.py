"""Which cases to replay: filters over the recorded conversation and its linked sessions, a limit.

``where`` is a :class:`Where`, a mapping of its field names (``{"tool": "get_weather"}``), or a
callable taking a :class:`ReplayCase` and returning a bool. Every given field must hold. Cases
come in a stable order (start time, then id); ``limit`` takes the first N, or a sample of N
drawn with ``seed`` when one is given (the same seed always draws the same cases).

``origin`` keeps the conversations of one origin: ``"imported"`` by a connector, or ``"native"``
(written by test sessions or the OTLP receiver). Without ``source=`` or ``path=``, the replay
marker reads the native ones from the database or the service (:func:`native_selection`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from pytest_connectors._support.times import utc
from pytest_connectors.errors import InvalidInputError
from pytest_connectors.replay.case import ReplayCase


def _instant(value: datetime | str | None, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(
                f"where {name}={value!r} is not an ISO date or time (e.g. 2026-11-24T09:00Z)"
            ) from None
    return utc(value)


@dataclass(frozen=True)
class Where:
    """Conditions on a case; ``None`` means "any"."""

    since: datetime | str | None = None  # conversation started at or after
    until: datetime | str | None = None  # conversation started before
    agent: str | None = None  # the agent id it was recorded for
    origin: str | None = None  # "imported" or "native"
    tool: str | None = None  # some turn called the tool of this name
    error: bool | None = None  # its last turn ended in an error (False: it did not)
    tag: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)  # every key has this value
    min_turns: int | None = None
    max_turns: int | None = None
    session_errors: bool | None = None  # a linked FullStory session had error clicks
    frustrated_clicks: bool | None = None  # ... had frustrated (rage) clicks
    dead_clicks: bool | None = None  # ... had dead clicks
    page_url: str | None = None  # ... visited a page whose URL contains this text

    @classmethod
    def of(cls, value: Where | Mapping[str, Any] | None) -> Where:
        if value is None:
            return cls()
        if isinstance(value, Where):
            return value
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise InvalidInputError(
                f"unknown where filter {unknown[0]!r}; known filters: {', '.join(sorted(known))}"
            )
        return cls(**dict(value))

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", _instant(self.since, "since"))
        object.__setattr__(self, "until", _instant(self.until, "until"))
        if self.origin not in (None, *ORIGINS):
            raise InvalidInputError(
                f"where origin={self.origin!r} is not one of {', '.join(map(repr, ORIGINS))}"
            )

    def __call__(self, case: ReplayCase) -> bool:
        conversation = case.conversation
        if conversation is None:
            return False
        turns = conversation.turns
        started = case.started_at
        since, until = self.since, self.until
        assert since is None or isinstance(since, datetime)
        assert until is None or isinstance(until, datetime)
        checks = [
            since is None or (started is not None and started >= since),
            until is None or (started is not None and started < until),
            self.agent is None or conversation.agent_id == self.agent,
            self.origin is None or conversation.origin == self.origin,
            self.tool is None or any(c.name == self.tool for t in turns for c in t.tool_calls),
            self.error is None or bool(turns and turns[-1].error) == self.error,
            self.tag is None or self.tag in conversation.tags,
            all(conversation.metadata.get(k) == v for k, v in self.metadata.items()),
            self.min_turns is None or len(turns) >= self.min_turns,
            self.max_turns is None or len(turns) <= self.max_turns,
            self.session_errors is None
            or any(s.error_clicks for s in case.sessions) == self.session_errors,
            self.frustrated_clicks is None
            or any(s.frustrated_clicks for s in case.sessions) == self.frustrated_clicks,
            self.dead_clicks is None
            or any(s.dead_clicks for s in case.sessions) == self.dead_clicks,
            self.page_url is None
            or any(
                self.page_url in url
                for s in case.sessions
                for url in [*(s.page_urls or []), *([s.url] if s.url else [])]
            ),
        ]
        return all(checks)


Predicate = Callable[[ReplayCase], bool]
WhereArg = Where | Mapping[str, Any] | Predicate | None
ORIGINS = ("imported", "native")


def native_selection(where: WhereArg) -> Where | None:
    """``where`` as conditions when they ask for native conversations, else None."""
    if where is None or (callable(where) and not isinstance(where, Where)):
        return None
    if isinstance(where, Mapping) and where.get("origin") != "native":
        return None  # not read: its mistakes are told where the cases are selected
    conditions = Where.of(where)
    return conditions if conditions.origin == "native" else None


def predicate(where: WhereArg) -> Predicate:
    if callable(where) and not isinstance(where, Where):
        return where
    return Where.of(where)


def _order(case: ReplayCase) -> tuple[datetime, str]:
    return (case.started_at or datetime.min.replace(tzinfo=UTC), case.id)


def select(
    cases: Iterable[ReplayCase],
    where: WhereArg = None,
    limit: int | None = None,
    seed: int | str | None = None,
) -> list[ReplayCase]:
    """The cases to replay, in a stable order. Unreadable cases are kept: they report a skip."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InvalidInputError(f"limit must be a whole number >= 0; got {limit!r}")
    test = predicate(where)
    everything = list(cases)
    unreadable = [c for c in everything if c.conversation is None]
    chosen = sorted((c for c in everything if c.conversation is not None and test(c)), key=_order)
    if limit is not None and len(chosen) > limit:
        if seed is None:
            chosen = chosen[:limit]
        else:
            chosen = sorted(random.Random(str(seed)).sample(chosen, limit), key=_order)
    return chosen + sorted(unreadable, key=lambda c: c.id)
