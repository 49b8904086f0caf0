"""Linking FullStory sessions to agent conversations: each method, precedence, and the weak join.

The sessions of the last test come from the FullStory fake through the real provider, so the
custom event properties are linked in the shape the export really gives them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_connectors.fakes.fullstory import API_KEY, ORG_ID, FullStoryServer, session_events
from pytest_connectors.imports.linking import link_sessions
from pytest_connectors.imports.provider import Window
from pytest_connectors.imports.providers.fullstory.provider import FullStoryProvider
from pytest_connectors.models.imports import (
    RecordedConversation,
    RecordedTurn,
    SessionLink,
    UserSession,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def session(
    sid: str,
    *,
    app_user: str | None = None,
    start: datetime = T0,
    minutes: int = 20,
    threads: tuple[str, ...] = (),
) -> UserSession:
    return UserSession(
        id=sid,
        user_id=sid.split(":")[0],
        app_user_id=app_user,
        started_at=start,
        ended_at=start + timedelta(minutes=minutes),
        custom_events=[
            {"name": "Chat Opened", "properties": {"thread_id": thread}} for thread in threads
        ],
    )


def conversation(
    cid: str,
    *,
    thread: str | None = None,
    start: datetime | None = T0 + timedelta(minutes=5),
    minutes: int = 3,
    **metadata: Any,
) -> RecordedConversation:
    return RecordedConversation(
        id=cid,
        thread_key=thread or f"thread-of-{cid}",
        started_at=start,
        ended_at=start + timedelta(minutes=minutes) if start else None,
        metadata=metadata,
    )


def pairs(links: list[SessionLink]) -> list[tuple[str, str, str]]:
    return [(link.conversation_id, link.session_id, link.method) for link in links]


# --- metadata ---------------------------------------------------------------------------------


def test_a_session_url_in_the_metadata_links_by_metadata() -> None:
    url = f"https://app.fullstory.com/ui/{ORG_ID}/session/111:222"
    links = link_sessions(
        [conversation("c1", fullstory_session_url=url)], [session("111:222"), session("111:333")]
    )
    assert pairs(links) == [("c1", "111:222", "metadata")]


def test_a_session_id_in_the_metadata_links_by_metadata() -> None:
    links = link_sessions(
        [
            conversation("full", fullstory_session_id="111:222"),
            conversation("camel", fullstorySessionId="111%3A333"),
        ],
        [session("111:222"), session("111:333")],
    )
    assert pairs(links) == [("camel", "111:333", "metadata"), ("full", "111:222", "metadata")]


def test_a_bare_session_id_links_only_when_no_two_users_share_it() -> None:
    sessions = [session("1:500"), session("2:600"), session("3:600")]
    links = link_sessions(
        [
            conversation("unique", fullstory_session_id="500"),
            conversation("shared", fullstory_session_id="600"),
        ],
        sessions,
    )
    assert pairs(links) == [("unique", "1:500", "metadata")]


def test_a_session_url_anywhere_in_the_metadata_counts_even_encoded_or_with_a_time() -> None:
    metadata = {
        "client": {"replay": "https://app.fullstory.com/ui/o-1/session/7%3A8%3A1700000000"},
        "links": ["see https://app.fullstory.com/ui/o-1/session/9:10?from=chat for context"],
    }
    links = link_sessions(
        [conversation("c1", **metadata)], [session("7:8"), session("9:10"), session("7:9")]
    )
    assert pairs(links) == [("c1", "7:8", "metadata"), ("c1", "9:10", "metadata")]


def test_a_url_naming_an_unknown_session_links_nothing() -> None:
    links = link_sessions(
        [conversation("c1", fullstory_session_url="https://app.fullstory.com/ui/o/session/1:2")],
        [session("1:3")],
    )
    assert links == []


# --- custom events ----------------------------------------------------------------------------


def test_a_custom_event_carrying_the_thread_id_links_by_custom_event() -> None:
    links = link_sessions(
        [conversation("c1", thread="thread-42"), conversation("c2", thread="thread-43")],
        [session("1:1", threads=("thread-42",)), session("2:2", threads=("other",))],
    )
    assert pairs(links) == [("c1", "1:1", "custom_event")]


def test_the_thread_id_may_come_from_the_metadata_and_the_property_may_be_typed() -> None:
    typed = UserSession(
        id="1:1",
        user_id="1",
        custom_events=[{"name": "x", "properties": {"evt_conversation_id_str": "conv-9"}}],
    )
    links = link_sessions(
        [conversation("c1", thread="trace-id-only", conversation_id="conv-9")], [typed]
    )
    assert pairs(links) == [("c1", "1:1", "custom_event")]


# --- user and time ----------------------------------------------------------------------------


def test_the_same_app_user_at_an_overlapping_time_links_weakly() -> None:
    sessions = [
        session("1:1", app_user="u-7", start=T0),  # 09:00-09:20
        session("1:2", app_user="u-7", start=T0 + timedelta(hours=2)),  # much later
        session("2:1", app_user="u-8", start=T0),  # another user
    ]
    links = link_sessions([conversation("c1", user_id="u-7")], sessions)  # 09:05-09:08
    assert pairs(links) == [("c1", "1:1", "user_time_overlap")]


def test_the_overlap_allows_for_clock_skew_but_no_more() -> None:
    sessions = [session("1:1", app_user="u-7", start=T0, minutes=20)]  # ends 09:20
    near = conversation("near", user_id="u-7", start=T0 + timedelta(minutes=24))
    far = conversation("far", user_id="u-7", start=T0 + timedelta(minutes=26))
    links = link_sessions([near, far], sessions)
    assert pairs(links) == [("near", "1:1", "user_time_overlap")]


def test_the_conversation_span_comes_from_its_turns_when_it_has_no_times() -> None:
    turned = RecordedConversation(
        id="c1",
        thread_key="t",
        metadata={"user_id": "u-7"},
        turns=[RecordedTurn(index=0, user_messages=["hi"], started_at=T0 + timedelta(minutes=1))],
    )
    timeless = conversation("c2", user_id="u-7", start=None)
    links = link_sessions([turned, timeless], [session("1:1", app_user="u-7")])
    assert pairs(links) == [("c1", "1:1", "user_time_overlap")]


def test_without_a_user_id_there_is_no_weak_link() -> None:
    links = link_sessions([conversation("c1")], [session("1:1", app_user="u-7")])
    assert links == []


# --- precedence -------------------------------------------------------------------------------


def test_one_link_per_pair_by_the_strongest_method_and_strongest_first() -> None:
    sessions = [
        session("1:1", app_user="u-7", threads=("thread-a",)),
        session("1:2", app_user="u-7", threads=("thread-a",)),
        session("1:3", app_user="u-7"),
    ]
    conversations = [
        conversation("a", thread="thread-a", user_id="u-7", fullstory_session_id="1:1"),
        conversation("b", user_id="u-7"),
    ]
    links = link_sessions(iter(conversations), iter(sessions))
    assert pairs(links) == [
        ("a", "1:1", "metadata"),
        ("a", "1:2", "custom_event"),
        ("a", "1:3", "user_time_overlap"),
        ("b", "1:1", "user_time_overlap"),
        ("b", "1:2", "user_time_overlap"),
        ("b", "1:3", "user_time_overlap"),
    ]


def test_no_conversations_or_no_sessions_give_no_links() -> None:
    assert link_sessions([], [session("1:1")]) == []
    assert link_sessions([conversation("c1", fullstory_session_id="1:1")], []) == []


# --- with sessions as the provider builds them --------------------------------------------------


def _provider_sessions(fake: FullStoryServer) -> Iterator[UserSession]:
    provider = FullStoryProvider(
        api_key=API_KEY, api_url=fake.url, org_id=ORG_ID, sleep=lambda s: None
    )
    window = Window(T0, T0 + timedelta(hours=2))
    try:
        for page in provider.fetch(window):
            for record in page.records:
                yield UserSession.model_validate(record.payload)
    finally:
        provider.close()


def test_sessions_from_an_export_link_by_each_method(fullstory_fake: FullStoryServer) -> None:
    fullstory_fake.fake.add_events(
        session_events(101, 1, T0, custom=[("Chat Opened", {"thread_id": "thread-from-event"})])
        + session_events(102, 2, T0, app_user_id="customer-7")
        + session_events(103, 3, T0)
    )
    sessions = list(_provider_sessions(fullstory_fake))
    by_url = next(s for s in sessions if s.id == "103:3").url
    assert by_url is not None
    conversations = [
        conversation("by-event", thread="thread-from-event", start=T0),
        conversation("by-user", user_id="customer-7", start=T0),
        conversation("by-url", fullstory_session_url=by_url, start=T0),
    ]

    links = link_sessions(conversations, sessions)

    assert pairs(links) == [
        ("by-url", "103:3", "metadata"),
        ("by-event", "101:1", "custom_event"),
        ("by-user", "102:2", "user_time_overlap"),
    ]
