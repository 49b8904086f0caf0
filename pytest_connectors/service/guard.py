"""The outermost layer: request bodies bounded in size, and no failure escapes as a traceback."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pytest_connectors.service.problems import ServiceProblem, error_response

log = logging.getLogger("pytest_connectors.service")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(ServiceProblem):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class Guard:
    """Refuses bodies over ``max_body_bytes`` (declared or streamed) with 413, and turns any
    exception that got this far into a plain 500 instead of the server's traceback page.

    Bodies are at most ``max_body_bytes`` (1 MiB by default), so reading one whole before the
    app runs costs no more memory than the app's own parsing of it would."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        path_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Routes that take larger bodies (OTLP batches) name their own limit.
        self.path_limits = dict(path_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope["path"], self.max_body_bytes)
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _answer(
                        ServiceProblem(400, "invalid Content-Length"), scope, receive, send
                    )
                    return
                if declared > limit:
                    await _answer(BodyTooLarge(limit), scope, receive, send)
                    return
        # The body is read whole here, before the app sees it: the app's body parser would turn
        # an error raised while it reads (a chunked body over the limit) into a 400.
        body: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending it all
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await _answer(BodyTooLarge(limit), scope, receive, send)
                return
            body.append(chunk)
            if not message.get("more_body", False):
                break
        pending: list[Message] = [{"type": "http.request", "body": b"".join(body)}]
        started = False

        async def buffered_receive() -> Message:
            return pending.pop() if pending else await receive()

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, buffered_receive, tracked_send)
        except Exception as exc:
            if started:  # too late for another answer; the client sees a cut response
                log.error(
                    "%s %s failed mid-response: %s",
                    scope["method"],
                    scope["path"],
                    type(exc).__name__,
                )
                return
            if not isinstance(exc, ServiceProblem):
                log.error("%s %s failed: %s", scope["method"], scope["path"], type(exc).__name__)
                exc = ServiceProblem(500, "the service failed; see its log")
            await _answer(exc, scope, receive, send)


async def _answer(problem: ServiceProblem, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(problem.status, problem.code, problem.message, problem.headers)
    await response(scope, receive, send)
