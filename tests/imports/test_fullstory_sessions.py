"""Folding export events into sessions, and decoding the gzip NDJSON they arrive in (pure)."""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pytest_connectors.imports.provider import Window
from pytest_connectors.imports.providers.fullstory.gzip_ndjson import (
    ExportTooLargeError,
    GzipNdjsonDecoder,
    MalformedExportError,
)
from pytest_connectors.imports.providers.fullstory.sessions import (
    MAX_CUSTOM_EVENTS,
    SessionAggregator,
)
from pytest_connectors.imports.session_events import property_name, thread_references

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def event(at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "UserId": 1,
        "SessionId": 2,
        "EventStart": at.isoformat().replace("+00:00", "Z"),
        "EventType": "click",
        **fields,
    }


def test_flags_are_read_in_every_shape_the_export_may_use() -> None:
    aggregator = SessionAggregator()
    for value in (1, "1", True, "true"):
        aggregator.add(event(T0, EventModFrustrated=value, EventModDead=value))
    for value in (0, "", None, False, "0"):
        aggregator.add(event(T0, EventModFrustrated=value, EventModError=value))
    (only,) = aggregator.sessions()
    assert only.session.frustrated_clicks == 4
    assert only.session.dead_clicks == 4
    assert only.session.error_clicks == 0
    assert only.session.event_count == 9


def test_events_without_a_session_or_a_time_are_skipped_and_counted() -> None:
    aggregator = SessionAggregator()
    aggregator.add(event(T0))
    aggregator.add({"UserId": 1, "EventStart": "2026-03-02T09:00:00Z"})
    aggregator.add({"UserId": 1, "SessionId": 2, "EventStart": "yesterday"})
    assert aggregator.skipped == 2
    assert [s.session.event_count for s in aggregator.sessions()] == [1]


def test_times_without_a_zone_are_utc_and_start_end_follow_the_events_in_any_order() -> None:
    aggregator = SessionAggregator()
    aggregator.add(event(T0 + timedelta(minutes=9)))
    aggregator.add({**event(T0), "EventStart": "2026-03-02T09:00:00"})
    aggregator.add(event(T0 + timedelta(minutes=3)))
    (only,) = aggregator.sessions()
    assert only.session.started_at == T0
    assert only.session.ended_at == T0 + timedelta(minutes=9)


def test_custom_events_keep_properties_by_name_and_custom_error_rows_are_not_events() -> None:
    aggregator = SessionAggregator()
    properties = {"evt_thread_id_str": "t-1", "evt_count_int": 3, "evt_tags_strs": ["a"]}
    aggregator.add(event(T0, EventType="custom", EventCustomName="Chat", CustomVars=properties))
    aggregator.add(event(T0, EventType="custom_error", EventCustomName="Chat", CustomVars="{}"))
    later = T0 + timedelta(seconds=1)
    aggregator.add(event(later, EventType="custom", EventCustomName="Bad", CustomVars="{not"))
    (only,) = aggregator.sessions()
    assert [e["name"] for e in only.session.custom_events] == ["Chat", "Bad"]
    assert only.session.custom_events[0]["properties"] == {
        "thread_id": "t-1",
        "count": 3,
        "tags": ["a"],
    }
    assert only.session.custom_events[1]["properties"] == {}


def test_custom_events_are_bounded_but_those_naming_a_thread_are_kept() -> None:
    aggregator = SessionAggregator()
    for n in range(MAX_CUSTOM_EVENTS + 30):
        aggregator.add(event(T0, EventType="custom", EventCustomName=f"noise-{n}"))
    aggregator.add(
        event(T0, EventType="custom", EventCustomName="Chat", CustomVars={"threadId": "t-9"})
    )
    (only,) = aggregator.sessions()
    names = [e["name"] for e in only.session.custom_events]
    assert len(names) == MAX_CUSTOM_EVENTS + 1 and "Chat" in names
    assert only.session.custom_event_count == MAX_CUSTOM_EVENTS + 31


def test_the_same_events_in_any_order_give_the_same_sessions() -> None:
    events = [
        event(
            T0 + timedelta(seconds=n % 7),
            PageId=n % 3,
            PageUrl=f"https://a/{n % 120}",
            EventType="custom" if n % 2 else "click",
            EventCustomName=f"e{n % 60}",
            CustomVars={"evt_n_int": n},
        )
        for n in range(400)
    ]
    payloads = []
    for seed in (1, 2):
        random.Random(seed).shuffle(events)
        aggregator = SessionAggregator()
        aggregator.add_all(events)
        payloads.append([s.session.model_dump(mode="json") for s in aggregator.sessions()])
    assert payloads[0] == payloads[1]
    assert len(payloads[0][0]["customEvents"]) == MAX_CUSTOM_EVENTS
    assert len(payloads[0][0]["pageUrls"]) == 100


def test_page_count_counts_pages_and_urls_are_listed_once_in_order() -> None:
    aggregator = SessionAggregator()
    for page_id, url in [
        (1, "https://a/"),
        (1, "https://a/"),
        (2, "https://a/b"),
        (3, "https://a/"),
    ]:
        aggregator.add(event(T0, PageId=page_id, PageUrl=url))
    (only,) = aggregator.sessions()
    assert only.session.page_count == 3
    assert only.session.page_urls == ["https://a/", "https://a/b"]


def test_a_session_url_in_the_data_wins_over_a_made_up_one() -> None:
    aggregator = SessionAggregator(org_id="o-1")
    aggregator.add(event(T0, SessionUrl="https://app.eu1.fullstory.com/ui/o-1/session/1:2"))
    (only,) = aggregator.sessions()
    assert only.session.url == "https://app.eu1.fullstory.com/ui/o-1/session/1:2"


def test_a_declared_session_start_before_the_window_gives_the_session_to_that_window() -> None:
    window = Window(T0, T0 + timedelta(hours=1))
    aggregator = SessionAggregator(window=window)
    aggregator.add(event(T0 + timedelta(minutes=1), SessionStart="2026-03-02T08:59:00Z"))
    aggregator.add(event(T0 + timedelta(minutes=1), UserId=5, SessionStart="2026-03-02T09:00:30Z"))
    assert [s.session.id for s in aggregator.sessions()] == ["5:2"]


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("evt_thread_id_str", "thread_id"),
        ("evt_n_reals", "n"),
        ("plain", "plain"),
        ("_str", "_str"),
    ],
)
def test_property_names_lose_the_prefix_and_type_suffix(key: str, name: str) -> None:
    assert property_name(key) == name


def test_thread_references_read_the_usual_spellings() -> None:
    properties = {"thread_id": "a", "conversationId": "b", "evt_thread_id_str": "c", "id": "d"}
    assert thread_references(properties) == {"a", "b", "c"}


def decode(blob: bytes, chunk: int = 5) -> list[dict[str, Any]]:
    decoder = GzipNdjsonDecoder(max_line_bytes=1000)
    out: list[dict[str, Any]] = []
    for start in range(0, len(blob), chunk):
        out += decoder.feed(blob[start : start + chunk])
    return out + list(decoder.close())


def test_plain_ndjson_is_read_too() -> None:
    """What arrives when something on the way undid a ``Content-Encoding: gzip``."""
    assert decode(b'  {"a": 1}\n{"a": 2}') == [{"a": 1}, {"a": 2}]


def test_concatenated_gzip_members_and_a_last_line_without_newline_decode() -> None:
    first = gzip.compress(b'{"a": 1}\n\n{"a": 2}\n')
    second = gzip.compress(b'{"a": 3}')
    assert decode(first + second) == [{"a": 1}, {"a": 2}, {"a": 3}]


@pytest.mark.parametrize(
    ("blob", "problem"),
    [
        (b"", "empty"),
        (b"Error: not found\n", "neither gzip data nor NDJSON"),
        (gzip.compress(b'{"a": 1}\n')[:-5], "cut short"),
    ],
    ids=["empty", "plain", "cut-short"],
)
def test_bad_downloads_are_named(blob: bytes, problem: str) -> None:
    with pytest.raises(MalformedExportError, match=problem):
        decode(blob)


def test_bad_lines_are_skipped_and_counted_and_the_rest_is_read() -> None:
    deep = b"[" * 5_000 + b"]" * 5_000
    lines = [
        b'{"a": 1}',
        b"[1]",
        b"{not json",
        json.dumps({"a": "x" * 30_000}).encode(),
        b'{"deep": ' + deep + b"}",
        b'{"text": "\\ud83d alone"}',
        b'{"text": "\\ud83d\\ude00 a pair"}',
        b'{"a": 2}',
    ]
    decoder = GzipNdjsonDecoder(max_line_bytes=20_000)
    blob = gzip.compress(b"\n".join(lines))
    out = [
        record
        for start in range(0, len(blob), 7)
        for record in decoder.feed(blob[start : start + 7])
    ]
    out += decoder.close()
    assert out == [{"a": 1}, {"text": "\U0001f600 a pair"}, {"a": 2}]
    assert decoder.skipped == {
        "not_an_object": 1,
        "not_json": 1,
        "line_too_long": 1,
        "nested_too_deep": 1,
        "invalid_text": 1,
    }


def test_a_gzip_bomb_stops_at_the_size_limit_without_inflating_it() -> None:
    bomb = gzip.compress(b"\n" * (64 * 1024 * 1024))  # 64 MiB of blank lines in ~64 KiB
    decoder = GzipNdjsonDecoder(max_bytes=1024 * 1024)
    with pytest.raises(ExportTooLargeError, match="more than 1048576 bytes"):
        list(decoder.feed(bomb))
