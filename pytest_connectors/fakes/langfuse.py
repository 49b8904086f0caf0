"""A Langfuse public-API fake: what an import connector and the SDK's API client read.

Built from Langfuse's public API reference: routes under ``/api/public``, HTTP Basic auth
(public key as the user, secret key as the password; 401 otherwise), ``GET /traces`` with
``page`` (from 1), ``limit`` (at most 100; 400 above), ``fromTimestamp`` (inclusive),
``toTimestamp`` (exclusive), ``sessionId``, ``userId`` and ``orderBy`` (``timestamp.asc`` or
``.desc``, newest first by default), answering ``{"data": [...], "meta": {"page", "limit",
"totalItems", "totalPages"}}``; list items carry observation ids, ``GET /traces/{id}`` the full
observations and scores. ``GET /observations?traceId=``, ``GET /sessions`` and
``GET /sessions/{id}`` (a session with its traces) page the same way. Times are ISO 8601 UTC
with milliseconds and ``Z``. A trace carries ``createdAt`` and ``updatedAt``; adding or replacing
one of its observations updates it, as Langfuse's ingestion does.

``POST /otel/v1/traces`` takes OTLP/HTTP (protobuf or JSON, gzip), as the ``langfuse`` SDK (v3
on, built on OpenTelemetry) exports, and maps spans as Langfuse documents it: the trace id and
span ids as ids, ``langfuse.observation.type`` (else GENERATION for a GenAI inference span,
else SPAN), ``langfuse.observation.input``/``output`` (JSON; else the GenAI or OpenInference
attributes), ``level`` and ``status_message`` (an ERROR status otherwise), the model; trace name,
session, user, tags, environment and metadata from ``langfuse.trace.*``, ``session.id``,
``user.id`` and ``langfuse.environment``, and the trace's input and output from its root.
Spans of one trace may come in several requests, children first.

Seed it with `FakeLangfuse.add_trace` (and `add_observation` for observations that arrive late)
or with OTLP, remove a trace with `delete_trace` (Langfuse then answers 404 for it) and arm
one-shot faults with `fail_next` (a status, e.g. 429 with ``Retry-After``, or 5xx).
`LangfuseServer` serves it with uvicorn on a loopback port, in a thread of this process.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pytest_connectors._support.times import parse_utc
from pytest_connectors.fakes.threaded import FakeServer
from pytest_connectors.wire.otlp import (
    JSON,
    DecodedTooLarge,
    MalformedRequest,
    Span,
    UnsupportedEncoding,
    decode_body,
)

PUBLIC_KEY = "pk-lf-fake-0123456789abcdef"
SECRET_KEY = "sk-lf-fake-fedcba9876543210fedcba98"
PROJECT_ID = "fake-project"
MAX_LIMIT = 100
PREFIX = "/api/public"
MAX_OTLP_BYTES = 64 * 1024 * 1024  # unpacked; the SDK's batches stay far below it


def iso(moment: datetime) -> str:
    """How Langfuse writes times: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Fault:
    path: str  # a request path under /api/public, or a prefix of it ending in "/"
    status: int
    retry_after: str | None
    times: int


@dataclass
class FakeLangfuse:
    """Traces and observations of one project, as Langfuse stores them."""

    public_key: str = PUBLIC_KEY
    secret_key: str = SECRET_KEY
    traces: dict[str, dict[str, Any]] = field(default_factory=dict)
    observations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    raw_traces: list[Any] = field(default_factory=list)  # served as they are, for bad records
    requests: list[str] = field(default_factory=list)  # "GET /traces?page=1..." as received
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # The traces of the last window listed, in order, until the traces change: a scan pages
    # through one window, and filtering 10,000 traces for each page made the fake the bottleneck.
    _listed: tuple[Any, list[dict[str, Any]]] | None = None
    _changes: int = 0

    def reset(self) -> None:
        with self._lock:
            self.traces.clear()
            self.observations.clear()
            self.raw_traces.clear()
            self.requests.clear()
            self._faults.clear()
            self._changes += 1

    def add_trace(
        self, trace: Mapping[str, Any], observations: Iterable[Mapping[str, Any]] = ()
    ) -> dict[str, Any]:
        """Store ``trace`` (``id`` and ``timestamp`` required) and its observations."""
        now = iso(datetime.now(UTC))
        stored = {
            "projectId": PROJECT_ID,
            "createdAt": now,
            "updatedAt": now,
            "name": None,
            "input": None,
            "output": None,
            "sessionId": None,
            "userId": None,
            "metadata": None,
            "tags": [],
            "public": False,
            "environment": "default",
            **copy.deepcopy(dict(trace)),
        }
        with self._lock:
            self.traces[stored["id"]] = stored
            self._changes += 1
            self.observations.setdefault(stored["id"], [])
        for observation in observations:
            self.add_observation(stored["id"], observation)
        return stored

    def add_observation(self, trace_id: str, observation: Mapping[str, Any]) -> dict[str, Any]:
        """Store an observation (``id``, ``type``, ``startTime``) of trace ``trace_id``."""
        stored = {
            "traceId": trace_id,
            "projectId": PROJECT_ID,
            "parentObservationId": None,
            "name": None,
            "level": "DEFAULT",
            "statusMessage": None,
            "endTime": None,
            "input": None,
            "output": None,
            "metadata": None,
            "model": None,
            **copy.deepcopy(dict(observation)),
        }
        with self._lock:
            self.observations.setdefault(trace_id, []).append(stored)
            if trace_id in self.traces:
                self.traces[trace_id]["updatedAt"] = iso(datetime.now(UTC))
        return stored

    def delete_trace(self, trace_id: str) -> None:
        """Remove a trace and its observations, as deleting it in Langfuse does."""
        with self._lock:
            self.traces.pop(trace_id, None)
            self.observations.pop(trace_id, None)
            self._changes += 1

    def ingest_spans(self, spans: Iterable[Span]) -> None:
        """Store OTLP spans as Langfuse's OTel endpoint does: a trace per trace id, an
        observation per span (a span sent again replaces its observation)."""
        for span in spans:
            observation = _observation(span)
            with self._lock:
                trace = self.traces.get(span.trace_id)
                if trace is None:
                    trace = self.traces[span.trace_id] = _empty_trace(span)
                _update_trace(trace, span, observation)
                listed = self.observations.setdefault(span.trace_id, [])
                listed[:] = [o for o in listed if o["id"] != observation["id"]]
                listed.append(observation)
                trace["updatedAt"] = iso(datetime.now(UTC))
                self._changes += 1

    def fail_next(
        self, path: str, status: int, *, retry_after: str | None = None, times: int = 1
    ) -> None:
        """Answer the next ``times`` requests to ``path`` (e.g. ``/traces``) with ``status``."""
        with self._lock:
            self._faults.append(_Fault(path, status, retry_after, times))

    def take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if path == fault.path or (fault.path.endswith("/") and path.startswith(fault.path)):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # --- reading ------------------------------------------------------------------------------

    def _summary(self, trace: Mapping[str, Any]) -> dict[str, Any]:
        ids = [o["id"] for o in self.observations.get(trace["id"], [])]
        return {**trace, "observations": ids, "scores": [], "htmlPath": f"/trace/{trace['id']}"}

    def _full(self, trace: Mapping[str, Any]) -> dict[str, Any]:
        found = sorted(self.observations.get(trace["id"], []), key=lambda o: o["startTime"])
        return {**trace, "observations": copy.deepcopy(found), "scores": []}

    @property
    def app(self) -> Starlette:
        return _app(self)


# --- OTLP spans as Langfuse traces and observations ---------------------------------------------

_GENERATION_OPERATIONS = {"chat", "text_completion", "generate_content", "completion"}


def _parsed(value: Any) -> Any:
    """An attribute the SDK wrote as JSON, parsed; other strings as they are."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _first(attributes: Mapping[str, Any], *names: str) -> Any:
    return next((attributes[n] for n in names if attributes.get(n) is not None), None)


def _prefixed(attributes: Mapping[str, Any], prefix: str) -> dict[str, Any] | None:
    found = {
        key[len(prefix) :]: _parsed(value)
        for key, value in attributes.items()
        if key.startswith(prefix)
    }
    return found or None


def _observation(span: Span) -> dict[str, Any]:
    attributes = span.attributes
    kind = attributes.get("langfuse.observation.type")
    if isinstance(kind, str) and kind:
        kind = kind.upper()
    elif attributes.get("gen_ai.operation.name") in _GENERATION_OPERATIONS:
        kind = "GENERATION"
    else:
        kind = "SPAN"
    level = attributes.get("langfuse.observation.level")
    status = attributes.get("langfuse.observation.status_message")
    return {
        "id": span.span_id,
        "traceId": span.trace_id,
        "projectId": PROJECT_ID,
        "type": kind,
        "name": span.name or None,
        "startTime": iso(span.start) if span.start else None,
        "endTime": iso(span.end) if span.end else None,
        "parentObservationId": span.parent_id,
        "input": _parsed(
            _first(attributes, "langfuse.observation.input", "gen_ai.input.messages", "input.value")
        ),
        "output": _parsed(
            _first(
                attributes, "langfuse.observation.output", "gen_ai.output.messages", "output.value"
            )
        ),
        "level": level
        if isinstance(level, str)
        else "ERROR"
        if span.error is not None
        else "DEFAULT",
        "statusMessage": status if isinstance(status, str) else span.error or None,
        "model": _first(
            attributes,
            "langfuse.observation.model.name",
            "gen_ai.response.model",
            "gen_ai.request.model",
        ),
        "metadata": _prefixed(attributes, "langfuse.observation.metadata."),
    }


def _empty_trace(span: Span) -> dict[str, Any]:
    return {
        "id": span.trace_id,
        "projectId": PROJECT_ID,
        "createdAt": iso(datetime.now(UTC)),
        "timestamp": iso(span.start or datetime.now(UTC)),
        "name": None,
        "input": None,
        "output": None,
        "sessionId": None,
        "userId": None,
        "metadata": None,
        "tags": [],
        "public": False,
        "environment": "default",
    }


def _update_trace(trace: dict[str, Any], span: Span, observation: Mapping[str, Any]) -> None:
    """What one span says of its trace: the SDK propagates the trace attributes to every span;
    the root also gives the name, input and output when the trace attributes do not."""
    attributes = span.attributes
    if span.start is not None and iso(span.start) < trace["timestamp"]:
        trace["timestamp"] = iso(span.start)
    for field_name, names in (
        ("name", ("langfuse.trace.name",)),
        ("sessionId", ("langfuse.session.id", "session.id")),
        ("userId", ("langfuse.user.id", "user.id")),
        ("environment", ("langfuse.environment",)),
        ("input", ("langfuse.trace.input",)),
        ("output", ("langfuse.trace.output",)),
    ):
        value = _first(attributes, *names)
        if value is not None:
            trace[field_name] = _parsed(value) if field_name in ("input", "output") else value
    tags = attributes.get("langfuse.trace.tags")
    if isinstance(tags, list):
        trace["tags"] = sorted({*trace["tags"], *(t for t in tags if isinstance(t, str))})
    metadata = _prefixed(attributes, "langfuse.trace.metadata.")
    if metadata:
        trace["metadata"] = {**(trace["metadata"] or {}), **metadata}
    if span.is_root:
        trace["name"] = trace["name"] or span.name or None
        for field_name in ("input", "output"):
            if trace[field_name] is None:
                trace[field_name] = observation[field_name]


def _paged(
    items: list[Any], query: Mapping[str, str], shape: Callable[[Any], Any] = lambda item: item
) -> Response:
    """One page of ``items``; ``shape`` makes the served form of the page's items only."""
    try:
        page = int(query.get("page", "1"))
        limit = int(query.get("limit", "50"))
    except ValueError:
        return _error(400, "page and limit must be integers")
    if page < 1 or not 1 <= limit <= MAX_LIMIT:
        return _error(400, f"page must be >= 1 and limit between 1 and {MAX_LIMIT}")
    total = len(items)
    chosen = [shape(item) for item in items[(page - 1) * limit : page * limit]]
    pages = (total + limit - 1) // limit
    meta = {"page": page, "limit": limit, "totalItems": total, "totalPages": pages}
    return JSONResponse({"data": chosen, "meta": meta})


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"message": message}, status_code=status, headers=dict(headers or {}))


@functools.lru_cache(maxsize=1 << 16)
def _parsed_time(text: str) -> datetime | None:
    """Parsed once per time: a list request reads every trace's, a benchmark's 10,000 a page."""
    return parse_utc(text)


def _in_window(trace: Mapping[str, Any], query: Mapping[str, str]) -> bool:
    raw = trace.get("timestamp")
    stamp = _parsed_time(raw) if isinstance(raw, str) else parse_utc(raw)
    start, end = (
        _parsed_time(text) if isinstance(text := query.get(key), str) else None
        for key in ("fromTimestamp", "toTimestamp")
    )
    if stamp is None:
        return True  # a raw record: served whatever the window
    for key in ("sessionId", "userId", "name", "environment"):
        if key in query and trace.get(key) != query[key]:
            return False
    return (start is None or stamp >= start) and (end is None or stamp < end)


def _app(fake: FakeLangfuse) -> Starlette:
    expected = "Basic " + base64.b64encode(f"{fake.public_key}:{fake.secret_key}".encode()).decode(
        "ascii"
    )

    def guard(request: Request) -> Response | None:
        path = request.url.path.removeprefix(PREFIX)
        with fake._lock:
            fake.requests.append(f"{request.method} {path}?{request.url.query}")
        if request.headers.get("authorization") != expected:
            return _error(
                401, "Invalid credentials. Confirm that you've configured the correct host."
            )
        fault = fake.take_fault(path)
        if fault is not None:
            headers = {"retry-after": fault.retry_after} if fault.retry_after else None
            return _error(fault.status, "fault injected by the fake", headers)
        return None

    async def health(request: Request) -> Response:  # open, as Langfuse's is
        with fake._lock:
            fake.requests.append(f"{request.method} /health?{request.url.query}")
        return JSONResponse({"status": "OK", "version": "3.0.0-fake"})

    async def export_spans(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        try:
            decoded = decode_body(
                body, content_type, request.headers.get("content-encoding", ""), MAX_OTLP_BYTES
            )
        except MalformedRequest as exc:
            return _error(400, str(exc))
        except DecodedTooLarge as exc:
            return _error(413, str(exc))
        except UnsupportedEncoding as exc:
            return _error(415, str(exc))
        fake.ingest_spans(decoded.spans)
        if content_type.split(";")[0].strip().lower() == JSON:
            return JSONResponse({})
        # An empty ExportTraceServiceResponse: no field set, zero bytes.
        return Response(b"", media_type="application/x-protobuf")

    async def list_traces(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        query = request.query_params
        order = query.get("orderBy", "timestamp.desc")
        if order not in ("timestamp.asc", "timestamp.desc"):
            return _error(400, f"orderBy {order!r} is not supported by this fake")
        with fake._lock:
            window = (fake._changes, sorted((k, v) for k, v in query.items() if k != "page"))
            if fake._listed is None or fake._listed[0] != window:
                chosen = [t for t in fake.traces.values() if _in_window(t, query)]
                chosen.sort(key=lambda t: (t["timestamp"], t["id"]), reverse=order.endswith("desc"))
                fake._listed = (window, chosen)
            chosen = fake._listed[1]
            # (raw, trace): a raw record is served as it is, a trace as its list summary.
            items = [*((True, r) for r in fake.raw_traces), *((False, t) for t in chosen)]
            return _paged(items, query, lambda item: item[1] if item[0] else fake._summary(item[1]))

    async def read_trace(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        with fake._lock:
            trace = fake.traces.get(request.path_params["trace_id"])
            body = fake._full(trace) if trace is not None else None
        if body is None:
            return _error(404, "Trace not found within authorized project")
        return JSONResponse(body)

    async def list_observations(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        trace_id = request.query_params.get("traceId")
        with fake._lock:
            found = [
                o
                for trace, listed in fake.observations.items()
                if trace_id in (None, trace)
                for o in listed
            ]
        return _paged(sorted(found, key=lambda o: (o["startTime"], o["id"])), request.query_params)

    def sessions() -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for trace in sorted(fake.traces.values(), key=lambda t: t["timestamp"]):
            if trace.get("sessionId"):
                grouped.setdefault(trace["sessionId"], []).append(trace)
        return grouped

    async def list_sessions(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        with fake._lock:
            items = [
                {"id": key, "createdAt": traces[0]["timestamp"], "projectId": PROJECT_ID}
                for key, traces in sessions().items()
            ]
        return _paged(items, request.query_params)

    async def read_session(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        with fake._lock:
            traces = sessions().get(request.path_params["session_id"])
            body = None
            if traces:
                body = {
                    "id": request.path_params["session_id"],
                    "createdAt": traces[0]["timestamp"],
                    "projectId": PROJECT_ID,
                    "traces": copy.deepcopy(traces),
                }
        if body is None:
            return _error(404, "Session not found")
        return JSONResponse(body)

    return Starlette(
        routes=[
            Route(f"{PREFIX}/health", health),
            Route(f"{PREFIX}/otel/v1/traces", export_spans, methods=["POST"]),
            Route(f"{PREFIX}/traces", list_traces),
            Route(f"{PREFIX}/traces/{{trace_id}}", read_trace),
            Route(f"{PREFIX}/observations", list_observations),
            Route(f"{PREFIX}/sessions", list_sessions),
            Route(f"{PREFIX}/sessions/{{session_id}}", read_session),
        ]
    )


class LangfuseServer(FakeServer[FakeLangfuse]):
    """A `FakeLangfuse` served by uvicorn on 127.0.0.1:``port`` (0: a free one), in a thread."""

    label = "Langfuse fake"

    def __init__(self, fake: FakeLangfuse | None = None, *, port: int = 0) -> None:
        super().__init__(fake or FakeLangfuse(), port=port)
