"""The pages as a browser uses them, against the service under uvicorn: sign-in and its cookie,
CSRF and cross-site refusals, hostile conversation text, secrets, and errors as pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from service_support import ServiceProcess, client, issue_key, langsmith_connector
from ui_pages import alert_of, browsing, csrf_of, form, seed, sign_in

from pytest_connectors.models.imports import (
    Job,
    JobStats,
    JobStatus,
    JobTrigger,
    RecordedConversation,
    RecordedToolCall,
    RecordedTurn,
    UserSession,
)
from pytest_connectors.service.ui.pages import progress as bar_of

SCRIPT = "<script>alert('pwned')</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS_LINK = "javascript:alert(document.cookie)"
PROVIDER_KEY = "ls-secret-value-123"


@dataclass
class Service:
    server: ServiceProcess
    db: str
    key: str  # an agent key of acme/a1
    connector: str  # a1's LangSmith connector (holding PROVIDER_KEY)
    fullstory: str  # a1's FullStory connector

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    db = str(tmp_path_factory.mktemp("ui-pages") / "service.db")
    key = issue_key(db, "acme", "a1")
    with ServiceProcess(db, workers=0) as server:
        with client(server.url, key) as api:
            made = api.post("/api/connectors", json=langsmith_connector(None, "prod"))
            assert made.status_code == 201, made.text
            fullstory = api.post(
                "/api/connectors",
                json={
                    "name": "sessions",
                    "category": "session-data",
                    "provider": "fullstory",
                    "config": {"apiKey": "fs-secret"},
                },
            )
            assert fullstory.status_code == 201, fullstory.text
        _seed_hostile(db, made.json()["id"], fullstory.json()["id"])
        yield Service(server, db, key, made.json()["id"], fullstory.json()["id"])


def _seed_hostile(db: str, connector: str, fullstory: str) -> None:
    turn = RecordedTurn(
        index=0,
        user_messages=[SCRIPT],
        tool_calls=[RecordedToolCall(name=IMG, args={"q": SCRIPT}, result=IMG)],
        answer=f"see {JS_LINK}",
        error=IMG,
        latency_ms=12.0,
    )
    sessions = [
        UserSession(id="u1:s1", connector_id=fullstory, user_id="u1", url=JS_LINK),
        UserSession(
            id="u1:s2",
            connector_id=fullstory,
            user_id="u1",
            url="https://app.fullstory.com/ui/o/session/u1:s2",
        ),
    ]
    conversation = RecordedConversation(
        id="hostile",
        connector_id=connector,
        agent_id="a1",
        thread_key=f"thread {SCRIPT}",
        started_at=datetime(2026, 3, 1, tzinfo=UTC),
        turns=[turn],
        metadata={"trace": JS_LINK, "docs": "https://example.com/trace?a=1&b=2", "x": IMG},
    )
    seed(db, conversation, tenant="acme", sessions=sessions)


def test_sign_in_sets_a_session_cookie_that_is_not_the_key(service: Service) -> None:
    with client(service.url, follow_redirects=False) as browser:
        assert browser.get("/").headers["location"] == "/ui/connectors"
        assert browser.get("/ui/connectors").headers["location"] == "/ui/sign-in"
        answer = sign_in(browser, service.key)
        assert answer.status_code == 303
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if "connectors_session=" in c
        )
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Secure" not in cookie  # plain http on loopback: a Secure cookie would be lost
        assert service.key not in cookie and service.key[12:] not in cookie
        page = browser.get("/ui/connectors")
        assert page.status_code == 200 and "pck_" in page.text  # the key's public prefix
        assert service.key not in page.text
        # The cookie opens pages only: the API still wants the key, so no form elsewhere can
        # drive it with a visitor's cookie.
        assert browser.get("/api/connectors").status_code == 401
    assert service.key not in service.server.log_tail(10_000)
    assert "POST /ui/sign-in" in service.server.log_tail(10_000)  # the log is there; no key


def test_behind_an_https_proxy_the_cookie_is_secure(service: Service) -> None:
    # uvicorn trusts X-Forwarded-Proto from loopback proxies (its default), as the API does.
    with client(service.url, follow_redirects=False) as browser:
        answer = sign_in(browser, service.key, headers={"X-Forwarded-Proto": "https"})
        assert answer.status_code == 303
        cookies = answer.headers.get_list("set-cookie")
        assert any("connectors_session=" in c and "Secure" in c for c in cookies)


def test_a_wrong_key_gets_the_form_again_without_the_key(service: Service) -> None:
    typed = "pck_abcdefgh_" + "x" * 43
    with client(service.url, follow_redirects=False) as browser:
        answer = sign_in(browser, typed)
        assert answer.status_code == 401
        assert "not valid" in (alert_of(answer.text) or "")
        assert typed not in answer.text and "connectors_session" not in answer.headers.get(
            "set-cookie", ""
        )
    assert typed not in service.server.log_tail(10_000)


def test_a_sign_in_posted_by_another_site_is_refused(service: Service) -> None:
    # Else a page elsewhere could sign a visitor in with the attacker's key (login CSRF).
    with client(service.url, follow_redirects=False) as browser:
        answer = sign_in(browser, service.key, headers={"Sec-Fetch-Site": "cross-site"})
        assert answer.status_code == 403 and "set-cookie" not in answer.headers


@pytest.mark.parametrize("forged", ["no-token", "no-cookie", "another-forms-token"])
def test_a_sign_in_without_its_forms_token_is_refused(service: Service, forged: str) -> None:
    # A browser (or a proxy) may send neither Origin nor Sec-Fetch-Site: the token still guards.
    with (
        client(service.url, follow_redirects=False) as browser,
        client(service.url, follow_redirects=False) as other,
    ):
        token = csrf_of(browser.get("/ui/sign-in").text)
        if forged == "no-token":
            data = {"key": service.key}
        elif forged == "no-cookie":
            browser.cookies.clear()
            data = {"key": service.key, "csrf": token}
        else:
            data = {"key": service.key, "csrf": csrf_of(other.get("/ui/sign-in").text)}
        answer = browser.post("/ui/sign-in", data=data)
        assert answer.status_code == 403, answer.text
        assert "connectors_session" not in answer.headers.get("set-cookie", "")
        assert browser.get("/ui/connectors").headers["location"] == "/ui/sign-in"


def test_sign_out_ends_the_session_on_the_server(service: Service) -> None:
    with browsing(service.url, service.key) as (browser, token):
        session = browser.cookies["connectors_session"]
        assert browser.post("/ui/sign-out", data=form(token)).status_code == 303
        # The old cookie, sent again, opens nothing: the session is gone, not just forgotten.
        with client(service.url, follow_redirects=False) as replay:
            replay.cookies.set("connectors_session", session)
            assert replay.get("/ui/connectors").headers["location"] == "/ui/sign-in"


@pytest.mark.parametrize(
    ("headers", "use_token"),
    [
        ({}, False),
        ({"Origin": "http://127.0.0.1:1"}, True),
        ({"Origin": "null"}, True),
        ({"Sec-Fetch-Site": "same-site"}, True),
        ({"Sec-Fetch-Site": "cross-site"}, True),
    ],
    ids=["no-token", "foreign-origin", "null-origin", "same-site", "cross-site"],
)
def test_a_form_from_elsewhere_is_refused(
    service: Service, headers: dict[str, str], use_token: bool
) -> None:
    with browsing(service.url, service.key) as (browser, token):
        fields = form(token if use_token else "forged", name="hijacked")
        answer = browser.post(f"/ui/connectors/{service.connector}", data=fields, headers=headers)
        assert answer.status_code == 403
        assert "not sent from this site" in (alert_of(answer.text) or "")
        page = browser.get(f"/ui/connectors/{service.connector}")
        assert "hijacked" not in page.text


def test_a_form_from_the_page_itself_is_taken(service: Service) -> None:
    with browsing(service.url, service.key) as (browser, token):
        own = {"Origin": service.url, "Sec-Fetch-Site": "same-origin"}
        answer = browser.post(
            f"/ui/connectors/{service.connector}", data=form(token, name="prod"), headers=own
        )
        assert answer.status_code == 303, answer.text


def test_hostile_conversation_text_is_escaped_and_links_are_http_only(service: Service) -> None:
    with browsing(service.url, service.key) as (browser, _token):
        page = browser.get("/ui/conversations/hostile")
    assert page.status_code == 200
    text = page.text
    assert "<script>alert" not in text and "&lt;script&gt;alert(&#39;pwned&#39;)" in text
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert 'href="javascript:' not in text and JS_LINK in text  # shown as text only
    assert 'href="https://example.com/trace?a=1&amp;b=2"' in text
    assert 'href="https://app.fullstory.com/ui/o/session/u1:s2"' in text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    # The turn shows what happened: the tool call with its arguments and result, the error.
    assert "tool-result" in text and "&#34;q&#34;: &#34;&lt;script&gt;" in text
    assert "error failed" in text


@pytest.mark.parametrize(
    ("filters", "listed"),
    [
        ({"origin": "imported"}, True),
        ({"origin": "native"}, False),
        ({"text": "PWNED"}, True),
        ({"text": "not said anywhere"}, False),
        ({"since": "2026-03-01T00:00:00", "until": "2026-03-01T00:00:01"}, True),
        ({"since": "2026-03-01T00:00:01"}, False),
        ({"agent": "a1", "connector": "LANGSMITH"}, True),
        ({"agent": "a1", "connector": "FULLSTORY"}, False),
    ],
)
def test_the_conversation_list_filters(
    service: Service, filters: dict[str, str], listed: bool
) -> None:
    connectors = {"LANGSMITH": service.connector, "FULLSTORY": service.fullstory}
    filters = {k: connectors.get(v, v) for k, v in filters.items()}
    with browsing(service.url, service.key) as (browser, _token):
        page = browser.get("/ui/conversations", params=filters)
    assert page.status_code == 200, page.text
    assert ("/ui/conversations/hostile" in page.text) is listed
    for name, value in filters.items():  # the form shows the filters it applied
        shown = (
            f'value="{value}" selected' if name in ("origin", "connector") else f'value="{value}"'
        )
        assert shown in page.text


@pytest.mark.parametrize(
    ("filters", "says"),
    [
        ({"origin": "both"}, "origin"),
        ({"since": "last week"}, "since"),
        ({"cursor": "x"}, "cursor"),
    ],
)
def test_a_bad_filter_says_which(service: Service, filters: dict[str, str], says: str) -> None:
    with browsing(service.url, service.key) as (browser, _token):
        page = browser.get("/ui/conversations", params=filters)
    assert page.status_code in (400, 422)
    assert says in (alert_of(page.text) or "")


def test_provider_secrets_never_come_back(service: Service) -> None:
    with browsing(service.url, service.key) as (browser, token):
        page = browser.get(f"/ui/connectors/{service.connector}")
        assert PROVIDER_KEY not in page.text and "****" in page.text
        # A form that fails comes back with what was typed, except the secret.
        failed = browser.post(
            "/ui/connectors",
            data=form(
                token,
                provider="langsmith",
                name="prod",  # taken
                **{"config.apiKey": "typed-secret-42", "config.projectName": "kept-text"},
            ),
        )
        assert failed.status_code == 409, failed.text
        assert "typed-secret-42" not in failed.text and "kept-text" in failed.text
        assert "prod" in (alert_of(failed.text) or "")
    assert "typed-secret-42" not in service.server.log_tail(10_000)


@pytest.mark.parametrize(
    "path",
    [
        "/ui/connectors/no-such-connector",
        "/ui/jobs/no-such-job",
        "/ui/conversations/no-such-conversation",
        "/ui/no-such-page",
    ],
)
def test_unknown_ids_are_404_pages(service: Service, path: str) -> None:
    with browsing(service.url, service.key) as (browser, _token):
        answer = browser.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "Not found" in answer.text and "Traceback" not in answer.text


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"provider": "langsmith", "name": ""}, 422, "name"),
        ({"provider": "nope", "name": "x"}, 422, "providers"),
        ({"provider": "langsmith", "name": "x", "agentId": "no spaces"}, 422, "agentId"),
    ],
    ids=["empty-name", "unknown-provider", "bad-agent"],
)
def test_bad_form_input_shows_the_form_with_one_line(
    service: Service, fields: dict[str, str], status: int, says: str
) -> None:
    with browsing(service.url, service.key) as (browser, token):
        answer = browser.post("/ui/connectors", data=form(token, **fields))
    assert answer.status_code == status, answer.text
    message = alert_of(answer.text) or ""
    assert says in message and "\n" not in message
    assert 'action="/ui/connectors"' in answer.text  # the form is there to try again


def test_a_sync_with_a_bad_window_shows_why(service: Service) -> None:
    with browsing(service.url, service.key) as (browser, token):
        path = f"/ui/connectors/{service.connector}"
        assert browser.post(f"{path}/connect", data=form(token)).status_code == 303
        answer = browser.post(
            f"{path}/sync",
            data=form(token, **{"from": "2026-03-02T00:00", "to": "2026-03-01T00:00"}),
        )
        assert answer.status_code == 422
        assert alert_of(answer.text) == "from must be before to"
        garbled = browser.post(f"{path}/sync", data=form(token, **{"from": "yesterday"}))
        assert garbled.status_code == 422 and "from" in (alert_of(garbled.text) or "")


def test_a_job_page_and_its_progress(service: Service) -> None:
    with browsing(service.url, service.key) as (browser, token):
        path = f"/ui/connectors/{service.connector}"
        connected = browser.post(f"{path}/connect", data=form(token))
        job_page = connected.headers["location"]
        page = browser.get(job_page)
        assert '<progress id="job-progress"' in page.text and 'src="/ui/progress.js"' in page.text
        progress = browser.get(f"{job_page}/progress").json()
        assert progress["status"] == "queued" and progress["percent"] == 0  # no worker here
        listed = browser.get("/ui/jobs")
        assert job_page in listed.text
        assert csrf_of(listed.text) == token


@pytest.mark.parametrize(
    ("status", "scanned", "percent"),
    [
        (JobStatus.QUEUED, None, 0),
        (JobStatus.QUEUED, 0.5, 50),  # paused and queued again: it keeps its place
        (JobStatus.RUNNING, 0.4283, 42),  # how far through its window
        (JobStatus.RUNNING, None, None),  # its provider cannot tell: the bar stays busy
        (JobStatus.SUCCEEDED, 1.0, 100),
        (JobStatus.FAILED, 0.3, 100),  # ended: the bar is full, the error says why
    ],
)
def test_the_job_bar_shows_how_far_a_running_job_is_through_its_window(
    status: JobStatus, scanned: float | None, percent: int | None
) -> None:
    job = Job(
        id="job_1",
        connector_id="imp_1",
        trigger=JobTrigger.SYNC,
        status=status,
        stats=JobStats(fetched=7, progress=scanned),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert bar_of(job)["percent"] == percent
