"""Transports that make a timeout a deadline for the whole response.

httpx times each read separately, and ``langgraph dev`` writes a newline every 5 s while a run
works, so a hung run would never time out. These wrappers end the response once the read
timeout has passed since the request was sent, whatever trickles in meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx


def _deadline(request: httpx.Request, start: float) -> float | None:
    timeout = request.extensions.get("timeout") or {}
    budget = timeout.get("read")
    return None if budget is None else start + budget


def _expired(request: httpx.Request) -> httpx.ReadTimeout:
    return httpx.ReadTimeout("the response did not complete within the timeout", request=request)


class _DeadlineStream(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, deadline: float, request: httpx.Request):
        self._stream, self._deadline, self._request = stream, deadline, request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            if time.perf_counter() > self._deadline:
                raise _expired(self._request)
            yield chunk

    def close(self) -> None:
        self._stream.close()


class _AsyncDeadlineStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, deadline: float, request: httpx.Request):
        self._stream, self._deadline, self._request = stream, deadline, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            if time.perf_counter() > self._deadline:
                raise _expired(self._request)
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


class DeadlineTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        response = self._inner.handle_request(request)
        deadline = _deadline(request, start)
        if deadline is not None and isinstance(response.stream, httpx.SyncByteStream):
            response.stream = _DeadlineStream(response.stream, deadline, request)
        return response

    def close(self) -> None:
        self._inner.close()


class AsyncDeadlineTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        response = await self._inner.handle_async_request(request)
        deadline = _deadline(request, start)
        if deadline is not None and isinstance(response.stream, httpx.AsyncByteStream):
            response.stream = _AsyncDeadlineStream(response.stream, deadline, request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
