"""Provider replies a worker can afford: read on a helper thread, bounded, decoded on a budget.

httpx bounds each read, not a reply: a server that trickles a byte at a time holds a request for
ever, and a stop asked for meanwhile waits on the socket. Here a helper thread reads the reply
through the client's `DeadlineTransport` (a deadline for the whole reply, and a byte limit
counted after decompression) and hands it over chunk by chunk through a short queue. The job's
thread waits on the queue, not on the socket, so a stop or the deadline ends its wait within a
fraction of a second, and the helper thread itself ends at the deadline whatever the server does.

JSON replies are parsed only if their number of values fits the budget: tiny values cost many
times their size once parsed. JSON nested deeper than Python's parser follows is parsed again
with the too-deep parts replaced by a marker, so only the records holding them are lost.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Self

import httpx

from pytest_connectors.client.transport import CallLimits, ReplyTooLargeError, current_limits

__all__ = [
    "DecodedJson",
    "Interrupted",
    "ReplyStream",
    "ReplyTooLargeError",
    "TooManyValuesError",
    "decode_json",
    "holds",
    "pause_unless_stopped",
    "read_reply",
]

_POLL_S = 0.2  # how often a waiting job looks at its stop request and deadline
_QUEUE_CHUNKS = 4  # chunks read ahead of the job: memory is this many chunks, not the reply
# Nesting Python's parser surely follows, wherever in the stack it is called from.
_SAFE_DEPTH = 200


class Interrupted(Exception):
    """The wait for a reply ended early: the job was asked to stop, or the deadline passed."""

    def __init__(self, *, stopped: bool) -> None:
        super().__init__("stopped" if stopped else "deadline passed")
        self.stopped = stopped


class TooManyValuesError(ValueError):
    """A JSON reply holds more values than its budget."""


class ReplyStream:
    """One request's reply, read on a helper thread: ``status_code`` and ``headers`` once
    entered, then ``chunks()``. Leaving early abandons the reply (the helper stops reading)."""

    def __init__(
        self,
        client: httpx.Client,
        request: httpx.Request,
        *,
        deadline: float,
        max_bytes: int,
        should_stop: Callable[[], bool],
    ) -> None:
        """``deadline`` is a `time.perf_counter` value."""
        self._client = client
        self._request = request
        self._deadline = deadline
        self._max_bytes = max_bytes
        self._should_stop = should_stop
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(_QUEUE_CHUNKS)
        self._abandoned = threading.Event()
        self.status_code = 0
        self.headers = httpx.Headers()

    def __enter__(self) -> Self:
        threading.Thread(target=self._pump, name="provider-reply", daemon=True).start()
        kind, value = self._take()
        if kind == "error":
            raise value
        self.status_code, self.headers = value
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._abandoned.set()

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives; `ReplyTooLargeError` past ``max_bytes``, `Interrupted`."""
        size = 0
        while True:
            kind, value = self._take()
            if kind == "end":
                return
            if kind == "error":
                raise value
            size += len(value)
            if size > self._max_bytes:  # the transport counts too; this holds for any transport
                raise ReplyTooLargeError(self._max_bytes, self._request)
            yield value
            if self._should_stop():
                self._abandoned.set()
                raise Interrupted(stopped=True)

    def _take(self) -> tuple[str, Any]:
        while True:
            try:
                return self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                pass
            if self._should_stop():
                self._abandoned.set()
                raise Interrupted(stopped=True)
            if time.perf_counter() > self._deadline:
                self._abandoned.set()
                raise Interrupted(stopped=False)

    def _pump(self) -> None:
        current_limits.set(CallLimits(deadline=self._deadline, max_bytes=self._max_bytes))
        try:
            response = self._client.send(self._request, stream=True)
            try:
                if not self._put(("head", (response.status_code, response.headers))):
                    return
                for chunk in response.iter_bytes():
                    if chunk and not self._put(("data", chunk)):
                        return
            finally:
                response.close()
            self._put(("end", None))
        except Exception as exc:  # handed to the job's thread, which decides
            self._put(("error", exc))

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._abandoned.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False


def read_reply(
    client: httpx.Client,
    request: httpx.Request,
    *,
    deadline: float,
    max_bytes: int,
    should_stop: Callable[[], bool],
) -> httpx.Response:
    """The whole reply, read as `ReplyStream` reads it, as an ordinary `httpx.Response`."""
    with ReplyStream(
        client, request, deadline=deadline, max_bytes=max_bytes, should_stop=should_stop
    ) as reply:
        body = b"".join(reply.chunks())
        return httpx.Response(
            reply.status_code, headers=reply.headers, content=body, request=request
        )


def pause_unless_stopped(seconds: float, should_stop: Callable[[], bool]) -> bool:
    """Wait ``seconds``; True, at once, if a stop is asked for meanwhile."""
    until = time.perf_counter() + seconds
    while not should_stop():
        left = until - time.perf_counter()
        if left <= 0:
            return False
        time.sleep(min(left, _POLL_S))
    return True


@dataclass(frozen=True)
class DecodedJson:
    value: Any
    marker: str | None = None  # stands where nesting was too deep to parse, if it was


def decode_json(body: bytes, *, max_values: int) -> DecodedJson:
    """The parsed body; `ValueError` if it is not JSON, `TooManyValuesError` over budget.

    Counting ``[{,:`` bounds the number of values from above (every value but the first follows
    one of them), at the speed of ``bytes.count``.
    """
    values = 1 + sum(body.count(char) for char in (b"[", b"{", b",", b":"))
    if values > max_values:
        raise TooManyValuesError(f"more than {max_values} JSON values")
    try:
        return DecodedJson(json.loads(body))
    except RecursionError:
        pass
    marker = f"nested-too-deep-{uuid.uuid4().hex}"
    try:
        return DecodedJson(json.loads(_cut_deep(body, marker.encode())), marker)
    except RecursionError:
        raise ValueError("nested too deeply to parse") from None


_TOKENS = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]')


def _cut_deep(body: bytes, marker: bytes) -> bytes:
    """The body with every container deeper than ``_SAFE_DEPTH`` replaced by ``"marker"``."""
    pieces: list[bytes] = []
    depth, kept, cut_from = 0, 0, -1
    for match in _TOKENS.finditer(body):
        char = body[match.start()]
        if char == ord('"'):
            continue
        if char in b"[{":
            depth += 1
            if depth == _SAFE_DEPTH + 1:
                cut_from = match.start()
        else:
            if depth == _SAFE_DEPTH + 1 and cut_from >= 0:
                pieces += [body[kept:cut_from], b'"', marker, b'"']
                kept, cut_from = match.end(), -1
            depth -= 1
    pieces.append(body[kept:])
    return b"".join(pieces)


def holds(value: Any, text: str) -> bool:
    """Whether ``text`` is a string anywhere in ``value`` (walked without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if item == text:
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
