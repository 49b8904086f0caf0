"""What a provider gives the sync engine: pages of records over a time window, resumable; and
the `ProviderSpec` that tells the engine, the config checks, the CLI and the service all they
need to know of one provider.

A provider speaks one remote API (LangSmith, Langfuse, FullStory) and knows nothing of the
database; the sync engine knows nothing of the remote API. A page's ``checkpoint`` is opaque
(`encode_checkpoint` / `decode_checkpoint` are the codec providers share): handing it back to
``fetch`` resumes after that page, so a job retried after a crash starts where it stopped.

A provider whose listing says which version of each record it holds (Langfuse's ``updatedAt``)
gives it as the record's ``version``; the engine stores it and, on the next scan, hands ``fetch``
a `StoredVersions` lookup, so the provider skips reading records it would only find unchanged
(their ids go in ``Page.unchanged``). A provider without versions ignores the lookup.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import httpx

from pytest_connectors._support.times import utc
from pytest_connectors.errors import ProviderError as ProviderError  # where providers find it
from pytest_connectors.imports.limits import ProviderLimits
from pytest_connectors.models.imports import (
    PROVIDER_NAME_PATTERN,
    ImportCategory,
    RecordedConversation,
    SessionLink,
    UserSession,
)

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
    # What the provider's listing says of this record's state (at most 64 characters): listed
    # again with the same version, it is unchanged and need not be read. None: no such thing.
    version: str | None = None


@dataclass(frozen=True)
class Page:
    records: list[FetchedRecord] = field(default_factory=list)
    checkpoint: str | None = None  # None: the window has been scanned completely
    # Records the provider served but could not read, by reason ("no_id", "not_json", ...):
    # they are skipped and counted, and the rest of the window goes on.
    skipped: Mapping[str, int] = field(default_factory=dict)
    # Traces listed with the version stored for them (see `StoredVersions`), not read again:
    # provider id -> when the trace started.
    unchanged: Mapping[str, datetime] = field(default_factory=dict)


# Provider ids of traces -> the version stored for each; an id absent is not stored finished
# under any version (new, pending or missing): read it. Called once per listed page.
StoredVersions = Callable[[Collection[str]], Mapping[str, str]]


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
        stored: StoredVersions | None = None,
    ) -> Iterator[Page]:
        """Yield the window's records page by page; stop early when ``should_stop()`` says so.

        ``stored`` is optional to accept: the engine passes it only to a ``fetch`` that takes it.
        """
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Derivation:
    """How traces become conversations and how conversations meet sessions.

    ``extend`` (optional) appends new runs to a conversation derived from runs of known ids,
    exactly as deriving them all would, or answers None and the thread is derived whole.
    """

    thread_key_of: Callable[[Mapping[str, Any]], str]
    derive: Callable[[list[dict[str, Any]]], list[RecordedConversation]]
    link: Callable[[list[RecordedConversation], list[UserSession]], list[SessionLink]]
    extend: (
        Callable[
            [RecordedConversation, Set[str], list[dict[str, Any]]], RecordedConversation | None
        ]
        | None
    ) = None


@dataclass(frozen=True)
class ConfigKey:
    """One key of a provider's config."""

    required: bool = False  # must be set before the first sync
    # Masked wherever the connector is shown, and never copied into a job record.
    secret: bool = False
    # Where the secret is sent: checked against the service's reach rules, and a change of it
    # must give the secret again (a stored key goes only where it was given for).
    url: bool = False
    default: str | None = None  # the value when the key is not set (a URL key's host)


@dataclass(frozen=True)
class ProviderSettings:
    """A connector's config as its job runs it (``${VAR}`` resolved), and what every provider
    takes besides: the HTTP transport (tests pass one) and the job's reply limits."""

    values: Mapping[str, str]
    transport: httpx.BaseTransport | None = None
    limits: ProviderLimits | None = None

    def get(self, key: str) -> str | None:
        return self.values.get(key)


_NAME = re.compile(PROVIDER_NAME_PATTERN)  # fits the connectors table's provider column


@dataclass(frozen=True, eq=False)
class ProviderSpec:
    """Everything provider-specific the package knows: the one thing a provider's folder (or a
    third-party distribution, through the ``pytest_connectors.providers`` entry points) gives.

    ``derivation`` says how its records become conversations; None: the runs of the LangSmith
    shape the built-in providers serve (`pytest_connectors.imports.conversations`).
    ``time_ordered``: its pages come in ascending ``occurred_at``, so a job shows how far through
    its window it is (`pytest_connectors.imports.progress`); otherwise only its counts move.
    """

    name: str
    category: ImportCategory
    config: Mapping[str, ConfigKey]
    build: Callable[[ProviderSettings], Provider]
    derivation: Callable[[], Derivation] | None = None
    time_ordered: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"provider name {self.name!r}: lowercase letters, digits and '-', "
                "starting with a letter, at most 32 characters"
            )
        if not isinstance(self.category, ImportCategory):
            raise ValueError(
                f"provider {self.name!r}: category must be one of "
                f"{', '.join(c.value for c in ImportCategory)}"
            )
        object.__setattr__(self, "config", dict(self.config))

    @property
    def secret_keys(self) -> tuple[str, ...]:
        return tuple(key for key, spec in self.config.items() if spec.secret)

    @property
    def url_keys(self) -> tuple[str, ...]:
        return tuple(key for key, spec in self.config.items() if spec.url)

    @property
    def required_keys(self) -> tuple[str, ...]:
        return tuple(key for key, spec in self.config.items() if spec.required)
