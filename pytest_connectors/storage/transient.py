"""Which database failures are worth retrying: a busy SQLite file, a PostgreSQL conflict.

Callers above this layer cannot import SQLAlchemy, so the test of an exception lives here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

T = TypeVar("T")

# PostgreSQL: serialization failure, deadlock detected, lock not available.
_PG_RETRYABLE = {"40001", "40P01", "55P03"}
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")


def is_transient(exc: BaseException) -> bool:
    if not isinstance(exc, DBAPIError):
        return False
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in _PG_RETRYABLE:
        return True
    return isinstance(exc, OperationalError) and any(
        text in str(exc.orig).lower() for text in _SQLITE_BUSY
    )


def retry_transient(action: Callable[[], T], *, attempts: int = 8, first_delay: float = 0.02) -> T:
    """Run ``action`` again after a transient failure, with a growing pause; re-raise the last."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == attempts or not is_transient(exc):
                raise
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")
