"""A deterministic chat agent behind a plain HTTP endpoint: no LLM, no framework, no network.

It is a raw ASGI app (run it with ``uvicorn app:app``) so the test suite has a real server to
talk to, with the same behaviours as the LangGraph example agent:

- ``POST /v1/chat/completions`` answers in the OpenAI chat-completions shape. The last user
  message decides: "weather in Paris" asks for the ``get_weather`` tool (then, once a ``tool``
  message comes back, answers from it); "my name is X" / "what is my name" use the history sent;
  "sleep N" waits N ms; "fail" gives HTTP 500; "how many messages" counts them; anything else
  is echoed as "You said: <text>".
- ``POST /shape/{name}`` echoes the last user message in one of many response shapes, so a
  client's response parser can be tested against a real server (see ``SHAPES``).
- ``GET /healthz`` answers ``{"ok": true}`` without auth, for readiness checks.

Both POST routes need ``Authorization: Bearer <token>``, the token coming from the environment
variable ``HTTP_AGENT_TOKEN`` (default ``secret-token``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 1_000_000
SHAPES = (
    "openai",
    "message",
    "content",
    "response",
    "messages",
    "json-string",
    "text",
    "nested",
    "langchain-tools",
    "empty",
    "html",
    "bad-json",
)

_CITY = re.compile(r"\bin\s+([A-Z][\w-]*)")
_SLEEP = re.compile(r"\bsleep\s+(\d+)\b", re.IGNORECASE)
_NAME = re.compile(r"\bmy name is\s+([^.,!?\n]+)", re.IGNORECASE)
_FORECASTS = {"London": "Cloudy, 15°C", "Tokyo": "Rainy, 18°C"}


class HTTPError(Exception):
    """Ends a request with a JSON error body; raised anywhere below the router."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


# --- the agent: pure functions over OpenAI-style messages ------------------------------------


def get_weather(city: str) -> str:
    return f"{_FORECASTS.get(city, 'Sunny, 21°C')} in {city}"


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: [{"type": "text", "text": ...}]
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return ""


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    return _text(users[-1]).strip() if users else ""


async def reply(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant message (OpenAI shape) answering ``messages``."""
    if messages[-1].get("role") == "tool":
        forecast, _, city = _text(messages[-1]).rpartition(" in ")
        if not forecast:
            return {"role": "assistant", "content": f"The weather is {_text(messages[-1])}."}
        return {
            "role": "assistant",
            "content": f"The weather in {city} is {forecast[:1].lower()}{forecast[1:]}.",
        }
    text = _last_user_text(messages)
    lowered = text.lower()
    if "fail" in lowered:
        raise HTTPError(500, {"detail": "the agent failed on purpose"})
    if sleep := _SLEEP.search(text):
        milliseconds = int(sleep.group(1))
        await asyncio.sleep(milliseconds / 1000)
        answer = f"Slept {milliseconds} ms."
    elif "weather" in lowered:
        city_match = _CITY.search(text)
        city = city_match.group(1) if city_match else "London"
        call = {
            "id": f"call_weather_{len(messages)}",
            "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps({"city": city})},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    elif "what is my name" in lowered:
        earlier = [_text(m) for m in messages[:-1] if m.get("role") == "user"]
        names = [m.group(1).strip() for t in earlier if (m := _NAME.search(t))]
        answer = f"Your name is {names[-1]}." if names else "I don't know your name yet."
    elif name := _NAME.search(text):
        answer = f"Nice to meet you, {name.group(1).strip()}."
    elif "how many messages" in lowered:
        answer = f"This thread holds {len(messages)} messages."
    else:
        answer = f"You said: {text}"
    return {"role": "assistant", "content": answer}


def completion(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "http-agent-example",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
            }
        ],
    }


def shaped(shape: str, messages: list[dict[str, Any]]) -> tuple[str, bytes]:
    """The (content type, body) of "You said: <last user text>" in response shape ``shape``."""
    answer = f"You said: {_last_user_text(messages)}"
    bodies: dict[str, Any] = {
        "openai": completion({"role": "assistant", "content": answer}),
        "message": {"message": {"role": "assistant", "content": answer}},
        "content": {"content": answer},
        "response": {"response": answer},
        "messages": {"messages": [*messages, {"role": "assistant", "content": answer}]},
        "json-string": answer,
        "nested": {"data": {"reply": {"text": answer}}},
        "langchain-tools": {
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "name": "get_weather",
                        "args": {"city": "Paris"},
                        "type": "tool_call",
                    }
                ],
            }
        },
        "empty": {},
    }
    if shape in bodies:
        return "application/json", _json(bodies[shape])
    if shape == "text":
        return "text/plain; charset=utf-8", answer.encode()
    if shape == "html":
        page = "<html><head><title>Sign in</title></head><body><h1>Sign in</h1></body></html>"
        return "text/html; charset=utf-8", page.encode()
    return "application/json", b'{"oops":'  # bad-json: truncated on purpose


# --- HTTP plumbing ----------------------------------------------------------------------------


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _check_token(scope: Scope) -> None:
    expected = os.environ.get("HTTP_AGENT_TOKEN", "secret-token")
    headers = dict(scope["headers"])
    given = headers.get(b"authorization", b"").decode("latin-1")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        raise HTTPError(401, {"error": {"message": "invalid token"}})


async def _read_messages(receive: Receive) -> list[dict[str, Any]]:
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            raise HTTPError(400, {"detail": "client disconnected"})
        chunk = event.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPError(413, {"detail": f"body larger than {MAX_BODY_BYTES} bytes"})
        chunks.append(chunk)
        if not event.get("more_body", False):
            break
    try:
        body = json.loads(b"".join(chunks))
    except ValueError as exc:
        raise HTTPError(422, {"detail": f"body is not valid JSON: {exc}"}) from None
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        raise HTTPError(422, {"detail": "body needs a non-empty 'messages' list"})
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise HTTPError(422, {"detail": "each message needs a string 'role'"})
    return messages


async def _send(send: Send, status: int, content_type: str, body: bytes) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _route(scope: Scope, receive: Receive) -> tuple[int, str, bytes]:
    method, path = scope["method"], scope["path"]
    if path == "/healthz":
        if method not in ("GET", "HEAD"):
            raise HTTPError(405, {"detail": "use GET"})
        return 200, "application/json", _json({"ok": True})
    shape = path.removeprefix("/shape/") if path.startswith("/shape/") else None
    if path != "/v1/chat/completions" and shape is None:
        raise HTTPError(404, {"detail": f"no route {path}"})
    if shape is not None and shape not in SHAPES:
        raise HTTPError(404, {"detail": f"unknown shape {shape!r}; known: {', '.join(SHAPES)}"})
    if method != "POST":
        raise HTTPError(405, {"detail": "use POST"})
    _check_token(scope)
    messages = await _read_messages(receive)
    if shape is not None:
        return 200, *shaped(shape, messages)
    return 200, "application/json", _json(completion(await reply(messages)))


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    try:
        status, content_type, body = await _route(scope, receive)
    except HTTPError as exc:
        status, content_type, body = exc.status, "application/json", _json(exc.body)
    await _send(send, status, content_type, body)
