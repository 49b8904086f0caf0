"""Hostile OTLP over protobuf, as exporters send it, through the service: each request ends in
an OTLP answer (400 for what cannot be read, 200 with ``partialSuccess`` naming what was
refused, a documented skip for what can be kept as structure), never a 500, and another agent's
conversations stay as they were.

The JSON side of the same list is in test_otlp_receiver.py and test_otlp_bounds.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from service_support import headers, issue_key

from pytest_connectors.imports.otlp.receiver import Receiver, ReceiverLimits
from pytest_connectors.service.app import create_app
from pytest_connectors.wire.otlp import MAX_ATTRIBUTES_PER_SPAN

PROTOBUF = "application/x-protobuf"
START = 1_700_000_000_000_000_000


def value(item: Any) -> AnyValue:
    if isinstance(item, AnyValue):
        return item
    if isinstance(item, bool):
        return AnyValue(bool_value=item)
    if isinstance(item, int):
        return AnyValue(int_value=item)
    if isinstance(item, float):
        return AnyValue(double_value=item)
    if isinstance(item, list):
        found = AnyValue()
        found.array_value.values.extend(value(v) for v in item)
        return found
    return AnyValue(string_value=str(item))


def span(trace: int, number: int, *, parent: int | None = None, **attributes: Any) -> Span:
    return Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=number.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        name="chat",
        start_time_unix_nano=START + number,
        end_time_unix_nano=START + number + 1_000_000,
        attributes=[KeyValue(key=k, value=value(v)) for k, v in attributes.items()],
    )


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, written by hand: protobuf will not build a message
    nested deeper than it parses."""
    size, length = bytearray(), len(payload)
    while True:
        size.append((length & 0x7F) | (0x80 if length > 0x7F else 0))
        length >>= 7
        if not length:
            break
    return bytes([number << 3 | 2]) + bytes(size) + payload


def nested_span(trace: int, number: int, depth: int, **attributes: Any) -> bytes:
    """A span whose attribute ``deep`` is an array in an array ... ``depth`` times."""
    deep = AnyValue(string_value="bottom").SerializeToString()
    for _ in range(depth):
        deep = field(5, field(1, deep))  # AnyValue.array_value > ArrayValue.values
    attribute = field(1, b"deep") + field(2, deep)  # KeyValue
    return span(trace, number, **attributes).SerializeToString() + field(9, attribute)


def raw_body(*spans: bytes) -> bytes:
    """ExportTraceServiceRequest > ResourceSpans > ScopeSpans > spans, from serialized spans."""
    return field(1, field(2, b"".join(field(2, s) for s in spans)))


def body(*spans: Span, **resource: str) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        KeyValue(key=k, value=value(v)) for k, v in resource.items()
    )
    resource_spans.scope_spans.add().spans.extend(spans)
    return request.SerializeToString()


class Service:
    def __init__(self, client: TestClient, receiver: Receiver, keys: dict[str, str]) -> None:
        self.client = client
        self.receiver = receiver
        self.keys = keys

    def post(self, key: str, content: bytes) -> Any:
        return self.client.post(
            "/v1/traces",
            content=content,
            headers={"Content-Type": PROTOBUF, **headers(self.keys[key])},
        )

    def accepted(self, key: str, content: bytes) -> ExportTraceServiceResponse:
        answer = self.post(key, content)
        assert answer.status_code == 200, answer.content
        parsed = ExportTraceServiceResponse()
        parsed.ParseFromString(answer.content)
        return parsed

    def conversations(self, key: str) -> dict[str, dict[str, Any]]:
        answer = self.client.get(
            "/api/conversations",
            params={"origin": "native", "limit": 100},
            headers=headers(self.keys[key]),
        )
        assert answer.status_code == 200, answer.text
        return {c["threadKey"]: c for c in answer.json()["items"]}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    db = str(tmp_path / "service.db")
    keys = {agent: issue_key(db, "acme", agent) for agent in ("weather", "billing")}
    limits = ReceiverLimits(max_trace_bytes=2 * 1024 * 1024, trace_idle_seconds=3600)
    app = create_app(db, workers=0, otlp_limits=limits)
    with TestClient(app) as client:
        yield Service(client, app.state.receiver, keys)


BILLING_TURN = {
    "session.id": "invoice-7",
    "gen_ai.prompt.0.role": "user",
    "gen_ai.prompt.0.content": "Where is invoice 7?",
    "gen_ai.completion.0.role": "assistant",
    "gen_ai.completion.0.content": "Sent on Monday.",
}


@pytest.fixture
def billing(service: Service) -> dict[str, Any]:
    """Another agent's conversation, which nothing below may touch."""
    service.accepted("billing", body(span(0xB1, 1, **BILLING_TURN)))
    return service.conversations("billing")["invoice-7"]


def test_unreadable_protobuf_is_a_400_with_a_status(service: Service) -> None:
    for content in (b"\x0a\xff\xff\xff\xff\x0f", b"\x0a\x05abc", b"\xff" * 64):
        answer = service.post("weather", content)
        assert answer.status_code == 400
        assert b"not an OTLP ExportTraceServiceRequest in protobuf" in answer.content
    # Nested past protobuf's own recursion limit: one clear 400, not a crash.
    answer = service.post("weather", raw_body(nested_span(1, 1, depth=120)))
    assert answer.status_code == 400
    assert service.receiver.open_bytes == 0


def test_hostile_spans_are_refused_one_by_one_and_the_rest_kept(
    service: Service, billing: dict[str, Any]
) -> None:
    many = span(2, 2, **{f"k{i}": "v" for i in range(100_000)})
    huge = span(
        3, 3, **{"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "x" * 3_000_000}
    )
    # Within protobuf's nesting limit, past the receiver's depth: cut, and the span kept.
    fine = nested_span(4, 4, depth=40, **{**BILLING_TURN, "session.id": "kept"})
    content = raw_body(many.SerializeToString(), huge.SerializeToString(), fine)
    receipt = service.accepted("weather", content)
    assert receipt.partial_success.rejected_spans == 2
    message = receipt.partial_success.error_message
    assert f"more than {MAX_ATTRIBUTES_PER_SPAN} attributes on a span" in message
    assert "trace larger than 2097152 bytes" in message
    assert set(service.conversations("weather")) == {"kept"}
    assert service.receiver.open_bytes < 2 * 1024 * 1024
    assert service.conversations("billing") == {"invoice-7": billing}


def test_wrong_types_are_read_as_absent(service: Service) -> None:
    odd = span(
        5,
        5,
        **{
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": 42,
            "gen_ai.output.messages": "[{not json",
            "llm.input_messages.0.message.role": ["user"],
            "llm.input_messages.0.message.content": 3.5,
            "session.id": 1.5,
            "gen_ai.conversation.id": True,
        },
    )
    receipt = service.accepted("weather", body(odd))
    assert receipt.partial_success.rejected_spans == 0
    (conversation,) = service.conversations("weather").values()
    # No usable conversation key: the trace is its own conversation.
    assert conversation["threadKey"] == f"trace:{5:032x}"
    assert conversation["turns"][0]["userMessages"] == []


def test_unknown_conventions_are_kept_as_structure(service: Service) -> None:
    root = span(6, 6, **{"myframework.step": "plan", "session.id": "unknown"})
    child = span(6, 7, parent=6, **{"myframework.prompt": "hi"})
    child.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="planner exploded"))
    assert service.accepted("weather", body(child, root)).partial_success.rejected_spans == 0
    conversation = service.conversations("weather")["unknown"]
    [turn] = conversation["turns"]
    assert turn["userMessages"] == [] and turn["answer"] is None and not turn["pending"]
    assert turn["error"] == "chat: planner exploded"


def test_spans_without_a_parent_in_reach_wait_then_are_pending(
    service: Service, billing: dict[str, Any]
) -> None:
    orphan = span(8, 9, parent=0xDEAD, **{**BILLING_TURN, "session.id": "orphan"})
    assert service.accepted("weather", body(orphan)).partial_success.rejected_spans == 0
    assert "orphan" not in service.conversations("weather")  # its root may still come
    service.receiver.close_idle(everything=True)
    conversation = service.conversations("weather")["orphan"]
    assert conversation["pending"] and conversation["turns"][0]["pending"]
    assert service.conversations("billing") == {"invoice-7": billing}


def test_a_key_cannot_write_to_another_agent(service: Service, billing: dict[str, Any]) -> None:
    # The billing agent's own trace id and conversation, sent with the weather key naming billing.
    forged = span(0xB1, 2, **{**BILLING_TURN, "gen_ai.prompt.0.content": "forged"})
    receipt = service.accepted("weather", body(forged, **{"pytest_connectors.agent_id": "billing"}))
    assert receipt.partial_success.rejected_spans == 1
    assert "another agent" in receipt.partial_success.error_message
    # Without naming it, the same ids land in the weather agent's own conversation.
    service.accepted("weather", body(forged))
    assert json.dumps(service.conversations("weather")).count("forged") == 1
    assert service.conversations("billing") == {"invoice-7": billing}
