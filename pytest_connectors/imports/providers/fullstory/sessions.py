"""FullStory export events folded into sessions: pure functions, no I/O.

A Segment Export of type ``TYPE_EVENT`` is a flat list of events in no promised order; a session
(``UserId:SessionId``; a ``SessionId`` alone is not unique) is only whole once every event has been
seen. The aggregator keeps one small summary per session, never the events; a whole export is
folded one session at a time from a spool on disk (`fullstory_spool`), so memory does not grow
with the export at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from pytest_connectors._support.times import parse_utc
from pytest_connectors.imports.provider import Window
from pytest_connectors.imports.session_events import property_name, thread_references
from pytest_connectors.models.imports import UserSession

APP_URL = "https://app.fullstory.com"
# FullStory closes a session after this much inactivity: a session whose last event is closer
# than this to the end of the window may still be going on.
SESSION_IDLE = timedelta(minutes=30)
MAX_PAGE_URLS = 100  # the first pages of a session, by time
_MAX_TRACKED_URLS = 1000  # distinct URLs followed per session before new ones are ignored
MAX_CUSTOM_EVENTS = 50  # ordinary custom events kept per session
MAX_THREAD_EVENTS = 500  # custom events naming a thread (what linking needs): a bound of their own


def session_url(org_id: str, user_id: str, session_id: str) -> str:
    return f"{APP_URL}/ui/{org_id}/session/{user_id}:{session_id}"


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value > 0
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return False


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()  # ids are int64 numbers in the export: keep every digit
    return text or None


def _properties(event: Mapping[str, Any]) -> dict[str, Any]:
    raw = event.get("CustomVars")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return {}
    if not isinstance(raw, dict):
        return {}
    return {property_name(str(key)): value for key, value in raw.items()}


def _event_key(event: Mapping[str, Any]) -> tuple[str, str, str]:
    properties = json.dumps(event["properties"], sort_keys=True, default=str)
    return event["at"], event["name"], properties


class _Earliest:
    """The ``limit`` earliest custom events, whatever order they arrive in (exports promise none),
    so the same data always gives the same session."""

    __slots__ = ("_events", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._events: list[dict[str, Any]] = []

    def add(self, event: dict[str, Any]) -> None:
        self._events.append(event)
        if len(self._events) >= 2 * self.limit:
            self._events = self.items()

    def items(self) -> list[dict[str, Any]]:
        return sorted(self._events, key=_event_key)[: self.limit]


# What `_Summary.add` reads of an event (besides its time): all a spool needs to keep of it.
SUMMARY_FIELDS = (
    "SessionStart",
    "UserAppKey",
    "UserEmail",
    "SessionUrl",
    "EventModFrustrated",
    "EventModDead",
    "EventModError",
    "PageUrl",
    "PageId",
    "EventType",
    "EventCustomName",
    "CustomVars",
)


@dataclass(slots=True)
class _Summary:
    user_id: str
    session_id: str
    declared_start: datetime | None = None
    declared_raw: Any = None
    first: datetime | None = None
    last: datetime | None = None
    app_user_id: str | None = None
    email: str | None = None
    url: str | None = None
    events: int = 0
    frustrated: int = 0
    dead: int = 0
    errors: int = 0
    pages: set[str] = field(default_factory=set)
    page_urls: dict[str, datetime] = field(default_factory=dict)  # url -> first visit
    thread_events: _Earliest = field(default_factory=lambda: _Earliest(MAX_THREAD_EVENTS))
    other_events: _Earliest = field(default_factory=lambda: _Earliest(MAX_CUSTOM_EVENTS))
    custom_seen: int = 0

    def add(self, event: Mapping[str, Any], at: datetime) -> None:
        self.events += 1
        if self.first is None or at < self.first:
            self.first = at
        if self.last is None or at > self.last:
            self.last = at
        raw_start = event.get("SessionStart")
        if raw_start is not None and raw_start != self.declared_raw:  # the same on every event
            self.declared_raw = raw_start
            declared = parse_utc(raw_start)
            if declared is not None and (
                self.declared_start is None or declared < self.declared_start
            ):
                self.declared_start = declared
        if self.app_user_id is None:
            self.app_user_id = _text(event.get("UserAppKey"))
        if self.email is None:
            self.email = _text(event.get("UserEmail"))
        if self.url is None:
            self.url = _text(event.get("SessionUrl"))
        if _flag(event.get("EventModFrustrated")):
            self.frustrated += 1
        if _flag(event.get("EventModDead")):
            self.dead += 1
        if _flag(event.get("EventModError")):
            self.errors += 1
        page_url = _text(event.get("PageUrl"))
        page = _text(event.get("PageId")) or page_url
        if page is not None:
            self.pages.add(page)
        if page_url is not None:
            seen = self.page_urls.get(page_url)
            if seen is None:
                if len(self.page_urls) < _MAX_TRACKED_URLS:
                    self.page_urls[page_url] = at
            elif at < seen:
                self.page_urls[page_url] = at
        if str(event.get("EventType", "")).lower() == "custom":
            self._add_custom(event, at, page_url)

    def _add_custom(self, event: Mapping[str, Any], at: datetime, page_url: str | None) -> None:
        self.custom_seen += 1
        properties = _properties(event)
        kept = self.thread_events if thread_references(properties) else self.other_events
        kept.add(
            {
                "name": _text(event.get("EventCustomName")) or "",
                "at": at.isoformat().replace("+00:00", "Z"),
                "pageUrl": page_url,
                "properties": properties,
            }
        )

    def first_pages(self) -> list[str]:
        ordered = sorted(self.page_urls.items(), key=lambda item: (item[1], item[0]))
        return [url for url, _ in ordered[:MAX_PAGE_URLS]]

    def custom_events(self) -> list[dict[str, Any]]:
        return sorted([*self.thread_events.items(), *self.other_events.items()], key=_event_key)

    @property
    def start(self) -> datetime | None:
        return self.declared_start or self.first


@dataclass(frozen=True)
class AggregatedSession:
    session: UserSession
    pending: bool  # may still be going on at the end of the window


class SessionAggregator:
    """Feed it export events with `add`; `sessions()` then gives one summary per session.

    With a window, only events inside it count, and a session belongs to the window that holds
    its start (``SessionStart`` when the export has it, else its first event): every session is
    reported by exactly one window, however long it lasted.

    It holds a summary of every session: a whole export is folded by
    `.spool.SessionSpool`, which uses `place` and `fold` to
    hold one session at a time.
    """

    def __init__(self, *, window: Window | None = None, org_id: str | None = None) -> None:
        self.window = window
        self.org_id = org_id
        self.skipped = 0  # events without a session or a readable time
        self._sessions: dict[tuple[str, str], _Summary] = {}

    def place(self, event: Mapping[str, Any]) -> tuple[str, str, datetime] | None:
        """The event's user id, session id and time; None for an event that does not count
        (unreadable ones are counted in ``skipped``)."""
        user_id = _text(event.get("UserId")) or _text(event.get("IndvId"))
        session_id = _text(event.get("SessionId"))
        at = parse_utc(event.get("EventStart"))
        if user_id is None or session_id is None or at is None:
            self.skipped += 1
            return None
        if self.window is not None and not (self.window.start <= at < self.window.end):
            return None
        return user_id, session_id, at

    def add(self, event: Mapping[str, Any]) -> None:
        placed = self.place(event)
        if placed is None:
            return
        user_id, session_id, at = placed
        key = (user_id, session_id)
        summary = self._sessions.get(key)
        if summary is None:
            summary = self._sessions[key] = _Summary(user_id, session_id)
        summary.add(event, at)

    def add_all(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            self.add(event)

    def fold(
        self,
        user_id: str,
        session_id: str,
        events: Iterable[tuple[Mapping[str, Any], datetime]],
    ) -> AggregatedSession | None:
        """One session from all of its placed events, in export order; None if it belongs to
        an earlier window."""
        summary = _Summary(user_id, session_id)
        for event, at in events:
            summary.add(event, at)
        return self._finish(summary) if self._kept(summary) else None

    def __len__(self) -> int:
        return len(self._sessions)

    def _kept(self, summary: _Summary) -> bool:
        # A session begun earlier is reported by the window that holds its start.
        window = self.window
        return window is None or summary.start is None or summary.start >= window.start

    def sessions(self) -> Sequence[AggregatedSession]:
        """Sessions ordered by start, then id: the same export always gives the same order.

        Each is built when it is read, so a page of records costs memory only while it is used.
        """
        kept = [summary for summary in self._sessions.values() if self._kept(summary)]
        earliest = datetime.min.replace(tzinfo=UTC)
        kept.sort(key=lambda s: (s.start or earliest, f"{s.user_id}:{s.session_id}"))
        return _Finished(kept, self._finish)

    def _finish(self, summary: _Summary) -> AggregatedSession:
        start = summary.start
        window = self.window
        url = summary.url
        if url is None and self.org_id:
            url = session_url(self.org_id, summary.user_id, summary.session_id)
        session = UserSession(
            id=f"{summary.user_id}:{summary.session_id}",
            user_id=summary.user_id,
            app_user_id=summary.app_user_id,
            user_email=summary.email,
            started_at=start,
            ended_at=summary.last,
            url=url,
            page_count=len(summary.pages),
            event_count=summary.events,
            frustrated_clicks=summary.frustrated,
            dead_clicks=summary.dead,
            error_clicks=summary.errors,
            page_urls=summary.first_pages(),
            custom_events=summary.custom_events(),
            custom_event_count=summary.custom_seen,
        )
        pending = (
            window is not None
            and summary.last is not None
            and window.end - summary.last < SESSION_IDLE
        )
        return AggregatedSession(session, pending)


class _Finished(Sequence[AggregatedSession]):
    def __init__(
        self, summaries: list[_Summary], finish: Callable[[_Summary], AggregatedSession]
    ) -> None:
        self._summaries = summaries
        self._finish = finish

    def __len__(self) -> int:
        return len(self._summaries)

    @overload
    def __getitem__(self, index: int) -> AggregatedSession: ...

    @overload
    def __getitem__(self, index: slice) -> list[AggregatedSession]: ...

    def __getitem__(self, index: int | slice) -> AggregatedSession | list[AggregatedSession]:
        if isinstance(index, slice):
            return [self._finish(summary) for summary in self._summaries[index]]
        return self._finish(self._summaries[index])
