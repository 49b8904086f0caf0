"""The retry rules on their own: which failures are tried again, and after what pause."""

from __future__ import annotations

import email.utils
from pathlib import Path

import httpx
import pytest

import pytest_connectors
from pytest_connectors.client.retry import (
    MAX_DELAY_S,
    RetryPolicy,
    backoff_s,
    parse_retry_after,
    retry_decision,
)
from pytest_connectors.imports.worker import JOB_RETRY

BASE = "http://agent.test"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("0", 0.0), ("7", 7.0), (" 2.5 ", 2.5), ("-3", 0.0), (None, None), ("", None), ("soon", None)],
)
def test_parse_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_parse_retry_after_dates_relative_to_now() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 12, usegmt=True), now=now) == 12.0
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0


def _status_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", BASE)
    response = httpx.Response(status, headers=headers, request=request)
    return httpx.HTTPStatusError("x", request=request, response=response)


@pytest.mark.parametrize(
    ("error", "status", "headers", "decision"),
    [
        (None, 429, httpx.Headers({"Retry-After": "3"}), (True, 3.0)),
        (None, 503, None, (True, None)),
        (None, 500, None, (False, None)),
        (None, 200, None, (False, None)),
        (_status_error(504, {"Retry-After": "1"}), None, None, (True, 1.0)),
        (_status_error(404), None, None, (False, None)),
        (httpx.ConnectError("x"), None, None, (True, None)),
        (httpx.ConnectTimeout("x"), None, None, (True, None)),
        (httpx.PoolTimeout("x"), None, None, (True, None)),
        (httpx.ReadTimeout("x"), None, None, (False, None)),
        (httpx.RemoteProtocolError("x"), None, None, (False, None)),
    ],
)
def test_retry_decision(
    error: BaseException | None,
    status: int | None,
    headers: httpx.Headers | None,
    decision: tuple[bool, float | None],
) -> None:
    assert retry_decision(error, status, headers) == decision


def test_retry_policy_counts_attempts_and_caps_delays() -> None:
    policy = RetryPolicy(retries=4, first_delay_s=1.0)
    assert policy.attempts == 5
    assert policy.delay_s(1, hinted=2.0) == 2.0
    assert policy.delay_s(1, hinted=10_000) == MAX_DELAY_S
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0)]:
        assert ceiling / 2 <= policy.delay_s(attempt) <= ceiling
    assert policy.delay_s(20) == MAX_DELAY_S


def test_one_backoff_serves_agent_calls_provider_calls_and_jobs() -> None:
    # Without jitter (sync jobs): 1, 2, 4, ... seconds, never past the cap, even far out.
    assert [backoff_s(n, 1.0, 60.0, jitter=False) for n in range(1, 9)] == [
        1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0,
    ]  # fmt: skip
    assert backoff_s(10_000, 1.0, 60.0, jitter=False) == 60.0
    # With jitter (agent and provider calls): between half and all of the same ceiling.
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (4, 4.0)]:
        assert ceiling / 2 <= backoff_s(attempt, 0.5, 30.0) <= ceiling
    assert backoff_s(10_000, 0.5, 30.0) == 30.0
    assert JOB_RETRY.delay_s(7) == 60.0 and JOB_RETRY.delay_s(3) == 4.0


def test_every_wait_and_retry_loop_is_the_one_policys() -> None:
    # Agent calls, provider calls and jobs all wait through RetryPolicy; the providers share one
    # loop (HttpProvider._with_retries), so a provider cannot grow a backoff or a loop of its own.
    package = Path(pytest_connectors.__file__).parent
    waits, loops = [], []
    for path in sorted(package.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        where = str(path.relative_to(package))
        if "backoff_s(" in source.replace("def backoff_s(", ""):
            waits.append(where)
        if "imports/providers/" in where and "retry_log" in source:
            loops.append(where)
    assert waits == ["client/retry.py"]
    assert loops == []
