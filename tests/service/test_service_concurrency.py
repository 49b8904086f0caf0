"""32 clients at once against the real service, on SQLite and on PostgreSQL.

They create, update, connect and sync at the same time. Nothing may answer 5xx (a busy SQLite
file is waited for or retried, never surfaced), a name is taken once, no update is lost, and
connecting 32 times queues one job. The service runs without sync workers, so the queue is
exactly what the requests made of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from service_support import ServiceProcess, client, issue_key, langsmith_connector

CLIENTS = 32


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, str]]:
    if request.param == "sqlite":
        db = str(tmp_path_factory.mktemp("concurrency") / "service.db")
    else:
        db = request.getfixturevalue("postgres_database")
    with ServiceProcess(db, workers=0) as server:
        yield server, issue_key(db, "acme")


def at_once(
    action: Callable[[httpx.Client, int], httpx.Response], url: str, key: str
) -> list[httpx.Response]:
    """Run ``action`` from CLIENTS clients at the same time (one connection each)."""
    clients = [client(url, key, timeout=120) for _ in range(CLIENTS)]
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            responses = list(pool.map(lambda i: action(clients[i], i), range(CLIENTS)))
    finally:
        for each in clients:
            each.close()
    server_errors = [r for r in responses if r.status_code >= 500]
    assert not server_errors, [r.text for r in server_errors]
    return responses


def test_32_clients_create_update_connect_and_sync(service: tuple[ServiceProcess, str]) -> None:
    server, key = service
    agent = f"agt_{uuid.uuid4().hex[:8]}"
    shared = "shared"

    def create(api: httpx.Client, i: int) -> httpx.Response:
        own = api.post("/api/connectors", json=langsmith_connector(agent, f"own-{i}"))
        assert own.status_code == 201, own.text
        return api.post("/api/connectors", json=langsmith_connector(agent, shared))

    created = at_once(create, server.url, key)
    assert sorted(r.status_code for r in created) == [201] + [409] * (CLIENTS - 1)
    shared_id = next(r.json()["id"] for r in created if r.status_code == 201)
    with client(server.url, key) as api:
        listed = api.get("/api/connectors", params={"agentId": agent}).json()["items"]
    assert sorted(c["name"] for c in listed) == sorted(
        [shared, *(f"own-{i}" for i in range(CLIENTS))]
    )

    # Four clients per connector change four different fields of it at the same moment: a
    # write based on a stale read would put one of the other three fields back.
    targets = [shared_id, *[c["id"] for c in listed if c["name"] != shared][: CLIENTS // 4 - 1]]
    fields = ("name", "projectName", "apiUrl", "workspaceId")

    for round_ in range(3):

        def update(api: httpx.Client, i: int, round_: int = round_) -> httpx.Response:
            field, value = fields[i % 4], f"r{round_}-{i}"
            change = {"name": value} if field == "name" else {"config": {field: value}}
            if field == "apiUrl":  # a new destination takes the key again
                change = {"config": {field: f"http://{value}.example", "apiKey": f"k-{value}"}}
            return api.patch(f"/api/connectors/{targets[i // 4]}", json=change)

        updated = at_once(update, server.url, key)
        assert all(r.status_code == 200 for r in updated), [r.text for r in updated]
        with client(server.url, key) as api:
            for n, target in enumerate(targets):
                final = api.get(f"/api/connectors/{target}").json()
                seen = {"name": final["name"], **final["config"]}
                for field in fields:
                    i = 4 * n + fields.index(field)
                    expected = f"r{round_}-{i}"
                    assert expected in seen[field], (round_, field, seen)
                assert final["status"] == "disconnected"  # updating never connects

    connected = at_once(
        lambda api, i: api.post(f"/api/connectors/{shared_id}/connect"), server.url, key
    )
    jobs = {r.json()["job"]["id"] for r in connected}
    assert len(jobs) == 1, jobs  # 32 connects, one queued job
    assert all(r.json()["connector"]["status"] == "connected" for r in connected)

    def sync(api: httpx.Client, i: int) -> httpx.Response:
        if i % 2:  # without a window: the queued connect job again
            return api.post(f"/api/connectors/{shared_id}/sync", json={})
        window = {
            "from": f"2026-03-{i // 2 + 1:02d}T00:00:00Z",
            "to": f"2026-03-{i // 2 + 2:02d}T00:00:00Z",
        }
        return api.post(f"/api/connectors/{shared_id}/sync", json=window)

    synced = at_once(sync, server.url, key)
    assert all(r.status_code == 200 for r in synced), [r.text for r in synced]
    continuation = {r.json()["id"] for i, r in enumerate(synced) if i % 2}
    assert continuation == jobs
    windows = [r.json()["id"] for i, r in enumerate(synced) if not i % 2]
    assert len(set(windows)) == len(windows) == CLIENTS // 2


def test_32_clients_reading_while_others_write(
    service: tuple[ServiceProcess, str],
) -> None:
    server, key = service
    agent = f"agt_{uuid.uuid4().hex[:8]}"
    with client(server.url, key) as api:
        made = api.post("/api/connectors", json=langsmith_connector(agent, "read-me"))
        assert made.status_code == 201
        target = made.json()["id"]

    def mixed(api: httpx.Client, i: int) -> httpx.Response:
        last: httpx.Response | None = None
        for round_ in range(5):
            if i % 4 == 0:
                last = api.patch(
                    f"/api/connectors/{target}", json={"config": {"projectName": f"r{i}-{round_}"}}
                )
            elif i % 4 == 1:
                last = api.post(f"/api/connectors/{target}/connect")
            else:
                last = api.get(f"/api/connectors/{target}")
            assert last.status_code == 200, last.text
        assert last is not None
        return last

    at_once(mixed, server.url, key)
