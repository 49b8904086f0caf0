"""The app as ASGI servers start it: ``uvicorn --factory pytest_connectors.service.asgi:app``.

Settings come from the environment, so any number of server processes get the same ones:
``PYTEST_CONNECTORS_DB`` (a path or SQLAlchemy URL), ``PYTEST_CONNECTORS_SERVICE_WORKERS``
(sync workers per process, default 1) and ``PYTEST_CONNECTORS_JOB_LEASE`` (seconds after which
the job of a dead worker is taken over, default 30).
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from pytest_connectors.service.app import create_app

ENV_WORKERS = "PYTEST_CONNECTORS_SERVICE_WORKERS"
ENV_DB = "PYTEST_CONNECTORS_DB"
ENV_LEASE = "PYTEST_CONNECTORS_JOB_LEASE"


def _number(name: str, default: str) -> float:
    text = os.environ.get(name) or default
    try:
        value = float(text)
    except ValueError:
        raise SystemExit(f"{name}={text!r} is not a number") from None
    if value < 0:
        raise SystemExit(f"{name}={text!r} must not be negative")
    return value


def app() -> FastAPI:
    return create_app(
        os.environ.get(ENV_DB) or None,
        workers=int(_number(ENV_WORKERS, "1")),
        lease_seconds=_number(ENV_LEASE, "30") or 30.0,
    )
