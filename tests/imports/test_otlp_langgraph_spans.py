"""OpenInference spans of a LangGraph run, as openinference-instrumentation-langchain writes
them (LangChain's ``messages_to_dict`` shape in ``input.value``/``output.value``), read into a
turn. The end-to-end run with the real instrumentation is tests/service/test_otlp_instrumented.py;
here, the shapes it does not produce on the example graph: a subgraph whose output repeats the
whole thread."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_connectors.imports.otlp.turns import trace_turn
from pytest_connectors.wire.otlp import Span

TRACE = "ab" * 16
BEGAN = datetime(2026, 1, 1, tzinfo=UTC)


def message(kind: str, content: str = "", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "data": {"type": kind, "content": content, **fields}}


def asking(call_id: str, city: str) -> dict[str, Any]:
    call = {"name": "get_weather", "args": {"city": city}, "id": call_id, "type": "tool_call"}
    return message("ai", tool_calls=[call])


def span(number: int, parent: int | None, kind: str, **attributes: Any) -> Span:
    return Span(
        trace_id=TRACE,
        span_id=f"{number:016x}",
        parent_id=f"{parent:016x}" if parent else None,
        name=kind.lower(),
        start=BEGAN + timedelta(milliseconds=number),
        end=BEGAN + timedelta(milliseconds=number + 1),
        attributes={"openinference.span.kind": kind, "session.id": "t-1", **attributes},
    )


def values(*messages: dict[str, Any]) -> str:
    return json.dumps({"messages": list(messages)})


def test_a_subgraph_repeating_the_thread_adds_only_this_turns_calls() -> None:
    before = [
        message("human", "Weather in Paris?"),
        asking("call_old", "Paris"),
        message("tool", "Sunny", tool_call_id="call_old", name="get_weather"),
        message("ai", "Sunny in Paris."),
    ]
    now = [message("human", "And in Tokyo?"), asking("call_new", "Tokyo")]
    tool_result = message("tool", "Rainy", tool_call_id="call_new", name="get_weather")
    spans = [
        span(1, None, "CHAIN", **{"input.value": values(*before, now[0])}),
        # A subgraph's span: its output is the whole thread, earlier turns' calls included.
        span(2, 1, "CHAIN", **{"output.value": values(*before, *now)}),
        span(3, 2, "TOOL", **{"tool.name": "get_weather", "input.value": "Tokyo",
             "output.value": json.dumps(tool_result)}),
    ]  # fmt: skip
    turn = trace_turn(spans).turn
    assert [(c.name, c.args, c.id, c.result) for c in turn.tool_calls] == [
        ("get_weather", {"city": "Tokyo"}, "call_new", "Rainy")
    ]
    assert turn.user_messages == ["And in Tokyo?"]


def test_a_tool_span_alone_keeps_its_langchain_result() -> None:
    result = message("tool", "Cloudy, 15°C in London", tool_call_id="c1", name="get_weather")
    spans = [
        span(1, None, "CHAIN", **{"input.value": values(message("human", "London?"))}),
        span(2, 1, "TOOL", **{"tool.name": "get_weather", "input.value": "London",
             "output.value": json.dumps(result)}),
    ]  # fmt: skip
    [call] = trace_turn(spans).turn.tool_calls
    assert call.result == "Cloudy, 15°C in London"
