"""A LangSmith API fake that speaks the dialect the real service and its SDK speak.

Built from what the real API serves: routes at the root and
under ``/api/v1``, ``x-api-key`` auth with the workspace rule of organisation-scoped keys,
``GET /info`` announcing JSON batch ingestion (so the real tracer posts ``POST /runs/batch``),
projects (``/sessions``), ingestion (``POST /runs``, ``PATCH /runs/{id}``, ``POST /runs/batch``)
and reading (``POST /runs/query`` with cursors and its 400s, ``POST /runs/stats``). Runs are
served as the API serves them: timestamps without a zone, a ``status``, the project's id.

Seed it directly (`FakeLangSmith.add_run`, `seed_runs`) or through a real tracer (point
``LANGSMITH_ENDPOINT`` at it, with `API_KEY`), and arm one-shot faults (`fail_next`, `slow_next`,
`drop_next`, `malformed_next`). `LangSmithServer` serves it with uvicorn on a loopback port, in
a thread of the calling process.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import copy
import json
import os
import sys
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pytest_connectors._support.times import parse_utc
from pytest_connectors.fakes.threaded import FakeServer
from pytest_connectors.servers.launch import LocalServer

API_KEY = "lsv2_pt_fake0123456789abcdef0123456789abcdef_0123456789"
TENANT_ID = "2f1c8a52-6a9c-4c8e-9d3f-0b1d2e3f4a5b"
MAX_LIMIT = 100
PREFIX = "/api/v1"

_NO_SCOPE = (
    "At least one of 'session', 'id', 'parent_run', 'trace' or 'reference_example' "
    "must be specified"
)


def _naive_iso(value: datetime) -> str:
    """How the API writes times: UTC, microseconds, no zone."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


@dataclass
class Fault:
    kind: str  # "status" | "slow" | "drop" | "malformed"
    path: str
    times: int = 1
    status: int = 500
    retry_after: str | None = None
    body: Any = None
    seconds: float = 0.0
    variant: str = "json"  # for "malformed": "json" | "no_cursor" | "shape"


@dataclass
class LangSmithRequest:
    method: str
    path: str  # without the /api/v1 prefix
    raw_path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: Any


@dataclass
class _Project:
    id: str
    name: str
    created: datetime
    description: str | None = None
    extra: dict[str, Any] | None = None
    # (start_time, run id) of the project's runs, kept sorted: pages are cut with bisect.
    index: list[tuple[datetime, str]] = field(default_factory=list)

    def as_json(self, run_count: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "tenant_id": TENANT_ID,
            "start_time": _naive_iso(self.created),
            "end_time": None,
            "description": self.description,
            "extra": self.extra,
            "reference_dataset_id": None,
            "default_dataset_id": None,
            "trace_tier": "longlived",
        }
        if run_count is not None:
            body["run_count"] = run_count
        return body


class FakeLangSmith:
    """The state of one fake LangSmith organisation, and the ASGI app that serves it.

    ``api_keys`` maps each accepted key to the workspace id it needs in ``x-tenant-id``
    (``None`` for a workspace-scoped key, which needs none).
    """

    def __init__(self, api_keys: Mapping[str, str | None] | None = None) -> None:
        self._lock = threading.RLock()
        self.api_keys: dict[str, str | None] = dict(api_keys or {API_KEY: None})
        self.projects: dict[str, _Project] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.requests: list[LangSmithRequest] = []
        self.page_overlap = 0  # rows each next page repeats from the previous one
        self.generation = 0  # bumped by reset(): a request from before it must not touch state
        self.app: ASGIApp = _Prefixed(_Faulty(self, self._build_app()))

    def reset(self) -> None:
        with self._lock:
            self.api_keys = {API_KEY: None}
            self.projects.clear()
            self.runs.clear()
            self.faults.clear()
            self.requests.clear()
            self.page_overlap = 0
            self.generation += 1

    # --- seeding ------------------------------------------------------------------------------

    def add_project(self, name: str, *, project_id: str | None = None) -> str:
        with self._lock:
            project = self._project_named(name)
            if project is None:
                project = _Project(project_id or str(uuid.uuid4()), name, datetime.now(UTC))
                self.projects[project.id] = project
            return project.id

    def add_run(self, run: Mapping[str, Any], *, project: str = "default") -> dict[str, Any]:
        """Store a run as a tracer posts it (times with or without zone); returns it as served."""
        with self._lock:
            return self._ingest(dict(run), default_project=project)

    def add_runs(self, runs: Iterable[Mapping[str, Any]], *, project: str = "default") -> None:
        with self._lock:
            for run in runs:
                self._ingest(dict(run), default_project=project)

    def complete_run(
        self,
        run_id: str,
        *,
        outputs: Mapping[str, Any] | None = None,
        error: str | None = None,
        end_time: datetime | None = None,
    ) -> dict[str, Any]:
        """Finish a pending run, as the tracer's PATCH does."""
        patch: dict[str, Any] = {"end_time": end_time or datetime.now(UTC)}
        if outputs is not None:
            patch["outputs"] = dict(outputs)
        if error is not None:
            patch["error"] = error
        with self._lock:
            return self._patch(run_id, patch)

    def delete_run(self, run_id: str) -> None:
        with self._lock:
            run = self.runs.pop(run_id)
            project = self.projects[run["session_id"]]
            project.index.remove((parse_utc(run["start_time"]) or _epoch(), run_id))

    def root_runs(self, project: str) -> list[dict[str, Any]]:
        with self._lock:
            found = self._project_named(project)
            if found is None:
                return []
            rows = (self.runs[run_id] for _, run_id in found.index)
            return [copy.deepcopy(r) for r in rows if r.get("parent_run_id") is None]

    # --- faults -------------------------------------------------------------------------------

    def fail_next(
        self,
        path: str,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        body: Any = None,
    ) -> None:
        """The next ``times`` requests to ``path`` answer ``status`` (429: with Retry-After)."""
        self._arm(Fault("status", path, times, status=status, retry_after=retry_after, body=body))

    def slow_next(self, path: str, seconds: float, *, times: int = 1) -> None:
        self._arm(Fault("slow", path, times, seconds=seconds))

    def drop_next(self, path: str, *, times: int = 1) -> None:
        """Start the answer, then close the connection halfway through the body."""
        self._arm(Fault("drop", path, times))

    def malformed_next(self, path: str, variant: str = "json", *, times: int = 1) -> None:
        """``json``: a body that is not JSON; ``no_cursor``: a page without its next cursor;
        ``shape``: JSON of the wrong shape."""
        self._arm(Fault("malformed", path, times, variant=variant))

    def _arm(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def take_fault(self, path: str, kinds: tuple[str, ...]) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.path == path and fault.kind in kinds:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    # --- storage ------------------------------------------------------------------------------

    def _project_named(self, name: str) -> _Project | None:
        return next((p for p in self.projects.values() if p.name == name), None)

    def _ingest(self, run: dict[str, Any], default_project: str) -> dict[str, Any]:
        run_id = str(run.get("id") or uuid.uuid4())
        if run_id in self.runs:  # a repeated post updates, as batch ingestion does
            return self._patch(run_id, run)
        session_id = run.pop("session_id", None)
        name = run.pop("session_name", None) or default_project
        if session_id is not None and str(session_id) in self.projects:
            project = self.projects[str(session_id)]
        else:
            project = self.projects[self.add_project(name)]
        start = parse_utc(run.get("start_time")) or datetime.now(UTC)
        stored: dict[str, Any] = {
            "id": run_id,
            "name": run.get("name", ""),
            "run_type": run.get("run_type", "chain"),
            "start_time": _naive_iso(start),
            "end_time": None,
            "status": "pending",
            "error": None,
            "inputs": run.get("inputs") or {},
            "outputs": None,
            "extra": run.get("extra") or {},
            "events": run.get("events") or [],
            "tags": run.get("tags") or [],
            "parent_run_id": _str_or_none(run.get("parent_run_id")),
            "trace_id": str(run.get("trace_id") or run_id),
            "dotted_order": run.get("dotted_order") or f"{start:%Y%m%dT%H%M%S%fZ}{run_id}",
            "session_id": project.id,
            "reference_example_id": _str_or_none(run.get("reference_example_id")),
            "total_tokens": run.get("total_tokens", 0),
            "prompt_tokens": run.get("prompt_tokens", 0),
            "completion_tokens": run.get("completion_tokens", 0),
            "first_token_time": None,
            "app_path": f"/o/{TENANT_ID}/projects/p/{project.id}/r/{run_id}",
        }
        self.runs[run_id] = stored
        bisect.insort(project.index, (start, run_id))
        finish = {k: run[k] for k in ("end_time", "outputs", "error") if run.get(k) is not None}
        if finish:
            self._patch(run_id, finish)
        return copy.deepcopy(stored)

    def _patch(self, run_id: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        stored = self.runs[run_id]
        for key in ("outputs", "error", "events", "tags", "inputs", "name"):
            if patch.get(key) is not None:
                stored[key] = patch[key]
        extra = patch.get("extra")
        if isinstance(extra, Mapping):
            merged = dict(stored.get("extra") or {})
            for key, value in extra.items():
                if key == "metadata" and isinstance(value, Mapping):
                    merged["metadata"] = {**(merged.get("metadata") or {}), **value}
                else:
                    merged[key] = value
            stored["extra"] = merged
        end = parse_utc(patch.get("end_time"))
        if end is not None:
            stored["end_time"] = _naive_iso(end)
        if stored["end_time"] is not None:
            stored["status"] = "error" if stored["error"] else "success"
        return copy.deepcopy(stored)

    # --- reading ------------------------------------------------------------------------------

    def _keys(self, body: Mapping[str, Any]) -> list[tuple[datetime, str]]:
        """(start_time, id) of the runs in the query's projects, ascending."""
        sessions = body.get("session") or []
        if len(sessions) == 1:
            project = self.projects.get(str(sessions[0]))
            return project.index if project is not None else []
        if sessions:
            found = [self.projects[str(s)] for s in sessions if str(s) in self.projects]
            return sorted(key for project in found for key in project.index)
        return sorted((parse_utc(r["start_time"]) or _epoch(), i) for i, r in self.runs.items())

    def _scan(self, body: Mapping[str, Any], after: tuple[datetime, str] | None) -> Iterable[Any]:
        """The matching runs in the query's order, strictly after the key ``after`` (keyset)."""
        keys = self._keys(body)
        low, high = parse_utc(body.get("start_time")), parse_utc(body.get("end_time"))
        if body.get("order", "desc") == "asc":
            position = bisect.bisect_left(keys, (low, "")) if low else 0
            if after is not None:
                position = max(position, bisect.bisect_right(keys, after))
            for key in keys[position:]:
                if high is not None and key[0] > high:
                    return
                if _selected(run := self.runs[key[1]], body):
                    yield key, run
        else:
            position = bisect.bisect_left(keys, after) if after is not None else len(keys)
            for key in reversed(keys[:position]):
                if low is not None and key[0] < low:
                    return
                if _selected(run := self.runs[key[1]], body):
                    yield key, run

    def query(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """One page, sharing its values with the store (call it under the lock).

        Like the real API, a full page always has a next cursor (the page after it may be
        empty); ``page_overlap`` makes the next page repeat that many rows."""
        after = _decode_cursor(body["cursor"]) if body.get("cursor") else None
        limit = int(body.get("limit", MAX_LIMIT))
        page = []
        for item in self._scan(body, after):
            page.append(item)
            if len(page) >= limit:
                break
        following = None
        if len(page) >= limit:
            back = min(self.page_overlap, len(page) - 1)
            following = _encode_cursor(page[len(page) - 1 - back][0])
        select = body.get("select")
        served = [_project_fields(run, select) for _, run in page]
        return {"runs": served, "cursors": {"next": following, "prev": None}}

    # --- the app ------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        routes = [
            Route("/info", self._info, methods=["GET"]),
            Route("/healthz", self._health, methods=["GET"]),
            Route("/sessions", self._list_sessions, methods=["GET"]),
            Route("/sessions", self._create_session, methods=["POST"]),
            Route("/sessions/{project_id}", self._read_session, methods=["GET"]),
            Route("/runs/query", self._query, methods=["POST"]),
            Route("/runs/stats", self._stats, methods=["POST"]),
            Route("/runs/batch", self._batch, methods=["POST"]),
            Route("/runs", self._create_run, methods=["POST"]),
            Route("/runs/{run_id}", self._update_run, methods=["PATCH"]),
            Route("/runs/{run_id}", self._read_run, methods=["GET"]),
        ]
        return Starlette(routes=routes)

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def _info(self, request: Request) -> Response:
        return JSONResponse(
            {
                "version": "0.10.0",
                "license_expiration_time": None,
                "batch_ingest_config": {
                    "use_multipart_endpoint": False,
                    "scale_up_qsize_trigger": 1000,
                    "scale_up_nthreads_limit": 16,
                    "scale_down_nempty_trigger": 4,
                    "size_limit": 100,
                    "size_limit_bytes": 20_971_520,
                },
                "instance_flags": {},
                "tenant_handle": None,
            }
        )

    async def _list_sessions(self, request: Request) -> Response:
        name = request.query_params.get("name")
        limit = int(request.query_params.get("limit", "100"))
        stats = request.query_params.get("include_stats", "false").lower() == "true"
        with self._lock:
            found = [p for p in self.projects.values() if name is None or p.name == name]
            return JSONResponse([self._session_json(p, stats) for p in found[:limit]])

    async def _read_session(self, request: Request) -> Response:
        with self._lock:
            project = self.projects.get(request.path_params["project_id"])
            if project is None:
                return _detail(404, "Session not found")
            return JSONResponse(self._session_json(project, True))

    def _session_json(self, project: _Project, stats: bool) -> dict[str, Any]:
        return project.as_json(len(project.index) if stats else None)

    async def _create_session(self, request: Request) -> Response:
        body = await request.json()
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return _detail(422, "name is required")
        upsert = request.query_params.get("upsert", "false").lower() == "true"
        with self._lock:
            existing = self._project_named(name)
            if existing is not None and not upsert:
                return _detail(409, "Session already exists.")
            project_id = self.add_project(name, project_id=body.get("id"))
            project = self.projects[project_id]
            project.description = body.get("description")
            project.extra = body.get("extra")
            return JSONResponse(project.as_json(), status_code=201 if existing is None else 200)

    async def _query(self, request: Request) -> Response:
        body, problem = await _json_object(request)
        if problem is not None:
            return problem
        if not any(body.get(k) for k in ("session", "id", "trace", "parent_run")) and not body.get(
            "reference_example"
        ):
            return _detail(400, _NO_SCOPE)
        limit = body.get("limit", MAX_LIMIT)
        if not isinstance(limit, int) or limit < 1:
            return _detail(422, "limit must be a positive integer")
        if limit > MAX_LIMIT:
            return _detail(400, f"Limit exceeds maximum allowed value of {MAX_LIMIT}")
        if body.get("cursor") and _decode_cursor(str(body["cursor"])) is None:
            return _detail(400, "Invalid cursor")
        fault = self.take_fault("/runs/query", ("malformed",))
        if fault is not None and fault.variant == "json":
            return Response('{"runs": [{"id": ', media_type="application/json")
        if fault is not None and fault.variant == "shape":
            return JSONResponse({"runs": {"unexpected": True}, "cursors": []})
        with self._lock:  # rendered under the lock: the page shares its rows with the store
            answer = self.query(body)
            if fault is not None:  # "no_cursor"
                answer["cursors"] = {"next": None, "prev": None}
            return JSONResponse(answer)

    async def _stats(self, request: Request) -> Response:
        body, problem = await _json_object(request)
        if problem is not None:
            return problem
        with self._lock:
            rows = [run for _, run in self._scan(body, None)]
        errors = sum(1 for r in rows if r["status"] == "error")
        return JSONResponse(
            {
                "run_count": len(rows),
                "error_rate": errors / len(rows) if rows else 0.0,
                "total_tokens": sum(r.get("total_tokens") or 0 for r in rows),
            }
        )

    async def _batch(self, request: Request) -> Response:
        body, problem = await _json_object(request)
        if problem is not None:
            return problem
        with self._lock:
            for run in body.get("post") or []:
                self._ingest(dict(run), default_project="default")
            for patch in body.get("patch") or []:
                run_id = str(patch.get("id"))
                if run_id in self.runs:
                    self._patch(run_id, patch)
                else:
                    self._ingest(dict(patch), default_project="default")
        return JSONResponse({}, status_code=202)

    async def _create_run(self, request: Request) -> Response:
        body, problem = await _json_object(request)
        if problem is not None:
            return problem
        with self._lock:
            self._ingest(body, default_project="default")
        return JSONResponse({}, status_code=202)

    async def _update_run(self, request: Request) -> Response:
        body, problem = await _json_object(request)
        if problem is not None:
            return problem
        run_id = request.path_params["run_id"]
        with self._lock:
            if run_id not in self.runs:
                return _detail(404, "Run not found")
            self._patch(run_id, body)
        return JSONResponse({}, status_code=202)

    async def _read_run(self, request: Request) -> Response:
        with self._lock:
            run = self.runs.get(request.path_params["run_id"])
            if run is None:
                return _detail(404, "Run not found")
            return JSONResponse(copy.deepcopy(run))


def _epoch() -> datetime:
    return datetime.fromtimestamp(0, UTC)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _selected(run: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    if body.get("is_root") is not None and (run["parent_run_id"] is None) != body["is_root"]:
        return False
    if body.get("id") and run["id"] not in {str(i) for i in body["id"]}:
        return False
    if body.get("trace") and run["trace_id"] != str(body["trace"]):
        return False
    if body.get("parent_run") and run["parent_run_id"] != str(body["parent_run"]):
        return False
    if body.get("run_type") and run["run_type"] != body["run_type"]:
        return False
    if body.get("error") is not None and (run["status"] == "error") != body["error"]:
        return False
    start = parse_utc(run["start_time"]) or _epoch()
    low, high = parse_utc(body.get("start_time")), parse_utc(body.get("end_time"))
    return (low is None or start >= low) and (high is None or start <= high)


def _project_fields(run: Mapping[str, Any], select: Any) -> dict[str, Any]:
    """The selected fields of a run (all without ``select``); shares values with the store."""
    if not isinstance(select, list) or not select:
        return dict(run)
    return {k: run.get(k) for k in {"id", *select}}


def _encode_cursor(key: tuple[datetime, str]) -> str:
    text = json.dumps({"start": key[0].isoformat(), "id": key[1]})
    return base64.urlsafe_b64encode(text.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str] | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(value["start"]), str(value["id"])
    except (ValueError, KeyError, TypeError):
        return None


def _detail(status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


async def _json_object(request: Request) -> tuple[dict[str, Any], Response | None]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}, _detail(422, "body is not valid JSON")
    if not isinstance(body, dict):
        return {}, _detail(422, "body must be a JSON object")
    return body, None


class _Prefixed:
    """Serve every route both at the root and under ``/api/v1``, as the real API does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX + "/"):
            path = scope["path"]
            scope = {**scope, "path": path[len(PREFIX) :], "raw_path": None, "sent_path": path}
        await self.app(scope, receive, send)


_OPEN_PATHS = {"/info", "/healthz"}


class _Faulty:
    """Logs requests, checks the API key and workspace, and plays the armed faults."""

    def __init__(self, fake: FakeLangSmith, app: ASGIApp) -> None:
        self.fake = fake
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        raw = await request.body()
        path: str = scope["path"]
        try:
            logged_body = json.loads(raw) if raw else None
        except ValueError:
            logged_body = raw.decode("utf-8", "replace")
        with self.fake._lock:
            self.fake.requests.append(
                LangSmithRequest(
                    scope["method"],
                    path,
                    scope.get("sent_path", path),
                    dict(request.headers),
                    dict(request.query_params),
                    logged_body,
                )
            )

        async def replay() -> Message:
            return {"type": "http.request", "body": raw, "more_body": False}

        if path not in _OPEN_PATHS:
            refusal = self._refusal(request)
            if refusal is not None:
                await refusal(scope, replay, send)
                return
        generation = self.fake.generation
        fault = self.fake.take_fault(path, ("status", "slow", "drop"))
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
            if self.fake.generation != generation:  # its test is over; leave the next one be
                await _detail(503, "reset while waiting")(scope, replay, send)
                return
        elif fault is not None and fault.kind == "drop":
            await send({"type": "http.response.start", "status": 200, "headers": _cut_headers()})
            await send({"type": "http.response.body", "body": b'{"runs": [', "more_body": True})
            raise ConnectionAbortedError("the fake dropped the connection on purpose")
        elif fault is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            body = fault.body if fault.body is not None else {"detail": f"fault {fault.status}"}
            await JSONResponse(body, fault.status, headers)(scope, replay, send)
            return
        await self.app(scope, replay, send)

    def _refusal(self, request: Request) -> Response | None:
        key = request.headers.get("x-api-key")
        if not key or key not in self.fake.api_keys:
            return _detail(401, "Invalid token")
        workspace = self.fake.api_keys[key]
        tenant = request.headers.get("x-tenant-id")
        if workspace is not None and not tenant:
            return JSONResponse({"error": "org_scoped_key_requires_workspace"}, 403)
        if workspace is not None and tenant != workspace:
            return _detail(403, "Forbidden")
        return None


def _cut_headers() -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", b"4096")]


class LangSmithServer(FakeServer[FakeLangSmith]):
    """A `FakeLangSmith` served by uvicorn on 127.0.0.1:``port`` (0: a free one), in a thread."""

    label = "LangSmith fake"

    def __init__(self, fake: FakeLangSmith | None = None, *, port: int = 0) -> None:
        super().__init__(fake or FakeLangSmith(), port=port)


# --- synthetic data for benchmarks ---------------------------------------------------------


def synthetic_runs(
    count: int,
    *,
    start: datetime,
    spacing: timedelta = timedelta(milliseconds=10),
    turns_per_thread: int = 2,
) -> list[dict[str, Any]]:
    """``count`` finished LangGraph-shaped root runs, ``turns_per_thread`` turns a thread."""
    runs = []
    for n in range(count):
        began = start + spacing * n
        run_id = str(uuid.UUID(int=n + 1, version=4))
        thread = f"thread-{n // turns_per_thread:06d}"
        question = f"What's the weather in city {n}?"
        state = [
            {"type": "human", "content": question, "id": f"h{n}"},
            {
                "type": "ai",
                "content": "",
                "id": f"a{n}",
                "tool_calls": [
                    {"name": "get_weather", "args": {"city": f"c{n}"}, "id": f"call_{n}"}
                ],
            },
            {"type": "tool", "content": "Sunny", "tool_call_id": f"call_{n}", "id": f"t{n}"},
            {"type": "ai", "content": f"It is sunny in c{n}.", "id": f"b{n}"},
        ]
        runs.append(
            {
                "id": run_id,
                "name": "LangGraph",
                "run_type": "chain",
                "start_time": began,
                "end_time": began + spacing / 2,
                "inputs": {"messages": [{"role": "user", "content": question}]},
                "outputs": {"messages": state},
                "extra": {"metadata": {"thread_id": thread}},
                "tags": [],
                "trace_id": run_id,
            }
        )
    return runs


def seed_runs(
    fake: FakeLangSmith,
    count: int,
    *,
    project: str = "bench",
    start: datetime | None = None,
    spacing: timedelta = timedelta(milliseconds=10),
    turns_per_thread: int = 2,
) -> list[str]:
    """Put ``count`` synthetic root runs into ``project`` quickly; returns their ids in order."""
    began = start or datetime(2026, 1, 1, tzinfo=UTC)
    runs = synthetic_runs(count, start=began, spacing=spacing, turns_per_thread=turns_per_thread)
    fake.add_runs(runs, project=project)
    return [r["id"] for r in runs]


# --- a fake in its own process, for benchmarks ------------------------------------------------

_SEED_COUNT = "LANGSMITH_FAKE_SEED_RUNS"
_SEED_PROJECT = "LANGSMITH_FAKE_SEED_PROJECT"
_SEED_TURNS = "LANGSMITH_FAKE_SEED_TURNS_PER_THREAD"


def app_from_environment() -> ASGIApp:
    """uvicorn factory: a fake holding ``$LANGSMITH_FAKE_SEED_RUNS`` synthetic runs."""
    fake = FakeLangSmith()
    count = int(os.environ.get(_SEED_COUNT, "0"))
    if count:
        seed_runs(
            fake,
            count,
            project=os.environ.get(_SEED_PROJECT, "bench"),
            turns_per_thread=int(os.environ.get(_SEED_TURNS, "2")),
        )
    return fake.app


class LangSmithProcess(LocalServer):
    """The fake in a uvicorn process of its own, seeded with ``count`` synthetic root runs.

    A fake in the test process competes with the code under test for the interpreter lock;
    measurements want it elsewhere. It has no fault knobs: use `LangSmithServer` for those.
    Its runs start at 2026-01-01T00:00:00Z, 10 ms apart, ``turns_per_thread`` turns a thread.
    """

    name = "LangSmith fake"

    def __init__(self, count: int, *, project: str = "bench", turns_per_thread: int = 2) -> None:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "pytest_connectors.fakes.langsmith:app_from_environment",
            "--factory",
            "--host",
            "{host}",
            "--port",
            "{port}",
            "--log-level",
            "warning",
        ]
        env = {
            _SEED_COUNT: str(count),
            _SEED_PROJECT: project,
            _SEED_TURNS: str(turns_per_thread),
        }
        root = str(Path(__file__).resolve().parents[2])  # this checkout first, as it is imported
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        super().__init__(command, ready_path="/healthz", env=env, startup_timeout=120)
