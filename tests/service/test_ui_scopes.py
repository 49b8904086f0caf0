"""The pages reach what the API reaches, no more: each key kind x each page and form x own /
other agent / other tenant / missing record, as ``test_service_scopes.py`` does for the API.

The world: tenant ``acme`` with agents ``a1`` and ``a2``, tenant ``globex`` with ``g1``; each
agent has a connector, a job and a conversation. Signed in with an agent key of ``a1`` a page
shows only ``a1``'s; with a tenant key of ``acme``, ``a1``'s and ``a2``'s; ``globex`` never. A
record out of reach is the same 404 page as a missing one. A revoked key's session and no
session at all are sent to sign in, and their forms change nothing. The service runs under
uvicorn with no sync worker, so jobs stay queued and every answer is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from service_support import ServiceProcess, client, issue_key, langsmith_connector
from ui_pages import form, seed, signed_in

from pytest_connectors.models.imports import RecordedConversation, RecordedTurn
from pytest_connectors.storage.api_keys import revoke_api_key
from pytest_connectors.storage.store import Store

AGENTS = {"a1": "acme", "a2": "acme", "g1": "globex"}
MISSING = "missing"
REACH = {"agent": {"a1"}, "tenant": {"a1", "a2"}}
TARGETS = ["a1", "a2", "g1", MISSING]
SIGN_IN = "/ui/sign-in"


@dataclass
class World:
    url: str
    db: str
    browsers: dict[str, httpx.Client]  # agent, tenant, revoked (signed in, then revoked), none
    tokens: dict[str, str]
    connectors: dict[str, str]
    jobs: dict[str, str]
    conversations: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    db = str(tmp_path_factory.mktemp("ui-scopes") / "service.db")
    keys = {
        "agent": issue_key(db, "acme", "a1"),
        "tenant": issue_key(db, "acme"),
        "globex": issue_key(db, "globex"),
        "revoked": issue_key(db, "acme"),
    }
    with ServiceProcess(db, workers=0) as server:
        connectors, jobs, stored = {MISSING: "no-such-id"}, {MISSING: "no-such-job"}, {}
        stored[MISSING] = "no-such-conversation"
        for agent, tenant in AGENTS.items():
            key = keys["tenant"] if tenant == "acme" else keys["globex"]
            with client(server.url, key) as api:
                made = api.post("/api/connectors", json=langsmith_connector(agent, "prod"))
                assert made.status_code == 201, made.text
                connectors[agent] = made.json()["id"]
                connected = api.post(f"/api/connectors/{connectors[agent]}/connect")
                assert connected.status_code == 200, connected.text
                jobs[agent] = connected.json()["job"]["id"]
            conversation = RecordedConversation(
                id=f"conv-{agent}",
                connector_id=connectors[agent],
                agent_id=agent,
                thread_key=f"thread-{agent}",
                started_at=datetime(2026, 3, 1, tzinfo=UTC),
                turns=[RecordedTurn(index=0, user_messages=["hello"], answer="hi")],
            )
            seed(db, conversation, tenant=tenant)
            stored[agent] = conversation.id
        browsers, tokens = {}, {}
        for kind in ("agent", "tenant", "revoked"):
            browsers[kind], tokens[kind] = signed_in(server.url, keys[kind])
        with Store(db) as store:
            revoke_api_key(store, keys["revoked"][:12])
        browsers["none"] = client(server.url, follow_redirects=False)
        # A token no session of this client holds: what a forged form would carry.
        tokens["none"] = tokens["agent"]
        yield World(server.url, db, browsers, tokens, connectors, jobs, stored)
        for browser in browsers.values():
            browser.close()


def _expected(kind: str, target: str, ok: int) -> int:
    if kind in ("revoked", "none"):
        return 303
    return ok if target in REACH[kind] else 404


def _check(answer: httpx.Response, kind: str, target: str, ok: int) -> None:
    assert answer.status_code == _expected(kind, target, ok), answer.text
    if answer.status_code == 303 and kind in ("revoked", "none"):
        assert answer.headers["location"] == SIGN_IN
    if answer.status_code == 404:
        assert answer.headers["content-type"].startswith("text/html")
        assert "Not found" in answer.text


KINDS = ["agent", "tenant", "revoked", "none"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    "page", ["connector", "job", "progress", "conversation"], ids=lambda p: f"GET-{p}"
)
def test_pages(world: World, kind: str, target: str, page: str) -> None:
    path = {
        "connector": f"/ui/connectors/{world.connectors[target]}",
        "job": f"/ui/jobs/{world.jobs[target]}",
        "progress": f"/ui/jobs/{world.jobs[target]}/progress",
        "conversation": f"/ui/conversations/{world.conversations[target]}",
    }[page]
    answer = world.browsers[kind].get(path)
    _check(answer, kind, target, 200)
    if answer.status_code == 200 and page == "connector":
        assert "ls-secret-value-123" not in answer.text  # the provider key is never shown


FORMS = [("", {"name": "renamed"}), ("/disconnect", {}), ("/connect", {}), ("/sync", {})]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("suffix", "fields"), FORMS, ids=[f"POST{s or '-edit'}" for s, _ in FORMS])
def test_forms(world: World, kind: str, target: str, suffix: str, fields: dict[str, str]) -> None:
    path = f"/ui/connectors/{world.connectors[target]}{suffix}"
    if suffix == "/sync" and target != MISSING:  # only a connected connector syncs
        owner = "globex" if target == "g1" else "tenant"
        key = issue_key(world.db, AGENTS[target] if owner == "globex" else "acme")
        with client(world.url, key) as api:
            connect = api.post(f"/api/connectors/{world.connectors[target]}/connect")
            assert connect.status_code == 200, connect.text
    before = _state(world, target)
    answer = world.browsers[kind].post(path, data=form(world.tokens[kind], **fields))
    _check(answer, kind, target, 303)
    if answer.status_code != 303 or kind in ("revoked", "none"):
        assert _state(world, target) == before, "a refused form changed the connector"


def _state(world: World, target: str) -> object:
    if target == MISSING:
        return None
    owner = "globex" if target == "g1" else "acme"
    with client(world.url, issue_key(world.db, owner)) as api:
        found = api.get(f"/api/connectors/{world.connectors[target]}").json()
        return found["name"], found["status"], found["updatedAt"]


def _listed(world: World, kind: str, path: str, ids: dict[str, str]) -> set[str]:
    answer = world.browsers[kind].get(path)
    assert answer.status_code == 200, answer.text
    return {agent for agent, value in ids.items() if agent != MISSING and value in answer.text}


@pytest.mark.parametrize("kind", ["agent", "tenant"])
def test_lists_show_only_what_the_key_reaches(world: World, kind: str) -> None:
    assert _listed(world, kind, "/ui/connectors", world.connectors) == REACH[kind]
    assert _listed(world, kind, "/ui/jobs", world.jobs) == REACH[kind]
    # Conversations are linked by id; their connectors show as the source filter's options.
    assert _listed(world, kind, "/ui/conversations", world.conversations) == REACH[kind]
    for agent in ("a2", "g1"):
        filtered = f"/ui/conversations?agent={agent}"
        expected = REACH[kind] & {agent}
        assert _listed(world, kind, filtered, world.conversations) == expected
    foreign = world.browsers[kind].get(f"/ui/conversations?connector={world.connectors['g1']}")
    assert foreign.status_code == 404


@pytest.mark.parametrize("kind", ["revoked", "none"])
@pytest.mark.parametrize("path", ["/ui/connectors", "/ui/jobs", "/ui/conversations", "/"])
def test_lists_send_the_signed_out_to_sign_in(world: World, kind: str, path: str) -> None:
    answer = world.browsers[kind].get(path, follow_redirects=True)
    assert answer.url.path == SIGN_IN
    assert world.connectors["a1"] not in answer.text


@pytest.mark.parametrize("kind", ["agent", "tenant", "revoked", "none"])
def test_create_reaches_only_the_keys_agents(world: World, kind: str) -> None:
    fields = {"provider": "langsmith", "config.projectName": "p", "config.apiKey": "k"}
    for agent in ("a2", "g1"):
        answer = world.browsers[kind].post(
            "/ui/connectors",
            data=form(world.tokens[kind], name=f"new-{agent}", agentId=agent, **fields),
        )
        # A tenant key names any agent of its own tenant (``g1`` here is acme's, not globex's).
        allowed = kind == "tenant"
        if kind in ("revoked", "none"):
            assert answer.headers.get("location") == SIGN_IN
        elif allowed:
            assert answer.status_code == 303, answer.text
        else:
            assert answer.status_code == 403, answer.text
            assert "new-" + agent in answer.text  # the form comes back with what was typed
    with client(world.url, issue_key(world.db, "globex")) as api:
        names = {c["name"] for c in api.get("/api/connectors").json()["items"]}
    assert "new-g1" not in names
