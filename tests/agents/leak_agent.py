"""An agent that repeats every credential it is sent: the worst case for the secret-leak tests.

A raw ASGI app (``uvicorn leak_agent:app``). Any POST answers from the last user message:

- ``fail``: HTTP 401 whose JSON ``detail`` echoes the request's headers and query;
- ``long``: HTTP 401 with 1990 characters of padding before the echo, so any cut at 2000
  characters (or 500) goes through the middle of an echoed secret;
- ``slow``: answers after 4 s (time for a test to interrupt the call);
- ``redirect``: HTTP 307 to ``$LEAK_AGENT_OTHER`` (another origin) with the same path;
- anything else: an OpenAI-shaped reply whose text echoes the headers and query.

Every request's headers and URL are appended to ``$LEAK_AGENT_LOG``, so a test can tell what
reached this origin. ``GET /healthz`` answers for readiness.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _last_text(body: bytes) -> str:
    try:
        messages = json.loads(body).get("messages") or [{}]
        return str(messages[-1].get("content", ""))
    except (ValueError, AttributeError):
        return ""


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        await _answer(send, 200, {"ok": True}, [])
        return
    body = await _body(receive)
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    query = scope["query_string"].decode("latin-1")
    echo = json.dumps({"headers": headers, "query": query})
    with open(os.environ["LEAK_AGENT_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{scope['method']} {scope['path']}?{query} {echo}\n")
    text = _last_text(body)
    if text == "slow":
        await asyncio.sleep(4)
    if text == "redirect":
        location = os.environ["LEAK_AGENT_OTHER"] + scope["path"] + (f"?{query}" if query else "")
        await _answer(send, 307, {}, [(b"location", location.encode())])
    elif text == "fail":
        await _answer(send, 401, {"detail": f"bad credentials {echo}"}, [])
    elif text == "long":
        await _answer(send, 401, {"detail": "x" * 1990 + echo}, [])
    else:
        reply = {"role": "assistant", "content": f"echo {echo}"}
        await _answer(send, 200, {"choices": [{"message": reply}]}, [])
