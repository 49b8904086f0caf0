"""A FullStory API fake for the Segment Export flow, on two origins like the real service.

Built from what the real API serves: ``Authorization: Basic
<key>`` with the key as is; ``POST /segments/v1/exports`` (camelCase or snake_case body) answering
an ``operationId``; ``GET /operations/v1/{id}`` going ``PENDING`` -> ``COMPLETED`` (or ``FAILED``)
with ``estimatePctComplete`` and ``results.searchExportId``; ``GET
/search/v1/exports/{id}/results`` answering a signed ``location`` on a *second* server (another
port: another origin) that serves the gzip NDJSON file and, like a storage bucket, refuses a
request carrying an ``Authorization`` header besides its signature. An export is a snapshot of
the events of its time range taken when it is created.

Seed events (`FakeFullStory.add_events`, `session_events`, `synthetic_events`, or a flood
of sessions generated while the export is downloaded, `FakeFullStory.add_session_flood`) and turn
knobs on `FakeFullStory.knobs`: 429 with ``Retry-After`` and 5xx per route, an account without
the export add-on (403), operations that stay pending or fail, expired links, corrupt or cut-short
gzip, downloads that break off, slow answers. Every request is logged with its headers, so a
test can prove the key never went to the download origin.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import json
import random
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from pytest_connectors.fakes.threaded import ThreadedServer

API_KEY = "na1.fAkE0fUlLsToRyKeY0123456789abcdefABCDEF"
ORG_ID = "o-1FAKE-na1"

RouteName = Literal["create", "operation", "results", "download"]


@dataclass
class Knobs:
    """What the fake does; every count is used up by the requests it affects."""

    api_key: str = API_KEY
    export_add_on: bool = True  # False: creating an export is a 403, as on plans without it
    segments: set[str] = field(default_factory=lambda: {"everyone"})
    pending_polls: int = 1  # polls answered PENDING before the operation completes
    stuck: bool = False  # the operation never leaves PENDING
    fail_details: str | None = None  # the operation FAILS (after pending_polls) with this
    rate_limited: dict[str, int] = field(default_factory=dict)  # route -> 429s to answer
    retry_after: str = "2"
    server_errors: dict[str, int] = field(default_factory=dict)  # route -> 5xx to answer
    server_error_status: int = 503
    delays: dict[str, float] = field(default_factory=dict)  # route -> seconds before answering
    expired_links: int = 0  # the first N links issued have expired by the time they are used
    expired_status: int = 403
    corrupt: Literal["garbage", "truncated"] | None = None
    broken_downloads: int = 0  # the first N downloads break off halfway
    echo_auth: bool = False  # error bodies quote the Authorization header they received
    content_encoding: bool = False  # the file is served with Content-Encoding: gzip


@dataclass
class Operation:
    id: str
    export_id: str
    segment_id: str
    start: datetime
    end: datetime
    polls: int = 0
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionFlood:
    """``sessions`` synthetic sessions, session ``n`` starting at ``start + n * spacing``."""

    sessions: int
    start: datetime
    spacing: timedelta

    def events(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """The k-th event of every session, then the next: each session is spread over the
        whole file, the worst order for a reader that keeps a session until it has ended."""
        last = self.start + self.spacing * self.sessions + timedelta(hours=1)
        if end <= self.start or last < start:
            return
        for k in range(_FLOOD_EVENTS):
            for n in range(self.sessions):
                event = flood_session(n, self.start + self.spacing * n)[k]
                if _in_range(event["EventStart"], start, end):
                    yield event


@dataclass
class FullStoryRequest:
    origin: Literal["api", "download"]
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


class FakeFullStory:
    """The state both origins share, and the two ASGI apps that serve it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secret = random.randbytes(16)
        self.download_origin = ""  # set by `FullStoryServer` once its port is known
        self.reset()
        self.api_app = self._build_api()
        self.download_app = self._build_downloads()

    def reset(self, **knobs: Any) -> None:
        with self._lock:
            self.generation = getattr(self, "generation", 0) + 1
            self.knobs = Knobs(**knobs)
            self.events: list[dict[str, Any]] = []
            self.operations: dict[str, Operation] = {}
            self.created_exports: list[dict[str, Any]] = []  # bodies of accepted creations
            self.exports: dict[str, list[dict[str, Any]]] = {}
            self.floods: list[SessionFlood] = []
            self.export_floods: dict[str, list[SessionFlood]] = {}
            self.requests: list[FullStoryRequest] = []
            self.links_issued = 0
            self._ids = 0

    # --- seeding and inspection ---------------------------------------------------------------

    def add_events(self, events: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            self.events.extend(dict(e) for e in events)

    def add_session_flood(
        self, sessions: int, *, start: datetime, spacing: timedelta = timedelta(seconds=1)
    ) -> None:
        """``sessions`` sessions (`flood_session`) that are never held: their events are made
        and compressed while an export holding them is downloaded."""
        with self._lock:
            self.floods.append(SessionFlood(sessions, start, spacing))

    def forget_exports(self) -> None:
        """Every export so far has expired: its results and downloads are gone (404)."""
        with self._lock:
            self.exports.clear()
            self.operations.clear()

    def requests_to(
        self, origin: Literal["api", "download"], path: str = ""
    ) -> list[FullStoryRequest]:
        return [r for r in self.requests if r.origin == origin and r.path.startswith(path)]

    # --- the API origin -----------------------------------------------------------------------

    def _build_api(self) -> Starlette:
        routes = [
            Route("/healthz", self._health),
            Route("/segments/v1/exports", self._create, methods=["POST"]),
            Route("/operations/v1/{operation_id}", self._operation),
            Route("/search/v1/exports/{export_id}/results", self._results),
        ]
        return Starlette(routes=routes)

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    def _refusal(self, request: Request, route: RouteName) -> Response | None:
        """Auth, then the armed faults of this route."""
        if request.headers.get("authorization") != f"Basic {self.knobs.api_key}":
            message = "invalid or missing API key"
            if self.knobs.echo_auth:
                message += f" (got {request.headers.get('authorization')!r})"
            return JSONResponse({"code": "unauthenticated", "message": message}, status_code=401)
        return self._fault(request, route)

    def _fault(self, request: Request, route: RouteName) -> Response | None:
        knobs = self.knobs
        if knobs.rate_limited.get(route, 0) > 0:
            knobs.rate_limited[route] -= 1
            return JSONResponse(
                {"code": "resource_exhausted", "message": "rate limit exceeded"},
                status_code=429,
                headers={"Retry-After": knobs.retry_after},
            )
        if knobs.server_errors.get(route, 0) > 0:
            knobs.server_errors[route] -= 1
            detail = "backend unavailable"
            if knobs.echo_auth:
                detail += f" (request had {request.headers.get('authorization')!r})"
            return JSONResponse(
                {"code": "unavailable", "message": detail}, status_code=knobs.server_error_status
            )
        return None

    async def _create(self, request: Request) -> Response:
        stale = await self._pause("create")
        if stale is not None:
            return stale
        refusal = self._refusal(request, "create")
        if refusal is not None:
            return refusal
        if not self.knobs.export_add_on:
            return JSONResponse(
                {
                    "code": "permission_denied",
                    "message": "Segment Export is not enabled for this account",
                },
                status_code=403,
            )
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            return _bad("the body is not JSON")
        if not isinstance(body, dict):
            return _bad("the body is not a JSON object")
        segment = _either(body, "segmentId", "segment_id")
        kind = body.get("type")
        fmt = body.get("format")
        window = _either(body, "timeRange", "time_range")
        if not isinstance(segment, str) or not segment:
            return _bad("segmentId is required")
        if kind not in ("TYPE_EVENT", "TYPE_INDIVIDUAL"):
            return _bad(f"type must be TYPE_EVENT or TYPE_INDIVIDUAL, got {kind!r}")
        if kind != "TYPE_EVENT" or fmt != "FORMAT_NDJSON":
            return _bad("this fake serves TYPE_EVENT exports in FORMAT_NDJSON only")
        if not isinstance(window, dict):
            return _bad("timeRange is required")
        start, end = _rfc3339(window.get("start")), _rfc3339(window.get("end"))
        if start is None or end is None or start >= end:
            return _bad("timeRange needs RFC 3339 start and end, start before end")
        if segment not in self.knobs.segments:
            return JSONResponse(
                {"code": "not_found", "message": f"segment {segment!r} not found"},
                status_code=404,
            )
        with self._lock:
            self._ids += 1
            operation = Operation(
                id=f"op-{self._ids:06d}",
                export_id=f"exp-{self._ids:06d}",
                segment_id=segment,
                start=start,
                end=end,
                body=body,
            )
            self.operations[operation.id] = operation
            self.created_exports.append(body)
            self.exports[operation.export_id] = [
                e for e in self.events if _in_range(e.get("EventStart"), start, end)
            ]
            self.export_floods[operation.export_id] = list(self.floods)
        return JSONResponse({"operationId": operation.id})

    async def _operation(self, request: Request) -> Response:
        stale = await self._pause("operation")
        if stale is not None:
            return stale
        refusal = self._refusal(request, "operation")
        if refusal is not None:
            return refusal
        operation = self.operations.get(request.path_params["operation_id"])
        if operation is None:
            return JSONResponse(
                {"code": "not_found", "message": "operation not found"}, status_code=404
            )
        operation.polls += 1
        knobs = self.knobs
        answer: dict[str, Any] = {
            "id": operation.id,
            "type": "SEARCH_EXPORT",
            "details": {"segmentId": operation.segment_id},
        }
        if knobs.stuck or operation.polls <= knobs.pending_polls:
            done = min(95, operation.polls * 5) if knobs.stuck else 50
            answer |= {"state": "PENDING", "estimatePctComplete": done}
        elif knobs.fail_details is not None:
            answer |= {"state": "FAILED", "errorDetails": knobs.fail_details}
        else:
            expires = datetime.now(UTC) + timedelta(days=7)
            answer |= {
                "state": "COMPLETED",
                "estimatePctComplete": 100,
                "results": {
                    "searchExportId": operation.export_id,
                    "expires": expires.isoformat().replace("+00:00", "Z"),
                },
            }
        return JSONResponse(answer)

    async def _results(self, request: Request) -> Response:
        stale = await self._pause("results")
        if stale is not None:
            return stale
        refusal = self._refusal(request, "results")
        if refusal is not None:
            return refusal
        export_id = request.path_params["export_id"]
        if export_id not in self.exports:
            return JSONResponse(
                {"code": "not_found", "message": "export not found or expired"}, status_code=404
            )
        with self._lock:
            link = self.links_issued
            self.links_issued += 1
        expires = int(time.time()) + 3600
        signature = self._sign(export_id, link, expires)
        location = (
            f"{self.download_origin}/exports/{export_id}.ndjson.gz"
            f"?link={link}&expires={expires}&signature={signature}"
        )
        return JSONResponse({"location": location})

    def _sign(self, export_id: str, link: int, expires: int) -> str:
        message = f"{export_id}:{link}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    # --- the download origin ------------------------------------------------------------------

    def _build_downloads(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/healthz", self._health),
                Route("/exports/{export_id}.ndjson.gz", self._download),
            ]
        )

    async def _download(self, request: Request) -> Response:
        stale = await self._pause("download")
        if stale is not None:
            return stale
        if "authorization" in request.headers:
            return _storage_error(
                400, "InvalidArgument", "Only one auth mechanism allowed; the signed URL is enough"
            )
        export_id = request.path_params["export_id"]
        try:
            link = int(request.query_params["link"])
            expires = int(request.query_params["expires"])
            signature = request.query_params["signature"]
        except (KeyError, ValueError):
            return _storage_error(403, "AccessDenied", "Query-string authentication is required")
        if not hmac.compare_digest(signature, self._sign(export_id, link, expires)):
            return _storage_error(403, "SignatureDoesNotMatch", "The signature does not match")
        if link < self.knobs.expired_links or expires < time.time():
            status = self.knobs.expired_status
            return _storage_error(status, "AccessDenied", "Request has expired")
        events = self.exports.get(export_id)
        if events is None:
            return _storage_error(404, "NoSuchKey", "The specified key does not exist")
        fault = self._fault(request, "download")
        if fault is not None:
            return fault
        operation = next(o for o in self.operations.values() if o.export_id == export_id)
        floods = self.export_floods.get(export_id, [])
        if floods:
            lines = _flood_lines(events, floods, operation.start, operation.end)
            return StreamingResponse(_gzip_stream(lines), media_type="application/gzip")
        payload = gzip.compress(b"".join(_ndjson_line(e) for e in events), mtime=0)
        if self.knobs.corrupt == "garbage":
            payload = payload[:10] + random.Random(7).randbytes(max(64, len(payload) - 10))
        elif self.knobs.corrupt == "truncated":
            payload = payload[: max(11, len(payload) // 2)]
        broken = self.knobs.broken_downloads > 0
        if broken:
            self.knobs.broken_downloads -= 1
        served = _GzipFile(payload, break_off=broken)
        if self.knobs.content_encoding:
            served.headers["content-encoding"] = "gzip"
        return served

    # --- shared plumbing ----------------------------------------------------------------------

    async def _pause(self, route: RouteName) -> Response | None:
        """Wait as the knob says; a request that outlived a `reset` must not touch the new state."""
        delay = self.knobs.delays.get(route, 0.0)
        if delay <= 0:
            return None
        generation = self.generation
        await asyncio.sleep(delay)
        if generation != self.generation:
            return JSONResponse({"code": "unavailable", "message": "reset"}, status_code=503)
        return None

    def log_request(self, origin: Literal["api", "download"], scope: Scope, body: bytes) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.requests.append(
            FullStoryRequest(
                origin=origin,
                method=scope["method"],
                path=scope["path"],
                query=scope["query_string"].decode("latin-1"),
                headers=headers,
                body=body,
            )
        )


class _GzipFile(Response):
    """The export file, sent in chunks; ``break_off`` closes the connection halfway."""

    def __init__(self, payload: bytes, *, break_off: bool) -> None:
        super().__init__(content=b"", media_type="application/gzip")
        self.payload = payload
        self.break_off = break_off
        self.headers["content-length"] = str(len(payload))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        cut = len(self.payload) // 2 if self.break_off else len(self.payload)
        step = 16 * 1024
        for offset in range(0, cut, step):
            await send(
                {
                    "type": "http.response.body",
                    "body": self.payload[offset : min(offset + step, cut)],
                    "more_body": True,
                }
            )
        if self.break_off:
            raise ConnectionAbortedError("the fake breaks the download off on purpose")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _Logged:
    """Records each request (with its body) before the app sees it."""

    def __init__(self, fake: FakeFullStory, origin: Literal["api", "download"], app: Any) -> None:
        self.fake, self.origin, self.app = fake, origin, app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        self.fake.log_request(self.origin, scope, body)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:  # the server's own answer: a disconnect when the client goes
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _either(body: Mapping[str, Any], camel: str, snake: str) -> Any:
    return body.get(camel, body.get(snake))


def _rfc3339(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def _in_range(value: Any, start: datetime, end: datetime) -> bool:
    moment = _rfc3339(value)
    return moment is not None and start <= moment < end


def _bad(message: str) -> Response:
    return JSONResponse({"code": "invalid_argument", "message": message}, status_code=400)


def _storage_error(status: int, code: str, message: str) -> Response:
    body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
    body += f"<Message>{message}</Message></Error>"
    return Response(body, status_code=status, media_type="application/xml")


def _ndjson_line(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


# --- serving ----------------------------------------------------------------------------------


class FullStoryServer:
    """A `FakeFullStory` served by uvicorn: the API on 127.0.0.1:``port`` (0: a free one),
    downloads on another free loopback port."""

    def __init__(self, fake: FakeFullStory | None = None, *, port: int = 0) -> None:
        self.fake = fake or FakeFullStory()
        self._port = port
        self._servers: list[ThreadedServer] = []

    @property
    def url(self) -> str:
        return self._servers[0].url

    @property
    def download_origin(self) -> str:
        return self._servers[1].url

    def start(self) -> Self:
        self._servers = [
            ThreadedServer(
                _Logged(self.fake, "api", self.fake.api_app), "FullStory fake", port=self._port
            ),
            ThreadedServer(
                _Logged(self.fake, "download", self.fake.download_app), "FullStory download fake"
            ),
        ]
        self.fake.download_origin = self.download_origin
        try:
            for server in self._servers:
                server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        self._servers = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --- events as the export holds them ----------------------------------------------------------


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def session_events(
    user_id: int | str,
    session_id: int | str,
    start: datetime,
    *,
    pages: Iterable[str] = ("https://shop.example/",),
    clicks_per_page: int = 1,
    frustrated: int = 0,
    dead: int = 0,
    errors: int = 0,
    custom: Iterable[tuple[str, Mapping[str, Any]]] = (),
    app_user_id: str | None = None,
    email: str | None = None,
    step: timedelta = timedelta(seconds=2),
) -> list[dict[str, Any]]:
    """The events one session leaves in an export: a navigate per page, clicks, custom events.

    Flags go on the first clicks (``frustrated``, then ``dead``, then ``errors``); custom event
    properties are written as the browser API sends them (``evt_<name>_<type>`` in
    ``CustomVars``, a JSON string).
    """
    events: list[dict[str, Any]] = []
    moment = start
    common = {
        "IndvId": user_id,
        "UserId": user_id,
        "SessionId": session_id,
        "UserAppKey": app_user_id or "",
        "UserEmail": email or "",
        "UserDisplayName": app_user_id or "",
        "SessionStart": _at(start),
    }
    flags = ["EventModFrustrated"] * frustrated + ["EventModDead"] * dead
    flags += ["EventModError"] * errors

    def event(kind: str, page_id: int, url: str, **extra: Any) -> None:
        nonlocal moment
        events.append(
            {
                **common,
                "EventStart": _at(moment),
                "EventType": kind,
                "EventCustomName": "",
                "EventTargetText": "",
                "EventModFrustrated": 0,
                "EventModDead": 0,
                "EventModError": 0,
                "PageId": page_id,
                "PageUrl": url,
                "PageDuration": 30000,
                "CustomVars": "{}",
                **extra,
            }
        )
        moment += step

    page_list = list(pages)
    for index, url in enumerate(page_list):
        page_id = 1000 + index
        event("navigate", page_id, url)
        for _ in range(clicks_per_page):
            flag: dict[str, Any] = {flags.pop(0): 1} if flags else {}
            event("click", page_id, url, EventTargetText="Buy", **flag)
    last_page = (1000 + len(page_list) - 1, page_list[-1] if page_list else "")
    while flags:
        flag = {flags.pop(0): 1}
        event("click", *last_page, EventTargetText="Buy", **flag)
    for name, properties in custom:
        typed = {f"evt_{key}_{_type_suffix(value)}": value for key, value in properties.items()}
        event("custom", *last_page, EventCustomName=name, CustomVars=json.dumps(typed))
    return events


_FLOOD_EVENTS = 5


def flood_session(n: int, start: datetime) -> list[dict[str, Any]]:
    """Session ``n`` of a flood: two pages, a click on each, a chat opened; five events."""
    events = session_events(
        5_000_000_000 + n,
        7_000_000_000_000 + n,
        start,
        pages=[f"https://shop.example/p/{n % 50}", f"https://shop.example/p/{n % 7}"],
        frustrated=n % 2,
        custom=[("Chat Opened", {"thread_id": f"thread-{n:06d}"})],
        app_user_id=f"user-{n % 100}",
    )
    assert len(events) == _FLOOD_EVENTS
    return events


def _flood_lines(
    events: list[dict[str, Any]], floods: list[SessionFlood], start: datetime, end: datetime
) -> Iterator[bytes]:
    for event in events:
        yield _ndjson_line(event)
    for flood in floods:
        for event in flood.events(start, end):
            yield _ndjson_line(event)


def _gzip_stream(lines: Iterator[bytes], chunk: int = 256 * 1024) -> Iterator[bytes]:
    """One gzip member, compressed as the lines are made."""
    compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    buffered: list[bytes] = []
    size = 0
    for line in lines:
        buffered.append(line)
        size += len(line)
        if size >= chunk:
            yield compressor.compress(b"".join(buffered))
            buffered, size = [], 0
    yield compressor.compress(b"".join(buffered)) + compressor.flush()


def _type_suffix(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "real"
    return "str"


def synthetic_events(
    sessions: int,
    *,
    start: datetime,
    spacing: timedelta = timedelta(seconds=30),
    seed: int = 0,
) -> list[dict[str, Any]]:
    """``sessions`` sessions of a few events each, spaced out from ``start``, in shuffled order
    (an export promises no order). Session ``n`` has user id ``5000000000 + n``."""
    chooser = random.Random(seed)
    events: list[dict[str, Any]] = []
    for n in range(sessions):
        events += session_events(
            5_000_000_000 + n,
            7_000_000_000_000 + n,
            start + spacing * n,
            pages=[f"https://shop.example/p/{chooser.randrange(50)}" for _ in range(2)],
            frustrated=chooser.randrange(2),
            custom=[("Chat Opened", {"thread_id": f"thread-{n:06d}"})],
            app_user_id=f"user-{n % 100}",
        )
    chooser.shuffle(events)
    return events
