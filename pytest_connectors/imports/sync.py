"""One sync job's run: fetch pages from the provider, upsert them, derive conversations.

Each page is stored in one transaction together with the job's checkpoint, so a job retried after
a crash resumes after the last stored page and nothing is written twice. Semantics:

- every write is an upsert keyed on provider ids; unchanged records are counted, not written;
  a provider that versions its records is told the versions stored for each listed page and
  does not even read those unchanged (it names them in ``Page.unchanged``);
- records of a completely scanned window that the provider no longer returns are marked
  missing (a later scan that sees them again revives them); an attempt that resumed from a
  checkpoint did not see the whole window itself and marks nothing;
- the connector's watermark only advances over a completely scanned window that starts at or
  before it, and never past a trace or session still pending, so the next sync without a window
  starts at or before it and fetches it again;
- conversations of the threads a page touched are derived again from all their stored traces,
  except that a thread the run derived before and to which the page only adds later runs is
  extended by them (a long thread costs its new runs only, with the same result), and session
  links of the agent are refreshed when the job ends;
- a record that cannot be stored (text with a lone surrogate, nesting too deep to serialise) is
  skipped and counted by reason in the job's stats, like those the provider skipped itself:
  one bad record never fails a window.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from pytest_connectors.imports.conversations import (
    derive_conversations,
    extend_conversation,
    thread_key_of,
)
from pytest_connectors.imports.linking import link_sessions
from pytest_connectors.imports.prefetch import read_ahead
from pytest_connectors.imports.progress import window_progress
from pytest_connectors.imports.provider import (
    Derivation,
    FetchedRecord,
    Page,
    Provider,
    ProviderSpec,
    StoredVersions,
    Window,
)
from pytest_connectors.models.connector import utc_now
from pytest_connectors.models.imports import (
    ImportConnector,
    JobStats,
    JobStatus,
    RecordedConversation,
    Scope,
    SessionLink,
    UserSession,
)
from pytest_connectors.storage import connectors as connector_rows
from pytest_connectors.storage import conversations as conversation_rows
from pytest_connectors.storage import jobs as job_rows
from pytest_connectors.storage import records
from pytest_connectors.storage.jobs import JobRecord
from pytest_connectors.storage.schema import imported_traces, user_sessions
from pytest_connectors.storage.store import Connection, Store

log = logging.getLogger(__name__)

# Late data: a sync from the watermark looks this far back again.
OVERLAP = timedelta(minutes=10)
# The first sync without a window reaches this far into the past.
LOOKBACK = timedelta(days=7)
# Turns of the conversations a run keeps derived, to extend them with the next pages.
DERIVED_TURNS_KEPT = 50_000


def default_derivation() -> Derivation:
    return Derivation(
        thread_key_of=thread_key_of,
        derive=lambda runs: derive_conversations(runs),
        link=lambda conversations, sessions: link_sessions(conversations, sessions),
        extend=extend_conversation,
    )


def derivation_of(spec: ProviderSpec) -> Derivation:
    """How the records of ``spec``'s provider become conversations."""
    return spec.derivation() if spec.derivation is not None else default_derivation()


# Only imported conversations have ids with this prefix: a native write cannot take one first.
IMPORTED_ID_PREFIX = "cnv_"


@dataclass
class _Derived:
    """A conversation as this run stored it, and the ids of the runs it was derived from."""

    conversation: RecordedConversation
    run_ids: set[str]


class _DerivedThreads:
    """The conversations a run derived lately, by thread key, within a budget of turns.

    Lives as long as the run: a page that fails ends the run, so nothing here outlives a
    rolled-back write.
    """

    def __init__(self, max_turns: int = DERIVED_TURNS_KEPT) -> None:
        self._threads: OrderedDict[str, _Derived] = OrderedDict()
        self._turns = 0
        self._max_turns = max_turns

    def get(self, key: str) -> _Derived | None:
        return self._threads.get(key)

    def put(self, key: str, derived: _Derived) -> None:
        self.drop(key)
        size = len(derived.conversation.turns)
        if size > self._max_turns:
            return
        self._threads[key] = derived
        self._turns += size
        while self._turns > self._max_turns:
            _, oldest = self._threads.popitem(last=False)
            self._turns -= len(oldest.conversation.turns)

    def drop(self, key: str) -> None:
        gone = self._threads.pop(key, None)
        if gone is not None:
            self._turns -= len(gone.conversation.turns)

    def clear(self) -> None:
        self._threads.clear()
        self._turns = 0


def conversation_id(connector_id: str, thread_key: str) -> str:
    """RecordedConversation ids are namespaced per connector: two projects may reuse a thread id."""
    digest = hashlib.sha256(f"{connector_id}\x00{thread_key}".encode()).hexdigest()
    return f"{IMPORTED_ID_PREFIX}{digest[:32]}"


def canonical_json(payload: Mapping[str, Any]) -> str:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def content_hash(record: FetchedRecord, text: str | None = None) -> str:
    """What decides "unchanged": the record's canonical JSON and its pending flag."""
    text = canonical_json(record.payload) if text is None else text
    return hashlib.sha256(f"{int(record.pending)}{text}".encode()).hexdigest()


class LeaseLost(Exception):
    """Another worker owns the job now (this one was presumed dead); stop without writing."""


class SyncOutcome(Enum):
    COMPLETED = "completed"  # the window was scanned completely; the job is finished
    STOPPED = "stopped"  # a stop was asked for (disconnect) and honoured after a page
    PAUSED = "paused"  # the in-process runner ran out of time; the job goes back to the queue


@dataclass
class RunState:
    stop_requested: bool = False
    lease_lost: bool = False
    deadline: datetime | None = None

    def should_stop(self) -> bool:
        if self.stop_requested or self.lease_lost:
            return True
        return self.deadline is not None and utc_now() >= self.deadline


@dataclass
class SyncRun:
    store: Store
    record: JobRecord
    connector: ImportConnector
    provider: Provider
    worker_id: str
    lease: timedelta
    derivation: Derivation
    state: RunState = field(default_factory=RunState)
    on_progress: Callable[[JobStats], None] | None = None
    time_ordered: bool = False  # the provider's pages tell how far through the window it is
    stats: JobStats = field(init=False)
    window: Window = field(init=False)

    def __post_init__(self) -> None:
        self.stats = self.record.job.stats.model_copy()
        self._seen_traces: set[str] = set()
        self._seen_sessions: set[str] = set()
        self._derived = _DerivedThreads()

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> SyncOutcome:
        self.window = self._window()
        checkpoint = self.record.checkpoint
        resumed = checkpoint is not None
        self._save(None, {"scan_from": self.window.start, "scan_to": self.window.end})
        # The provider reads the next page while this one is stored.
        reading = read_ahead(lambda stop: self._pages(checkpoint, stop), self.state.should_stop)
        with reading as pages:
            for page in pages:
                self._store_page(page)
                if page.checkpoint is None:
                    break
                if self.state.should_stop():
                    return self._interrupted()
            else:
                if self.state.should_stop():
                    return self._interrupted()
        self._complete(mark_missing=not resumed)
        return SyncOutcome.COMPLETED

    def _pages(self, checkpoint: str | None, should_stop: Callable[[], bool]) -> Iterator[Page]:
        fetch = self.provider.fetch
        if "stored" not in inspect.signature(fetch).parameters:  # written before versions
            return fetch(self.window, resume_from=checkpoint, should_stop=should_stop)
        stored: StoredVersions = self._stored_versions
        return fetch(self.window, resume_from=checkpoint, should_stop=should_stop, stored=stored)

    def _stored_versions(self, provider_ids: Collection[str]) -> Mapping[str, str]:
        with self.store.read() as connection:
            return records.stored_versions(connection, self.connector.id, provider_ids)

    def _interrupted(self) -> SyncOutcome:
        if self.state.lease_lost:
            raise LeaseLost(self.record.id)
        return SyncOutcome.STOPPED if self.state.stop_requested else SyncOutcome.PAUSED

    def _window(self) -> Window:
        if self.record.scan_from is not None and self.record.scan_to is not None:
            return Window(self.record.scan_from, self.record.scan_to)
        now = utc_now()
        with self.store.read() as connection:
            watermark = connector_rows.watermark(connection, self.connector.id)
            pending = records.earliest_pending(connection, self.connector.id)
        default_start = watermark - OVERLAP if watermark is not None else now - LOOKBACK
        job = self.record.job
        if job.from_ is not None or job.to is not None:
            return Window(job.from_ or default_start, job.to or now)
        start = min(default_start, pending) if pending is not None else default_start
        return Window(start, now)

    # -- pages -----------------------------------------------------------------------------

    def _store_page(self, page: Page) -> None:
        for reason, count in page.skipped.items():
            self._skip(reason, count)
        self._seen_traces.update(page.unchanged)
        self.stats.unchanged += len(page.unchanged)
        storable = [(record, text) for record in page.records if (text := self._text(record))]
        traces = [(r, text) for r, text in storable if r.kind == "trace"]
        sessions = [(r, text) for r, text in storable if r.kind == "session"]
        now = utc_now()
        with self.store.begin() as connection:
            if traces:
                self._store_traces(connection, traces, now)
            if sessions:
                self._store_sessions(connection, sessions, now)
            self.stats.fetched += len(page.records) + len(page.unchanged)
            if self.time_ordered:
                self.stats.progress = window_progress(
                    self.stats.progress, self.window, [*page.records, *_reached(page)]
                )
            self._save_in(connection, page.checkpoint, {})
        if self.on_progress is not None:
            self.on_progress(self.stats)

    def _text(self, record: FetchedRecord) -> str | None:
        """The record's canonical JSON; None (skipped, counted) if it cannot be stored.

        A record skipped here still counts as seen: it exists remotely, so it is not marked
        missing.
        """
        seen = self._seen_traces if record.kind == "trace" else self._seen_sessions
        try:
            record.provider_id.encode()
            seen.add(record.provider_id)
            text = canonical_json(record.payload)
            text.encode()
        except UnicodeEncodeError:
            reason = "invalid_text"  # a lone surrogate: no database stores it as UTF-8
        except RecursionError:
            reason = "nested_too_deep"
        else:
            return text
        self._skip(reason, 1)
        log.warning(
            "job %s: %s %r skipped: %s", self.record.id, record.kind, record.provider_id, reason
        )
        return None

    def _skip(self, reason: str, count: int) -> None:
        self.stats.skipped[reason] = self.stats.skipped.get(reason, 0) + count

    def _store_traces(
        self, connection: Connection, fetched: Sequence[tuple[FetchedRecord, str]], now: datetime
    ) -> None:
        connector = self.connector
        rows = []
        for record, text in fetched:
            rows.append(
                {
                    "provider_id": record.provider_id,
                    "tenant_id": connector.tenant_id,
                    "agent_id": connector.agent_id,
                    "thread_key": self.derivation.thread_key_of(record.payload),
                    "occurred_at": record.occurred_at,
                    "content_hash": content_hash(record, text),
                    "payload": text,
                    "pending": record.pending,
                    "source_version": record.version,
                    "first_seen_at": now,
                    "updated_at": now,
                }
            )
        result = records.upsert_traces(connection, connector.id, rows)
        self._count(result.created, result.updated, result.unchanged)
        touched = {row["thread_key"] for row in [*result.created, *result.updated]}
        appended: dict[str, list[str]] = {}
        for row in result.created:
            appended.setdefault(row["thread_key"], []).append(row["provider_id"])
        if result.updated:  # a changed run may have left a thread: derive whole from now on
            self._derived.clear()
        known = {r.provider_id: r.payload for r, _ in fetched}
        self._derive(connection, touched, now, known, appended)

    def _store_sessions(
        self, connection: Connection, fetched: Sequence[tuple[FetchedRecord, str]], now: datetime
    ) -> None:
        connector = self.connector
        rows = []
        for record, text in fetched:
            session = UserSession.model_validate(record.payload).model_copy(
                update={"id": record.provider_id, "connector_id": connector.id}
            )
            rows.append(
                {
                    "provider_id": record.provider_id,
                    "tenant_id": connector.tenant_id,
                    "agent_id": connector.agent_id,
                    "user_id": session.user_id,
                    "app_user_id": session.app_user_id,
                    "started_at": session.started_at,
                    "ended_at": session.ended_at,
                    "occurred_at": record.occurred_at,
                    "content_hash": content_hash(record, text),
                    "body": session.model_dump(mode="json"),
                    "pending": record.pending,
                    "first_seen_at": now,
                    "updated_at": now,
                }
            )
        result = records.upsert_sessions(connection, connector.id, rows)
        self._count(result.created, result.updated, result.unchanged)

    def _count(self, created: list[Any], updated: list[Any], unchanged: int) -> None:
        self.stats.created += len(created)
        self.stats.updated += len(updated)
        self.stats.unchanged += unchanged

    def _derive(
        self,
        connection: Connection,
        thread_keys: Iterable[str],
        now: datetime,
        known: Mapping[str, dict[str, Any]] | None = None,
        appended: Mapping[str, list[str]] | None = None,
    ) -> None:
        """Store the conversations of ``thread_keys`` again.

        A thread that only gained the ``appended`` runs (provider ids; payloads in ``known``)
        and that this run derived before is extended; any other is derived from all its traces.
        """
        keys = set(thread_keys)
        if not keys:
            return
        known = known or {}
        derived: dict[str, _Derived] = {}
        for key in keys & (appended or {}).keys():
            extended = self._extended(key, [known[pid] for pid in (appended or {})[key]])
            if extended is not None:
                derived[key] = extended
        whole = keys - derived.keys()
        payloads = records.trace_payloads(connection, self.connector.id, whole, known=known)
        for key, runs in payloads.items():
            for conversation in self.derivation.derive(runs)[:1]:
                ids = {str(run.get("id")) for run in runs}
                derived[key] = _Derived(self._imported(conversation, key, runs), ids)
        for key in keys:
            if key in derived:
                self._derived.put(key, derived[key])
            else:
                self._derived.drop(key)
        conversation_rows.save(
            connection,
            [d.conversation for d in derived.values()],
            tenant_id=self.connector.tenant_id,
            now=now,
        )
        gone = [conversation_id(self.connector.id, key) for key in whole - payloads.keys()]
        conversation_rows.mark_missing(connection, gone, now)

    def _extended(self, key: str, runs: list[dict[str, Any]]) -> _Derived | None:
        before = self._derived.get(key)
        extend = self.derivation.extend
        if before is None or extend is None:
            return None
        conversation = extend(before.conversation, before.run_ids, runs)
        if conversation is None:
            return None
        ids = before.run_ids | {str(run.get("id")) for run in runs}
        return _Derived(self._imported(conversation, key, runs), ids)

    def _imported(
        self, conversation: RecordedConversation, key: str, runs: list[dict[str, Any]]
    ) -> RecordedConversation:
        """The derived conversation as this connector stores it; ``runs`` are those it took in
        (a pending run makes it pending, whatever the derivation said)."""
        connector = self.connector
        return conversation.model_copy(
            update={
                "id": conversation_id(connector.id, key),
                "connector_id": connector.id,
                "agent_id": connector.agent_id,
                "thread_key": key,
                "origin": "imported",
                "missing": False,
                "pending": conversation.pending
                or any(run.get("status") == "pending" for run in runs),
            }
        )

    # -- the end ---------------------------------------------------------------------------

    def _complete(self, *, mark_missing: bool) -> None:
        connector, window, now = self.connector, self.window, utc_now()
        with self.store.begin() as connection:
            if mark_missing:
                gone = records.mark_missing(
                    connection,
                    imported_traces,
                    connector.id,
                    window.start,
                    window.end,
                    self._seen_traces,
                    now,
                )
                gone_sessions = records.mark_missing(
                    connection,
                    user_sessions,
                    connector.id,
                    window.start,
                    window.end,
                    self._seen_sessions,
                    now,
                )
                self.stats.marked_missing += len(gone) + len(gone_sessions)
                self._derive(connection, {row["thread_key"] for row in gone}, now)
            self._advance_watermark(connection, now)
            refresh_links(connection, connector, self.derivation)
            self.stats.progress = 1.0
            finished = job_rows.finish(
                connection,
                self.record.id,
                self.worker_id,
                now=now,
                status=JobStatus.SUCCEEDED,
                values={
                    "stats": self.stats.model_dump(mode="json"),
                    "checkpoint": None,
                    "error": None,
                    "error_code": None,
                },
            )
            if not finished:
                raise LeaseLost(self.record.id)

    def _advance_watermark(self, connection: Connection, now: datetime) -> None:
        current = connector_rows.watermark(connection, self.connector.id)
        if current is not None and self.window.start > current:
            return  # a gap between the watermark and this window was never scanned
        candidate = self.window.end
        pending = records.earliest_pending(connection, self.connector.id)
        if pending is not None:
            candidate = min(candidate, pending)
        values: dict[str, Any] = {"last_synced_at": now, "last_error": None}
        if current is None or candidate > current:
            values["watermark"] = candidate
        connector_rows.update_fields(connection, Scope.owner(), self.connector.id, values)

    # -- checkpoints -----------------------------------------------------------------------

    def _save(self, checkpoint: str | None, values: Mapping[str, Any]) -> None:
        with self.store.begin() as connection:
            self._save_in(connection, checkpoint, values, keep_checkpoint=True)

    def _save_in(
        self,
        connection: Connection,
        checkpoint: str | None,
        values: Mapping[str, Any],
        *,
        keep_checkpoint: bool = False,
    ) -> None:
        progress = {**values, "stats": self.stats.model_dump(mode="json")}
        if not keep_checkpoint:
            progress["checkpoint"] = checkpoint
        stop = job_rows.save_progress(
            connection,
            self.record.id,
            self.worker_id,
            now=utc_now(),
            lease=self.lease,
            values=progress,
        )
        if stop is None:
            self.state.lease_lost = True
            raise LeaseLost(self.record.id)
        if stop:
            self.state.stop_requested = True


def _reached(page: Page) -> list[FetchedRecord]:
    """The latest of the page's unchanged traces, as a record of its start only (for progress)."""
    if not page.unchanged:
        return []
    provider_id, started = max(page.unchanged.items(), key=lambda item: item[1])
    return [FetchedRecord(kind="trace", provider_id=provider_id, occurred_at=started, payload={})]


def refresh_links(
    connection: Connection, connector: ImportConnector, derivation: Derivation
) -> int:
    """Recompute the session links of the connector's agent from all of its data."""
    tenant, agent = connector.tenant_id, connector.agent_id
    links: list[SessionLink] = []
    sessions: list[UserSession] = []
    # An agent without conversations has nothing to link: its sessions (maybe an export of
    # hundreds of thousands) stay unread.
    if conversation_rows.any_for_agent(connection, tenant, agent):
        sessions = records.list_sessions(
            connection, Scope(tenant_id=tenant, agent_id=agent), include_missing=False
        )
        if sessions:  # and without sessions, its conversations stay unread
            conversations = conversation_rows.for_agent(connection, tenant, agent)
            links = derivation.link(conversations, sessions)
    return conversation_rows.replace_links(
        connection, tenant_id=tenant, agent_id=agent, links=links, sessions=sessions
    )
