"""Browser sign-in sessions: a random id in an ``HttpOnly`` cookie, the key's proof in the database.

The cookie is never the key: it is 256 random bits naming a session row (stored only as the id's
SHA-256) that keeps the key's :class:`KeyProof` and an expiry. Rows live in the service's
database, so every process of a deployment (``uvicorn --workers N``, several hosts) and the
service after a restart know the same sessions, and signing out ends a session everywhere.
Every request checks the proof again, so a revoked or expired key signs its sessions out at once.
A key keeps its newest ``sessions_per_key`` sessions; expired rows go at the next sign-in.

CSRF tokens are HMACs keyed by a secret the page's own cookie holds: the session's id, or before
sign-in a random nonce in a short-lived cookie. A page of another site can neither read that
cookie nor make its token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeGuard

from pytest_connectors.storage import browser_sessions
from pytest_connectors.storage.api_keys import KeyProof
from pytest_connectors.storage.browser_sessions import StoredSession
from pytest_connectors.storage.store import Store

COOKIE = "connectors_session"
SIGN_IN_COOKIE = "connectors_sign_in"
DEFAULT_LIFETIME_S = 8 * 3600.0
SIGN_IN_LIFETIME_S = 3600
DEFAULT_SESSIONS_PER_KEY = 100
# token_urlsafe(32) is 43 characters: anything much longer is not a cookie this service set.
_MAX_ID_LENGTH = 64


def _token(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def _same(token: str | None, expected: str) -> bool:
    return token is not None and hmac.compare_digest(token.encode(), expected.encode())


def _well_formed(value: str | None) -> TypeGuard[str]:
    return value is not None and 0 < len(value) <= _MAX_ID_LENGTH


@dataclass(frozen=True, slots=True)
class BrowserSession:
    id: str
    proof: KeyProof
    expires_at: datetime

    def __repr__(self) -> str:
        return f"BrowserSession(prefix={self.proof.prefix!r}, id='****')"

    @property
    def csrf(self) -> str:
        return _token(self.id, "csrf")

    def accepts(self, token: str | None) -> bool:
        """The form's CSRF token is this session's (compared in constant time)."""
        return _same(token, self.csrf)


def new_sign_in_nonce() -> str:
    return secrets.token_urlsafe(32)


def sign_in_token(nonce: str) -> str:
    """The sign-in form's CSRF token for the nonce in its pre-session cookie."""
    return _token(nonce, "sign-in")


def sign_in_accepts(nonce: str | None, token: str | None) -> bool:
    return _well_formed(nonce) and _same(token, sign_in_token(nonce))


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SessionTable:
    """The sessions of one database; ``clock`` tells the wall-clock time (UTC)."""

    def __init__(
        self,
        store: Store,
        *,
        lifetime: float = DEFAULT_LIFETIME_S,
        sessions_per_key: int = DEFAULT_SESSIONS_PER_KEY,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.lifetime = lifetime
        self.sessions_per_key = sessions_per_key
        self._store = store
        self._clock = clock

    def open(self, proof: KeyProof) -> BrowserSession:
        now = self._clock()
        session = BrowserSession(
            id=secrets.token_urlsafe(32),
            proof=proof,
            expires_at=now + timedelta(seconds=self.lifetime),
        )
        stored = StoredSession(proof.prefix, proof.digest, session.expires_at)
        browser_sessions.save(
            self._store, session.id, stored, now=now, keep_per_key=self.sessions_per_key
        )
        return session

    def get(self, session_id: str | None) -> BrowserSession | None:
        if not _well_formed(session_id):
            return None
        stored = browser_sessions.find(self._store, session_id)
        if stored is None or stored.expires_at <= self._clock():
            return None
        proof = KeyProof(stored.key_prefix, stored.key_digest)
        return BrowserSession(session_id, proof, stored.expires_at)

    def close(self, session_id: str | None) -> None:
        if _well_formed(session_id):
            browser_sessions.remove(self._store, session_id)
