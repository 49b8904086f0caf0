"""``GET /api/conversations`` with a window of start times and a text, as the pages filter:
the text is found in the thread key and anywhere in the record, whatever its characters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from service_support import headers, issue_key
from ui_pages import seed

from pytest_connectors.models.imports import (
    RecordedConversation,
    RecordedToolCall,
    RecordedTurn,
    Scope,
)
from pytest_connectors.service import create_app
from pytest_connectors.storage import conversations
from pytest_connectors.storage.store import Store


def _conversation(number: int, day: int, **turn: object) -> RecordedConversation:
    return RecordedConversation(
        id=f"c{number}",
        agent_id="a1",
        thread_key=f"thread-{number}",
        origin="native",
        started_at=datetime(2026, 3, day, tzinfo=UTC),
        turns=[RecordedTurn(index=0, **turn)],  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db = str(tmp_path_factory.mktemp("filters") / "service.db")
    key = issue_key(db, "acme", "a1")
    other = issue_key(db, "acme", "a2")
    rows = [
        _conversation(1, 1, user_messages=["Où est le café?"], answer="Rue de la Paix"),
        _conversation(2, 2, user_messages=["100% sure?"], answer="yes"),
        _conversation(3, 3, user_messages=["hi"], answer='say "Quoted" and back\\slash'),
        _conversation(
            4,
            4,
            user_messages=["weather"],
            tool_calls=[RecordedToolCall(name="get_weather", args={"city": "Zürich"})],
        ),
    ]
    for row in rows:
        seed(db, row, tenant="acme")
    seed(
        db,
        _conversation(5, 1, user_messages=["café for a2"]).model_copy(update={"agent_id": "a2"}),
        tenant="acme",
    )
    with TestClient(create_app(db, workers=0), headers=headers(key)) as client:
        client.headers["x-other"] = other
        yield client


def _ids(api: TestClient, **params: str) -> list[str]:
    answer = api.get("/api/conversations", params=params)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("CAFÉ", ["c1"]),
        ("café", ["c1"]),
        ("PAIX", ["c1"]),
        ("100%", ["c2"]),
        ("%", ["c2"]),  # a LIKE wildcard is the character itself
        ("_", ["c4"]),  # in the tool's name; every record has it in field names too
        ('"quoted"', ["c3"]),
        ("back\\slash", ["c3"]),
        ("zürich", ["c4"]),
        ("get_weather", ["c4"]),
        ("THREAD-2", ["c2"]),
        ("nothing like this", []),
    ],
)
def test_text_is_found_in_the_record(api: TestClient, text: str, found: list[str]) -> None:
    assert _ids(api, text=text) == found


def test_the_window_is_from_inclusive_to_exclusive(api: TestClient) -> None:
    assert _ids(api, since="2026-03-02T00:00:00Z") == ["c4", "c3", "c2"]
    assert _ids(api, until="2026-03-02T00:00:00Z") == ["c1"]
    assert _ids(api, since="2026-03-02T00:00:00Z", until="2026-03-04T00:00:00Z") == ["c3", "c2"]
    assert _ids(api, since="2026-03-02T00:00:00Z", text="sure") == ["c2"]


def test_a_bad_time_is_refused(api: TestClient) -> None:
    answer = api.get("/api/conversations", params={"since": "yesterday"})
    assert answer.status_code == 422
    assert "since" in answer.json()["error"]["message"]


def test_the_filters_stay_within_the_keys_reach(api: TestClient) -> None:
    other = {"Authorization": f"Bearer {api.headers['x-other']}"}
    answer = api.get("/api/conversations", params={"text": "café"}, headers=other)
    assert [item["id"] for item in answer.json()["items"]] == ["c5"]


@pytest.mark.parametrize("scan", [3, 7, 2000])
def test_text_search_pages_through_every_match_once(
    db_url: str, monkeypatch: pytest.MonkeyPatch, scan: int
) -> None:
    """However few rows one call may check, following the cursors finds every match in order,
    on SQLite and PostgreSQL (whose JSON text the database narrows down differently)."""
    monkeypatch.setattr(conversations, "SEARCH_SCAN", scan)
    monkeypatch.setattr(conversations, "SEARCH_BATCH", 2)
    db = db_url
    for number in range(30):
        word = "needle" if number % 3 == 0 else "hay"
        word += " Zürich" if number % 2 == 0 else ""
        row = _conversation(number, 1 + number % 28, user_messages=[f"{word} {number}"])
        seed(db, row.model_copy(update={"id": f"n{number:02d}"}), tenant="acme")
    scope = Scope(tenant_id="acme", agent_id="a1")
    found, cursor, calls = [], None, 0
    with Store(db) as store, store.read() as connection:
        everything = conversations.list_page(connection, scope, limit=500).items
        while True:
            page = conversations.list_page(connection, scope, limit=4, cursor=cursor, text="NEEDLE")
            assert len(page.items) <= 4
            found += [c.id for c in page.items]
            calls += 1
            assert calls < 100, "the cursors go round in circles"
            cursor = page.next_cursor
            if cursor is None:
                break
    expected = [c.id for c in everything if "needle" in c.turns[0].user_messages[0]]
    assert found == expected and len(expected) == 10
    monkeypatch.setattr(conversations, "SEARCH_SCAN", 2000)
    with Store(db) as store, store.read() as connection:
        page = conversations.list_page(connection, scope, limit=50, text="ZÜRICH 1")
    assert sorted(c.id for c in page.items) == ["n10", "n12", "n14", "n16", "n18"]
