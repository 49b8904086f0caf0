"""``POST /api/conversations`` is scoped like the reads: against the real service, on SQLite and
PostgreSQL, with keys of two agents of one tenant, the tenant, and a second tenant.

A native conversation's id is its writer's own: it names a conversation within one tenant and
agent. A write never changes a conversation out of the key's reach, and an id held out of reach
answers exactly like one nobody holds: the write makes the key's own conversation.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from service_support import ServiceProcess, client, issue_key
from sqlalchemy import text

from pytest_connectors.models.imports import RecordedConversation, RecordedTurn, Scope
from pytest_connectors.storage import conversations
from pytest_connectors.storage.store import Store


@dataclass
class Service:
    server: ServiceProcess
    keys: dict[str, str]  # "a1", "a2": agent keys of acme; "acme", "globex": tenant keys

    def call(self, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with client(self.server.url, self.keys[key]) as api:
            return api.request(method, path, **kwargs)


def native(conversation_id: str, agent: str, answer: str) -> dict[str, Any]:
    return {
        "id": conversation_id,
        "agentId": agent,
        "threadKey": f"thread-{conversation_id}",
        "startedAt": "2026-03-01T00:00:00Z",
        "turns": [{"index": 0, "userMessages": ["hello"], "answer": answer}],
    }


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    if request.param == "sqlite":
        db = str(tmp_path_factory.mktemp("native-writes") / "service.db")
    else:
        db = request.getfixturevalue("postgres_database")
    keys = {
        "a1": issue_key(db, "acme", "a1"),
        "a2": issue_key(db, "acme", "a2"),
        "acme": issue_key(db, "acme"),
        "globex": issue_key(db, "globex"),
    }
    imported = RecordedConversation(
        id="imported-a1",
        connector_id="cnc_a1",
        agent_id="a1",
        thread_key="thread-imported",
        started_at=datetime(2026, 3, 1, tzinfo=UTC),
        turns=[RecordedTurn(index=0, user_messages=["hello"], answer="imported")],
    )
    with Store(db) as store, store.begin() as connection:
        conversations.save(connection, [imported], tenant_id="acme", now=datetime.now(UTC))
    with ServiceProcess(db, workers=0) as server:
        service = Service(server, keys)
        for key, agent in (("a1", "a1"), ("a2", "a2"), ("globex", "g1")):
            body = {"conversations": [native(f"native-{agent}", agent, "original")]}
            written = service.call(key, "POST", "/api/conversations", json=body)
            assert written.status_code == 201, written.text
        yield service


def _write(service: Service, key: str, conversation_id: str, agent: str) -> httpx.Response:
    body = {"conversations": [native(conversation_id, agent, "overwritten")]}
    return service.call(key, "POST", "/api/conversations", json=body)


# (writer key, the writer's agent, an id held out of the writer's reach, the key that owns it)
FOREIGN = [
    ("a1", "a1", "native-a2", "a2"),  # another agent of the same tenant
    ("a1", "a1", "native-g1", "globex"),  # another tenant
    ("a2", "a2", "imported-a1", "a1"),  # an imported conversation of another agent
    ("acme", "a1", "native-g1", "globex"),  # a tenant key, another tenant
    ("globex", "g1", "native-a1", "a1"),
    ("globex", "g1", "imported-a1", "acme"),
]

HOLDER = {"native-a1": "a1", "native-a2": "a2", "native-g1": "g1", "imported-a1": "a1"}


@pytest.mark.parametrize(("key", "agent", "foreign", "owner"), FOREIGN)
def test_a_foreign_id_answers_like_an_unknown_one_and_is_never_changed(
    service: Service, key: str, agent: str, foreign: str, owner: str
) -> None:
    # The owner says which agent's: a tenant's key may see other writers' ids as well.
    held = {"agentId": HOLDER[foreign]}
    before = service.call(owner, "GET", f"/api/conversations/{foreign}", params=held)
    assert before.status_code == 200, before.text
    unknown = f"unknown-{uuid.uuid4().hex[:8]}"

    answer = _write(service, key, foreign, agent)
    fresh = _write(service, key, unknown, agent)

    assert (answer.status_code, fresh.status_code) == (201, 201), answer.text
    assert answer.text.replace(foreign, "ID") == fresh.text.replace(unknown, "ID")
    after = service.call(owner, "GET", f"/api/conversations/{foreign}", params=held)
    assert after.status_code == 200 and after.json() == before.json()
    # The writer got a conversation of its own under that id, like any new id.
    own = service.call(key, "GET", f"/api/conversations/{foreign}", params={"agentId": agent})
    assert own.status_code == 200, own.text
    assert own.json()["conversation"]["agentId"] == agent
    assert own.json()["conversation"]["turns"][0]["answer"] == "overwritten"


def test_the_id_of_an_agents_own_imported_conversation_is_refused(service: Service) -> None:
    """The one id a writer may not use is one it can read already: nothing is revealed."""
    own = service.call("a1", "GET", "/api/conversations/imported-a1").json()
    for key in ("a1", "acme"):
        taken = _write(service, key, "imported-a1", "a1")
        assert taken.status_code == 422, taken.text
        message = "conversation id 'imported-a1' is already taken; choose another id"
        assert taken.json() == {"error": {"code": "invalid_input", "message": message}}
    assert service.call("a1", "GET", "/api/conversations/imported-a1").json() == own


def test_unknown_and_own_ids_are_written(service: Service) -> None:
    created = _write(service, "a1", "native-a1-new", "a1")
    assert created.status_code == 201, created.text
    replaced = _write(service, "a1", "native-a1", "a1")
    assert replaced.status_code == 201, replaced.text
    shown = service.call("acme", "GET", "/api/conversations/native-a1").json()
    assert shown["conversation"]["turns"][0]["answer"] == "overwritten"
    # A tenant key writes for each of its agents; the same id for another agent is another
    # conversation, and the first one stays where it was.
    other = _write(service, "acme", "native-a1-new", "a2")
    assert other.status_code == 201, other.text
    for agent in ("a1", "a2"):
        seen = service.call(agent, "GET", "/api/conversations/native-a1-new")
        assert seen.status_code == 200 and seen.json()["conversation"]["agentId"] == agent


def test_a_key_that_reaches_two_holders_of_an_id_must_say_which(service: Service) -> None:
    conversation_id = f"shared-{uuid.uuid4().hex[:8]}"
    for agent in ("a1", "a2"):
        assert _write(service, agent, conversation_id, agent).status_code == 201
    path = f"/api/conversations/{conversation_id}"

    unsaid = service.call("acme", "GET", path)

    assert unsaid.status_code == 422, unsaid.text
    assert unsaid.json()["error"]["message"] == (
        f"conversation id {conversation_id!r} is held by agents 'a1' and 'a2'; "
        "give agentId to say which"
    )
    said = service.call("acme", "GET", path, params={"agentId": "a2"})
    assert said.status_code == 200 and said.json()["conversation"]["agentId"] == "a2"
    listed = service.call("acme", "GET", "/api/conversations", params={"limit": 1})
    pages = [listed.json()]
    while pages[-1]["nextCursor"]:
        cursor = pages[-1]["nextCursor"]
        pages.append(
            service.call(
                "acme", "GET", "/api/conversations", params={"limit": 1, "cursor": cursor}
            ).json()
        )
    holders = [c["agentId"] for p in pages for c in p["items"] if c["id"] == conversation_id]
    assert sorted(holders) == ["a1", "a2"]  # one page at a time, neither is skipped


def test_a_batch_that_repeats_an_id_is_refused_whole(service: Service) -> None:
    body = {
        "conversations": [
            native("batch-1", "a1", "first"),
            native("batch-2", "a1", "other"),
            native("batch-1", "a1", "second"),
        ]
    }
    answer = service.call("a1", "POST", "/api/conversations", json=body)
    assert answer.status_code == 422, answer.text
    assert "batch-1" in answer.json()["error"]["message"]
    for written in ("batch-1", "batch-2"):
        assert service.call("a1", "GET", f"/api/conversations/{written}").status_code == 404
    # One id for two agents is two conversations, not a repeat.
    both = {"conversations": [native("batch-3", "a1", "one"), native("batch-3", "a2", "two")]}
    assert service.call("acme", "POST", "/api/conversations", json=both).status_code == 201


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("id", "x" * 65, "id must be 1 to 64 characters"),
        ("threadKey", "t" * 301, "threadKey must be 1 to 300 characters"),
        ("id", "cnv_0123", "kept for imported conversations"),
    ],
    ids=["long-id", "long-thread-key", "imported-prefix"],
)
def test_ids_the_database_cannot_hold_are_refused(
    service: Service, field: str, value: str, said: str
) -> None:
    body = {"conversations": [native("fits", "a1", "kept") | {field: value}]}
    answer = service.call("a1", "POST", "/api/conversations", json=body)
    assert answer.status_code == 422, answer.text
    assert said in answer.json()["error"]["message"]
    listed = service.call("a1", "GET", "/api/conversations", params={"origin": "native"})
    assert value not in listed.text


def test_clients_racing_on_one_new_id_each_get_their_own_conversation(
    service: Service,
) -> None:
    """Tenants and agents write the same new id at once (on PostgreSQL the inserts truly race):
    every write succeeds, nothing answers 5xx, and each agent ends with one conversation."""
    writers = [("a1", "a1"), ("a2", "a2"), ("globex", "g1"), ("acme", "a1")] * 6
    racing = f"race-{uuid.uuid4().hex[:8]}"

    def write(writer: tuple[str, str]) -> httpx.Response:
        return _write(service, writer[0], racing, writer[1])

    with ThreadPoolExecutor(len(writers)) as pool:
        answers = list(pool.map(write, writers))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    for key, agent in (("a1", "a1"), ("a2", "a2"), ("globex", "g1")):
        listed = service.call(key, "GET", "/api/conversations", params={"origin": "native"})
        mine = [c for c in listed.json()["items"] if c["id"] == racing]
        assert [c["agentId"] for c in mine] == [agent]


def test_a_write_racing_for_its_own_new_id_replaces_instead_of_failing(
    postgres_database: str,
) -> None:
    """On PostgreSQL two writers of one agent may both find the id free; the second then waits on
    the first's insert. Once that commits, the second replaces it: no database error."""
    racing = f"race-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)

    def conversation(answer: str) -> RecordedConversation:
        turn = RecordedTurn(index=0, user_messages=["hello"], answer=answer)
        return RecordedConversation(
            id=racing, agent_id="a1", thread_key="t", origin="native", turns=[turn]
        )

    outcome: list[BaseException | None] = []

    def second_writer(store: Store) -> None:
        try:
            with store.begin() as connection:
                conversations.save(connection, [conversation("second")], tenant_id="acme", now=now)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with Store(postgres_database) as store:
        with store.begin() as first:
            conversations.save(first, [conversation("first")], tenant_id="acme", now=now)
            writer = threading.Thread(target=second_writer, args=(store,))
            writer.start()
            _wait_until_blocked(store)
            first.commit()
            writer.join(timeout=60)
        with store.read() as connection:
            stored = conversations.get(connection, Scope("acme", "a1"), racing)
    assert outcome == [None]
    assert stored is not None and stored.turns[0].answer == "second"


def _wait_until_blocked(store: Store) -> None:
    """Until another connection waits for a lock (the second writer's insert), 60 s at most."""
    deadline = time.monotonic() + 60
    with store.engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )
            ).scalar()
            watcher.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the second writer never waited for the first")
