"""Requests to HTTP chat endpoints and the reading of their replies, free of I/O.

A reply is looked for in this order: ``config.responsePath`` if set, then ``choices[0].message``
(OpenAI chat completions), ``message``, ``content``, ``response``, a ``messages`` array, a JSON
string, and finally a plain-text body.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_connectors.models.connector import ContentBlock, Message, Role, ToolCall

TEST_MESSAGE = "hello"
_ROLES: dict[str, Role] = {
    "ai": "assistant",
    "human": "user",
    "assistant": "assistant",
    "user": "user",
    "tool": "tool",
    "system": "system",
    "developer": "system",
}


class ReplyError(Exception):
    """The endpoint answered 2xx, but not with anything that reads as a chat reply."""


# One encoder for every request: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(payload: Any) -> bytes:
    return _ENCODER.encode(payload).encode()


_PLAIN_FIELDS = ("tool_call_id", "name", "id")


def wire_message(message: Message) -> dict[str, Any]:
    """A message in the OpenAI chat shape, so any OpenAI-compatible endpoint accepts it."""
    if (
        isinstance(message.content, str)
        and not (message.tool_calls or message.additional_kwargs or message.response_metadata)
        and not message.model_extra
    ):
        # The common case, built directly: a generic dump costs more than the rest of the call.
        payload: dict[str, Any] = {"role": message.role, "content": message.content}
        for key in _PLAIN_FIELDS:
            value = getattr(message, key)
            if value is not None:
                payload[key] = value
        return payload
    payload = message.model_dump(mode="json", exclude_none=True)
    if message.tool_calls:
        payload["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.args)},
            }
            for call in message.tool_calls
        ]
    return payload


def invoke_body(messages: Sequence[Message], extra: Mapping[str, Any] | None = None) -> bytes:
    """The request body: ``extra`` fields (``config.body``: model, temperature...) and messages."""
    wire = [wire_message(m) for m in messages]
    return encode({**extra, "messages": wire} if extra else {"messages": wire})


def probe_body(extra: Mapping[str, Any] | None = None) -> bytes:
    """A plain chat request saying hello, which strict OpenAI-compatible servers accept."""
    return invoke_body([Message(role="user", content=TEST_MESSAGE)], extra)


def charset_of(content_type: str) -> str:
    """The charset a Content-Type names, when Python knows it; UTF-8 otherwise."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            name = value.strip().strip('"').lower()
            try:
                return codecs.lookup(name).name
            except LookupError:
                break
    return "utf-8"


def decode_text(body: bytes, content_type: str) -> str:
    """The reply as text; ReplyError when its bytes are not valid in its charset."""
    charset = charset_of(content_type)
    try:
        return body.decode(charset)
    except UnicodeDecodeError as exc:
        raise ReplyError(
            f"the reply is not valid {charset.upper()} (byte 0x{body[exc.start]:02x} at "
            f"offset {exc.start}); the agent must send text in the charset it declares"
        ) from None


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            return {"_raw": raw}
        return parsed if isinstance(parsed, dict) else {"_value": parsed}
    return {} if raw is None else {"_value": raw}


def parse_tool_call(raw: dict[str, Any]) -> ToolCall:
    """Both the OpenAI shape (``function.name`` + JSON ``arguments``) and LangChain's."""
    function = raw.get("function")
    if isinstance(function, dict):
        return ToolCall(
            id=raw.get("id"),
            name=str(function.get("name", "")),
            args=_arguments(function.get("arguments")),
            type="tool_call",
        )
    return ToolCall(
        id=raw.get("id"),
        name=str(raw.get("name", "")),
        args=_arguments(raw.get("args", raw.get("arguments"))),
        type=raw.get("type") or "tool_call",
    )


def _content(raw: Any) -> str | list[ContentBlock]:
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list):
        return [
            ContentBlock.model_validate(
                b if isinstance(b, dict) else {"type": "text", "text": str(b)}
            )
            for b in raw
        ]
    return json.dumps(raw, ensure_ascii=False)


def parse_message(raw: dict[str, Any], default_role: Role = "assistant") -> Message:
    """A message dict in the OpenAI or LangChain shape."""
    given = raw.get("role") or raw.get("type")
    role = _ROLES.get(str(given), default_role)
    calls = raw.get("tool_calls") or []
    return Message(
        role=role,
        content=_content(raw.get("content", raw.get("text"))),
        tool_calls=[parse_tool_call(c) for c in calls if isinstance(c, dict)] or None,
        tool_call_id=raw.get("tool_call_id"),
        name=raw.get("name"),
        id=raw.get("id") if isinstance(raw.get("id"), str) else None,
    )


def _text_message(text: str) -> Message:
    return Message(role="assistant", content=text)


def _is_message(node: Any) -> bool:
    return isinstance(node, dict) and ("content" in node or "tool_calls" in node or "text" in node)


def _from_node(node: Any, where: str) -> list[Message]:
    if isinstance(node, str):
        return [_text_message(node)]
    if _is_message(node):
        return [parse_message(node)]
    if isinstance(node, list) and node and all(isinstance(m, dict) for m in node):
        return [parse_message(m) for m in node]
    raise ReplyError(f"{where} is not a message or text (found {type(node).__name__})")


def _walk(data: Any, path: str) -> Any:
    node = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif (
            isinstance(node, list)
            and part.lstrip("-").isdigit()
            and -len(node) <= int(part) < len(node)
        ):
            node = node[int(part)]
        else:
            raise ReplyError(f"responsePath {path!r} is not in the reply (stopped at {part!r})")
    return node


def _new_entries(entries: list[Any], sent: Sequence[Message]) -> list[Any]:
    """An endpoint that echoes the history back: keep only what follows it."""
    if len(entries) > len(sent) and sent:
        first = entries[0]
        if isinstance(first, dict) and first.get("content") == sent[0].content:
            return entries[len(sent) :]
    return entries


def _from_json(data: Any, sent: Sequence[Message]) -> list[Message]:
    if isinstance(data, str):
        return [_text_message(data)]
    if not isinstance(data, dict):
        raise ReplyError(f"the reply is a JSON {type(data).__name__}, not a chat reply")
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        if _is_message(choice.get("message")):
            return [parse_message(choice["message"])]
        if isinstance(choice.get("text"), str):  # legacy completions
            return [_text_message(choice["text"])]
    for key in ("message", "content", "response"):
        node = data.get(key)
        if isinstance(node, str) or _is_message(node):
            return _from_node(node, key)
        if key == "content" and isinstance(node, list):
            return [Message(role="assistant", content=_content(node))]
    entries = data.get("messages")
    if isinstance(entries, list) and entries:
        return _from_node(_new_entries(entries, sent), "messages")
    keys = ", ".join(sorted(map(str, data))) or "none"
    raise ReplyError(
        "no assistant message in the reply: expected choices[0].message, message, content, "
        f"response or messages (top-level keys: {keys}); set config.responsePath to point at it"
    )


def parse_reply(
    body: bytes | str,
    content_type: str,
    sent: Sequence[Message],
    response_path: str | None = None,
) -> list[Message]:
    """The messages an endpoint's 2xx reply holds; ReplyError when it holds none."""
    text = body if isinstance(body, str) else decode_text(body, content_type)
    if not text.strip():
        raise ReplyError("the reply body is empty")
    media = content_type.split(";", 1)[0].strip().lower()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if "json" in media:
            raise ReplyError(
                f"the reply says it is JSON but is not (line {exc.lineno}, column {exc.colno}: "
                f"{exc.msg})"
            ) from None
        if "html" in media or text.lstrip().lower().startswith(("<!doctype html", "<html")):
            raise ReplyError(
                "the reply is an HTML page, not a chat reply: check the base URL and path"
            ) from None
        if response_path:
            raise ReplyError(
                f"responsePath {response_path!r} is set but the reply is not JSON"
            ) from None
        return [_text_message(text)]
    if response_path:
        return _from_node(_walk(data, response_path), f"responsePath {response_path!r}")
    return _from_json(data, sent)


def error_detail(body: bytes | str, limit: int = 300) -> str:
    """The most useful line of an error reply: ``detail``, ``error.message``, ``message``..."""
    text = (body if isinstance(body, str) else body.decode("utf-8", errors="replace")).strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        for key in ("detail", "error", "message", "msg"):
            node = data.get(key)
            if isinstance(node, dict):
                node = node.get("message") or node.get("detail") or node
            if node:
                text = node if isinstance(node, str) else json.dumps(node, ensure_ascii=False)
                break
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
