"""Browser sign-in sessions: a random id in an ``HttpOnly`` cookie, the key's proof on the server.

The cookie is never the key: it is 256 random bits naming a session held in this process's
memory, which keeps the key's :class:`KeyProof` (prefix and digest), a CSRF token and an expiry.
Every request checks the proof again, so a revoked or expired key signs its sessions out at
once. The table is bounded: past ``max_sessions`` the oldest session goes first. Sessions live
as long as the process; a restart signs everyone out.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pytest_connectors.storage.api_keys import KeyProof

COOKIE = "connectors_session"
DEFAULT_LIFETIME_S = 8 * 3600.0
DEFAULT_MAX_SESSIONS = 10_000


@dataclass(frozen=True, slots=True)
class BrowserSession:
    id: str
    proof: KeyProof
    csrf: str
    expires_at: float

    def __repr__(self) -> str:
        return f"BrowserSession(prefix={self.proof.prefix!r}, id='****')"

    def accepts(self, token: str | None) -> bool:
        """The form's CSRF token is this session's (compared in constant time)."""
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class SessionTable:
    def __init__(
        self,
        *,
        lifetime: float = DEFAULT_LIFETIME_S,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lifetime = lifetime
        self.max_sessions = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[str, BrowserSession] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, proof: KeyProof) -> BrowserSession:
        session = BrowserSession(
            id=secrets.token_urlsafe(32),
            proof=proof,
            csrf=secrets.token_urlsafe(32),
            expires_at=self._clock() + self.lifetime,
        )
        with self._lock:
            self._sessions[session.id] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> BrowserSession | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at <= self._clock():
                del self._sessions[session_id]
                return None
        return session

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def __len__(self) -> int:
        return len(self._sessions)
