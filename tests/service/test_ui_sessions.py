"""Browser sessions live in the database: every process of a deployment on one database knows
them, a restart keeps them, and a tampered, expired or signed-out cookie opens nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from postgres import PostgresServer
from service_support import ServiceProcess, child_env, client, issue_key
from sqlalchemy import select, update
from ui_pages import browsing, form

from pytest_connectors.servers.launch import LocalServer
from pytest_connectors.service.ui.sessions import SessionTable
from pytest_connectors.storage.api_keys import KeyProof
from pytest_connectors.storage.schema import browser_sessions
from pytest_connectors.storage.store import Store

COOKIE = "connectors_session"
SIGN_IN = "/ui/sign-in"


@dataclass
class Deployment:
    db: str
    key: str
    one: ServiceProcess
    two: ServiceProcess


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Two service processes on one database, as ``uvicorn --workers 2`` or two hosts run."""
    db = str(tmp_path_factory.mktemp("ui-sessions") / "service.db")
    key = issue_key(db, "acme", "a1")
    with ServiceProcess(db, workers=0) as one, ServiceProcess(db, workers=0) as two:
        yield Deployment(db, key, one, two)


def _opens_pages(url: str, cookie: str) -> bool:
    with client(url, follow_redirects=False) as browser:
        browser.cookies.set(COOKIE, cookie)
        answer = browser.get("/ui/connectors")
    assert answer.status_code in (200, 303), answer.text
    return answer.status_code == 200


def test_a_session_opened_on_one_process_works_on_the_other(deployment: Deployment) -> None:
    with browsing(deployment.one.url, deployment.key) as (browser, token):
        cookie = browser.cookies[COOKIE]
        with client(deployment.two.url, follow_redirects=False) as elsewhere:
            elsewhere.cookies.set(COOKIE, cookie)
            page = elsewhere.get("/ui/connectors")
            assert page.status_code == 200 and "pck_" in page.text
            # The other process takes the session's forms too: the CSRF token is the same.
            assert elsewhere.post("/ui/sign-out", data=form(token)).status_code == 303
        # Signed out there, the session is over here as well.
        assert not _opens_pages(deployment.one.url, cookie)


def test_a_restart_keeps_the_session(deployment: Deployment) -> None:
    with browsing(deployment.one.url, deployment.key) as (browser, _token):
        cookie = browser.cookies[COOKIE]
    deployment.one.stop()
    deployment.one.start()
    assert _opens_pages(deployment.one.url, cookie)


def test_a_tampered_cookie_is_refused(deployment: Deployment) -> None:
    with browsing(deployment.one.url, deployment.key) as (browser, _token):
        cookie = browser.cookies[COOKIE]
    flipped = cookie[:-1] + ("A" if cookie[-1] != "A" else "B")
    for forged in (flipped, cookie + "x", cookie[:-1], "", "x" * 5000):
        assert not _opens_pages(deployment.two.url, forged), forged[:50]
    assert _opens_pages(deployment.two.url, cookie)


def test_an_expired_session_is_refused(deployment: Deployment) -> None:
    with browsing(deployment.one.url, deployment.key) as (browser, _token):
        cookie = browser.cookies[COOKIE]
    assert _opens_pages(deployment.two.url, cookie)
    past = datetime(2000, 1, 1, tzinfo=UTC)  # long gone, whatever clock the processes read
    with Store(deployment.db) as store, store.begin() as connection:
        connection.execute(update(browser_sessions).values(expires_at=past))
    assert not _opens_pages(deployment.one.url, cookie)
    assert not _opens_pages(deployment.two.url, cookie)


def test_the_database_holds_neither_the_cookie_nor_the_key(deployment: Deployment) -> None:
    with browsing(deployment.one.url, deployment.key) as (browser, token):
        cookie = browser.cookies[COOKIE]
    with Store(deployment.db) as store, store.read() as connection:
        rows = [tuple(row) for row in connection.execute(select(browser_sessions))]
    stored = repr(rows)
    assert rows and cookie not in stored and token not in stored
    assert deployment.key not in stored and deployment.key[13:] not in stored
    assert deployment.key not in cookie and deployment.key[13:] not in cookie


def test_under_uvicorn_workers_as_documented_every_page_stays_signed_in(
    tmp_path: object,
) -> None:
    """docs/service.md's command: each fresh connection may land on another worker process."""
    db = str(tmp_path) + "/service.db"
    key = issue_key(db, "acme", "a1")
    command = ["{python}", "-m", "uvicorn", "--factory", "pytest_connectors.service.asgi:app"]
    command += ["--host", "{host}", "--port", "{port}", "--workers", "2"]
    env = child_env({"PYTEST_CONNECTORS_DB": db, "PYTEST_CONNECTORS_SERVICE_WORKERS": "0"})
    with LocalServer(command, ready_path="/api/health", env=env, startup_timeout=60) as server:
        with browsing(server.url, key) as (browser, _token):
            cookie = browser.cookies[COOKIE]
        for _ in range(20):  # a new connection each time
            assert _opens_pages(server.url, cookie)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        with Store(str(tmp_path / "sessions.db")) as opened:
            yield opened
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    with Store(server.url(name)) as opened:
        yield opened
    server.drop_database(name)


def test_a_session_table_expires_on_its_clock_and_shows_no_secret(store: Store) -> None:
    key = "pck_abcdefgh_" + "s" * 43
    proof = KeyProof.of(key)
    assert proof is not None
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    table = SessionTable(store, lifetime=60, clock=lambda: now[0])
    one, two = table.open(proof), table.open(proof)
    assert one.id != two.id and one.csrf != two.csrf
    assert one.accepts(one.csrf) and not one.accepts(two.csrf) and not one.accepts(None)
    for text in (one.id, one.csrf, repr(one), repr(one.proof)):
        assert key not in text and key[13:] not in text
    now[0] += timedelta(seconds=59)
    assert table.get(one.id) == one
    table.close(one.id)
    assert table.get(one.id) is None and table.get(two.id) == two
    now[0] += timedelta(seconds=1)
    assert table.get(two.id) is None


def test_a_key_keeps_its_newest_sessions_only(store: Store) -> None:
    proofs = [KeyProof.of(f"pck_{name}_" + "s" * 43) for name in ("aaaaaaaa", "bbbbbbbb")]
    assert proofs[0] is not None and proofs[1] is not None
    now = [datetime(2030, 1, 1, tzinfo=UTC)]

    def later() -> datetime:
        now[0] += timedelta(seconds=1)
        return now[0]

    table = SessionTable(store, sessions_per_key=3, clock=later)
    other = table.open(proofs[1])
    opened = [table.open(proofs[0]) for _ in range(5)]
    alive = [table.get(session.id) is not None for session in opened]
    assert alive == [False, False, True, True, True]
    assert table.get(other.id) == other  # another key's sessions are its own
