"""``POST /api/conversations`` is scoped like the reads: against the real service, on SQLite and
PostgreSQL, with keys of two agents of one tenant, the tenant, and a second tenant.

Conversation ids are unique across the service. A write never changes a conversation out of the
key's reach, and the answer for an id held out of reach is the very answer for an id held by an
imported conversation of the key's own: nothing tells whose it is, or where.
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

from pytest_connectors.errors import InvalidInputError
from pytest_connectors.models.imports import Conversation, RecordedTurn, Scope
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
    imported = Conversation(
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


@pytest.mark.parametrize(("key", "agent", "foreign", "owner"), FOREIGN)
def test_a_foreign_id_is_never_changed_and_answers_like_any_taken_id(
    service: Service, key: str, agent: str, foreign: str, owner: str
) -> None:
    before = service.call(owner, "GET", f"/api/conversations/{foreign}")
    assert before.status_code == 200, before.text

    answer = _write(service, key, foreign, agent)

    after = service.call(owner, "GET", f"/api/conversations/{foreign}")
    assert after.status_code == 200 and after.json() == before.json()
    assert service.call(key, "GET", f"/api/conversations/{foreign}").status_code == 404
    # The key's own imported conversation, the one conflict it can see: the same answer.
    own = service.call("a1", "GET", "/api/conversations/imported-a1").json()
    taken = _write(service, "a1", "imported-a1", "a1")
    assert service.call("a1", "GET", "/api/conversations/imported-a1").json() == own
    assert taken.status_code == 422, taken.text
    expected = taken.json()["error"]["message"].replace("imported-a1", foreign)
    assert (answer.status_code, answer.json()) == (
        422,
        {"error": {"code": "invalid_input", "message": expected}},
    )


def test_unknown_and_own_ids_are_written(service: Service) -> None:
    created = _write(service, "a1", "native-a1-new", "a1")
    assert created.status_code == 201, created.text
    replaced = _write(service, "a1", "native-a1", "a1")
    assert replaced.status_code == 201, replaced.text
    shown = service.call("acme", "GET", "/api/conversations/native-a1").json()
    assert shown["conversation"]["turns"][0]["answer"] == "overwritten"
    # A tenant key reaches each of its agents' conversations, and may write them.
    moved = _write(service, "acme", "native-a1-new", "a2")
    assert moved.status_code == 201, moved.text
    assert service.call("a2", "GET", "/api/conversations/native-a1-new").status_code == 200


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


def test_clients_racing_for_one_new_id_get_one_201_and_the_taken_answer(
    service: Service,
) -> None:
    """Tenants and agents write the same new id at once: one wins, the others see what they see
    for any taken id, and nothing answers 5xx (on PostgreSQL the inserts truly race)."""
    writers = [("a1", "a1"), ("a2", "a2"), ("globex", "g1"), ("acme", "a1")] * 6
    racing = f"race-{uuid.uuid4().hex[:8]}"

    def write(writer: tuple[str, str]) -> httpx.Response:
        return _write(service, writer[0], racing, writer[1])

    with ThreadPoolExecutor(len(writers)) as pool:
        answers = list(pool.map(write, writers))
    statuses = {a.status_code for a in answers}
    assert statuses <= {201, 422}, [a.text for a in answers]
    # One tenant wins. Within acme the writes may follow one another (the tenant key moves the
    # conversation between its agents, each agent then replaces its own), but never across.
    tenant_of = {"a1": "acme", "a2": "acme", "acme": "acme", "globex": "globex"}
    won = {
        tenant_of[key] for (key, _), a in zip(writers, answers, strict=True) if a.status_code == 201
    }
    assert len(won) == 1, won
    message = f"conversation id {racing!r} is already taken; choose another id"
    for (key, _), answer in zip(writers, answers, strict=True):
        if tenant_of[key] not in won:
            assert answer.status_code == 422
            assert answer.json() == {"error": {"code": "invalid_input", "message": message}}


def test_a_write_that_loses_a_race_for_a_new_id_gets_the_taken_answer(
    postgres_database: str,
) -> None:
    """On PostgreSQL both writers may find the id free; the second then waits on the first's
    insert. Once that commits, the second must get the taken answer, not a database error."""
    racing = f"race-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)

    def conversation(agent: str) -> Conversation:
        return Conversation(id=racing, agent_id=agent, thread_key="t", origin="native")

    outcome: list[BaseException | None] = []

    def second_writer(store: Store) -> None:
        try:
            with store.begin() as connection:
                conversations.save(
                    connection,
                    [conversation("g1")],
                    tenant_id="globex",
                    now=now,
                    origin="native",
                    scope=Scope("globex"),
                )
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with Store(postgres_database) as store, store.begin() as first:
        conversations.save(
            first,
            [conversation("a1")],
            tenant_id="acme",
            now=now,
            origin="native",
            scope=Scope("acme", "a1"),
        )
        writer = threading.Thread(target=second_writer, args=(store,))
        writer.start()
        _wait_until_blocked(store)
        first.commit()
        writer.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], InvalidInputError), outcome
    assert str(outcome[0]) == f"conversation id {racing!r} is already taken; choose another id"


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
