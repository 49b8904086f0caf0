"""Transports that bound every reply: a deadline for the whole response and a size limit.

httpx times each read separately, and ``langgraph dev`` writes a newline every 5 s while a run
works, so a hung run would never time out. These wrappers end the response once the call's
deadline has passed, whatever trickles in meanwhile, and stop reading a reply that grows past
its size limit (counted after decompression, so a small compressed body cannot fill memory).

The limits of the call in progress travel in a context variable set by the client around each
effect, so requests made inside langgraph-sdk obey them too.
"""

from __future__ import annotations

import contextvars
import time
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

import httpx

DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
_CHUNK = 64 * 1024


class ReplyTooLargeError(httpx.DecodingError):
    """The reply grew past the size limit; reading stopped there."""

    def __init__(self, limit: int, request: httpx.Request) -> None:
        super().__init__(f"the reply is larger than {limit} bytes", request=request)
        self.limit = limit


class RedirectRefusedError(httpx.TransportError):
    """A LangGraph server answered with a redirect, which is not followed."""

    def __init__(self, response: httpx.Response, request: httpx.Request) -> None:
        target = request.url.join(response.headers.get("location", ""))
        super().__init__(
            f"HTTP {response.status_code}: the server redirected to "
            f"{target.scheme}://{target.netloc.decode()}; redirects are not followed for "
            "LangGraph connectors: set baseUrl to the address that answers",
            request=request,
        )


@dataclass(frozen=True, slots=True)
class CallLimits:
    deadline: float  # time.perf_counter() value
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


current_limits: contextvars.ContextVar[CallLimits | None] = contextvars.ContextVar(
    "pytest_connectors_call_limits", default=None
)


def _limits(request: httpx.Request, start: float) -> CallLimits:
    """The call's limits; the request's httpx timeouts are cut to the time the call has left."""
    limits = current_limits.get()
    timeout = request.extensions.get("timeout") or {}
    read = timeout.get("read")
    own = start + read if read is not None else float("inf")
    if limits is None:
        return CallLimits(deadline=own)
    if limits.deadline < own:
        left = max(limits.deadline - start, 0.001)
        request.extensions["timeout"] = {
            key: left if value is None else min(value, left) for key, value in timeout.items()
        } or {"connect": left, "read": left, "write": left, "pool": left}
    return CallLimits(min(limits.deadline, own), limits.max_bytes)


def _expired(request: httpx.Request) -> httpx.ReadTimeout:
    return httpx.ReadTimeout("the response did not complete within the timeout", request=request)


class _Decoder:
    """Content decoding with a bound on the output of each step (gzip, deflate or none)."""

    def __init__(self, encoding: str, request: httpx.Request) -> None:
        self._request = request
        self._zlib: zlib._Decompress | None = None
        self._deflate = False
        self.identity = encoding in ("", "identity")
        if encoding == "gzip":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
            self._deflate = True
        elif encoding not in ("", "identity"):
            raise httpx.DecodingError(f"unsupported content-encoding {encoding!r}", request=request)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._zlib is None:
            yield data
            return
        try:
            if self._deflate and data:
                self._deflate = False
                try:  # zlib-wrapped, as the RFC says, or raw deflate, as some servers send
                    first = self._zlib.decompress(data, _CHUNK)
                except zlib.error:
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    first = self._zlib.decompress(data, _CHUNK)
                yield first
                data = self._zlib.unconsumed_tail
            while data:
                out = self._zlib.decompress(data, _CHUNK)
                data = self._zlib.unconsumed_tail
                yield out
        except zlib.error as exc:
            raise httpx.DecodingError(
                f"the reply cannot be decompressed: {exc}", request=self._request
            ) from None

    def flush(self) -> bytes:
        return self._zlib.flush() if self._zlib is not None else b""


class _Guard:
    """Counts decoded bytes and watches the clock for one response."""

    def __init__(self, limits: CallLimits, encoding: str, request: httpx.Request) -> None:
        self._limits = limits
        self._request = request
        self._decoder = _Decoder(encoding, request)
        self._size = 0

    def take(self, chunk: bytes) -> Iterable[bytes]:
        if time.perf_counter() > self._limits.deadline:
            raise _expired(self._request)
        if self._decoder.identity:  # the common case, without a generator per chunk
            self._size += len(chunk)
            if self._size > self._limits.max_bytes:
                raise ReplyTooLargeError(self._limits.max_bytes, self._request)
            return (chunk,) if chunk else ()
        return self._decoded(chunk)

    def _decoded(self, chunk: bytes) -> Iterator[bytes]:
        for piece in self._decoder.feed(chunk):
            self._size += len(piece)
            if self._size > self._limits.max_bytes:
                raise ReplyTooLargeError(self._limits.max_bytes, self._request)
            if piece:
                yield piece

    def end(self) -> Iterable[bytes]:
        if self._decoder.identity:
            return ()
        return self._rest()

    def _rest(self) -> Iterator[bytes]:
        rest = self._decoder.flush()
        self._size += len(rest)
        if self._size > self._limits.max_bytes:
            raise ReplyTooLargeError(self._limits.max_bytes, self._request)
        if rest:
            yield rest


class _GuardedStream(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, guard: _Guard) -> None:
        self._stream, self._guard = stream, guard

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            yield from self._guard.take(chunk)
        yield from self._guard.end()

    def close(self) -> None:
        self._stream.close()


class _AsyncGuardedStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, guard: _Guard) -> None:
        self._stream, self._guard = stream, guard

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            for piece in self._guard.take(chunk):
                yield piece
        for piece in self._guard.end():
            yield piece

    async def aclose(self) -> None:
        await self._stream.aclose()


# Only encodings decoded here under the size limit are offered (clients send this header).
ACCEPT_ENCODING = "gzip, deflate"


def _guard(
    response: httpx.Response,
    stream: httpx.SyncByteStream | httpx.AsyncByteStream,
    limits: CallLimits,
    request: httpx.Request,
    sdk: bool,
) -> _Guard:
    """The response's guard; the response is changed in place to be read through it."""
    headers = response.headers
    encoding = str(headers.get("content-encoding", "")).strip().lower()
    guard = _Guard(limits, encoding, request)
    if encoding:  # decoded here, so httpx must not decode it again
        del headers["content-encoding"]
        if "content-length" in headers:
            del headers["content-length"]
    if sdk and response.is_success and "location" in headers:
        # langgraph-sdk re-joins a run at a 2xx Location when its body breaks off, with its own
        # pauses: a timed-out call would go on for many times its timeout.
        del headers["location"]
    return guard


def _read_through(
    response: httpx.Response,
    guarded: httpx.SyncByteStream | httpx.AsyncByteStream,
    request: httpx.Request,
) -> httpx.Response:
    """The response, read through its guard.

    A body in memory (as mock transports give) was read when its response was built, so a new
    response reads it again; a network stream is swapped in place, which costs nothing.
    """
    if isinstance(response.stream, httpx.ByteStream):
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=guarded,
            request=request,
            extensions=response.extensions,
        )
    response.stream = guarded
    return response


class DeadlineTransport(httpx.BaseTransport):
    """``sdk=True``: for langgraph-sdk, which must neither follow redirects nor re-join runs."""

    def __init__(self, inner: httpx.BaseTransport, *, sdk: bool = False) -> None:
        self._inner = inner
        self._sdk = sdk

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        limits = _limits(request, time.perf_counter())
        response = self._inner.handle_request(request)
        if self._sdk and response.is_redirect:
            response.close()
            raise RedirectRefusedError(response, request)
        stream = response.stream
        if not isinstance(stream, httpx.SyncByteStream):
            return response
        try:
            guard = _guard(response, stream, limits, request, self._sdk)
        except httpx.DecodingError:
            response.close()
            raise
        return _read_through(response, _GuardedStream(stream, guard), request)

    def close(self) -> None:
        self._inner.close()


class AsyncDeadlineTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, *, sdk: bool = False) -> None:
        self._inner = inner
        self._sdk = sdk

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limits = _limits(request, time.perf_counter())
        response = await self._inner.handle_async_request(request)
        if self._sdk and response.is_redirect:
            await response.aclose()
            raise RedirectRefusedError(response, request)
        stream = response.stream
        if not isinstance(stream, httpx.AsyncByteStream):
            return response
        try:
            guard = _guard(response, stream, limits, request, self._sdk)
        except httpx.DecodingError:
            await response.aclose()
            raise
        return _read_through(response, _AsyncGuardedStream(stream, guard), request)

    async def aclose(self) -> None:
        await self._inner.aclose()
