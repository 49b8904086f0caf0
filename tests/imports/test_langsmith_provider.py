"""The LangSmith provider against the LangSmith fake under uvicorn: paging, auth, faults, resume."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_connectors.fakes.langsmith import API_KEY, TENANT_ID, LangSmithServer, seed_runs
from pytest_connectors.imports.provider import FetchedRecord, Page, ProviderError, Window
from pytest_connectors.imports.providers.langsmith.provider import LangSmithProvider
from pytest_connectors.servers.launch import free_port

PROJECT = "support-prod"
START = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(days=1))


class Sleeps(list[float]):
    """Records the waits the provider asks for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def server(langsmith_fake: LangSmithServer) -> LangSmithServer:
    return langsmith_fake


def provider(server: LangSmithServer, sleeps: Sleeps | None = None, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "api_key": API_KEY,
        "project_name": PROJECT,
        "api_url": server.url,
        "sleep": sleeps if sleeps is not None else Sleeps(),
    }
    settings.update(options)
    return LangSmithProvider(**settings)


def fetch_all(source: LangSmithProvider, window: Window = WINDOW, **kwargs: Any) -> list[Page]:
    with source:
        return list(source.fetch(window, **kwargs))


def records(pages: list[Page]) -> list[FetchedRecord]:
    return [record for page in pages for record in page.records]


def queries(server: LangSmithServer) -> list[dict[str, Any]]:
    return [r.body for r in server.fake.requests if r.path == "/runs/query"]


def fail(source: LangSmithProvider, window: Window = WINDOW) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        fetch_all(source, window)
    error = caught.value
    assert API_KEY not in str(error) and API_KEY not in repr(error)
    # No chained httpx error either: its request carries the key in its headers.
    assert error.__cause__ is None and error.__context__ is None
    return error


# --- reading a window --------------------------------------------------------------------------


def test_reads_every_root_run_of_the_window_in_pages_of_100(server: LangSmithServer) -> None:
    ids = seed_runs(server.fake, 250, project=PROJECT, start=START, spacing=timedelta(seconds=1))
    seed_runs(server.fake, 5, project="other-project", start=START)
    before = START - timedelta(hours=1)
    server.fake.add_run(
        {"id": "early", "start_time": before, "end_time": before, "inputs": {}}, project=PROJECT
    )
    server.fake.add_run(
        {"id": "child", "parent_run_id": ids[0], "trace_id": ids[0], "start_time": START},
        project=PROJECT,
    )

    pages = fetch_all(provider(server))

    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert [r.provider_id for r in records(pages)] == ids  # ascending start time
    assert all(p.checkpoint for p in pages[:-1]) and pages[-1].checkpoint is None
    first = records(pages)[0]
    assert first.kind == "trace" and first.pending is False
    assert first.occurred_at == START and first.occurred_at.tzinfo is not None
    assert first.payload["start_time"] == "2026-03-01T00:00:00.000000"  # no zone
    assert first.payload["outputs"]["messages"][-1]["content"] == "It is sunny in c0."
    sent = queries(server)
    assert len(sent) == 3
    project_id = server.fake.add_project(PROJECT)
    for body in sent:
        assert body["session"] == [project_id]
        assert body["is_root"] is True
        assert (body["limit"], body["order"]) == (100, "asc")
        assert datetime.fromisoformat(body["start_time"]) == WINDOW.start
        assert datetime.fromisoformat(body["end_time"]) == WINDOW.end
    assert "cursor" not in sent[0] and sent[1]["cursor"] and sent[2]["cursor"]
    headers = server.fake.requests[0].headers
    assert headers["x-api-key"] == API_KEY and "x-tenant-id" not in headers


def test_an_empty_window_is_one_empty_final_page(server: LangSmithServer) -> None:
    server.fake.add_project(PROJECT)
    pages = fetch_all(provider(server))
    assert pages == [Page(records=[], checkpoint=None)]


@pytest.mark.parametrize("suffix", ["/api/v1", "/api/v1/", "/"])
def test_api_url_with_or_without_the_api_v1_prefix(server: LangSmithServer, suffix: str) -> None:
    ids = seed_runs(server.fake, 3, project=PROJECT, start=START)
    pages = fetch_all(provider(server, api_url=server.url + suffix))
    assert [r.provider_id for r in records(pages)] == ids
    expected = "/api/v1/runs/query" if suffix.startswith("/api") else "/runs/query"
    assert [r.raw_path for r in server.fake.requests][-1] == expected


def test_a_full_last_page_is_followed_to_its_empty_successor(server: LangSmithServer) -> None:
    ids = seed_runs(server.fake, 200, project=PROJECT, start=START)
    pages = fetch_all(provider(server))
    assert [len(p.records) for p in pages] == [100, 100, 0]
    assert [r.provider_id for r in records(pages)] == ids


def test_overlapping_cursor_pages_are_deduplicated(server: LangSmithServer) -> None:
    ids = seed_runs(server.fake, 250, project=PROJECT, start=START)
    server.fake.page_overlap = 7
    pages = fetch_all(provider(server))
    assert [r.provider_id for r in records(pages)] == ids
    served = sum(len(p.records) for p in pages)
    assert served == 250 and len(queries(server)) == 3  # the fake did repeat rows


def test_count_of_the_window_from_runs_stats(server: LangSmithServer) -> None:
    seed_runs(server.fake, 42, project=PROJECT, start=START)
    with provider(server) as source:
        assert source.count(WINDOW) == 42


# --- projects and keys -------------------------------------------------------------------------


def test_unknown_project_is_a_permanent_error_naming_it(server: LangSmithServer) -> None:
    server.fake.add_project("something-else")
    error = fail(provider(server))
    assert (error.code, error.transient) == ("project_not_found", False)
    assert "'support-prod'" in str(error) and "projectName" in str(error)


def test_wrong_key_is_a_permanent_auth_error_without_the_key(server: LangSmithServer) -> None:
    wrong = "lsv2_pt_wrong-key-1234567890"
    error = fail(provider(server, api_key=wrong))
    assert (error.code, error.transient) == ("auth_failed", False)
    assert wrong not in str(error) and "apiKey" in str(error)
    assert len(server.fake.requests) == 1  # not retried


@pytest.mark.parametrize("key", ["", "two words", "ключ-секрет", "line\nbreak"])
def test_a_key_no_header_can_carry_fails_before_any_request(
    server: LangSmithServer, key: str
) -> None:
    error = fail(provider(server, api_key=key))
    assert (error.code, error.transient) == ("auth_failed", False)
    assert "apiKey" in str(error) and (not key or key not in str(error))
    assert server.fake.requests == []


def test_a_key_pasted_with_surrounding_whitespace_still_works(server: LangSmithServer) -> None:
    seed_runs(server.fake, 2, project=PROJECT, start=START)
    assert len(records(fetch_all(provider(server, api_key=f"  {API_KEY}\n")))) == 2


def test_organisation_key_needs_a_workspace(server: LangSmithServer) -> None:
    server.fake.api_keys = {API_KEY: TENANT_ID}
    seed_runs(server.fake, 2, project=PROJECT, start=START)

    error = fail(provider(server))
    assert (error.code, error.transient) == ("auth_failed", False)
    assert "workspaceId" in str(error)

    pages = fetch_all(provider(server, workspace_id=TENANT_ID))
    assert len(records(pages)) == 2
    assert server.fake.requests[-1].headers["x-tenant-id"] == TENANT_ID

    error = fail(provider(server, workspace_id="another-workspace"))
    assert error.code == "auth_failed" and "403" in str(error)


def test_the_key_is_in_no_repr_checkpoint_or_scrubbed_log_line(
    server: LangSmithServer, caplog: pytest.LogCaptureFixture
) -> None:
    seed_runs(server.fake, 150, project=PROJECT, start=START)
    source = provider(server)
    assert API_KEY not in repr(source)
    pages = fetch_all(source)
    assert all(API_KEY not in (p.checkpoint or "") for p in pages)
    server.fake.fail_next("/sessions", 400, body={"detail": f"bad key {API_KEY} sent"})
    error = fail(provider(server))
    # The job's error never quotes the reply; the operator's log holds it, masked.
    assert error.code == "bad_request" and "400" in str(error) and "bad key" not in str(error)
    assert "bad key **** sent" in caplog.text and API_KEY not in caplog.text


# --- faults ------------------------------------------------------------------------------------


def test_429_with_retry_after_seconds_is_waited_out(
    server: LangSmithServer, sleeps: Sleeps
) -> None:
    ids = seed_runs(server.fake, 120, project=PROJECT, start=START)
    server.fake.fail_next("/runs/query", 429, times=2, retry_after="3")
    pages = fetch_all(provider(server, sleeps))
    assert [r.provider_id for r in records(pages)] == ids
    assert sleeps == [3.0, 3.0]


def test_429_with_retry_after_as_an_http_date(server: LangSmithServer, sleeps: Sleeps) -> None:
    seed_runs(server.fake, 3, project=PROJECT, start=START)
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    server.fake.fail_next("/sessions", 429, retry_after=when)
    assert len(records(fetch_all(provider(server, sleeps)))) == 3
    assert len(sleeps) == 1 and 15 <= sleeps[0] <= 20


def test_endless_429_gives_up_with_a_transient_error(
    server: LangSmithServer, sleeps: Sleeps
) -> None:
    seed_runs(server.fake, 3, project=PROJECT, start=START)
    server.fake.fail_next("/runs/query", 429, times=100, retry_after="1")
    error = fail(provider(server, sleeps, max_retries=3))
    assert (error.code, error.transient) == ("rate_limited", True)
    assert len(queries(server)) == 4 and sleeps == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_with_backoff(
    server: LangSmithServer, sleeps: Sleeps, status: int
) -> None:
    ids = seed_runs(server.fake, 3, project=PROJECT, start=START)
    server.fake.fail_next("/runs/query", status, times=2)
    assert [r.provider_id for r in records(fetch_all(provider(server, sleeps)))] == ids
    assert len(sleeps) == 2 and 0 < sleeps[0] <= sleeps[1] * 2 and max(sleeps) <= 30


def test_lasting_server_errors_are_transient(server: LangSmithServer, sleeps: Sleeps) -> None:
    seed_runs(server.fake, 3, project=PROJECT, start=START)
    server.fake.fail_next("/runs/query", 503, times=100)
    error = fail(provider(server, sleeps, max_retries=2))
    assert (error.code, error.transient) == ("server_error", True)
    assert "503" in str(error) and len(queries(server)) == 3


def test_a_slow_answer_times_out_and_is_retried(server: LangSmithServer, sleeps: Sleeps) -> None:
    ids = seed_runs(server.fake, 3, project=PROJECT, start=START)
    server.fake.slow_next("/runs/query", 3.0)
    pages = fetch_all(provider(server, sleeps, timeout_s=0.5))
    assert [r.provider_id for r in records(pages)] == ids
    assert len(sleeps) == 1 and len(queries(server)) == 2


def test_an_always_slow_server_is_a_transient_timeout(
    server: LangSmithServer, sleeps: Sleeps
) -> None:
    seed_runs(server.fake, 3, project=PROJECT, start=START)
    server.fake.slow_next("/runs/query", 3.0, times=10)
    error = fail(provider(server, sleeps, timeout_s=0.3, max_retries=1))
    assert (error.code, error.transient) == ("timeout", True)


def test_a_dropped_connection_is_retried(server: LangSmithServer, sleeps: Sleeps) -> None:
    ids = seed_runs(server.fake, 150, project=PROJECT, start=START)
    server.fake.drop_next("/runs/query")
    assert [r.provider_id for r in records(fetch_all(provider(server, sleeps)))] == ids
    assert len(sleeps) == 1


def test_connections_that_keep_dropping_are_transient(
    server: LangSmithServer, sleeps: Sleeps
) -> None:
    seed_runs(server.fake, 3, project=PROJECT, start=START)
    server.fake.drop_next("/runs/query", times=10)
    error = fail(provider(server, sleeps, max_retries=2))
    assert (error.code, error.transient) == ("connection_failed", True)


def test_nothing_listening_is_a_transient_connection_error(sleeps: Sleeps) -> None:
    source = LangSmithProvider(
        api_key=API_KEY,
        project_name=PROJECT,
        api_url=f"http://127.0.0.1:{free_port()}",
        max_retries=1,
        sleep=sleeps,
    )
    error = fail(source)
    assert (error.code, error.transient) == ("connection_failed", True)
    assert "apiUrl" in str(error)


def test_a_body_that_is_not_json_is_retried_then_malformed(
    server: LangSmithServer, sleeps: Sleeps
) -> None:
    ids = seed_runs(server.fake, 3, project=PROJECT, start=START)
    server.fake.malformed_next("/runs/query", "json")
    assert [r.provider_id for r in records(fetch_all(provider(server, sleeps)))] == ids

    server.fake.malformed_next("/runs/query", "json", times=10)
    error = fail(provider(server, sleeps, max_retries=1))
    assert error.code == "malformed_page"


def test_a_full_page_without_a_cursor_is_refused(server: LangSmithServer) -> None:
    seed_runs(server.fake, 150, project=PROJECT, start=START)
    server.fake.malformed_next("/runs/query", "no_cursor")
    error = fail(provider(server))
    assert (error.code, error.transient) == ("malformed_page", False)
    assert "cursor" in str(error)


def test_a_page_of_the_wrong_shape_is_refused(server: LangSmithServer) -> None:
    seed_runs(server.fake, 3, project=PROJECT, start=START)
    server.fake.malformed_next("/runs/query", "shape")
    error = fail(provider(server))
    assert (error.code, error.transient) == ("malformed_page", False)


def played(reply: Callable[[httpx.Request], httpx.Response]) -> LangSmithProvider:
    """A provider whose answers a transport plays: for what no server would serve."""
    return LangSmithProvider(
        api_key=API_KEY,
        project_name=PROJECT,
        api_url="http://langsmith.invalid",
        transport=httpx.MockTransport(reply),
    )


def test_a_run_without_a_start_time_is_skipped_and_counted() -> None:
    # No server serves this (the fake stores every run with one): a transport plays it.
    def reply(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/sessions":
            return httpx.Response(200, json=[{"id": "p1", "name": PROJECT}])
        runs = [{"id": "r1"}, {"id": "r2", "start_time": "2026-03-01T10:00:00"}]
        return httpx.Response(200, json={"runs": runs, "cursors": {"next": None}})

    pages = fetch_all(played(reply))
    assert [r.provider_id for r in records(pages)] == ["r2"]
    assert [page.skipped for page in pages] == [{"no_start_time": 1}]


# --- resuming, stopping and later syncs --------------------------------------------------------


def test_a_checkpoint_resumes_after_its_page(server: LangSmithServer) -> None:
    ids = seed_runs(server.fake, 250, project=PROJECT, start=START)
    with provider(server) as source:
        first = next(iter(source.fetch(WINDOW)))
    assert first.checkpoint is not None

    rest = fetch_all(provider(server), resume_from=first.checkpoint)

    assert [r.provider_id for r in first.records + records(rest)] == ids
    sessions = [r for r in server.fake.requests if r.path == "/sessions"]
    assert len(sessions) == 1  # the checkpoint knows the project


def test_a_checkpoint_of_another_window_starts_over(server: LangSmithServer) -> None:
    ids = seed_runs(server.fake, 150, project=PROJECT, start=START)
    with provider(server) as source:
        first = next(iter(source.fetch(WINDOW)))
    other = Window(WINDOW.start, WINDOW.end + timedelta(hours=1))
    pages = fetch_all(provider(server), other, resume_from=first.checkpoint)
    assert [r.provider_id for r in records(pages)] == ids
    pages = fetch_all(provider(server), resume_from="not a checkpoint")
    assert [r.provider_id for r in records(pages)] == ids


def test_should_stop_is_asked_between_pages(server: LangSmithServer) -> None:
    seed_runs(server.fake, 250, project=PROJECT, start=START)
    yielded: list[Page] = []

    def stop() -> bool:
        return len(yielded) >= 1

    with provider(server) as source:
        for page in source.fetch(WINDOW, should_stop=stop):
            yielded.append(page)
    assert len(yielded) == 1 and len(queries(server)) == 1


def test_pending_runs_are_marked_and_complete_on_a_later_sync(server: LangSmithServer) -> None:
    server.fake.add_run(
        {
            "id": "slow-run",
            "name": "LangGraph",
            "start_time": START + timedelta(minutes=1),
            "inputs": {"messages": [{"role": "user", "content": "hi"}]},
        },
        project=PROJECT,
    )
    (record,) = records(fetch_all(provider(server)))
    assert record.pending is True and record.payload["status"] == "pending"
    assert record.payload["end_time"] is None and record.payload["outputs"] is None

    server.fake.complete_run(
        "slow-run",
        outputs={"messages": [{"type": "ai", "content": "hello"}]},
        end_time=START + timedelta(minutes=2),
    )
    (record,) = records(fetch_all(provider(server)))
    assert record.pending is False and record.payload["status"] == "success"
    assert record.payload["outputs"] == {"messages": [{"type": "ai", "content": "hello"}]}


def test_late_and_deleted_runs_show_on_the_next_scan(server: LangSmithServer) -> None:
    ids = seed_runs(server.fake, 5, project=PROJECT, start=START + timedelta(hours=1))
    assert len(records(fetch_all(provider(server)))) == 5

    late = START + timedelta(minutes=5)  # arrives after the scan, but started before the others
    server.fake.add_run({"id": "late", "start_time": late, "end_time": late}, project=PROJECT)
    server.fake.delete_run(ids[2])

    seen = [r.provider_id for r in records(fetch_all(provider(server)))]
    assert seen == ["late", ids[0], ids[1], ids[3], ids[4]]


# --- the fake's own rules, as the real API has them --------------------------------------------


@pytest.fixture
def api(server: LangSmithServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"x-api-key": API_KEY}) as client:
        yield client


def test_fake_refuses_an_unscoped_query_and_a_limit_above_100(
    server: LangSmithServer, api: httpx.Client
) -> None:
    project_id = server.fake.add_project(PROJECT)
    unscoped = api.post("/runs/query", json={"is_root": True, "limit": 10})
    assert unscoped.status_code == 400 and "session" in unscoped.json()["detail"]
    too_many = api.post("/api/v1/runs/query", json={"session": [project_id], "limit": 101})
    assert too_many.status_code == 400
    assert too_many.json()["detail"] == "Limit exceeds maximum allowed value of 100"
    assert api.get("/info", headers={"x-api-key": ""}).status_code == 200
    assert api.get("/sessions", headers={"x-api-key": "nope"}).status_code == 401


def test_fake_serves_a_project_the_way_the_api_does(
    server: LangSmithServer, api: httpx.Client
) -> None:
    project_id = server.fake.add_project(PROJECT)
    (project,) = api.get("/api/v1/sessions", params={"name": PROJECT, "limit": 1}).json()
    assert project["id"] == project_id and project["tenant_id"] == TENANT_ID
    assert api.get("/sessions", params={"name": "nope", "limit": 1}).json() == []
    body = json.dumps({"session": [project_id], "is_root": True})
    assert api.post("/runs/stats", content=body).json()["run_count"] == 0


def test_a_project_list_that_ignores_the_name_filter_is_not_trusted() -> None:
    # An old deployment answering every project, first another one: a transport plays it.
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"id": "p-other", "name": "staging"}])

    assert fail(played(reply)).code == "project_not_found"


def test_runs_deleted_or_arriving_late_during_a_scan(server: LangSmithServer) -> None:
    ids = seed_runs(server.fake, 250, project=PROJECT, start=START, spacing=timedelta(seconds=1))
    late = START + timedelta(seconds=10, milliseconds=500)  # inside the first, scanned page
    with provider(server) as source:
        pages = source.fetch(WINDOW)
        seen = [r.provider_id for r in next(pages).records]
        server.fake.delete_run(ids[150])
        server.fake.add_run({"id": "late", "start_time": late, "end_time": late}, project=PROJECT)
        seen += [r.provider_id for page in pages for r in page.records]
    assert seen == ids[:150] + ids[151:]  # the cursor neither skips nor repeats a run

    rescanned = [r.provider_id for r in records(fetch_all(provider(server)))]
    assert rescanned == [*ids[:11], "late", *ids[11:150], *ids[151:]]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(min_value=0, max_value=320),
    overlap=st.integers(min_value=0, max_value=30),
    resume_after=st.integers(min_value=0, max_value=3),
)
def test_any_number_of_runs_overlap_and_resume_point_reads_each_run_once(
    langsmith_server: LangSmithServer, count: int, overlap: int, resume_after: int
) -> None:
    langsmith_server.fake.reset()
    langsmith_server.fake.add_project(PROJECT)
    ids = seed_runs(langsmith_server.fake, count, project=PROJECT, start=START)
    langsmith_server.fake.page_overlap = overlap
    seen: list[str] = []
    checkpoint = None
    with provider(langsmith_server) as source:
        for number, page in enumerate(source.fetch(WINDOW)):
            seen += [r.provider_id for r in page.records]
            checkpoint = page.checkpoint
            if number + 1 == resume_after:
                break
    if checkpoint is not None:  # a new provider (a retried job) goes on from the checkpoint
        seen += [
            r.provider_id
            for r in records(fetch_all(provider(langsmith_server), resume_from=checkpoint))
        ]
    assert list(dict.fromkeys(seen)) == ids  # all, in order
    assert len(seen) - len(ids) <= overlap  # only a resumed page boundary may repeat runs


def test_a_cursor_served_twice_is_refused_rather_than_followed_forever() -> None:
    pages: list[int] = []

    def reply(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/sessions":
            return httpx.Response(200, json=[{"id": "p1", "name": PROJECT}])
        pages.append(1)
        runs = [{"id": f"r{len(pages)}", "start_time": "2026-03-01T00:00:00"}]
        return httpx.Response(200, json={"runs": runs, "cursors": {"next": "same-cursor"}})

    error = fail(played(reply))
    assert (error.code, error.transient) == ("malformed_page", False)
    assert len(pages) == 2
