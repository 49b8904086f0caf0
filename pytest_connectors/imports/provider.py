"""What a provider gives the sync engine: pages of records over a time window, resumable.

A provider speaks one remote API (LangSmith, Langfuse, FullStory) and knows nothing of the
database; the sync engine knows nothing of the remote API. A page's ``checkpoint`` is opaque:
handing it back to ``fetch`` resumes after that page, so a job retried after a crash starts
where it stopped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from pytest_connectors._support.times import utc
from pytest_connectors.errors import ProviderError as ProviderError  # where providers find it

_CHECKPOINT_VERSION = 1

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


def encode_checkpoint(window: Window, **state: Any) -> str:
    """A page's checkpoint: the provider's ``state`` (JSON values), tied to the window it scans."""
    start, end = _window_key(window)
    body = {"v": _CHECKPOINT_VERSION, "start": start, "end": end, **state}
    return json.dumps(body, separators=(",", ":"))


def decode_checkpoint(text: str | None, window: Window) -> dict[str, Any] | None:
    """The state a checkpoint of this window holds; None for anything else, so the scan starts
    over (harmless: a re-scan writes the same records)."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("v") != _CHECKPOINT_VERSION:
        return None
    if (data.get("start"), data.get("end")) != _window_key(window):
        return None
    return {key: value for key, value in data.items() if key not in ("v", "start", "end")}


def _window_key(window: Window) -> tuple[str, str]:
    return utc(window.start).isoformat(), utc(window.end).isoformat()


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
