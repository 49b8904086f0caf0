"""A chat endpoint that answers after exactly the delay it is asked for: ``uvicorn delay_app:app``.

``POST`` any path with OpenAI-style messages whose last one reads "sleep N"; the reply comes N ms
after the request body arrived. The event loop's timers wake up to a millisecond late, so it
sleeps until 2 ms before the deadline and spins the rest: what a client then reports beyond N
is the HTTP round trip and its own measuring, not the server's timer slack.
``GET /healthz`` answers for readiness checks.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Event = MutableMapping[str, Any]
SPIN_S = 0.002
_SLEEP = re.compile(r"\bsleep\s+(\d+)\b")


async def hold_until(deadline: float) -> None:
    if deadline - time.perf_counter() > SPIN_S:
        await asyncio.sleep(deadline - time.perf_counter() - SPIN_S)
    while time.perf_counter() < deadline:
        pass


async def _body(receive: Callable[[], Awaitable[Event]]) -> bytes:
    chunks = []
    while True:
        event = await receive()
        chunks.append(event.get("body", b""))
        if not event.get("more_body", False):
            return b"".join(chunks)


async def app(
    scope: Scope,
    receive: Callable[[], Awaitable[Event]],
    send: Callable[[Event], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    answer: dict[str, Any]
    status, answer = 200, {"ok": True}  # GET /healthz, or any GET
    if scope["method"] == "POST":
        body = await _body(receive)
        start = time.perf_counter()
        text = json.loads(body)["messages"][-1]["content"]
        match = _SLEEP.search(text)
        if match is None:
            status, answer = 422, {"detail": "send 'sleep N' (milliseconds)"}
        else:
            milliseconds = int(match.group(1))
            await hold_until(start + milliseconds / 1000)
            message = {"role": "assistant", "content": f"Slept {milliseconds} ms."}
            answer = {"choices": [{"index": 0, "message": message}]}
    payload = json.dumps(answer).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
