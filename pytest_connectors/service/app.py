"""The ASGI app: routes, error answers, API-key verification and the in-process sync workers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from pytest_connectors import __version__
from pytest_connectors.imports.otlp.receiver import Receiver, ReceiverLimits
from pytest_connectors.imports.reach import Reach
from pytest_connectors.service import problems, ui
from pytest_connectors.service.access_log import mask_access_log
from pytest_connectors.service.data import Data
from pytest_connectors.service.guard import DEFAULT_MAX_BODY_BYTES, Guard
from pytest_connectors.service.otlp import OTLP_PATH, otlp_router
from pytest_connectors.service.routes import public_router, router
from pytest_connectors.service.workers import WorkerPool
from pytest_connectors.storage.api_keys import ApiKeyVerifier
from pytest_connectors.storage.store import Store

log = logging.getLogger("pytest_connectors.service")

OPENAPI_URL = "/api/openapi.json"


def create_app(
    db_url: str | None = None,
    *,
    workers: int = 1,
    lease_seconds: float = 30.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    reach: Reach | None = None,
    otlp_limits: ReceiverLimits | None = None,
) -> FastAPI:
    """The service over the database at ``db_url`` (a path or SQLAlchemy URL; the default file
    without one), running ``workers`` sync workers in threads while it serves (0: none, when
    standalone ``pytest-connectors worker`` processes run the jobs). A job whose worker died is
    taken over ``lease_seconds`` after its last heartbeat. ``reach`` says which variables
    callers' configs may name and where their keys may go (default: no variable, public https
    hosts only). ``otlp_limits`` bound the OTLP receiver (``POST /v1/traces``)."""
    if workers < 0:
        raise ValueError("workers must be 0 or more")
    mask_access_log()
    store = Store(db_url)
    reach = reach or Reach.service()
    pool = WorkerPool(store, workers, reach=reach, lease=timedelta(seconds=lease_seconds))
    verifier = ApiKeyVerifier(store, background=True)
    receiver = Receiver(store, otlp_limits)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pool.start()
        receiver.start()
        try:
            yield
        finally:
            receiver.stop()
            pool.stop()
            verifier.close()
            store.close()

    app = FastAPI(
        title="pytest-connectors",
        version=__version__,
        summary="Import connectors, their sync jobs and imported conversations, behind API keys.",
        openapi_url=OPENAPI_URL,
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.data = Data(store, reach)
    app.state.verifier = verifier
    app.state.workers = pool
    app.state.receiver = receiver
    problems.install(app)
    app.include_router(public_router)
    app.include_router(router)
    app.include_router(otlp_router)
    ui.install(app, store)
    app.add_middleware(
        Guard,
        max_body_bytes=max_body_bytes,
        path_limits={OTLP_PATH: receiver.limits.max_body_bytes},
    )
    return app
