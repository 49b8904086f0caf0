"""API keys: issued once, stored as prefix and hash, verified in constant time, revocable.

Against a real SQLite database; the service's use of them is in test_service_auth.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from pytest_connectors.errors import InvalidInputError
from pytest_connectors.models.imports import Scope
from pytest_connectors.storage.api_keys import (
    KEY_MARK,
    ApiKeyNotFoundError,
    ApiKeyVerifier,
    create_api_key,
    get_api_key,
    list_api_keys,
    revoke_api_key,
    split_key,
)
from pytest_connectors.storage.schema import api_keys
from pytest_connectors.storage.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "keys.db") as opened:
        yield opened


def test_a_key_has_a_recognisable_prefix_and_32_random_bytes(store: Store) -> None:
    issued = create_api_key(store, tenant_id="acme", agent_id="agt_1", name="ci")
    prefix, separator, secret = issued.key[:12], issued.key[12], issued.key[13:]
    assert issued.key.startswith(KEY_MARK) and separator == "_"
    assert prefix == issued.record.prefix
    assert len(secret) >= 43  # 32 bytes in URL-safe base64
    assert split_key(issued.key) == prefix
    other = create_api_key(store, tenant_id="acme")
    assert other.key != issued.key and other.record.prefix != issued.record.prefix


def test_only_the_prefix_and_a_hash_are_stored(store: Store) -> None:
    issued = create_api_key(store, tenant_id="acme", agent_id="agt_1")
    with store.read() as connection:
        row = connection.execute(select(api_keys)).one()._mapping
    stored = " ".join(str(value) for value in row.values())
    secret = issued.key[13:]
    assert secret not in stored and issued.key not in stored
    assert row["secret_hash"] == hashlib.sha256(issued.key.encode()).hexdigest()
    assert row["prefix"] == issued.record.prefix
    assert "****" in repr(issued) and secret not in repr(issued)


def test_verify_grants_the_keys_scope(store: Store) -> None:
    agent = create_api_key(store, tenant_id="acme", agent_id="agt_1")
    tenant = create_api_key(store, tenant_id="acme")
    verifier = ApiKeyVerifier(store)
    assert verifier.verify(agent.key) == Scope(tenant_id="acme", agent_id="agt_1")
    assert verifier.verify(tenant.key) == Scope(tenant_id="acme", agent_id=None)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda key: "",
        lambda key: "nonsense",
        lambda key: key[:-1],  # truncated
        lambda key: key + "x",
        lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),  # right prefix, wrong secret
        lambda key: "sk_" + key[len(KEY_MARK) :],  # wrong mark
        lambda key: key.upper(),
        lambda key: KEY_MARK + "zzzzzzzz" + key[len(KEY_MARK) + 8 :],  # unknown prefix
        lambda key: key.replace("_", " ", 1),
    ],
    ids=[
        "empty",
        "garbage",
        "truncated",
        "extended",
        "wrong-secret",
        "wrong-mark",
        "upper",
        "unknown-prefix",
        "space",
    ],
)
def test_anything_but_the_exact_key_is_refused(store: Store, mangle: object) -> None:
    issued = create_api_key(store, tenant_id="acme")
    assert callable(mangle)
    presented = mangle(issued.key)
    assert presented != issued.key
    assert ApiKeyVerifier(store).verify(presented) is None


def test_revoked_and_expired_keys_are_refused(store: Store) -> None:
    revoked = create_api_key(store, tenant_id="acme")
    soon = create_api_key(
        store, tenant_id="acme", expires_at=datetime.now(UTC) + timedelta(seconds=1)
    )
    verifier = ApiKeyVerifier(store)
    assert verifier.verify(revoked.key) is not None
    record = revoke_api_key(store, revoked.record.prefix)
    assert record.revoked_at is not None and record.state() == "revoked"
    assert verifier.verify(revoked.key) is None
    # Revoking again keeps the first revocation time.
    assert revoke_api_key(store, revoked.record.prefix).revoked_at == record.revoked_at
    later = datetime.now(UTC) + timedelta(seconds=2)
    assert get_api_key(store, soon.record.prefix).state(later) == "expired"
    with store.begin() as connection:  # move the expiry into the past instead of sleeping
        connection.execute(
            api_keys.update()
            .where(api_keys.c.prefix == soon.record.prefix)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert verifier.verify(soon.key) is None


def test_last_use_is_written_at_most_once_per_interval(store: Store) -> None:
    issued = create_api_key(store, tenant_id="acme")
    now = [1000.0]
    verifier = ApiKeyVerifier(store, touch_interval=60, clock=lambda: now[0])
    assert get_api_key(store, issued.record.prefix).last_used_at is None
    verifier.verify(issued.key)
    first = get_api_key(store, issued.record.prefix).last_used_at
    assert first is not None
    now[0] += 30
    verifier.verify(issued.key)
    assert get_api_key(store, issued.record.prefix).last_used_at == first
    now[0] += 31
    verifier.verify(issued.key)
    later = get_api_key(store, issued.record.prefix).last_used_at
    assert later is not None and later > first


def test_list_shows_scope_name_and_times_but_no_secret(store: Store) -> None:
    issued = create_api_key(store, tenant_id="acme", agent_id="agt_1", name="ci")
    create_api_key(store, tenant_id="globex", name="other")
    records = list_api_keys(store)
    assert [r.name for r in records] == ["ci", "other"]
    assert records[0].scope_label == "agent agt_1 (tenant acme)"
    assert [r.prefix for r in list_api_keys(store, tenant_id="acme")] == [issued.record.prefix]
    assert issued.key[13:] not in repr(records)


def test_bad_input_is_refused_with_one_clear_line(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="not a valid id"):
        create_api_key(store, tenant_id="acme corp")
    with pytest.raises(InvalidInputError, match="already passed"):
        create_api_key(store, tenant_id="acme", expires_at=datetime(2001, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidInputError, match="time zone"):
        create_api_key(store, tenant_id="acme", expires_at=datetime(2099, 1, 1))
    with pytest.raises(InvalidInputError, match="not a key prefix"):
        revoke_api_key(store, "abc")
    with pytest.raises(ApiKeyNotFoundError, match="keys list"):
        revoke_api_key(store, KEY_MARK + "00000000")
