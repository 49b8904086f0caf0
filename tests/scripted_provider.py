"""An in-memory provider and derivation for the store and jobs suites.

The sync engine is tested against this script of pages and faults; the real providers are tested
against the LangSmith and FullStory fakes (tests/imports/), and end to end in tests/integration/.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_connectors.imports.provider import (
    Derivation,
    FetchedRecord,
    Page,
    ProviderError,
    Window,
)
from pytest_connectors.models.imports import (
    RecordedConversation,
    RecordedTurn,
    SessionLink,
    UserSession,
)

BASE = datetime(2026, 3, 1, tzinfo=UTC)


def run(
    number: int,
    *,
    thread: str | None = None,
    at: datetime | None = None,
    answer: str | None = None,
    pending: bool = False,
    session_url: str | None = None,
) -> dict[str, Any]:
    """A LangSmith-like root run: question ``q<number>``, answer ``a<number>``."""
    metadata: dict[str, Any] = {}
    if thread is not None:
        metadata["thread_id"] = thread
    if session_url is not None:
        metadata["fullstory_session_url"] = session_url
    start = at or BASE + timedelta(minutes=number)
    return {
        "id": f"run-{number:05d}",
        "start_time": start.isoformat(),
        "status": "pending" if pending else "success",
        "inputs": {"q": f"q{number}"},
        "outputs": None if pending else {"a": answer or f"a{number}"},
        "extra": {"metadata": metadata},
    }


def session(user: str, number: int, *, at: datetime | None = None) -> dict[str, Any]:
    start = at or BASE + timedelta(minutes=number)
    return {
        "id": f"{user}:{number}",
        "userId": user,
        "startedAt": start.isoformat(),
        "eventCount": number,
        "url": f"https://app.fullstory.com/ui/o/session/{user}:{number}",
    }


@dataclass
class ScriptedProvider:
    """Serves ``records`` of a window ``page_size`` at a time; checkpoints are offsets.

    ``faults`` maps a page number (0-based, counted over the provider's life) to an exception
    raised instead of that page; ``on_page`` runs before each page is served.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "trace"
    page_size: int = 3
    faults: dict[int, Exception] = field(default_factory=dict)
    on_page: Callable[[int], None] | None = None
    pages_served: int = 0
    resumed_from: list[str | None] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _time(self, record: Mapping[str, Any]) -> datetime:
        return datetime.fromisoformat(record.get("start_time") or record["startedAt"])

    def fetch(
        self,
        window: Window,
        *,
        resume_from: str | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[Page]:
        self.windows.append(window)
        self.resumed_from.append(resume_from)
        chosen = [r for r in self.records if window.start <= self._time(r) < window.end]
        chosen.sort(key=self._time)
        offset = int(resume_from or 0)
        while True:
            if should_stop():
                return
            number = self.pages_served
            self.pages_served += 1
            if self.on_page is not None:
                self.on_page(number)
            fault = self.faults.pop(number, None)
            if fault is not None:
                raise fault
            part = chosen[offset : offset + self.page_size]
            offset += len(part)
            done = offset >= len(chosen)
            yield Page(
                records=[self._fetched(r) for r in part],
                checkpoint=None if done else str(offset),
            )
            if done:
                return

    def _fetched(self, record: dict[str, Any]) -> FetchedRecord:
        return FetchedRecord(
            kind="trace" if self.kind == "trace" else "session",
            provider_id=record["id"],
            occurred_at=self._time(record),
            payload=record,
            pending=record.get("status") == "pending",
        )

    def close(self) -> None:
        self.closed = True


def transient(code: str = "server_error") -> ProviderError:
    return ProviderError(code, "the provider answered 503; retrying", transient=True)


def permanent(code: str = "auth_failed") -> ProviderError:
    return ProviderError(code, "the API key was refused (401); check apiKey", transient=False)


def _thread_key(payload: Mapping[str, Any]) -> str:
    metadata = (payload.get("extra") or {}).get("metadata") or {}
    return str(metadata.get("thread_id") or payload["id"])


def _derive(runs: list[dict[str, Any]]) -> list[RecordedConversation]:
    turns = [
        RecordedTurn(
            index=i,
            user_messages=[r["inputs"]["q"]],
            answer=(r.get("outputs") or {}).get("a"),
            trace_id=r["id"],
        )
        for i, r in enumerate(sorted(runs, key=lambda r: r["start_time"]))
    ]
    metadata = (runs[0].get("extra") or {}).get("metadata") or {}
    return [
        RecordedConversation(
            id=_thread_key(runs[0]),
            thread_key=_thread_key(runs[0]),
            started_at=datetime.fromisoformat(min(r["start_time"] for r in runs)),
            turns=turns,
            metadata=metadata,
        )
    ]


def _link(
    conversations: list[RecordedConversation], sessions: list[UserSession]
) -> list[SessionLink]:
    by_url = {s.url: s for s in sessions if s.url}
    links = []
    for conversation in conversations:
        found = by_url.get(conversation.metadata.get("fullstory_session_url"))
        if found is not None:
            links.append(
                SessionLink(conversation_id=conversation.id, session_id=found.id, method="metadata")
            )
    return links


DERIVATION = Derivation(thread_key_of=_thread_key, derive=_derive, link=_link)
