"""Serve an ASGI app named by its import string under uvicorn, in this process, until stopped;
and run the connectors service in a subprocess (:class:`ServiceServer`).

The app is named, not imported, so the command line that calls this needs no web framework of
its own: uvicorn imports the app (and the framework) when it starts.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_connectors.servers.launch import LocalServer


def serve_forever(
    app: str,
    *,
    host: str,
    port: int,
    factory: bool = False,
    factory_kwargs: Mapping[str, Any] | None = None,
    access_log: bool = True,
) -> None:
    """Blocks until SIGINT/SIGTERM; uvicorn then finishes the requests in flight and returns.

    ``factory_kwargs`` are handed to the app factory: settings go to the app as arguments,
    not through this process's environment.
    """
    import uvicorn
    from uvicorn.importer import import_from_string

    target: Any = app
    if factory and factory_kwargs:
        target = functools.partial(import_from_string(app), **factory_kwargs)
    uvicorn.run(
        target,
        host=host,
        port=port,
        factory=factory,
        access_log=access_log,
        log_level="info",
        server_header=False,
    )


class ServiceServer(LocalServer):
    """``pytest-connectors serve`` on a database, in a subprocess on a free loopback port.

    For tests and benchmarks of the connectors service; ``url`` is ready once
    ``/api/health`` answers. ``stop()`` then ``start()`` restarts it on the same database.
    ``allow_env`` and ``allow_private_destinations`` are ``serve``'s flags of those names.
    """

    name = "pytest-connectors serve"

    def __init__(
        self,
        db: str,
        *,
        workers: int = 1,
        access_log: bool = True,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
        allow_env: Sequence[str] = (),
        allow_private_destinations: bool = False,
    ) -> None:
        command = [sys.executable, "-m", "pytest_connectors.cli", "serve", "--host", "{host}"]
        command += ["--port", "{port}", "--db", db, "--workers", str(workers)]
        if not access_log:
            command.append("--no-access-log")
        for name in allow_env:
            command += ["--allow-env", name]
        if allow_private_destinations:
            command.append("--allow-private-destinations")
        super().__init__(
            command,
            port=port,
            ready_path="/api/health",
            env=env,
            startup_timeout=startup_timeout,
        )
        self.db = db
