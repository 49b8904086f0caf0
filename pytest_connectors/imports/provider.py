"""What a provider gives the sync engine: pages of records over a time window, resumable.

A provider speaks one remote API (LangSmith, FullStory) and knows nothing of the database; the
sync engine knows nothing of the remote API. A page's ``checkpoint`` is opaque: handing it back
to ``fetch`` resumes after that page, so a job retried after a crash starts where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

RecordKind = Literal["trace", "session"]

# One INFO line per retry, on a logger of its own: what is tried again, why, and when it gives
# up ("retry 2 of 5"). The CLI shows them while a user waits for a job (`--wait`).
retry_log = logging.getLogger("pytest_connectors.imports.retry")


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class FetchedRecord:
    kind: RecordKind
    provider_id: str  # LangSmith run id; FullStory "UserId:SessionId"
    occurred_at: datetime  # UTC; decides whether the record belongs to a window
    payload: dict[str, Any]  # JSON as the provider served it (a trace) or as aggregated (a session)
    pending: bool = False  # not finished remotely yet: a later sync must fetch it again


@dataclass(frozen=True)
class Page:
    records: list[FetchedRecord] = field(default_factory=list)
    checkpoint: str | None = None  # None: the window has been scanned completely
    # Records the provider served but could not read, by reason ("no_id", "not_json", ...):
    # they are skipped and counted, and the rest of the window goes on.
    skipped: Mapping[str, int] = field(default_factory=dict)


class ProviderError(Exception):
    """A provider call failed. ``transient`` failures are retried; others fail the job at once.

    ``code`` is stable and machine-readable (``auth_failed``, ``project_not_found``,
    ``plan_without_export``, ``rate_limited``, ``server_error``, ``timeout``, ``malformed_page``,
    ``reply_too_large``, ``too_many_pages``, ...); the message is one line saying what happened
    and what to do, never holding a secret nor quoting the provider's reply.
    """

    def __init__(self, code: str, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient


class Provider(Protocol):
    def fetch(
        self,
        window: Window,
        *,
        resume_from: str | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[Page]:
        """Yield the window's records page by page; stop early when ``should_stop()`` says so."""
        ...

    def close(self) -> None: ...
