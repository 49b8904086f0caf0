"""A Langfuse trace with its observations, read as the root run conversations are derived from.

Free of I/O. A Langfuse session is a conversation (its ``sessionId`` becomes the run's
``thread_id``; a trace without one is a conversation of its own) and a trace is one turn:

- the user's messages are the first generation's input (OpenAI-style ``role``/``content`` or
  LangChain-style ``type`` messages, as a list or under ``messages``), else the trace's input;
- what the turn added comes in start order: each generation's output (a message, a list of
  them, a ``choices`` answer or a text, with OpenAI ``function`` or LangChain ``name``/``args``
  tool calls), each tool observation's output as a tool result, and tool messages a later
  generation was sent that no tool observation gave;
- the answer falls back to the trace's output; the first observation at ``level: ERROR`` is the
  turn's error; an observation still open (no ``endTime``, events aside) makes it pending.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pytest_connectors._support.times import parse_utc

__all__ = ["run_of"]

_TOOL_TYPES = frozenset({"TOOL"})
_ROLE_KEYS = ("role", "type")


def _messages(value: Any) -> list[Any]:
    """A message list however a generation's input or output holds it."""
    if isinstance(value, Mapping):
        if isinstance(value.get("messages"), list):
            return list(value["messages"])
        choices = value.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
            return [choices[0].get("message")]
        if any(key in value for key in _ROLE_KEYS):
            return [dict(value)]
        return []
    if isinstance(value, list):
        if value and all(isinstance(item, list) for item in value):  # LangChain batches
            return list(value[-1])
        return list(value)
    return []


def _role(message: Any) -> str:
    if not isinstance(message, Mapping):
        return ""
    return str(message.get("role") or message.get("type") or "").lower()


def _output_messages(output: Any) -> list[Any]:
    found = _messages(output)
    if found:
        return found
    if isinstance(output, str) and output:
        return [{"role": "assistant", "content": output}]
    return []


def _tool_result(observation: Mapping[str, Any]) -> dict[str, Any]:
    output = observation.get("output")
    content = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
    message: dict[str, Any] = {"role": "tool", "content": content}
    metadata = observation.get("metadata")
    call_id = metadata.get("tool_call_id") if isinstance(metadata, Mapping) else None
    if isinstance(call_id, str) and call_id:
        message["tool_call_id"] = call_id
    return message


def _sent_tool_results(messages: list[Any]) -> list[Any]:
    """The tool messages after the last assistant message a generation was sent."""
    tail: list[Any] = []
    for message in reversed(messages):
        role = _role(message)
        if role in ("assistant", "ai"):
            break
        if role in ("tool", "function"):
            tail.append(message)
    tail.reverse()
    return tail


def _error(observations: list[Mapping[str, Any]]) -> str | None:
    for observation in observations:
        if observation.get("level") == "ERROR":
            status = observation.get("statusMessage")
            name = observation.get("name") or observation.get("type") or "observation"
            return f"{name}: {status}" if status else f"{name} failed"
    return None


def _started(observation: Mapping[str, Any]) -> tuple[str, str]:
    return str(observation.get("startTime") or ""), str(observation.get("id") or "")


def run_of(trace: Mapping[str, Any], observations: list[Any]) -> dict[str, Any]:
    """The trace as a root run (``id``, ``start_time``, ``inputs``, ``outputs``, ``error``,
    ``extra.metadata``, ``status``) that the conversation derivation reads."""
    steps = sorted((o for o in observations if isinstance(o, Mapping)), key=_started)
    generations = [o for o in steps if o.get("type") == "GENERATION"]
    sent = _messages(generations[0].get("input")) if generations else []
    if not sent:
        value = trace.get("input")
        sent = _messages(value) or ([{"role": "user", "content": value}] if value else [])
    added: list[Any] = []
    results = 0  # tool results given since the last generation
    for step in steps:
        if step.get("type") == "GENERATION":
            if step is not generations[0]:
                given = _sent_tool_results(_messages(step.get("input")))
                added += given[results:] if len(given) > results else []
            results = 0
            added += _output_messages(step.get("output"))
        elif step.get("type") in _TOOL_TYPES and step.get("output") is not None:
            added.append(_tool_result(step))
            results += 1
    if not any(_role(m) in ("assistant", "ai") and m.get("content") for m in added):
        answer = trace.get("output")
        added += _output_messages(answer) if answer else []
    ends = [parse_utc(o.get("endTime")) for o in steps]
    last_end = max((e for e in ends if e is not None), default=None)
    open_steps = [o for o in steps if o.get("type") != "EVENT" and not o.get("endTime")]
    metadata = trace.get("metadata")
    thread: dict[str, Any] = dict(metadata) if isinstance(metadata, Mapping) else {}
    if trace.get("sessionId"):
        thread["thread_id"] = str(trace["sessionId"])
    if trace.get("userId"):
        thread.setdefault("user_id", trace["userId"])
    return {
        "id": str(trace.get("id")),
        "trace_id": str(trace.get("id")),
        "name": trace.get("name"),
        "start_time": trace.get("timestamp"),
        "end_time": None
        if open_steps
        else (last_end.isoformat() if last_end else None) or trace.get("timestamp"),
        "status": "pending" if open_steps else ("error" if _error(steps) else "success"),
        "error": _error(steps),
        "inputs": {"messages": sent},
        "outputs": {"messages": [*sent[-1:], *added]},
        "extra": {"metadata": thread},
        "tags": [t for t in trace.get("tags") or () if isinstance(t, str)],
        "parent_run_id": None,
    }
