"""A deterministic OpenAI-compatible model server: a judge and a simulated user, no LLM.

A raw ASGI app (``uvicorn app:app``) that answers ``POST /v1/chat/completions`` in the OpenAI
chat-completions shape, with ``usage``, like any OpenAI-compatible endpoint. It reads the prompts
pytest-connectors sends (``pytest_connectors.evaluation.prompts``) and answers by documented
rules, so a test judged by it passes or fails for reasons a person can check by reading the
transcript. ``model`` in the body picks the role:

- ``rules-judge``: judges ``<criterion>`` against ``<transcript>``. Every phrase in double
  quotes in the criterion must appear (case-insensitive) in what the agent said or its tools
  returned; a criterion with "not", "never" or "no" before its first quote is met when none
  appears. A criterion without a quoted phrase is met. A pairwise prompt (``<production>`` and
  ``<candidate>``) passes when every number and capitalised word of production's answer (after
  its first word) appears in the candidate's. With ``response_format`` it answers bare JSON;
  without, JSON in a fenced block, as many local models do.
- ``rules-judge-prose``: the same verdicts in a sentence ("Verdict: PASS. Score: 1. ...").
- ``rules-judge-strict``: refuses ``response_format`` with HTTP 400, as servers without JSON
  mode do, and otherwise answers like ``rules-judge``.
- ``rules-user``: plays the user of ``<scenario>``: on its n-th turn it says the scenario's n-th
  phrase in double quotes, then says the goal is reached. A persona containing "gives up"
  abandons after its first message instead.

For tests: ``POST /control`` with ``{"script": [...]}`` queues what the next calls do, one item
per call: ``"pass"``/``"fail"`` (forced verdict), ``"garbage"`` (a reply that is no verdict),
``"leak"`` (a reason quoting the request's Authorization header), an HTTP status (``429``,
``500``...) or ``{"sleep_ms": N}``. ``GET /calls`` returns how many completions were asked and
their request bodies; ``POST /control`` with ``{"reset": true}`` forgets both. When
``MODEL_SERVER_TOKEN`` is set, completions need ``Authorization: Bearer <token>``. When
``MODEL_SERVER_DELAY_MS`` is set, every completion answers that many milliseconds after its
request arrived (on top of any scripted sleep), as a model that takes its time does: the
benchmarks judge against a 200 ms judge this way.
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
Event = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Event]]
Send = Callable[[Event], Awaitable[None]]

MAX_BODY_BYTES = 2_000_000
_QUOTED = re.compile(r'"([^"]+)"')
_NEGATION = re.compile(r"\b(not|never|no)\b", re.IGNORECASE)
_SALIENT = re.compile(r"[A-Z][\w'-]*|\S*\d\S*")


class _State:
    def __init__(self) -> None:
        self.script: list[Any] = []
        self.requests: list[dict[str, Any]] = []


STATE = _State()


class HTTPError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def _section(text: str, tag: str) -> str | None:
    start, end = text.find(f"<{tag}>"), text.find(f"</{tag}>")
    if start < 0 or end < start:
        return None
    return text[start + len(tag) + 2 : end].strip()


def _prompt(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages if isinstance(m, dict))


def _agent_side(transcript: str) -> str:
    """What the agent said and its tools returned: every transcript line not by the user."""
    return "\n".join(line for line in transcript.splitlines() if not line.startswith("user:"))


def criterion_verdict(criterion: str, transcript: str) -> tuple[bool, str]:
    phrases = _QUOTED.findall(criterion)
    if not phrases:
        return True, "the criterion names no quoted phrase to look for"
    said = _agent_side(transcript).lower()
    found = [p for p in phrases if p.lower() in said]
    negated = _NEGATION.search(criterion[: criterion.find('"')]) is not None
    if negated:
        if found:
            return False, f"the agent said {found[0]!r}"
        return True, "the agent said none of " + ", ".join(repr(p) for p in phrases)
    missing = [p for p in phrases if p not in found]
    if missing:
        return False, f"the agent never said {missing[0]!r}"
    return True, "the agent said " + ", ".join(repr(p) for p in phrases)


def pairwise_verdict(production: str, candidate: str) -> tuple[bool, str]:
    words = production.split()
    salient = {w.strip(".,!?;:()").lower() for w in _SALIENT.findall(" ".join(words[1:]))}
    salient.discard("")
    missing = sorted(w for w in salient if w not in candidate.lower())
    if missing:
        return False, f"the candidate leaves out {missing[0]!r}"
    return True, "the candidate states every fact of production's answer"


def _judge(messages: list[dict[str, Any]], forced: str | None) -> tuple[bool, str]:
    text = _prompt(messages)
    production, candidate = _section(text, "production"), _section(text, "candidate")
    if production is not None and candidate is not None:
        met, reason = pairwise_verdict(production, candidate)
    else:
        criterion = _section(text, "criterion")
        transcript = _section(text, "transcript")
        if criterion is None or transcript is None:
            raise HTTPError(400, {"error": {"message": "no <criterion> and <transcript> given"}})
        met, reason = criterion_verdict(criterion, transcript)
    if forced is not None:
        return forced == "pass", f"forced {forced} by the test script"
    return met, reason


def judge_reply(model: str, body: dict[str, Any], forced: str | None, leak: str | None) -> str:
    met, reason = _judge(body["messages"], forced)
    if leak is not None:
        reason = f"the request said {leak}"
    verdict = {"verdict": "pass" if met else "fail", "score": 1.0 if met else 0.0, "reason": reason}
    if model == "rules-judge-prose":
        return (
            f"Verdict: {verdict['verdict'].upper()}. Score: {verdict['score']:g}. Reason: {reason}."
        )
    if body.get("response_format"):
        return json.dumps(verdict)
    return f"Here is my verdict.\n```json\n{json.dumps(verdict, indent=2)}\n```\n"


def user_reply(messages: list[dict[str, Any]]) -> str:
    text = _prompt(messages)
    scenario = _section(text, "scenario") or ""
    persona = _section(text, "persona") or ""
    transcript = _section(text, "transcript") or ""
    said = sum(1 for line in transcript.splitlines() if line.startswith("user:"))
    lines = _QUOTED.findall(scenario)
    if said and "gives up" in persona.lower():
        return json.dumps({"message": None, "status": "abandoned"})
    if said >= len(lines):
        return json.dumps({"message": None, "status": "goal_reached"})
    return json.dumps({"message": lines[said], "status": "continue"})


def completion(model: str, content: str, prompt: str) -> dict[str, Any]:
    prompt_tokens, completion_tokens = len(prompt.split()), len(content.split())
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


# --- HTTP plumbing ----------------------------------------------------------------------------


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _authorization(scope: Scope) -> str:
    return dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")


def _check_token(scope: Scope) -> None:
    expected = os.environ.get("MODEL_SERVER_TOKEN")
    if expected and not hmac.compare_digest(
        _authorization(scope).encode(), f"Bearer {expected}".encode()
    ):
        raise HTTPError(401, {"error": {"message": "invalid token"}})


async def _read_json(receive: Receive) -> Any:
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
        return json.loads(b"".join(chunks) or b"{}")
    except ValueError as exc:
        raise HTTPError(422, {"detail": f"body is not valid JSON: {exc}"}) from None


async def _complete(scope: Scope, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise HTTPError(422, {"detail": "body needs a 'messages' list"})
    STATE.requests.append(body)
    step = STATE.script.pop(0) if STATE.script else None
    delay_ms = float(os.environ.get("MODEL_SERVER_DELAY_MS") or 0)
    if delay_ms > 0:
        await asyncio.sleep(delay_ms / 1000)
    if isinstance(step, dict) and "sleep_ms" in step:
        await asyncio.sleep(step["sleep_ms"] / 1000)
        step = None
    if isinstance(step, int):
        raise HTTPError(step, {"error": {"message": f"scripted HTTP {step}"}})
    model = str(body.get("model") or "rules-judge")
    if model == "rules-judge-strict" and body.get("response_format"):
        raise HTTPError(400, {"error": {"message": "response_format is not supported"}})
    prompt = _prompt(body["messages"])
    if model == "rules-user":
        content = user_reply(body["messages"])
    elif step == "garbage":
        content = "I would rather not say."
    else:
        forced = step if step in ("pass", "fail") else None
        leak = _authorization(scope) if step == "leak" else None
        content = judge_reply(model, body, forced, leak)
    return completion(model, content, prompt)


async def _route(scope: Scope, receive: Receive) -> tuple[int, bytes]:
    method, path = scope["method"], scope["path"]
    if path == "/healthz":
        return 200, _json({"ok": True})
    if path == "/calls" and method == "GET":
        return 200, _json({"calls": len(STATE.requests), "requests": STATE.requests})
    if path == "/control" and method == "POST":
        control = await _read_json(receive)
        if control.get("reset"):
            STATE.script.clear()
            STATE.requests.clear()
        STATE.script.extend(control.get("script", []))
        return 200, _json({"ok": True})
    if path != "/v1/chat/completions":
        raise HTTPError(404, {"detail": f"no route {path}"})
    if method != "POST":
        raise HTTPError(405, {"detail": "use POST"})
    _check_token(scope)
    return 200, _json(await _complete(scope, await _read_json(receive)))


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
        status, body = await _route(scope, receive)
    except HTTPError as exc:
        status, body = exc.status, _json(exc.body)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
