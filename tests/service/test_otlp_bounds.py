"""The OTLP receiver's bounds: spans per request, bytes per open trace, bytes of all open
traces, closed traces, hostile attributes. Each ends in an OTLP answer an exporter acts on, and
the memory held stays within the stated limits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_support import headers, issue_key

from pytest_connectors.imports.otlp import receiver as receiver_module
from pytest_connectors.imports.otlp.receiver import (
    Receiver,
    ReceiverBusy,
    ReceiverLimits,
    TooManySpans,
)
from pytest_connectors.imports.otlp.turns import TraceTurn, trace_turn
from pytest_connectors.models.imports import Scope
from pytest_connectors.service.app import create_app
from pytest_connectors.storage import conversations
from pytest_connectors.storage.store import Store
from pytest_connectors.wire.otlp import Span, decode_json_document

AGENT = Scope(tenant_id="acme", agent_id="weather")


def span(trace: int, number: int, *, root: bool = False, **attributes: Any) -> dict[str, Any]:
    return {
        "traceId": f"{trace:032x}",
        "spanId": f"{number:016x}",
        "parentSpanId": "" if root else f"{10**6 + trace:016x}",
        "name": "chat",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": [{"key": k, "value": {"stringValue": str(v)}} for k, v in attributes.items()],
    }


def request(*spans: dict[str, Any]) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(str(tmp_path / "otlp.db")) as opened:
        yield opened


def stored(store: Store, scope: Scope = AGENT) -> list[Any]:
    with store.read() as connection:
        return conversations.list_page(connection, scope, origin="native", limit=100).items


def test_too_many_spans_in_one_request(store: Store) -> None:
    receiver = Receiver(store, ReceiverLimits(max_spans_per_request=3))
    with pytest.raises(TooManySpans, match="OTEL_BSP_MAX_EXPORT_BATCH_SIZE"):
        receiver.receive(decode_json_document(request(*(span(1, n) for n in range(1, 5)))), AGENT)
    assert receiver.open_bytes == 0


def test_open_traces_past_their_memory_make_exporters_retry_later(store: Store) -> None:
    receiver = Receiver(store, ReceiverLimits(max_open_bytes=20_000, trace_idle_seconds=10))
    big = "x" * 6_000
    for trace in range(1, 4):
        receiver.receive(decode_json_document(request(span(trace, trace, text=big))), AGENT)
    with pytest.raises(ReceiverBusy) as busy:
        receiver.receive(decode_json_document(request(span(9, 9, text=big))), AGENT)
    assert busy.value.retry_after == 10
    assert receiver.open_bytes <= 20_000


def test_a_trace_past_its_memory_refuses_further_spans(store: Store) -> None:
    receiver = Receiver(store, ReceiverLimits(max_trace_bytes=10_000))
    spans = [span(1, n, text="y" * 4_000) for n in range(1, 6)]
    receipt = receiver.receive(decode_json_document(request(*spans)), AGENT)
    assert receipt.rejected == 3
    assert "trace larger than 10000 bytes" in receipt.message
    assert receiver.open_bytes <= 10_000


def test_late_spans_of_a_closed_trace_complete_its_stored_turn(store: Store) -> None:
    clock = Clock()
    receiver = Receiver(store, ReceiverLimits(trace_idle_seconds=5), clock=clock)
    said = {
        "session.id": "conv",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "hello",
    }
    receiver.receive(decode_json_document(request(span(1, 1, **said))), AGENT)
    assert stored(store) == []  # no root yet, not idle yet
    clock.now += 6
    assert receiver.close_idle() == 1
    (conversation,) = stored(store)
    assert conversation.pending and conversation.turns[0].user_messages == ["hello"]

    # Minutes later: the answer, then the root (which names no conversation of its own).
    answered = {"gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "hi!"}
    clock.now += 300
    late = receiver.receive(decode_json_document(request(span(1, 2, **answered))), AGENT)
    assert late.rejected == 0, late.message
    (conversation,) = stored(store)
    (turn,) = conversation.turns
    assert (turn.user_messages, turn.answer, turn.pending) == (["hello"], "hi!", True)
    receipt = receiver.receive(decode_json_document(request(span(1, 3, root=True))), AGENT)
    assert receipt.rejected == 0, receipt.message

    (conversation,) = stored(store)
    assert conversation.thread_key == "conv" and not conversation.pending
    (turn,) = conversation.turns
    assert (turn.user_messages, turn.answer) == (["hello"], "hi!")
    clock.now += 6
    receiver.close_idle()
    assert receiver.open_bytes == 0
    (conversation,) = stored(store)
    assert [t.answer for t in conversation.turns] == ["hi!"] and not conversation.pending


def test_a_later_span_naming_the_conversation_moves_the_turn(store: Store) -> None:
    receiver = Receiver(store)
    receiver.receive(decode_json_document(request(span(1, 1, root=True))), AGENT)
    (first,) = stored(store)
    assert first.thread_key == f"trace:{1:032x}"
    receiver.receive(decode_json_document(request(span(1, 2, **{"session.id": "s-1"}))), AGENT)
    (moved,) = stored(store)
    assert moved.thread_key == "s-1" and len(moved.turns) == 1


def test_stopping_stores_every_open_trace(store: Store) -> None:
    receiver = Receiver(store)
    receiver.receive(decode_json_document(request(span(1, 1, **{"session.id": "s"}))), AGENT)
    receiver.stop()
    (conversation,) = stored(store)
    assert conversation.pending


def test_hostile_spans_are_refused_one_by_one(store: Store) -> None:
    receiver = Receiver(store)
    many = span(1, 1, root=True)
    many["attributes"] = [{"key": f"k{i}", "value": {"stringValue": "v"}} for i in range(100_000)]
    deep: dict[str, Any] = {"stringValue": "bottom"}
    for _ in range(60):
        deep = {"arrayValue": {"values": [deep]}}
    nested = span(2, 2, root=True)
    nested["attributes"] = [{"key": "deep", "value": deep}]
    bad_id = span(3, 3, root=True)
    bad_id["traceId"] = "zz"
    decoded = decode_json_document(request(many, nested, bad_id))
    receipt = receiver.receive(decoded, AGENT)
    assert receipt.rejected == 2
    assert "attributes on a span" in receipt.message and "invalid trace id" in receipt.message
    (conversation,) = stored(store)  # the nested one, its depth cut
    assert conversation.turns[0].trace_id == f"{2:032x}"


def test_the_service_answers_429_with_retry_after_and_413(tmp_path: Path) -> None:
    db = str(tmp_path / "service.db")
    key = issue_key(db, "acme", "weather")
    limits = ReceiverLimits(max_open_bytes=1_000, max_spans_per_request=2)
    app = create_app(db, workers=0, otlp_limits=limits)
    with TestClient(app) as client:
        post = lambda body: client.post(  # noqa: E731
            "/v1/traces",
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **headers(key)},
        )
        busy = post(request(span(1, 1, text="z" * 2_000)))
        assert busy.status_code == 429
        assert busy.headers["Retry-After"].isdigit()
        too_many = post(request(*(span(1, n) for n in range(1, 4))))
        assert too_many.status_code == 413
        assert "batch size" in too_many.json()["message"]


def test_a_slow_save_of_fewer_spans_never_overwrites_a_newer_one(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two requests of one trace overlap: the first copies the root alone and builds slowly,
    # the second brings the answer. The turn stored last must hold both spans.
    building_root_alone = threading.Event()
    go_on = threading.Event()

    def slow_for_the_root_alone(spans: Sequence[Span]) -> TraceTurn:
        if len(spans) == 1:
            building_root_alone.set()
            assert go_on.wait(60)
        return trace_turn(spans)

    monkeypatch.setattr(receiver_module, "trace_turn", slow_for_the_root_alone)
    receiver = Receiver(store)
    first = threading.Thread(
        target=receiver.receive,
        args=(decode_json_document(request(span(1, 1, root=True, **{"session.id": "c"}))), AGENT),
    )
    first.start()
    assert building_root_alone.wait(60)
    held = receiver.open_bytes
    answer = {"gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "ANSWER"}
    second = threading.Thread(
        target=receiver.receive, args=(decode_json_document(request(span(1, 2, **answer))), AGENT)
    )
    second.start()
    deadline = time.monotonic() + 60  # only to prove it does not hang
    while receiver.open_bytes == held and time.monotonic() < deadline:
        time.sleep(0.01)  # until the second request holds its span
    go_on.set()
    first.join(60)
    second.join(60)
    receiver.stop()
    (conversation,) = stored(store)
    assert [t.answer for t in conversation.turns] == ["ANSWER"]
