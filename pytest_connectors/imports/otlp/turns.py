"""The spans of one trace as one turn of a conversation, and the conversation it belongs to.

A trace is one turn: what the user said (the trailing user messages of the first LLM call, or
the root's input), the tools called (from the LLM outputs, completed by tool spans and tool
messages), the answer (the last LLM output's text, or the root's output), the first error.
Without its root span a trace is incomplete: the turn is ``pending``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pytest_connectors.imports.otlp import conventions
from pytest_connectors.imports.otlp.conventions import SpanMessage, ToolUse
from pytest_connectors.models.imports import RecordedToolCall, RecordedTurn
from pytest_connectors.wire.otlp import Span

# Where a span names its conversation, strongest first; the trace itself is the last resort.
CONVERSATION_ATTRIBUTES = ("gen_ai.conversation.id", "session.id", "langfuse.session.id")
THREAD_METADATA_KEYS = ("thread_id", "conversation_id", "session_id")
AGENT_ATTRIBUTE = "pytest_connectors.agent_id"


@dataclass(frozen=True)
class TraceTurn:
    turn: RecordedTurn
    thread_key: str
    content_captured: bool  # False: LLM spans came without any message content
    service: str | None


def thread_key(spans: Sequence[Span]) -> str:
    """The trace's conversation: an attribute on any of its spans (an instrumentation may set
    it on the agent span only), then thread metadata, then the trace."""
    for name in CONVERSATION_ATTRIBUTES:
        for span in spans:
            value = span.attributes.get(name)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
                return str(value)
    for span in spans:
        for name in ("metadata", "langgraph.metadata"):
            metadata = span.attributes.get(name)
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except (ValueError, RecursionError):
                    continue
            if isinstance(metadata, dict):
                for key in THREAD_METADATA_KEYS:
                    found = metadata.get(key)
                    if isinstance(found, (str, int)) and not isinstance(found, bool) and str(found):
                        return str(found)
    return f"trace:{spans[0].trace_id}"


def _trailing_user(messages: Sequence[SpanMessage]) -> list[str]:
    said: list[str] = []
    for message in reversed(messages):
        if message.role != "user":
            if said or message.role != "system":
                break
            continue
        if message.text:
            said.insert(0, message.text)
    return said


def _record(use: ToolUse) -> RecordedToolCall:
    return RecordedToolCall(name=use.name, args=use.args, id=use.id, result=use.result)


def _ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds() * 1000


def _first(spans: Sequence[Span], attribute: str) -> Any:
    for span in spans:
        if attribute in span.attributes:
            return span.attributes[attribute]
    return None


def trace_turn(spans: Sequence[Span]) -> TraceTurn:
    """``spans``: every span held of one trace, in any order (at least one)."""
    ordered = sorted(spans, key=lambda s: (s.start is None, s.start or datetime.max, s.span_id))
    root = next((s for s in ordered if s.is_root), None)
    sent_before = conventions.sent_call_ids(root) if root is not None else set()
    calls: list[ToolUse] = []
    by_id: dict[str, ToolUse] = {}
    user: list[str] = []
    answer: str | None = None
    llm_spans = 0
    with_content = 0

    def add_call(use: ToolUse) -> ToolUse:
        if use.id and use.id in by_id:
            known = by_id[use.id]
            known.result = known.result if use.result is None else use.result
            return known
        calls.append(use)
        if use.id:
            by_id[use.id] = use
        return use

    for span in ordered:
        inputs, outputs = conventions.messages(span)
        if conventions.is_llm_span(span) or inputs is not None or outputs is not None:
            llm_spans += 1
        if inputs or outputs:
            with_content += 1
        for message in inputs or []:
            if message.role == "tool" and message.tool_call_id in by_id:
                by_id[message.tool_call_id].result = message.text
        if inputs and not user:
            user = _trailing_user(inputs)
        for message in outputs or []:
            for use in message.tool_calls:
                add_call(use)
            if message.role == "assistant" and message.text:
                answer = message.text
        for use in conventions.chain_tool_calls(span):
            if use.id not in sent_before:
                add_call(use)
        tool = conventions.tool_use(span)
        if tool is not None:
            if tool.id and tool.id in by_id:
                add_call(tool)
            else:
                waiting = next((c for c in calls if c.name == tool.name and c.result is None), None)
                if waiting is None:
                    add_call(tool)
                else:
                    waiting.result = tool.result
                    waiting.args = waiting.args or tool.args
    if root is not None:
        if not user:
            said = conventions.chat_value(root.attributes.get("input.value")) or []
            user = _trailing_user(said)
        if answer is None:
            answered = conventions.chat_value(root.attributes.get("output.value")) or []
            texts = [m.text for m in answered if m.text and m.role != "tool"]
            answer = texts[-1] if texts else None
    failed = next((s for s in ordered if s.error is not None), None)
    error = None
    if failed is not None:
        error = f"{failed.name}: {failed.error}" if failed.error else f"{failed.name} failed"
    starts = [s.start for s in ordered if s.start is not None]
    ends = [s.end for s in ordered if s.end is not None]
    started = root.start if root is not None and root.start else min(starts, default=None)
    ended = root.end if root is not None and root.end else max(ends, default=None)
    turn = RecordedTurn(
        index=0,
        user_messages=user,
        tool_calls=[_record(c) for c in calls],
        answer=answer,
        error=error,
        latency_ms=_ms(started, ended),
        started_at=started,
        trace_id=ordered[0].trace_id,
        pending=root is None,
    )
    service = _first([s for s in ordered], "service.name") or ordered[0].resource.get(
        "service.name"
    )
    return TraceTurn(
        turn=turn,
        thread_key=thread_key(ordered),
        content_captured=not (llm_spans and not with_content),
        service=service if isinstance(service, str) else None,
    )
