"""The app as ASGI servers start it: ``uvicorn --factory pytest_connectors.service.asgi:app``.

Settings come from the environment, so any number of server processes get the same ones:
``PYTEST_CONNECTORS_DB`` (a path or SQLAlchemy URL) and ``PYTEST_CONNECTORS_SERVICE_WORKERS``
(sync workers per process, default 1).
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from pytest_connectors.service.app import create_app

ENV_WORKERS = "PYTEST_CONNECTORS_SERVICE_WORKERS"
ENV_DB = "PYTEST_CONNECTORS_DB"


def app() -> FastAPI:
    workers = os.environ.get(ENV_WORKERS, "1")
    try:
        count = int(workers)
    except ValueError:
        raise SystemExit(f"{ENV_WORKERS}={workers!r} is not a number of workers") from None
    return create_app(os.environ.get(ENV_DB) or None, workers=count)
