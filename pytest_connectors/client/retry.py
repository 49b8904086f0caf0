"""When to try again, and how long to wait first: one policy for agent calls, provider calls
and sync jobs (`RetryPolicy`), one reading of ``Retry-After``, one backoff."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

import httpx

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_DELAY_S = 30.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_decision(
    error: BaseException | None, status: int | None, headers: httpx.Headers | None
) -> tuple[bool, float | None]:
    """Whether to try again, and the wait the server asked for (``Retry-After``), if any.

    Connection failures, 429 and gateway errors are retried; a read timeout is not, because the
    agent may still be working and a retry would double its load.
    """
    if isinstance(error, httpx.HTTPStatusError):
        status, headers = error.response.status_code, error.response.headers
    elif isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True, None
    elif error is not None:
        return False, None
    if status not in RETRY_STATUSES:
        return False, None
    return True, parse_retry_after(headers.get("retry-after") if headers else None)


def backoff_s(attempt: int, first_s: float, max_s: float, *, jitter: bool = True) -> float:
    """The wait after failed ``attempt`` (from 1): ``first_s``, doubled each time, up to ``max_s``.

    With ``jitter`` it is drawn between half and all of that, so clients that failed together
    do not all come back together.
    """
    ceiling = first_s * 2.0 ** min(max(0, attempt - 1), 64)
    wait = random.uniform(ceiling / 2, ceiling) if jitter else ceiling
    return min(wait, max_s)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to try again, and how long to wait before each try.

    The wait doubles from ``first_delay_s`` up to ``max_delay_s`` (drawn between half and all
    of that with ``jitter``); a server's ``Retry-After`` wins, cut to ``max_hint_s``. Agent calls
    and provider calls use it with jitter; sync jobs, queued again, without.
    """

    retries: int = 2
    first_delay_s: float = 0.5
    max_delay_s: float = MAX_DELAY_S
    max_hint_s: float = MAX_DELAY_S
    jitter: bool = True

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def delay_s(self, attempt: int, hinted: float | None = None) -> float:
        """The wait after failed ``attempt`` (from 1)."""
        if hinted is not None:
            return min(hinted, self.max_hint_s)
        return backoff_s(attempt, self.first_delay_s, self.max_delay_s, jitter=self.jitter)
