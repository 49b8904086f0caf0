"""What an LLM span says, in each convention that coexists in OpenTelemetry traces.

- OTel GenAI: ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (JSON, v1.37 on), or the
  older message events (``gen_ai.user.message``, ``gen_ai.choice``, ...); execute-tool spans.
- OpenInference: ``llm.input_messages.{i}.message.*``, ``llm.output_messages.{i}...``,
  ``openinference.span.kind = TOOL`` with ``input.value`` / ``output.value``.
- OpenLLMetry: ``gen_ai.prompt.{i}.*``, ``gen_ai.completion.{i}.*``, ``traceloop.span.kind``.

Everything here is pure: a span in, messages or a tool use out. A value of the wrong shape is
read as absent, never as an error: one odd attribute must not cost the trace.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_connectors.wire.otlp import Span


@dataclass
class ToolUse:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    result: str | None = None


@dataclass
class SpanMessage:
    role: str
    text: str | None = None
    tool_calls: list[ToolUse] = field(default_factory=list)
    tool_call_id: str | None = None


_ROLES = {"human": "user", "ai": "assistant", "model": "assistant", "function": "tool"}


def _role(value: Any) -> str:
    text = value.lower() if isinstance(value, str) else ""
    return _ROLES.get(text, text or "user")


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: [{"type": "text", "text": ...}, ...]
        texts = [_text(v) for v in value]
        joined = "".join(t for t in texts if t)
        return joined or None
    if isinstance(value, dict):
        for key in ("text", "content"):
            if isinstance(value.get(key), str):
                found: str = value[key]
                return found
    return None


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return None
    return value


def _args(value: Any) -> dict[str, Any]:
    parsed = _json(value)
    if isinstance(parsed, dict):
        return parsed
    if parsed is None and value in (None, ""):
        return {}
    return {"input": value if isinstance(value, str) else parsed}


def _result(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _indexed(attributes: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    """``prefix.0.a``, ``prefix.1.b`` as ``[{"a": ...}, {"b": ...}]``, in index order."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        index, _, rest = key[len(prefix) :].partition(".")
        if index.isdigit() and rest:
            found.setdefault(int(index), {})[rest] = value
    return [found[i] for i in sorted(found)]


# --- OTel GenAI -----------------------------------------------------------------------------


def _genai_message(item: Any) -> SpanMessage | None:
    if not isinstance(item, dict):
        return None
    message = SpanMessage(role=_role(item.get("role")))
    texts: list[str] = []
    for part in item.get("parts") or []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("content"), str):
            texts.append(part["content"])
        elif kind == "tool_call" and isinstance(part.get("name"), str):
            call_id = part.get("id")
            message.tool_calls.append(
                ToolUse(
                    part["name"],
                    _args(part.get("arguments")),
                    call_id if isinstance(call_id, str) else None,
                )
            )
        elif kind == "tool_call_response":
            call_id = part.get("id")
            message.tool_call_id = call_id if isinstance(call_id, str) else None
            texts.append(_result(part.get("response")) or "")
    message.text = "".join(texts) or None
    return message


def _genai_messages(value: Any) -> list[SpanMessage] | None:
    parsed = _json(value)
    if not isinstance(parsed, list):
        return None
    return [m for m in (_genai_message(item) for item in parsed) if m is not None]


_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


def _event_message(role: str, attributes: Mapping[str, Any]) -> SpanMessage:
    body = _json(attributes.get("gen_ai.event.content"))
    if not isinstance(body, dict):
        body = dict(attributes)
    if isinstance(body.get("message"), dict):  # gen_ai.choice: {"message": {...}}
        body = body["message"]
    message = SpanMessage(role=_role(body.get("role") or role), text=_text(body.get("content")))
    message.tool_calls = _message_tool_calls(body)
    call_id = body.get("id") if role == "tool" else None
    message.tool_call_id = call_id if isinstance(call_id, str) else None
    return message


def _event_messages(span: Span) -> tuple[list[SpanMessage] | None, list[SpanMessage] | None]:
    inputs: list[SpanMessage] = []
    outputs: list[SpanMessage] = []
    for event in span.events:
        if event.name in _EVENT_ROLES:
            inputs.append(_event_message(_EVENT_ROLES[event.name], event.attributes))
        elif event.name == "gen_ai.choice":
            outputs.append(_event_message("assistant", event.attributes))
    return inputs or None, outputs or None


# --- OpenInference --------------------------------------------------------------------------


def _openinference_messages(attributes: Mapping[str, Any], prefix: str) -> list[SpanMessage] | None:
    items = _indexed(attributes, prefix)
    if not items:
        return None
    messages = []
    for item in items:
        text = item.get("message.content")
        if not isinstance(text, str):
            parts = _indexed(item, "message.contents.")
            text = "".join(
                p["message_content.text"]
                for p in parts
                if isinstance(p.get("message_content.text"), str)
            )
        message = SpanMessage(role=_role(item.get("message.role")), text=text or None)
        for call in _indexed(item, "message.tool_calls."):
            name = call.get("tool_call.function.name")
            if isinstance(name, str):
                call_id = call.get("tool_call.id")
                message.tool_calls.append(
                    ToolUse(
                        name,
                        _args(call.get("tool_call.function.arguments")),
                        call_id if isinstance(call_id, str) else None,
                    )
                )
        call_id = item.get("message.tool_call_id")
        message.tool_call_id = call_id if isinstance(call_id, str) else None
        messages.append(message)
    return messages


# --- OpenLLMetry ----------------------------------------------------------------------------


def _openllmetry_messages(attributes: Mapping[str, Any], prefix: str) -> list[SpanMessage] | None:
    items = _indexed(attributes, prefix)
    if not items:
        return None
    messages = []
    for item in items:
        message = SpanMessage(role=_role(item.get("role")), text=_text(item.get("content")))
        for call in _indexed(item, "tool_calls."):
            name = call.get("name")
            if isinstance(name, str):
                call_id = call.get("id")
                message.tool_calls.append(
                    ToolUse(
                        name,
                        _args(call.get("arguments")),
                        call_id if isinstance(call_id, str) else None,
                    )
                )
        call_id = item.get("tool_call_id")
        message.tool_call_id = call_id if isinstance(call_id, str) else None
        messages.append(message)
    return messages


# --- a span, whatever its convention ----------------------------------------------------------

_LLM_OPERATIONS = {"chat", "text_completion", "generate_content", "completion"}


def is_llm_span(span: Span) -> bool:
    attributes = span.attributes
    return (
        attributes.get("gen_ai.operation.name") in _LLM_OPERATIONS
        or attributes.get("openinference.span.kind") == "LLM"
        or attributes.get("traceloop.span.kind") == "llm"
        or "llm.request.type" in attributes
    )


def messages(span: Span) -> tuple[list[SpanMessage] | None, list[SpanMessage] | None]:
    """The span's input and output messages (None: the span says nothing of them)."""
    attributes = span.attributes
    inputs = _genai_messages(attributes.get("gen_ai.input.messages"))
    outputs = _genai_messages(attributes.get("gen_ai.output.messages"))
    if inputs is None and outputs is None:
        inputs = _openinference_messages(attributes, "llm.input_messages.")
        outputs = _openinference_messages(attributes, "llm.output_messages.")
    if inputs is None and outputs is None:
        inputs = _openllmetry_messages(attributes, "gen_ai.prompt.")
        outputs = _openllmetry_messages(attributes, "gen_ai.completion.")
    if inputs is None and outputs is None:
        inputs, outputs = _event_messages(span)
    return inputs, outputs


def tool_use(span: Span) -> ToolUse | None:
    """The tool a tool span ran, with its arguments and result when content was captured."""
    attributes = span.attributes
    if attributes.get("gen_ai.operation.name") == "execute_tool":
        name = attributes.get("gen_ai.tool.name")
        args = attributes.get("gen_ai.tool.call.arguments")
        result = attributes.get("gen_ai.tool.call.result")
        call_id = attributes.get("gen_ai.tool.call.id")
    elif attributes.get("openinference.span.kind") == "TOOL":
        name = attributes.get("tool.name")
        args = attributes.get("input.value")
        result = attributes.get("output.value")
        call_id = attributes.get("tool_call.id") or attributes.get("tool.id")
    elif attributes.get("traceloop.span.kind") == "tool":
        name = attributes.get("traceloop.entity.name")
        args = attributes.get("traceloop.entity.input")
        result = attributes.get("traceloop.entity.output")
        call_id = None
    else:
        return None
    if not isinstance(name, str) or not name:
        name = span.name or "tool"
    return ToolUse(
        name,
        _args(args),
        call_id if isinstance(call_id, str) else None,
        _tool_output(result),
    )


def _langchain_fields(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """A LangChain message's own fields: ``dumpd`` nests them in ``kwargs``,
    ``messages_to_dict`` (what OpenInference writes) in ``data``."""
    for key in ("kwargs", "data"):
        if isinstance(item.get(key), dict):
            inner: Mapping[str, Any] = item[key]
            return inner
    return item


def _tool_output(value: Any) -> str | None:
    """A tool's result; OpenLLMetry and LangChain wrap it as ``{"output": ...}``, OpenInference
    writes LangChain's ToolMessage (``{"type": "tool", "data": {"content": ...}}``)."""
    parsed = _json(value)
    if isinstance(parsed, dict) and set(parsed) <= {"output", "kwargs"} and "output" in parsed:
        parsed = parsed["output"]
        value = parsed
    if isinstance(parsed, dict) and parsed.get("type") == "tool":
        fields = _langchain_fields(parsed)
        if "content" in fields:
            return _text(fields["content"]) or _result(fields["content"])
    if isinstance(parsed, dict) and isinstance(parsed.get("kwargs"), dict):
        return _result(parsed["kwargs"].get("content", parsed))
    return _result(value)


def _message_tool_calls(fields: Mapping[str, Any]) -> list[ToolUse]:
    """Tool calls of an assistant message, LangChain-shaped (``name``/``args``) or
    OpenAI-shaped (``function.name``/``function.arguments`` as a JSON string)."""
    found = []
    for call in _json(fields.get("tool_calls")) or []:
        if not isinstance(call, dict):
            continue
        function = call["function"] if isinstance(call.get("function"), dict) else call
        name = function.get("name")
        if isinstance(name, str) and name:
            args = function.get("args", function.get("arguments"))
            call_id = call.get("id")
            found.append(ToolUse(name, _args(args), call_id if isinstance(call_id, str) else None))
    return found


def _value_messages(value: Any) -> list[Mapping[str, Any]]:
    """The messages of a chain's ``input.value`` / ``output.value`` (``{"messages": [...]}``),
    each as its own fields."""
    parsed = _json(value)
    if isinstance(parsed, dict):
        parsed = parsed.get("messages")
    if not isinstance(parsed, list):
        return []
    return [_langchain_fields(item) for item in parsed if isinstance(item, dict)]


def sent_call_ids(span: Span) -> set[str]:
    """Ids of the tool calls already in a span's input messages: earlier turns' calls, which a
    subgraph's output repeats with the whole thread."""
    return {
        use.id
        for fields in _value_messages(span.attributes.get("input.value"))
        for use in _message_tool_calls(fields)
        if use.id
    }


def chain_tool_calls(span: Span) -> list[ToolUse]:
    """Tool calls an agent or chain span's output asks for (OpenInference on LangGraph: the
    agent node's output holds the AI message, with ids the tool spans do not repeat)."""
    if span.is_root or span.attributes.get("openinference.span.kind") not in ("AGENT", "CHAIN"):
        return []
    return [
        use
        for fields in _value_messages(span.attributes.get("output.value"))
        if _role(fields.get("type") or fields.get("role")) == "assistant"
        for use in _message_tool_calls(fields)
    ]


def chat_value(value: Any) -> list[SpanMessage] | None:
    """``input.value`` / ``output.value`` of a chain span: a string, or ``{"messages": [...]}``
    in LangChain's or OpenAI's shape."""
    parsed = _json(value)
    if isinstance(value, str) and not isinstance(parsed, (dict, list)):
        return [SpanMessage(role="user", text=value)]
    if isinstance(parsed, dict):
        parsed = parsed.get("messages", parsed.get("input"))
    if isinstance(parsed, str):
        return [SpanMessage(role="user", text=parsed)]
    if not isinstance(parsed, list):
        return None
    found = []
    for item in parsed:
        if isinstance(item, list) and len(item) == 2:  # ("user", "hi")
            found.append(SpanMessage(role=_role(item[0]), text=_text(item[1])))
        elif isinstance(item, dict):
            data = _langchain_fields(item)
            role = data.get("role") or data.get("type") or item.get("type")
            found.append(SpanMessage(role=_role(role), text=_text(data.get("content"))))
    return found or None
