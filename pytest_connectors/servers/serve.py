"""Serve an ASGI app named by its import string under uvicorn, in this process, until stopped.

The app is named, not imported, so the command line that calls this needs no web framework of
its own: uvicorn imports the app (and the framework) when it starts.
"""

from __future__ import annotations


def serve_forever(
    app: str,
    *,
    host: str,
    port: int,
    factory: bool = False,
    access_log: bool = True,
) -> None:
    """Blocks until SIGINT/SIGTERM; uvicorn then finishes the requests in flight and returns."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        factory=factory,
        access_log=access_log,
        log_level="info",
        server_header=False,
    )
