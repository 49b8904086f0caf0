"""API keys of the service: issued once, stored only as a public prefix and a hash of the secret.

A key reads ``pck_<8 characters>_<43 characters>``: the first twelve characters (``pck_`` and a
public id) are the *prefix*, safe to show and to name the key by (``keys revoke PREFIX``); the
rest is 32 random bytes, URL-safe base64. The database keeps the prefix and the SHA-256 of the
whole key, never the key: a leaked database grants nothing, and the key is shown exactly once.

The secret has 256 bits of entropy, so a plain SHA-256 resists guessing as well as any slow hash
would, at a fraction of the cost per request. Verification compares digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from pytest_connectors._support.times import utc
from pytest_connectors.errors import ApiKeyNotFoundError as ApiKeyNotFoundError
from pytest_connectors.errors import ConnectorError, InvalidInputError
from pytest_connectors.models.imports import Scope
from pytest_connectors.storage.schema import api_keys as _table
from pytest_connectors.storage.store import Store

KEY_MARK = "pck_"
_PUBLIC_ID_LENGTH = 8
_SECRET_BYTES = 32
_PUBLIC_ALPHABET = string.ascii_lowercase + string.digits
PREFIX_LENGTH = len(KEY_MARK) + _PUBLIC_ID_LENGTH
_KEY_SHAPE = re.compile(rf"^({KEY_MARK}[a-z0-9]{{{_PUBLIC_ID_LENGTH}}})_([A-Za-z0-9_-]{{43}})$")
_PREFIX_SHAPE = re.compile(rf"^{KEY_MARK}[a-z0-9]{{{_PUBLIC_ID_LENGTH}}}$")
# Scope names end up in URLs and tables: keep them to plain identifiers.
_SCOPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# Writing "last used" on every request would turn every read into a write.
DEFAULT_TOUCH_INTERVAL_S = 60.0

KeyState = Literal["active", "revoked", "expired"]


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """What is known of a key once issued: everything but the key itself."""

    prefix: str
    tenant_id: str
    agent_id: str | None
    name: str | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def scope(self) -> Scope:
        return Scope(tenant_id=self.tenant_id, agent_id=self.agent_id)

    @property
    def scope_label(self) -> str:
        if self.agent_id is None:
            return f"tenant {self.tenant_id}"
        return f"agent {self.agent_id} (tenant {self.tenant_id})"

    def state(self, now: datetime | None = None) -> KeyState:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or _now()):
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A new key: ``key`` is the only copy there will ever be; show it once and drop it."""

    key: str
    record: ApiKeyRecord

    def __repr__(self) -> str:
        return f"IssuedApiKey(prefix={self.record.prefix!r}, key='****')"


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands datetimes back without a zone; every stored time is UTC.
    return None if value is None else utc(value)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def split_key(key: str) -> str | None:
    """The prefix of a well-formed key, or None: malformed keys never reach the database."""
    match = _KEY_SHAPE.match(key)
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class KeyProof:
    """What a presented key proves, without the key: its prefix and digest. A browser session
    keeps this, so the key itself is dropped once it is checked."""

    prefix: str
    digest: str

    @classmethod
    def of(cls, key: str) -> KeyProof | None:
        prefix = split_key(key)
        return None if prefix is None else cls(prefix, key_digest(key))

    def __repr__(self) -> str:
        return f"KeyProof(prefix={self.prefix!r}, digest='****')"


def looks_like_prefix(value: str) -> bool:
    return _PREFIX_SHAPE.match(value) is not None


def _check_scope_name(kind: str, value: str) -> None:
    if not _SCOPE_NAME.match(value):
        raise InvalidInputError(
            f"{kind} {value!r} is not a valid id: use 1-128 letters, digits, '.', '_', ':' or '-'"
        )


def _record(row: object) -> ApiKeyRecord:
    m = row._mapping  # type: ignore[attr-defined]
    return ApiKeyRecord(
        prefix=m["prefix"],
        tenant_id=m["tenant_id"],
        agent_id=m["agent_id"],
        name=m["name"],
        created_at=_aware(m["created_at"]) or _now(),
        last_used_at=_aware(m["last_used_at"]),
        expires_at=_aware(m["expires_at"]),
        revoked_at=_aware(m["revoked_at"]),
    )


_COLUMNS = (
    _table.c.prefix,
    _table.c.tenant_id,
    _table.c.agent_id,
    _table.c.name,
    _table.c.created_at,
    _table.c.last_used_at,
    _table.c.expires_at,
    _table.c.revoked_at,
)


def create_api_key(
    store: Store,
    *,
    tenant_id: str,
    agent_id: str | None = None,
    name: str | None = None,
    expires_at: datetime | None = None,
) -> IssuedApiKey:
    """Issue a key for a tenant, or for one agent of it; the caller shows ``.key`` once."""
    _check_scope_name("tenant", tenant_id)
    if agent_id is not None:
        _check_scope_name("agent", agent_id)
    now = _now()
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInputError(
                "the expiry needs a time zone, e.g. 2030-01-01T00:00:00Z; "
                "a time without one is ambiguous"
            )
        expires_at = expires_at.astimezone(UTC)
        if expires_at <= now:
            raise InvalidInputError(f"the expiry {expires_at.isoformat()} has already passed")
    for _attempt in range(5):
        public_id = "".join(secrets.choice(_PUBLIC_ALPHABET) for _ in range(_PUBLIC_ID_LENGTH))
        prefix = KEY_MARK + public_id
        key = f"{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
        record = ApiKeyRecord(prefix, tenant_id, agent_id, name, now, None, expires_at, None)
        try:
            with store.begin() as connection:
                connection.execute(
                    insert(_table).values(
                        id=secrets.token_hex(8),
                        prefix=prefix,
                        secret_hash=key_digest(key),
                        tenant_id=tenant_id,
                        agent_id=agent_id,
                        name=name,
                        created_at=now,
                        expires_at=expires_at,
                    )
                )
        except IntegrityError:  # the public id is taken: draw another
            continue
        return IssuedApiKey(key, record)
    raise ConnectorError("could not draw an unused key prefix; retry")


def list_api_keys(store: Store, *, tenant_id: str | None = None) -> list[ApiKeyRecord]:
    query = select(*_COLUMNS).order_by(_table.c.created_at, _table.c.prefix)
    if tenant_id is not None:
        query = query.where(_table.c.tenant_id == tenant_id)
    with store.read() as connection:
        return [_record(row) for row in connection.execute(query)]


def get_api_key(store: Store, prefix: str) -> ApiKeyRecord:
    with store.read() as connection:
        row = connection.execute(select(*_COLUMNS).where(_table.c.prefix == prefix)).first()
    if row is None:
        raise ApiKeyNotFoundError(prefix)
    return _record(row)


def revoke_api_key(store: Store, prefix: str) -> ApiKeyRecord:
    """Revoke at once; revoking a revoked key keeps its first revocation time."""
    if not looks_like_prefix(prefix):
        raise InvalidInputError(
            f"{prefix!r} is not a key prefix; a prefix reads {KEY_MARK}xxxxxxxx "
            "(see `pytest-connectors keys list`)"
        )
    with store.begin() as connection:
        connection.execute(
            update(_table)
            .where(_table.c.prefix == prefix, _table.c.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
    return get_api_key(store, prefix)


class ApiKeyVerifier:
    """Turns a presented key into the scope it grants, or None; records use at most once a minute.

    None stands for every kind of refusal (malformed, unknown, revoked, expired): the caller
    answers all of them alike, so a client cannot tell a revoked key from one never issued.
    """

    def __init__(
        self,
        store: Store,
        *,
        touch_interval: float = DEFAULT_TOUCH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        background: bool = False,
    ) -> None:
        """``background``: write "last used" from a thread of its own, so that a caller on an
        event loop never waits for the database's write lock."""
        self._store = store
        self._touch_interval = touch_interval
        self._clock = clock
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(1, "api-key-last-used") if background else None
        self._lookup = select(
            _table.c.secret_hash,
            _table.c.tenant_id,
            _table.c.agent_id,
            _table.c.expires_at,
            _table.c.revoked_at,
        ).where(_table.c.prefix == bindparam("prefix"))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)

    def verify(self, key: str) -> Scope | None:
        proof = KeyProof.of(key)
        return None if proof is None else self.verify_proof(proof)

    def verify_proof(self, proof: KeyProof) -> Scope | None:
        """:meth:`verify` for a key seen earlier, as its proof: a revoked or expired key's
        proof stops working at once."""
        prefix, digest = proof.prefix, proof.digest
        with self._store.read() as connection:
            row = connection.execute(self._lookup, {"prefix": prefix}).first()
        # Compare even when the prefix is unknown, so timing says nothing about which prefixes
        # exist.
        stored = row.secret_hash if row is not None else "0" * len(digest)
        if not hmac.compare_digest(stored, digest) or row is None:
            return None
        if row.revoked_at is not None:
            return None
        expires_at = _aware(row.expires_at)
        if expires_at is not None and expires_at <= _now():
            return None
        self._touch(prefix)
        return Scope(tenant_id=row.tenant_id, agent_id=row.agent_id)

    def _touch(self, prefix: str) -> None:
        now = self._clock()
        with self._lock:
            last = self._touched.get(prefix)
            if last is not None and now - last < self._touch_interval:
                return
            self._touched[prefix] = now
        if self._writer is not None:
            self._writer.submit(self._write_last_used, prefix)
        else:
            self._write_last_used(prefix)

    def _write_last_used(self, prefix: str) -> None:
        try:
            with self._store.begin() as connection:
                connection.execute(
                    update(_table).where(_table.c.prefix == prefix).values(last_used_at=_now())
                )
        except SQLAlchemyError:  # bookkeeping only: the request goes on, the next use retries
            with self._lock:
                self._touched.pop(prefix, None)
