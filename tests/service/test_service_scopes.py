"""Scoping: each key kind x each route x own / other agent / other tenant / missing id.

The world: tenant ``acme`` with agents ``a1`` and ``a2``, tenant ``globex`` with ``g1``; each
agent has a connector, a job and a conversation. An agent key of ``a1`` reaches only ``a1``'s;
a tenant key of ``acme`` reaches ``a1`` and ``a2``; neither ever reaches ``globex``. A record out
of reach answers 404 exactly like a missing one, and no list shows it.
In-process (ASGI), workers 0: jobs stay queued, so every answer is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_support import headers, issue_key, langsmith_connector

from pytest_connectors.models.imports import RecordedConversation, RecordedTurn
from pytest_connectors.service import create_app
from pytest_connectors.storage import conversations
from pytest_connectors.storage.store import Store

AGENTS = {"a1": "acme", "a2": "acme", "g1": "globex"}
MISSING = "missing"


@dataclass
class World:
    client: TestClient
    keys: dict[str, str]  # "agent" (a1), "tenant" (acme), "globex" (tenant globex)
    connectors: dict[str, str]  # agent -> connector id (and MISSING -> an unknown id)
    jobs: dict[str, str]
    conversations: dict[str, str]

    def call(self, key: str, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.request(method, path, headers=headers(self.keys[key]), **kwargs)


def _seed_conversation(db: str, connector: dict[str, Any]) -> str:
    conversation = RecordedConversation(
        id=f"conv-{connector['id']}",
        connector_id=connector["id"],
        agent_id=connector["agentId"],
        thread_key=f"thread-{connector['agentId']}",
        started_at=datetime(2026, 3, 1, tzinfo=UTC),
        turns=[RecordedTurn(index=0, user_messages=["hello"], answer="hi")],
    )
    with Store(db) as store, store.begin() as connection:
        conversations.save(
            connection,
            [conversation],
            tenant_id=AGENTS[connector["agentId"]],
            now=datetime.now(UTC),
        )
    return conversation.id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    db = str(tmp_path_factory.mktemp("scopes") / "service.db")
    keys = {
        "agent": issue_key(db, "acme", "a1"),
        "tenant": issue_key(db, "acme"),
        "globex": issue_key(db, "globex"),
    }
    with TestClient(create_app(db, workers=0)) as client:
        world = World(client, keys, {MISSING: "no-such-id"}, {MISSING: "no-such-job"}, {})
        world.conversations[MISSING] = "no-such-conversation"
        for agent, tenant in AGENTS.items():
            key = "tenant" if tenant == "acme" else "globex"
            created = world.call(
                key, "POST", "/api/connectors", json=langsmith_connector(agent, "prod")
            )
            assert created.status_code == 201, created.text
            connector = created.json()
            world.connectors[agent] = connector["id"]
            connected = world.call(key, "POST", f"/api/connectors/{connector['id']}/connect")
            assert connected.status_code == 200, connected.text
            world.jobs[agent] = connected.json()["job"]["id"]
            world.conversations[agent] = _seed_conversation(db, connector)
        yield world


# Which targets each key kind reaches.
REACH = {"agent": {"a1"}, "tenant": {"a1", "a2"}}
TARGETS = ["a1", "a2", "g1", MISSING]


def _expected(key: str, target: str, ok: int) -> int:
    return ok if target in REACH[key] else 404


CONNECTOR_ROUTES = [
    ("GET", "", None, 200),
    ("PATCH", "", {"config": {"projectName": "renamed"}}, 200),
    ("POST", "/disconnect", None, 200),
    ("POST", "/connect", {}, 200),
    ("POST", "/sync", {"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"}, 200),
]


@pytest.mark.parametrize("key", ["agent", "tenant"])
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    ("method", "suffix", "body", "ok"),
    CONNECTOR_ROUTES,
    ids=[f"{m}{s}" for m, s, *_ in CONNECTOR_ROUTES],
)
def test_connector_routes(
    world: World, key: str, target: str, method: str, suffix: str, body: Any, ok: int
) -> None:
    path = f"/api/connectors/{world.connectors[target]}{suffix}"
    if suffix == "/sync" and target != MISSING:  # only a connected connector syncs
        owner = "globex" if target == "g1" else "tenant"
        connect = f"/api/connectors/{world.connectors[target]}/connect"
        assert world.call(owner, "POST", connect).status_code == 200
    response = world.call(key, method, path, json=body)
    assert response.status_code == _expected(key, target, ok), response.text
    if response.status_code == 404:
        # The same answer as for an id that never existed: nothing says the record is there.
        assert response.json()["error"]["code"] == "not_found"
        assert world.connectors[target] in response.json()["error"]["message"]
        assert target not in response.json()["error"]["message"].replace(
            world.connectors[target], ""
        )


@pytest.mark.parametrize("key", ["agent", "tenant"])
@pytest.mark.parametrize("target", TARGETS)
def test_jobs(world: World, key: str, target: str) -> None:
    response = world.call(key, "GET", f"/api/jobs/{world.jobs[target]}")
    assert response.status_code == _expected(key, target, 200), response.text
    waited = world.call(key, "GET", f"/api/jobs/{world.jobs[target]}", params={"wait": "0.2"})
    assert waited.status_code == response.status_code


@pytest.mark.parametrize("key", ["agent", "tenant"])
@pytest.mark.parametrize("target", TARGETS)
def test_conversations(world: World, key: str, target: str) -> None:
    response = world.call(key, "GET", f"/api/conversations/{world.conversations[target]}")
    assert response.status_code == _expected(key, target, 200), response.text


def _ids(response: Any, field: str) -> set[str]:
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()[field]}


def test_connector_lists_show_only_what_the_key_reaches(world: World) -> None:
    c = world.connectors
    listed = _ids(world.call("agent", "GET", "/api/connectors"), "items")
    assert listed & {c["a1"], c["a2"], c["g1"]} == {c["a1"]}
    for agent in ("a2", "g1"):
        filtered = world.call("agent", "GET", "/api/connectors", params={"agentId": agent})
        assert _ids(filtered, "items") == set()
    listed = _ids(world.call("tenant", "GET", "/api/connectors"), "items")
    assert listed & {c["a1"], c["a2"], c["g1"]} == {c["a1"], c["a2"]}
    by_agent = world.call("tenant", "GET", "/api/connectors", params={"agentId": "a2"})
    assert _ids(by_agent, "items") == {c["a2"]}
    other = world.call("tenant", "GET", "/api/connectors", params={"agentId": "g1"})
    assert _ids(other, "items") == set()


def test_conversation_lists_show_only_what_the_key_reaches(world: World) -> None:
    v = world.conversations
    assert _ids(world.call("agent", "GET", "/api/conversations"), "items") == {v["a1"]}
    assert _ids(world.call("tenant", "GET", "/api/conversations"), "items") == {
        v["a1"],
        v["a2"],
    }
    for key in ("agent", "tenant"):
        found = world.call(key, "GET", "/api/conversations", params={"agentId": "g1"})
        assert _ids(found, "items") == set()
        # A foreign connector is as unknown as a missing one.
        for target in ("g1", MISSING):
            params = {"connectorId": world.connectors[target]}
            found = world.call(key, "GET", "/api/conversations", params=params)
            assert found.status_code == 404, found.text
    mine = world.call(
        "agent", "GET", "/api/conversations", params={"connectorId": world.connectors["a1"]}
    )
    assert _ids(mine, "items") == {v["a1"]}


def test_agent_key_creates_only_for_its_agent(world: World) -> None:
    other = world.call("agent", "POST", "/api/connectors", json=langsmith_connector("a2", "x"))
    assert other.status_code == 403, other.text
    assert other.json()["error"]["code"] == "forbidden"
    foreign = world.call("agent", "POST", "/api/connectors", json=langsmith_connector("g1", "x"))
    assert foreign.status_code == 403
    implied = world.call("agent", "POST", "/api/connectors", json=langsmith_connector(None, "own"))
    assert implied.status_code == 201, implied.text
    assert implied.json()["agentId"] == "a1"
    assert "tenantId" not in implied.json() or implied.json()["tenantId"] == "acme"


def test_tenant_key_must_name_the_agent_and_stays_in_its_tenant(world: World) -> None:
    unnamed = world.call("tenant", "POST", "/api/connectors", json=langsmith_connector(None, "x"))
    assert unnamed.status_code == 422, unnamed.text
    assert "agentId" in unnamed.json()["error"]["message"]
    new_agent = world.call("tenant", "POST", "/api/connectors", json=langsmith_connector("a3", "x"))
    assert new_agent.status_code == 201, new_agent.text
    # A tenant cannot be named in a body: the key decides it.
    smuggled = langsmith_connector("g9", "x") | {"tenantId": "globex"}
    assert world.call("tenant", "POST", "/api/connectors", json=smuggled).status_code == 422
    created = world.call("globex", "GET", "/api/connectors", params={"agentId": "a3"})
    assert _ids(created, "items") == set()


def test_delete_reaches_only_what_the_key_reaches(world: World) -> None:
    # Last of the module: deleting removes targets the other tests use.
    for target in ("a2", "g1", MISSING):
        response = world.call("agent", "DELETE", f"/api/connectors/{world.connectors[target]}")
        assert response.status_code == 404, response.text
    assert (
        world.call("tenant", "DELETE", f"/api/connectors/{world.connectors['g1']}").status_code
        == 404
    )
    assert (
        world.call("globex", "GET", f"/api/connectors/{world.connectors['g1']}").status_code == 200
    )
    assert (
        world.call("tenant", "DELETE", f"/api/connectors/{world.connectors['a2']}").status_code
        == 204
    )
    assert (
        world.call("agent", "DELETE", f"/api/connectors/{world.connectors['a1']}").status_code
        == 204
    )
    for target in ("a1", "a2"):
        gone = world.call("tenant", "GET", f"/api/connectors/{world.connectors[target]}")
        assert gone.status_code == 404
        gone_job = world.call("tenant", "GET", f"/api/jobs/{world.jobs[target]}")
        assert gone_job.status_code == 404
