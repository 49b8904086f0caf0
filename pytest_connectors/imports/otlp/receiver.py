"""Open traces held in memory until they can be stored, within stated bounds.

Spans of one trace come in many requests, in any order, minutes apart. Each trace is held by
(tenant, agent, trace id) until it has been idle for ``trace_idle_seconds``. As soon as its root
span is held the trace is stored as a turn, and again with each later span; a trace whose root
never came is stored when it goes idle, as a ``pending`` turn. Spans of a trace that has closed
still count: they are merged into its stored turn, in the same conversation (see
:func:`_late_turn`), and complete it when the root is among them.

Each save builds the turn from every span taken so far, under one write lock taken before the
spans are copied: a request that copied fewer spans can never store after one that copied more.

Bounds: spans per request, bytes per open trace (over it: spans refused), bytes of all open
traces (over it: the request is refused with a time to retry after). Turns are stored in one
conversation per thread key (see :mod:`.turns`), ``origin: native``, beside imported ones.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from pytest_connectors._support.times import utc
from pytest_connectors.imports.otlp.turns import AGENT_ATTRIBUTE, TraceTurn, trace_turn
from pytest_connectors.models.imports import RecordedConversation, RecordedTurn, Scope
from pytest_connectors.storage import conversations as conversation_rows
from pytest_connectors.storage.store import Store
from pytest_connectors.storage.transient import retry_transient
from pytest_connectors.wire.otlp import (
    JSON,
    PROTOBUF,
    Decoded,
    DecodedTooLarge,
    MalformedRequest,
    Span,
    UnsupportedEncoding,
    decode_body,
)

log = logging.getLogger("pytest_connectors.otlp")

CONVERSATION_ID_PREFIX = "otlp_"
_AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_THREAD_KEY_LIMIT = 300


@dataclass(frozen=True)
class ReceiverLimits:
    max_body_bytes: int = 16 * 1024 * 1024  # as sent (compressed); the service's guard checks it
    max_decoded_bytes: int = 64 * 1024 * 1024  # after gunzip
    max_spans_per_request: int = 20_000
    max_trace_bytes: int = 8 * 1024 * 1024
    max_open_bytes: int = 256 * 1024 * 1024
    trace_idle_seconds: float = 60.0
    closed_traces_remembered: int = 100_000


class TooManySpans(Exception):
    """More spans in one request than the receiver takes (answered 413)."""


class ReceiverBusy(Exception):
    """The open traces hold all the memory allowed: try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the receiver holds its limit of open traces; retry in {retry_after}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Receipt:
    rejected: int = 0
    message: str = ""
    reasons: Counter[str] = field(default_factory=Counter)


def decode_request(
    body: bytes, content_type: str, content_encoding: str, limits: ReceiverLimits
) -> Decoded:
    """The spans of an OTLP/HTTP request body, as its headers say it is encoded."""
    return decode_body(body, content_type, content_encoding, limits.max_decoded_bytes)


def conversation_id(tenant: str, agent: str, key: str) -> str:
    digest = hashlib.sha256(f"{tenant}\0{agent}\0{key}".encode()).hexdigest()
    return CONVERSATION_ID_PREFIX + digest[:32]


def _stored_key(key: str) -> str:
    if len(key) <= _THREAD_KEY_LIMIT:
        return key
    return key[: _THREAD_KEY_LIMIT - 17] + "~" + hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(eq=False)
class _OpenTrace:
    tenant: str
    agent: str
    trace_id: str
    spans: dict[str, Span] = field(default_factory=dict)
    size: int = 0
    last_seen: float = 0.0
    has_root: bool = False
    stored_as: str | None = None
    taken: int = 0  # spans taken so far (a version: a save holding fewer is stale)
    saved: int = 0
    late: bool = False  # the trace had closed: its spans complete the stored turn
    base: RecordedTurn | None = None  # that stored turn, read at the first late save
    base_read: bool = False

    @property
    def scope(self) -> Scope:
        return Scope(tenant_id=self.tenant, agent_id=self.agent)


_TraceKey = tuple[str, str, str]  # tenant, agent, trace id


class Receiver:
    """Takes decoded spans for a key's scope; stores turns in ``store``."""

    def __init__(
        self,
        store: Store,
        limits: ReceiverLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.limits = limits or ReceiverLimits()
        self._clock = clock
        self._open: OrderedDict[_TraceKey, _OpenTrace] = OrderedDict()  # least recent first
        self._closed: OrderedDict[_TraceKey, str | None] = OrderedDict()  # -> stored as
        self._open_bytes = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    # --- the request path ---------------------------------------------------------------

    def receive(self, decoded: Decoded, scope: Scope) -> Receipt:
        limits = self.limits
        total = len(decoded.spans) + sum(decoded.rejected.values())
        if total > limits.max_spans_per_request:
            raise TooManySpans(
                f"{total} spans in one request, more than {limits.max_spans_per_request}; "
                "lower the exporter's batch size (OTEL_BSP_MAX_EXPORT_BATCH_SIZE)"
            )
        self.close_idle()
        rejected: Counter[str] = Counter(decoded.rejected)
        ready: dict[_TraceKey, _OpenTrace] = {}  # in the order first taken
        with self._lock:
            incoming = sum(span.size for span in decoded.spans)
            if self._open_bytes + incoming > limits.max_open_bytes:
                raise ReceiverBusy(max(1, int(min(30.0, limits.trace_idle_seconds))))
            now = self._clock()
            for span in decoded.spans:
                reason = self._take(span, scope, now, ready)
                if reason:
                    rejected[reason] += 1
        self._store(list(ready.values()))
        return _receipt(rejected)

    def _agent(self, span: Span, scope: Scope) -> tuple[str | None, str]:
        named = span.resource.get(AGENT_ATTRIBUTE)
        if scope.agent_id is not None:
            if named is not None and named != scope.agent_id:
                return (
                    None,
                    f"resource attribute {AGENT_ATTRIBUTE} names another agent than the key's",
                )
            return scope.agent_id, ""
        if not isinstance(named, str) or not _AGENT_ID.match(named):
            return None, (
                f"no agent: a tenant key (or load-otlp without --agent) needs the resource "
                f"attribute {AGENT_ATTRIBUTE} (letters, digits, . _ : -)"
            )
        return named, ""

    def _take(
        self, span: Span, scope: Scope, now: float, ready: dict[_TraceKey, _OpenTrace]
    ) -> str:
        agent, reason = self._agent(span, scope)
        if agent is None:
            return reason
        tenant = scope.tenant_id or "default"
        key = (tenant, agent, span.trace_id)
        trace = self._open.get(key)
        if trace is None:
            trace = self._open[key] = _OpenTrace(
                tenant, agent, span.trace_id, late=key in self._closed
            )
        earlier = trace.spans.get(span.span_id)
        grown = trace.size + span.size - (earlier.size if earlier else 0)
        if grown > self.limits.max_trace_bytes:
            if not trace.spans:
                del self._open[key]
            return f"trace larger than {self.limits.max_trace_bytes} bytes"
        trace.spans[span.span_id] = span
        self._open_bytes += grown - trace.size
        trace.size = grown
        trace.has_root = trace.has_root or span.is_root
        trace.last_seen = now
        trace.taken += 1
        self._open.move_to_end(key)
        if trace.has_root or trace.late:
            ready.setdefault(key, trace)
        return ""

    # --- closing idle traces ------------------------------------------------------------

    def close_idle(self, *, everything: bool = False) -> int:
        """Store and drop the traces idle past the limit (all with ``everything``); how many
        were stored (a trace whose spans were all stored already is only dropped)."""
        deadline = self._clock() - self.limits.trace_idle_seconds

        def idle(trace: _OpenTrace) -> bool:
            return everything or trace.last_seen <= deadline

        with self._lock:  # the usual answer, without waiting for a write in progress
            if not self._open or not idle(next(iter(self._open.values()))):
                return 0
        with self._write_lock:
            closing: list[tuple[_TraceKey, _OpenTrace]] = []
            batch: list[tuple[_OpenTrace, list[Span], int]] = []
            with self._lock:
                while self._open:
                    key, trace = next(iter(self._open.items()))
                    if not idle(trace):
                        break
                    del self._open[key]
                    self._open_bytes -= trace.size
                    self._closed[key] = None
                    self._closed.move_to_end(key)
                    if len(self._closed) > self.limits.closed_traces_remembered:
                        self._closed.popitem(last=False)
                    closing.append((key, trace))
                    if trace.saved < trace.taken:  # never stored (pending), or spans unsaved
                        batch.append((trace, list(trace.spans.values()), trace.taken))
                    trace.spans = {}  # held no longer: a late span opens the trace again
            if batch:
                self._write(batch)
            with self._lock:
                for key, trace in closing:
                    if key in self._closed:
                        self._closed[key] = trace.stored_as
        return len(batch)

    def start(self) -> None:
        """Close idle traces in a thread of their own while the service runs."""
        if self._sweeper is not None:
            return
        interval = min(1.0, max(0.05, self.limits.trace_idle_seconds / 4))

        def sweep() -> None:
            while not self._stop.wait(interval):
                try:
                    self.close_idle()
                except Exception:  # the next sweep tries again; the service goes on
                    log.exception("storing idle OTLP traces failed")

        self._sweeper = threading.Thread(target=sweep, name="otlp-sweeper", daemon=True)
        self._sweeper.start()

    def stop(self) -> None:
        """Stop sweeping and store every open trace: nothing held is lost at shutdown."""
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join()
            self._sweeper = None
        self.close_idle(everything=True)

    @property
    def open_bytes(self) -> int:
        return self._open_bytes

    # --- storing ------------------------------------------------------------------------

    def _store(self, traces: list[_OpenTrace]) -> None:
        if not traces:
            return
        with self._write_lock:  # copied under it: saves are in the order of the copies
            with self._lock:
                batch = [
                    (trace, list(trace.spans.values()), trace.taken)
                    for trace in traces
                    # else a later copy has stored these spans, or the trace closed meanwhile
                    if trace.saved < trace.taken and trace.spans
                ]
            if batch:
                self._write(batch)

    def _write(self, batch: list[tuple[_OpenTrace, list[Span], int]]) -> None:
        """Build and save ``batch``; the caller holds the write lock."""
        built: list[tuple[_OpenTrace, TraceTurn, str]] = []
        for trace, spans, _taken in batch:
            turn = trace_turn(spans)
            target = conversation_id(trace.tenant, trace.agent, turn.thread_key)
            if trace.late:  # into the conversation the trace's turn is stored in already
                with self._lock:
                    target = self._closed.get(_key(trace)) or trace.stored_as or target
            built.append((trace, turn, target))
        retry_transient(lambda: self._save(built))
        for trace, _spans, taken in batch:
            trace.saved = max(trace.saved, taken)

    def _save(self, built: list[tuple[_OpenTrace, TraceTurn, str]]) -> None:
        groups: dict[str, tuple[_OpenTrace, str, list[tuple[_OpenTrace, TraceTurn]]]] = {}
        moved: dict[str, tuple[Scope, set[str]]] = {}
        for trace, turn, target in built:
            groups.setdefault(target, (trace, turn.thread_key, []))[2].append((trace, turn))
            if trace.stored_as and trace.stored_as != target:
                moved.setdefault(trace.stored_as, (trace.scope, set()))[1].add(
                    turn.turn.trace_id or ""
                )
        now = datetime.now(UTC)
        with self.store.begin() as connection:
            for target in sorted(set(groups) | set(moved)):
                trace_scope, dropped = moved.get(target, (None, set()))
                if target in groups:
                    trace, key, turns = groups[target]
                    scope = trace.scope
                    fresh = RecordedConversation(
                        id=target,
                        agent_id=trace.agent,
                        thread_key=_stored_key(key),
                        origin="native",
                        metadata={"source": "otlp"},
                    )
                else:
                    assert trace_scope is not None
                    scope, fresh, turns = trace_scope, None, []
                existing = conversation_rows.get(connection, scope, target) or fresh
                if existing is None:
                    continue
                conversation = _merged(
                    existing, [_late_turn(t, n, existing) for t, n in turns], dropped
                )
                if not conversation.turns:
                    conversation_rows.remove(connection, scope, [target])
                    continue
                conversation_rows.save(
                    connection, [conversation], tenant_id=scope.tenant_id or "default", now=now
                )
        for trace, _turn, target in built:
            trace.stored_as = target


def _key(trace: _OpenTrace) -> _TraceKey:
    return (trace.tenant, trace.agent, trace.trace_id)


def _late_turn(trace: _OpenTrace, built: TraceTurn, existing: RecordedConversation) -> TraceTurn:
    """For a trace that had closed, its stored turn completed by the spans that came since.

    The stored turn is read once, when the first late spans are saved: later saves build on it
    again, so a late span counted twice changes nothing. What the stored turn says first (the
    user, the error) is kept; tool calls are joined by id; the answer is the one of the part
    that ended last; the turn stays pending until a root span has come.
    """
    if not trace.late:
        return built
    if not trace.base_read:
        trace.base = next((t for t in existing.turns if t.trace_id == trace.trace_id), None)
        trace.base_read = True
    base, late = trace.base, built.turn
    if base is None:
        return built
    calls = [call.model_copy() for call in base.tool_calls]
    by_id = {call.id: call for call in calls if call.id}
    for call in late.tool_calls:
        known = by_id.get(call.id) if call.id else None
        if known is not None:
            known.result = known.result if call.result is None else call.result
        elif call not in calls:
            calls.append(call)
    starts = [t.started_at for t in (base, late) if t.started_at is not None]
    started = min(starts, default=None)
    base_end, late_end = _ended(base), _ended(late)
    late_last = late_end is not None and (base_end is None or late_end >= base_end)
    ends = [end for end in (base_end, late_end) if end is not None]
    answer = (late.answer or base.answer) if late_last else (base.answer or late.answer)
    turn = base.model_copy(
        update={
            "user_messages": base.user_messages or late.user_messages,
            "tool_calls": calls,
            "answer": answer,
            "error": base.error or late.error,
            "started_at": started,
            "latency_ms": (max(ends) - started).total_seconds() * 1000
            if started is not None and ends
            else base.latency_ms,
            "pending": base.pending and late.pending,
        }
    )
    return replace(built, turn=turn)


def _ended(turn: RecordedTurn) -> datetime | None:
    if turn.started_at is None:
        return None
    return turn.started_at + timedelta(milliseconds=turn.latency_ms or 0)


def _merged(
    existing: RecordedConversation, turns: Iterable[TraceTurn], dropped: set[str]
) -> RecordedConversation:
    """``existing`` with each trace's turn replaced or added, in time order, indexed again."""
    turns = list(turns)
    replacing = {t.turn.trace_id for t in turns} | dropped
    all_turns = [t for t in existing.turns if t.trace_id not in replacing]
    all_turns += [t.turn for t in turns]
    all_turns.sort(
        key=lambda t: (
            t.started_at is None,
            t.started_at or utc(datetime.max),
            t.trace_id or "",
        )
    )
    all_turns = [t.model_copy(update={"index": i}) for i, t in enumerate(all_turns)]
    metadata = dict(existing.metadata)
    for turn in turns:
        if not turn.content_captured:
            metadata["contentCaptured"] = False
        if turn.service and "service" not in metadata:
            metadata["service"] = turn.service
    starts = [t.started_at for t in all_turns if t.started_at is not None]
    ends = [
        t.started_at + timedelta(milliseconds=t.latency_ms or 0)
        for t in all_turns
        if t.started_at is not None
    ]
    return existing.model_copy(
        update={
            "turns": all_turns,
            "metadata": metadata,
            "started_at": min(starts, default=None),
            "ended_at": max(ends, default=None),
            "pending": any(t.pending for t in all_turns),
        }
    )


def _receipt(rejected: Counter[str]) -> Receipt:
    count = sum(rejected.values())
    if not count:
        return Receipt()
    reasons = "; ".join(f"{n} {reason}" for reason, n in rejected.most_common(5))
    return Receipt(count, f"{count} spans rejected: {reasons}", rejected)


__all__ = [
    "JSON",
    "PROTOBUF",
    "DecodedTooLarge",
    "MalformedRequest",
    "Receipt",
    "Receiver",
    "ReceiverBusy",
    "ReceiverLimits",
    "TooManySpans",
    "UnsupportedEncoding",
    "decode_request",
]
