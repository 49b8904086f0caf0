"""The routes. Each hands the caller's scope to the data layer and shows what comes back.

Scoping lives below, in the data layer: a route never picks rows itself, so it cannot forget
the scope. ``{ref}`` is a connector id, or its name when that is unique within the key's reach,
the same as the facade takes.

Reads of one record or of the connector list run on the event loop: they are a single indexed
query that no writer can block (SQLite in WAL mode, PostgreSQL MVCC), cheaper than the hand-off
to a worker thread, which on a loaded machine costs milliseconds. Writes, which may wait for a
lock, and the larger conversation pages run in the thread pool.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel

from pytest_connectors import __version__
from pytest_connectors.imports.backend import (
    MAX_SEARCH_TEXT,
    ConnectResult,
    ConversationDetail,
    ConversationList,
    ConversationQuery,
)
from pytest_connectors.models.imports import ImportConnector, Job
from pytest_connectors.service.auth import Caller
from pytest_connectors.service.bodies import (
    ConnectBody,
    ConnectorList,
    ConversationItems,
    CreateConnectorBody,
    ErrorBody,
    Health,
    NativeConversationsBody,
    SessionList,
    SyncBody,
    UpdateConnectorBody,
)
from pytest_connectors.service.data import Data

# The longest a GET /api/jobs/{id}?wait= holds the connection; clients ask again after it.
MAX_WAIT_S = 60.0
_POLL_S = 0.1  # SQLite; on PostgreSQL waits wake on NOTIFY
MAX_PAGE = 500

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "malformed request",
        401: "no valid API key",
        404: "no such record within the key's reach",
        413: "request body too large",
        422: "invalid input",
    }.items()
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "the key may not act for that agent"},
    409: {"model": ErrorBody, "description": "the name is taken"},
}

router = APIRouter(prefix="/api", responses=_ERRORS)
public_router = APIRouter(prefix="/api")

Ref = Annotated[str, Path(min_length=1, max_length=200, description="connector id or name")]
RecordId = Annotated[str, Path(min_length=1, max_length=200)]


def _data(request: Request) -> Data:
    data: Data = request.app.state.data
    return data


def _send(model: BaseModel, status: int = 200) -> Response:
    # Serialised here rather than by FastAPI: the records are validated already, and skipping a
    # second validation keeps a GET cheap.
    return Response(model.model_dump_json(by_alias=True), status, media_type="application/json")


@public_router.get("/health", response_model=Health, tags=["service"])
def health() -> Response:
    return _send(Health(status="ok", version=__version__))


@router.get("/connectors", response_model=ConnectorList, tags=["connectors"])
async def list_connectors(
    request: Request,
    scope: Caller,
    agent_id: Annotated[str | None, Query(alias="agentId", max_length=128)] = None,
) -> Response:
    found = _data(request).run(scope, lambda b: b.list_connectors(agent_id))
    return _send(ConnectorList(items=found))


@router.post(
    "/connectors",
    status_code=201,
    response_model=ImportConnector,
    tags=["connectors"],
    responses=_WRITE_ERRORS,
)
def create_connector(request: Request, scope: Caller, body: CreateConnectorBody) -> Response:
    return _send(_data(request).create_connector(scope, body), 201)


@router.get("/connectors/{ref}", response_model=ImportConnector, tags=["connectors"])
async def get_connector(request: Request, scope: Caller, ref: Ref) -> Response:
    return _send(_data(request).run(scope, lambda b: b.get_connector(ref)))


@router.patch(
    "/connectors/{ref}",
    response_model=ImportConnector,
    tags=["connectors"],
    responses=_WRITE_ERRORS,
)
def update_connector(
    request: Request, scope: Caller, ref: Ref, body: UpdateConnectorBody
) -> Response:
    changes = body.model_dump(exclude_unset=True, by_alias=True)
    return _send(_data(request).run(scope, lambda b: b.update_connector(ref, changes)))


@router.delete("/connectors/{ref}", status_code=204, tags=["connectors"])
def delete_connector(request: Request, scope: Caller, ref: Ref) -> Response:
    _data(request).run(scope, lambda b: b.delete_connector(ref))
    return Response(status_code=204)


@router.post("/connectors/{ref}/connect", response_model=ConnectResult, tags=["connectors"])
def connect_connector(
    request: Request,
    scope: Caller,
    ref: Ref,
    body: Annotated[ConnectBody | None, Body()] = None,
) -> Response:
    config = body.config if body is not None else None
    return _send(_data(request).run(scope, lambda b: b.connect(ref, config)))


@router.post("/connectors/{ref}/disconnect", response_model=ImportConnector, tags=["connectors"])
def disconnect_connector(request: Request, scope: Caller, ref: Ref) -> Response:
    return _send(_data(request).run(scope, lambda b: b.disconnect(ref)))


@router.post("/connectors/{ref}/sync", response_model=Job, tags=["connectors"])
def sync_connector(
    request: Request,
    scope: Caller,
    ref: Ref,
    body: Annotated[SyncBody | None, Body()] = None,
) -> Response:
    start = body.from_ if body is not None else None
    end = body.to if body is not None else None
    return _send(_data(request).run(scope, lambda b: b.sync(ref, start, end)))


@router.get("/jobs/{job_id}", response_model=Job, tags=["jobs"])
async def get_job(
    request: Request,
    scope: Caller,
    job_id: RecordId,
    wait: Annotated[
        float | None,
        Query(ge=0, le=MAX_WAIT_S, description="seconds to hold the answer until the job ends"),
    ] = None,
) -> Response:
    data = _data(request)

    def look() -> Job:
        return data.run(scope, lambda b: b.get_job(job_id))

    signals = request.app.state.store.job_signals
    seen = signals.generation
    job = look()
    if wait:
        deadline = time.monotonic() + wait
        while not job.status.finished:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            # On PostgreSQL a finished job wakes this at once; elsewhere it is a short poll.
            await anyio.to_thread.run_sync(signals.wait, seen, min(signals.interval(_POLL_S), left))
            seen = signals.generation
            job = look()
    return _send(job)


@router.get("/conversations", response_model=ConversationList, tags=["conversations"])
def list_conversations(
    request: Request,
    scope: Caller,
    connector_id: Annotated[
        str | None, Query(alias="connectorId", max_length=200, description="id or name")
    ] = None,
    agent_id: Annotated[str | None, Query(alias="agentId", max_length=128)] = None,
    origin: Literal["imported", "native"] | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    since: Annotated[datetime | None, Query(description="started at or after")] = None,
    until: Annotated[datetime | None, Query(description="started before")] = None,
    text: Annotated[
        str | None,
        Query(
            max_length=MAX_SEARCH_TEXT,
            description="in the thread key, messages, tool calls or answers",
        ),
    ] = None,
) -> Response:
    query = ConversationQuery(connector_id, agent_id, origin, limit, cursor, since, until, text)
    page = _data(request).run(scope, lambda b: b.list_conversations(query))
    return _send(page)


@router.post(
    "/conversations",
    status_code=201,
    response_model=ConversationItems,
    tags=["conversations"],
    responses=_WRITE_ERRORS,
)
def write_native_conversations(
    request: Request, scope: Caller, body: NativeConversationsBody
) -> Response:
    written = _data(request).run(scope, lambda b: b.write_native(body.conversations))
    return _send(ConversationItems(items=written), 201)


@router.get(
    "/conversations/{conversation_id}", response_model=ConversationDetail, tags=["conversations"]
)
async def get_conversation(
    request: Request,
    scope: Caller,
    conversation_id: RecordId,
    agent_id: Annotated[
        str | None,
        Query(
            alias="agentId",
            max_length=128,
            description="which agent's conversation, when the key reaches several holding the id",
        ),
    ] = None,
) -> Response:
    return _send(
        _data(request).run(scope, lambda b: b.get_conversation(conversation_id, agent_id=agent_id))
    )


@router.get("/sessions", response_model=SessionList, tags=["sessions"])
def list_sessions(
    request: Request,
    scope: Caller,
    connector_id: Annotated[
        str | None, Query(alias="connectorId", max_length=200, description="id or name")
    ] = None,
) -> Response:
    found = _data(request).run(scope, lambda b: b.list_sessions(connector=connector_id))
    return _send(SessionList(items=found))
