"""API keys at the service's door: every route but health wants a valid key, and no key leaks.

The route list comes from the service's own OpenAPI document, so a route added later is
covered without touching this file. The key life cycle (create, use, revoke) runs through the
real CLI against the real server in a subprocess, whose log is then searched for the keys.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_support import ServiceProcess, child_env, client, issue_key, langsmith_connector

from pytest_connectors.service import create_app
from pytest_connectors.storage.api_keys import revoke_api_key, split_key
from pytest_connectors.storage.schema import api_keys
from pytest_connectors.storage.store import Store

PROVIDER_SECRET = "ls-secret-value-123"


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, str, dict[str, str]]]:
    db = str(tmp_path_factory.mktemp("auth") / "service.db")
    good = issue_key(db, "acme", "a1")
    revoked = issue_key(db, "acme", "a1")
    expired = issue_key(db, "acme", "a1")
    with Store(db) as store:
        revoke_api_key(store, split_key(revoked) or "")
        with store.begin() as connection:
            connection.execute(
                api_keys.update()
                .where(api_keys.c.prefix == split_key(expired))
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
    unknown = "pck_zzzzzzzz_" + good[13:]
    bad = {
        "none": {},
        "empty bearer": {"Authorization": "Bearer "},
        "basic scheme": {"Authorization": f"Basic {good}"},
        "bare key in authorization": {"Authorization": good},
        "unknown": {"Authorization": f"Bearer {unknown}"},
        "revoked": {"Authorization": f"Bearer {revoked}"},
        "expired": {"x-api-key": expired},
        "malformed": {"x-api-key": "pck_short"},
        "wrong prefix": {"Authorization": "Bearer sk_live_" + good[4:]},
        "wrong secret": {"x-api-key": good[:-2] + ("AA" if not good.endswith("AA") else "BB")},
        "other header": {"api-key": good},
    }
    with TestClient(create_app(db, workers=0)) as test_client:
        yield test_client, good, {name: dict(h) for name, h in bad.items()}


def _routes(test_client: TestClient) -> list[tuple[str, str]]:
    document = test_client.get("/api/openapi.json").json()
    found = []
    for path, operations in document["paths"].items():
        for method in operations:
            found.append((method.upper(), re.sub(r"\{[^}]+\}", "some-id", path)))
    return found


def test_the_openapi_document_lists_every_route_of_the_contract(service: Any) -> None:
    test_client, _good, _bad = service
    routes = set(_routes(test_client))
    for route in [
        ("GET", "/api/connectors"),
        ("POST", "/api/connectors"),
        ("GET", "/api/connectors/some-id"),
        ("PATCH", "/api/connectors/some-id"),
        ("DELETE", "/api/connectors/some-id"),
        ("POST", "/api/connectors/some-id/connect"),
        ("POST", "/api/connectors/some-id/disconnect"),
        ("POST", "/api/connectors/some-id/sync"),
        ("GET", "/api/jobs/some-id"),
        ("GET", "/api/conversations"),
        ("GET", "/api/conversations/some-id"),
        ("GET", "/api/health"),
    ]:
        assert route in routes


def test_every_route_but_health_refuses_a_missing_or_bad_key(service: Any) -> None:
    test_client, good, bad = service
    routes = _routes(test_client)
    assert len(routes) >= 12
    for method, path in routes:
        if path == "/api/health":
            assert test_client.get(path).status_code == 200
            continue
        body = {} if method in ("POST", "PATCH") else None
        for name, headers in bad.items():
            response = test_client.request(method, path, headers=headers, json=body)
            assert response.status_code == 401, (method, path, name, response.text)
            error = response.json()["error"]
            assert error["code"] == "unauthorized"
            assert good not in response.text and good[13:] not in response.text
        # The good key gets past the door (the answer is then about the request itself).
        answer = test_client.request(method, path, headers={"x-api-key": good}, json=body)
        assert answer.status_code != 401, (method, path)


def test_refusals_do_not_say_which_keys_exist(service: Any) -> None:
    test_client, _good, bad = service
    messages = {
        name: test_client.get("/api/connectors", headers=bad[name]).json()["error"]["message"]
        for name in ("unknown", "revoked", "expired", "wrong secret", "malformed")
    }
    assert len(set(messages.values())) == 1, messages


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_connectors.cli", *args],
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_key_life_cycle_through_the_cli_and_the_real_server(tmp_path: Path) -> None:
    db = str(tmp_path / "service.db")
    created = _cli(
        "keys",
        "create",
        "--tenant",
        "acme",
        "--agent",
        "a1",
        "--name",
        "ci",
        "--db",
        db,
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    prefix = split_key(key)
    assert prefix is not None and created.stdout == key + "\n"
    assert "only this once" in created.stderr and key not in created.stderr
    with ServiceProcess(db, workers=0) as server, client(server.url, key) as api:
        made = api.post("/api/connectors", json=langsmith_connector(None, "prod"))
        assert made.status_code == 201, made.text
        assert api.get(f"/api/connectors/{made.json()['id']}").status_code == 200
        assert api.get("/api/connectors/nothing-here").status_code == 404
        assert api.post("/api/connectors", json={"name": key}).status_code == 422
        listed = json.loads(_cli("keys", "list", "--db", db, "--json", cwd=tmp_path).stdout)
        (row,) = listed
        assert row["prefix"] == prefix and row["lastUsedAt"] is not None
        assert row["agentId"] == "a1" and row["state"] == "active"
        revoked = _cli("keys", "revoke", prefix, "--db", db, cwd=tmp_path)
        assert revoked.returncode == 0, revoked.stderr
        refused = api.get("/api/connectors")
        assert refused.status_code == 401
        table = _cli("keys", "list", "--db", db, cwd=tmp_path).stdout
        assert prefix in table and "revoked" in table
        server.stop()
        log = server.log_tail(10_000)
    outputs = created.stderr + revoked.stdout + table + log
    assert key not in outputs and key[13:] not in outputs
    assert PROVIDER_SECRET not in log and PROVIDER_SECRET not in made.text
