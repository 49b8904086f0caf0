"""Open traces held in memory until they can be stored, within stated bounds.

Spans of one trace come in many requests, in any order, minutes apart. Each trace is held by
(tenant, agent, trace id) until it has been idle for ``trace_idle_seconds``. As soon as its root
span is held the trace is stored as a turn, and again with each later span; a trace whose root
never came is stored when it goes idle, as a ``pending`` turn. A span of a trace closed that
way is refused (``partialSuccess``): its turn is stored already.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pytest_connectors._support.times import utc
from pytest_connectors.imports.otlp.turns import AGENT_ATTRIBUTE, TraceTurn, trace_turn
from pytest_connectors.models.imports import RecordedConversation, Scope
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


@dataclass
class _OpenTrace:
    tenant: str
    agent: str
    spans: dict[str, Span] = field(default_factory=dict)
    size: int = 0
    last_seen: float = 0.0
    has_root: bool = False
    stored_as: str | None = None

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
        self._closed: OrderedDict[_TraceKey, None] = OrderedDict()
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
        ready: list[_TraceKey] = []
        with self._lock:
            incoming = sum(span.size for span in decoded.spans)
            if self._open_bytes + incoming > limits.max_open_bytes:
                raise ReceiverBusy(max(1, int(min(30.0, limits.trace_idle_seconds))))
            now = self._clock()
            for span in decoded.spans:
                reason = self._take(span, scope, now, ready)
                if reason:
                    rejected[reason] += 1
        self._store(ready)
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

    def _take(self, span: Span, scope: Scope, now: float, ready: list[_TraceKey]) -> str:
        agent, reason = self._agent(span, scope)
        if agent is None:
            return reason
        tenant = scope.tenant_id or "default"
        key = (tenant, agent, span.trace_id)
        if key in self._closed:
            return (
                f"trace closed: idle for {self.limits.trace_idle_seconds:g}s before this span "
                "came, and stored"
            )
        trace = self._open.get(key)
        if trace is None:
            trace = self._open[key] = _OpenTrace(tenant, agent)
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
        self._open.move_to_end(key)
        if trace.has_root and key not in ready:
            ready.append(key)
        return ""

    # --- closing idle traces ------------------------------------------------------------

    def close_idle(self, *, everything: bool = False) -> int:
        """Store and drop the traces idle past the limit (all with ``everything``)."""
        deadline = self._clock() - self.limits.trace_idle_seconds
        closing: list[tuple[_TraceKey, _OpenTrace]] = []
        with self._lock:
            while self._open:
                key, trace = next(iter(self._open.items()))
                if not everything and trace.last_seen > deadline:
                    break
                del self._open[key]
                self._open_bytes -= trace.size
                self._closed[key] = None
                if len(self._closed) > self.limits.closed_traces_remembered:
                    self._closed.popitem(last=False)
                if not trace.has_root:  # stored as it is: pending
                    closing.append((key, trace))
        if closing:
            self._write([(trace, list(trace.spans.values())) for _key, trace in closing])
        return len(closing)

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

    def _store(self, keys: list[_TraceKey]) -> None:
        with self._lock:
            batch = [
                (trace, list(trace.spans.values()))
                for trace in (self._open.get(key) for key in keys)
                if trace is not None
            ]
        if batch:
            self._write(batch)

    def _write(self, batch: list[tuple[_OpenTrace, list[Span]]]) -> None:
        built = [(trace, trace_turn(spans)) for trace, spans in batch]
        with self._write_lock:
            retry_transient(lambda: self._save(built))

    def _save(self, built: list[tuple[_OpenTrace, TraceTurn]]) -> None:
        groups: dict[str, tuple[_OpenTrace, str, list[TraceTurn]]] = {}
        moved: dict[str, tuple[Scope, set[str]]] = {}
        for trace, turn in built:
            target = conversation_id(trace.tenant, trace.agent, turn.thread_key)
            groups.setdefault(target, (trace, turn.thread_key, []))[2].append(turn)
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
                conversation = _merged(existing, turns, dropped)
                if not conversation.turns:
                    conversation_rows.remove(connection, scope, [target])
                    continue
                conversation_rows.save(
                    connection, [conversation], tenant_id=scope.tenant_id or "default", now=now
                )
        for trace, turn in built:
            trace.stored_as = conversation_id(trace.tenant, trace.agent, turn.thread_key)


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
