"""The app as ASGI servers start it: ``uvicorn --factory pytest_connectors.service.asgi:app``.

Settings come from the environment, so any number of server processes get the same ones:
``PYTEST_CONNECTORS_DB`` (a path or SQLAlchemy URL), ``PYTEST_CONNECTORS_SERVICE_WORKERS``
(sync workers per process, default 1), ``PYTEST_CONNECTORS_JOB_LEASE`` (seconds after which
the job of a dead worker is taken over, default 30), ``PYTEST_CONNECTORS_ALLOW_ENV`` (the
variables callers' configs may name, comma-separated; default none) and
``PYTEST_CONNECTORS_ALLOW_PRIVATE_DESTINATIONS`` (``1``: keys may go over http and to private
hosts). ``PYTEST_CONNECTORS_OTLP_TRACE_IDLE`` (seconds after its last span when an OTLP trace
is closed and stored, pending without its root span; default 60). ``pytest-connectors serve``
hands its flags to :func:`app` instead; they win. The environment is read once, here, into
:class:`Settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fastapi import FastAPI

from pytest_connectors._support.paths import chosen_database
from pytest_connectors._support.variables import is_name
from pytest_connectors.imports.otlp.receiver import ReceiverLimits
from pytest_connectors.imports.reach import Reach
from pytest_connectors.service.app import create_app

ENV_WORKERS = "PYTEST_CONNECTORS_SERVICE_WORKERS"
ENV_LEASE = "PYTEST_CONNECTORS_JOB_LEASE"
ENV_ALLOW_ENV = "PYTEST_CONNECTORS_ALLOW_ENV"
ENV_ALLOW_PRIVATE = "PYTEST_CONNECTORS_ALLOW_PRIVATE_DESTINATIONS"
ENV_OTLP_TRACE_IDLE = "PYTEST_CONNECTORS_OTLP_TRACE_IDLE"


def _number(environ: Mapping[str, str], name: str, default: str) -> float:
    text = environ.get(name) or default
    try:
        value = float(text)
    except ValueError:
        raise SystemExit(f"{name}={text!r} is not a number") from None
    if value < 0:
        raise SystemExit(f"{name}={text!r} must not be negative")
    return value


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if not is_name(name):
            raise SystemExit(f"{ENV_ALLOW_ENV}: {name!r} is not a variable name")
    return names


@dataclass(frozen=True)
class Settings:
    db_url: str | None
    workers: int
    lease_seconds: float
    reach: Reach
    otlp_limits: ReceiverLimits

    @classmethod
    def read(
        cls,
        environ: Mapping[str, str],
        *,
        db_url: str | None = None,
        workers: int | None = None,
        allowed_env: Sequence[str] | None = None,
        allow_private_destinations: bool | None = None,
    ) -> Settings:
        """The settings given, the others from ``environ``."""
        if allowed_env is None:
            allowed_env = _names(environ.get(ENV_ALLOW_ENV, ""))
        if allow_private_destinations is None:
            allow_private_destinations = environ.get(ENV_ALLOW_PRIVATE, "") in ("1", "true")
        return cls(
            db_url=chosen_database(db_url, environ),
            workers=int(_number(environ, ENV_WORKERS, "1")) if workers is None else workers,
            lease_seconds=_number(environ, ENV_LEASE, "30") or 30.0,
            reach=Reach.service(allowed_env, private_destinations=allow_private_destinations),
            otlp_limits=ReceiverLimits(
                trace_idle_seconds=_number(environ, ENV_OTLP_TRACE_IDLE, "60") or 60.0
            ),
        )


def app(
    *,
    db_url: str | None = None,
    workers: int | None = None,
    allowed_env: Sequence[str] | None = None,
    allow_private_destinations: bool | None = None,
) -> FastAPI:
    settings = Settings.read(
        os.environ,
        db_url=db_url,
        workers=workers,
        allowed_env=allowed_env,
        allow_private_destinations=allow_private_destinations,
    )
    return create_app(
        settings.db_url,
        workers=settings.workers,
        lease_seconds=settings.lease_seconds,
        reach=settings.reach,
        otlp_limits=settings.otlp_limits,
    )
