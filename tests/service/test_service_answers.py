"""Answers of the real service to requests a client got wrong, and what its access log keeps.

A forged cursor is invalid input (422), not a failure of the service; a body over the limit is
413 however it is sent; and a key put in the query string, which the service refuses, is not
written to the access log either (part of the secret-leak matrix: the service's own log).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator

import pytest
from service_support import ServiceProcess, client, issue_key

from pytest_connectors.service.guard import DEFAULT_MAX_BODY_BYTES


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, str]]:
    db = str(tmp_path_factory.mktemp("answers") / "service.db")
    with ServiceProcess(db, workers=0) as server:
        yield server, issue_key(db, "acme", "a1")


def _cursor(moment: str, last_id: str) -> str:
    raw = json.dumps([moment, last_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [_cursor("2026-03-01T00:00:00", "x"), _cursor("2026-03-01", "x"), _cursor("noon", "x")],
    ids=["no-zone", "date-only", "not-a-time"],
)
def test_a_forged_cursor_is_invalid_input(service: tuple[ServiceProcess, str], cursor: str) -> None:
    server, key = service
    with client(server.url, key) as api:
        answer = api.get("/api/conversations", params={"cursor": cursor})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_input"
    assert "start without a cursor" in answer.json()["error"]["message"]


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"conversations": ["'
    sent = 0
    while sent < total:
        yield b"a" * size
        sent += size
    yield b'"]}'


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_body_over_the_limit_is_413_however_it_is_sent(
    service: tuple[ServiceProcess, str], chunked: bool
) -> None:
    server, key = service
    total = DEFAULT_MAX_BODY_BYTES + 256 * 1024
    content = _chunks(total) if chunked else b"".join(_chunks(total))
    with client(server.url, key) as api:
        answer = api.post(
            "/api/conversations", content=content, headers={"content-type": "application/json"}
        )
        # A body just under the limit is read and judged on its content.
        small = api.post(
            "/api/conversations",
            content=_chunks(DEFAULT_MAX_BODY_BYTES - 128 * 1024),
            headers={"content-type": "application/json"},
        )
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["code"] == "payload_too_large"
    assert small.status_code == 422, small.text


@pytest.mark.parametrize(
    "query",
    ["api_key={key}", "key={key}", "x={key}", "{key}", "agentId=a1&token={key}", "{key}=1"],
)
def test_a_key_in_the_query_string_never_reaches_the_access_log(
    service: tuple[ServiceProcess, str], query: str
) -> None:
    server, key = service
    with client(server.url) as api:
        refused = api.get(f"/api/connectors?{query.format(key=key)}")
        # The request after it is logged, so the refused one was logged too by then.
        marker = api.get(f"/api/health/{uuid.uuid4().hex}")
    assert refused.status_code == 401, refused.text
    log = _wait_for(server, marker.url.path)
    assert '"GET /api/connectors?' in log
    secret = key.split("_", 2)[2]  # the random part; the prefix is public
    assert secret not in log
    assert key not in log


def _wait_for(server: ServiceProcess, text: str) -> str:
    deadline = time.monotonic() + 30
    log = server.log_path.read_text(encoding="utf-8", errors="replace")
    while log.count(text) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
        log = server.log_path.read_text(encoding="utf-8", errors="replace")
    return log
