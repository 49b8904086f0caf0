"""The FullStory provider against the FullStory fake: the Segment Export flow, its faults, resume.

The fake serves the API and the download host on two loopback ports (two origins), logs every
request with its headers, and refuses downloads that carry an Authorization header. Pauses
between retries and polls are recorded by an injected ``sleep`` instead of being waited out.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pytest_connectors.fakes.fullstory import (
    API_KEY,
    ORG_ID,
    FullStoryServer,
    session_events,
    synthetic_events,
)
from pytest_connectors.imports.provider import FetchedRecord, Page, ProviderError, Window
from pytest_connectors.imports.providers.fullstory.provider import FullStoryProvider
from pytest_connectors.models.imports import UserSession

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = Window(start=T0, end=T0 + timedelta(hours=6))


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_provider(
    fullstory_fake: FullStoryServer, sleeps: Sleeps
) -> Iterator[Callable[..., FullStoryProvider]]:
    made: list[FullStoryProvider] = []

    def make(**options: Any) -> FullStoryProvider:
        settings: dict[str, Any] = {
            "api_key": API_KEY,
            "api_url": fullstory_fake.url,
            "sleep": sleeps,
            "org_id": ORG_ID,
            "timeout_s": 10.0,
        }
        provider = FullStoryProvider(**(settings | options))
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def records(pages: list[Page]) -> list[FetchedRecord]:
    return [record for page in pages for record in page.records]


def sessions_of(pages: list[Page]) -> dict[str, UserSession]:
    return {r.provider_id: UserSession.model_validate(r.payload) for r in records(pages)}


def fail(provider: FullStoryProvider, window: Window = WINDOW, **kwargs: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        list(provider.fetch(window, **kwargs))
    error = caught.value
    assert API_KEY not in str(error) and API_KEY not in repr(error)
    # Nothing chained either: an httpx error's request carries the key in its headers.
    assert error.__cause__ is None and error.__context__ is None
    return error


def seed_chat_session(fake: FullStoryServer) -> None:
    fake.fake.add_events(
        session_events(
            5189870820212736,
            5320771273179136,
            T0 + timedelta(minutes=5),
            pages=["https://shop.example/", "https://shop.example/cart", "https://shop.example/"],
            clicks_per_page=2,
            frustrated=2,
            dead=1,
            errors=1,
            custom=[
                ("Chat Opened", {"thread_id": "thread-42", "channel": "web"}),
                ("Product Added", {"sku": "L-100", "price": 58.99}),
            ],
            app_user_id="customer-7",
            email="ada@example.com",
        )
    )


# --- the flow -------------------------------------------------------------------------------


def test_a_window_comes_back_as_sessions(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    seed_chat_session(fullstory_fake)
    fullstory_fake.fake.add_events(session_events(11, 12, T0 + timedelta(hours=1)))

    pages = list(make_provider().fetch(WINDOW))

    assert pages[-1].checkpoint is None
    found = sessions_of(pages)
    assert set(found) == {"5189870820212736:5320771273179136", "11:12"}
    chat = found["5189870820212736:5320771273179136"]
    assert chat.user_id == "5189870820212736"
    assert chat.app_user_id == "customer-7"
    assert chat.user_email == "ada@example.com"
    assert chat.url == f"https://app.fullstory.com/ui/{ORG_ID}/session/{chat.id}"
    assert chat.started_at == T0 + timedelta(minutes=5)
    assert chat.ended_at is not None and chat.ended_at > chat.started_at
    # 3 navigates + 6 clicks + 2 custom events; two distinct pages (ids 1000, 1001, 1002)
    assert chat.event_count == 11
    assert chat.page_count == 3
    assert chat.page_urls == ["https://shop.example/", "https://shop.example/cart"]
    assert (chat.frustrated_clicks, chat.dead_clicks, chat.error_clicks) == (2, 1, 1)
    assert [e["name"] for e in chat.custom_events] == ["Chat Opened", "Product Added"]
    assert chat.custom_events[0]["properties"] == {"thread_id": "thread-42", "channel": "web"}
    assert chat.custom_events[1]["properties"] == {"sku": "L-100", "price": 58.99}
    record = next(r for r in records(pages) if r.provider_id == chat.id)
    assert record.kind == "session"
    assert record.occurred_at == T0 + timedelta(minutes=5)
    assert record.occurred_at.tzinfo is not None
    assert record.pending is False


def test_the_export_is_created_polled_located_and_downloaded_without_the_key(
    fullstory_fake: FullStoryServer,
    make_provider: Callable[..., FullStoryProvider],
    sleeps: Sleeps,
) -> None:
    seed_chat_session(fullstory_fake)
    fullstory_fake.fake.knobs.pending_polls = 3

    list(make_provider(segment_id="everyone").fetch(WINDOW))

    fake = fullstory_fake.fake
    assert fake.created_exports == [
        {
            "segmentId": "everyone",
            "type": "TYPE_EVENT",
            "format": "FORMAT_NDJSON",
            "timeRange": {"start": "2026-03-02T09:00:00.000Z", "end": "2026-03-02T15:00:00.000Z"},
            "segmentTimeRange": {"start": "", "end": ""},
        }
    ]
    api = fake.requests_to("api")
    assert [r.path for r in api] == [
        "/segments/v1/exports",
        *["/operations/v1/op-000001"] * 4,
        "/search/v1/exports/exp-000001/results",
    ]
    assert all(r.headers["authorization"] == f"Basic {API_KEY}" for r in api)
    # Three pending polls, three pauses, each longer than the one before.
    assert len(sleeps) == 3 and sleeps == sorted(sleeps) and sleeps[0] < sleeps[-1]
    downloads = fake.requests_to("download")
    assert len(downloads) == 1
    for request in downloads:
        assert "authorization" not in request.headers
        assert API_KEY not in json.dumps(request.headers) + request.path + request.query


def test_a_file_served_with_content_encoding_gzip_is_read(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    seed_chat_session(fullstory_fake)
    fullstory_fake.fake.knobs.content_encoding = True
    assert len(records(list(make_provider().fetch(WINDOW)))) == 1


def test_the_download_host_refuses_a_request_carrying_credentials(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    """The guard the previous test relies on: a leak would be refused, not slip through."""
    seed_chat_session(fullstory_fake)
    list(make_provider().fetch(WINDOW))
    location = httpx.get(
        f"{fullstory_fake.url}/search/v1/exports/exp-000001/results",
        headers={"Authorization": f"Basic {API_KEY}"},
    ).json()["location"]
    assert location.startswith(fullstory_fake.download_origin)
    assert fullstory_fake.download_origin != fullstory_fake.url

    leaked = httpx.get(location, headers={"Authorization": f"Basic {API_KEY}"})
    clean = httpx.get(location)

    assert leaked.status_code == 400
    assert clean.status_code == 200 and gzip.decompress(clean.content).count(b"\n") == 11


def test_snake_case_export_bodies_are_accepted_by_the_fake(fullstory_fake: FullStoryServer) -> None:
    answer = httpx.post(
        f"{fullstory_fake.url}/segments/v1/exports",
        headers={"Authorization": f"Basic {API_KEY}"},
        json={
            "segment_id": "everyone",
            "type": "TYPE_EVENT",
            "format": "FORMAT_NDJSON",
            "time_range": {"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z"},
        },
    )
    assert answer.status_code == 200 and answer.json()["operationId"]


def test_an_empty_window_is_one_empty_final_page(
    make_provider: Callable[..., FullStoryProvider],
) -> None:
    pages = list(make_provider().fetch(WINDOW))
    assert records(pages) == []
    assert pages[-1].checkpoint is None


def test_sessions_are_paged_in_start_order(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    fullstory_fake.fake.add_events(synthetic_events(25, start=T0, seed=3))

    pages = list(make_provider(page_size=10).fetch(WINDOW))

    with_records = [p for p in pages if p.records]
    assert [len(p.records) for p in with_records] == [10, 10, 5]
    assert [p.checkpoint is None for p in with_records] == [False, False, True]
    starts = [r.occurred_at for r in records(pages)]
    assert starts == sorted(starts) and len(set(r.provider_id for r in records(pages))) == 25


def test_events_outside_the_window_and_sessions_begun_before_it_are_left_out(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    fake = fullstory_fake.fake
    # Began 10 minutes before the window, went on inside it: the previous window reports it.
    fake.add_events(session_events(1, 1, T0 - timedelta(minutes=10), step=timedelta(minutes=3)))
    fake.add_events(session_events(2, 2, T0 + timedelta(minutes=1)))
    fake.add_events(session_events(3, 3, WINDOW.end + timedelta(minutes=1)))

    found = sessions_of(list(make_provider().fetch(WINDOW)))

    assert set(found) == {"2:2"}


def test_a_session_still_active_at_the_end_of_the_window_is_pending(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    fullstory_fake.fake.add_events(session_events(4, 4, WINDOW.end - timedelta(minutes=2)))
    fullstory_fake.fake.add_events(session_events(5, 5, T0))

    pending = {r.provider_id: r.pending for r in records(list(make_provider().fetch(WINDOW)))}

    assert pending == {"4:4": True, "5:5": False}


def test_ids_beyond_double_precision_keep_every_digit(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    big_user, big_session = 9123456789012345678, 9007199254740993
    fullstory_fake.fake.add_events(session_events(big_user, big_session, T0))

    found = sessions_of(list(make_provider().fetch(WINDOW)))

    assert list(found) == [f"{big_user}:{big_session}"]


def test_without_an_org_there_is_no_made_up_url(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    seed_chat_session(fullstory_fake)
    (session,) = sessions_of(list(make_provider(org_id=None).fetch(WINDOW))).values()
    assert session.url is None


# --- resume -----------------------------------------------------------------------------------


def test_a_checkpoint_resumes_the_same_export_after_the_pages_handed_over(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    fullstory_fake.fake.add_events(synthetic_events(25, start=T0))
    first = make_provider(page_size=10).fetch(WINDOW)
    handed: list[FetchedRecord] = []
    checkpoint = None
    for page in first:
        handed += page.records
        checkpoint = page.checkpoint
        if handed:
            break  # the job dies after its first page of sessions
    first.close()

    rest = list(make_provider(page_size=10).fetch(WINDOW, resume_from=checkpoint))

    assert len(fullstory_fake.fake.created_exports) == 1
    ids = [r.provider_id for r in handed + records(rest)]
    assert len(ids) == 25 == len(set(ids))
    assert rest[-1].checkpoint is None


def test_a_checkpoint_taken_while_the_export_ran_waits_on_that_export(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    seed_chat_session(fullstory_fake)
    first = make_provider().fetch(WINDOW)
    started = next(first)  # the export exists; the job dies before it completes
    first.close()
    assert started.records == [] and started.checkpoint is not None

    pages = list(make_provider().fetch(WINDOW, resume_from=started.checkpoint))

    assert len(fullstory_fake.fake.created_exports) == 1
    assert len(records(pages)) == 1


def test_a_checkpoint_whose_export_expired_starts_a_new_export(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    fullstory_fake.fake.add_events(synthetic_events(5, start=T0))
    first = make_provider(page_size=2).fetch(WINDOW)
    checkpoint = [next(first), next(first)][-1].checkpoint
    first.close()
    fullstory_fake.fake.forget_exports()

    pages = list(make_provider(page_size=2).fetch(WINDOW, resume_from=checkpoint))

    assert len(fullstory_fake.fake.created_exports) == 2
    assert len(records(pages)) == 5  # the new export is read whole; upserts absorb repeats


def test_a_checkpoint_of_another_window_or_garbage_starts_afresh(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    seed_chat_session(fullstory_fake)
    other = Window(T0 - timedelta(days=1), T0)
    checkpoint = next(make_provider().fetch(other)).checkpoint
    for resume_from in (checkpoint, "not a checkpoint", '{"v": 99}'):
        pages = list(make_provider().fetch(WINDOW, resume_from=resume_from))
        assert len(records(pages)) == 1
    assert len(fullstory_fake.fake.created_exports) == 4


def test_should_stop_is_honoured_between_pages(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    fullstory_fake.fake.add_events(synthetic_events(25, start=T0))
    handed: list[Page] = []

    for page in make_provider(page_size=10).fetch(
        WINDOW, should_stop=lambda: sum(len(p.records) for p in handed) >= 10
    ):
        handed.append(page)

    assert sum(len(p.records) for p in handed) == 10
    assert handed[-1].checkpoint is not None  # not scanned completely


def test_should_stop_while_the_export_runs_stops_without_a_final_page(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    fullstory_fake.fake.knobs.stuck = True
    polls: list[int] = []

    def stop() -> bool:
        polls.append(1)
        return len(polls) > 3

    pages = list(make_provider().fetch(WINDOW, should_stop=stop))

    assert [p.checkpoint is not None for p in pages] == [True]


def test_should_stop_once_the_export_is_ready_skips_the_download(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    seed_chat_session(fullstory_fake)
    fullstory_fake.fake.knobs.pending_polls = 0
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 1  # not after the export was created; after it completed

    pages = list(make_provider().fetch(WINDOW, should_stop=stop))

    assert records(pages) == [] and pages[-1].checkpoint is not None
    assert fullstory_fake.fake.requests_to("download") == []


# --- faults -----------------------------------------------------------------------------------


def test_a_wrong_key_is_auth_failed_and_permanent(
    make_provider: Callable[..., FullStoryProvider],
) -> None:
    error = fail(make_provider(api_key="na1.wrong-key-0000"))
    assert error.code == "auth_failed" and not error.transient
    assert "apiKey" in str(error)


def test_the_key_is_sent_as_is_not_as_user_and_password(fullstory_fake: FullStoryServer) -> None:
    for auth in (httpx.BasicAuth(API_KEY, ""), None):
        answer = httpx.post(f"{fullstory_fake.url}/segments/v1/exports", json={}, auth=auth)
        assert answer.status_code == 401


def test_a_plan_without_segment_export_is_a_permanent_clear_error(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    fullstory_fake.fake.knobs.export_add_on = False
    error = fail(make_provider())
    assert error.code == "plan_without_export" and not error.transient
    assert "Segment Export add-on" in str(error) and "Admin or Architect" in str(error)


def test_an_unknown_segment_is_named(make_provider: Callable[..., FullStoryProvider]) -> None:
    error = fail(make_provider(segment_id="rageClicks"))
    assert error.code == "segment_not_found" and not error.transient
    assert "'rageClicks'" in str(error)


def test_a_failed_export_is_reported_with_its_details_in_the_log(
    fullstory_fake: FullStoryServer,
    make_provider: Callable[..., FullStoryProvider],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fullstory_fake.fake.knobs.fail_details = "segment definition is too complex"
    error = fail(make_provider())
    assert error.code == "export_failed" and not error.transient
    assert "op-000001" in str(error)
    # FullStory's words are the operator's to read, not quoted in the job's error.
    assert "segment definition is too complex" not in str(error)
    assert "segment definition is too complex" in caplog.text


def test_a_stuck_export_is_bounded_by_the_operation_timeout(
    fullstory_fake: FullStoryServer,
    make_provider: Callable[..., FullStoryProvider],
    sleeps: Sleeps,
) -> None:
    fullstory_fake.fake.knobs.stuck = True
    error = fail(make_provider(operation_timeout_s=120))
    assert error.code == "export_timeout" and error.transient
    assert "120 s" in str(error) and "op-000001" in str(error)
    assert sum(sleeps) == pytest.approx(120)
    assert max(sleeps) <= 15  # polled throughout, not once at the end


def test_rate_limits_are_waited_out_as_the_server_asks(
    fullstory_fake: FullStoryServer,
    make_provider: Callable[..., FullStoryProvider],
    sleeps: Sleeps,
) -> None:
    seed_chat_session(fullstory_fake)
    knobs = fullstory_fake.fake.knobs
    knobs.pending_polls = 0
    knobs.retry_after = "3"
    knobs.rate_limited = {"create": 2, "results": 1, "download": 1}

    pages = list(make_provider().fetch(WINDOW))

    assert len(records(pages)) == 1
    assert sleeps == [3.0, 3.0, 3.0, 3.0]


def test_rate_limits_beyond_the_retry_budget_fail_as_transient(
    fullstory_fake: FullStoryServer,
    make_provider: Callable[..., FullStoryProvider],
    sleeps: Sleeps,
) -> None:
    fullstory_fake.fake.knobs.rate_limited = {"create": 100}
    error = fail(make_provider(max_retries=2))
    assert error.code == "rate_limited" and error.transient
    assert len(sleeps) == 2
    assert len(fullstory_fake.fake.requests_to("api")) == 3


def test_server_errors_are_retried_with_growing_pauses(
    fullstory_fake: FullStoryServer,
    make_provider: Callable[..., FullStoryProvider],
    sleeps: Sleeps,
) -> None:
    seed_chat_session(fullstory_fake)
    fullstory_fake.fake.knobs.pending_polls = 0
    fullstory_fake.fake.knobs.server_errors = {"operation": 3}

    pages = list(make_provider().fetch(WINDOW))

    assert len(records(pages)) == 1
    assert len(sleeps) == 3 and sleeps[0] <= 1 < sleeps[2] <= 4


def test_server_errors_beyond_the_budget_fail_as_transient(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    fullstory_fake.fake.knobs.server_errors = {"results": 100}
    fullstory_fake.fake.knobs.server_error_status = 500
    error = fail(make_provider(max_retries=1))
    assert error.code == "server_error" and error.transient


def test_slow_answers_time_out_and_are_retried(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    fullstory_fake.fake.knobs.delays = {"create": 2.0}
    error = fail(make_provider(timeout_s=0.3, max_retries=1))
    assert error.code == "timeout" and error.transient
    assert len(fullstory_fake.fake.requests_to("api", "/segments")) == 2


@pytest.mark.parametrize("corruption", ["garbage", "truncated"])
def test_corrupt_gzip_is_a_malformed_export(
    fullstory_fake: FullStoryServer,
    make_provider: Callable[..., FullStoryProvider],
    corruption: str,
) -> None:
    fullstory_fake.fake.add_events(synthetic_events(200, start=T0))
    fullstory_fake.fake.knobs.corrupt = corruption  # type: ignore[assignment]
    error = fail(make_provider())
    assert error.code == "malformed_export"
    assert "gzip" in str(error)
    assert "signature" not in str(error)  # the signed URL is named without its signature


def test_a_download_that_breaks_off_is_downloaded_again(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    fullstory_fake.fake.add_events(synthetic_events(300, start=T0))
    fullstory_fake.fake.knobs.broken_downloads = 1

    pages = list(make_provider().fetch(WINDOW))

    assert len(records(pages)) == 300
    assert len(fullstory_fake.fake.requests_to("download")) == 2


@pytest.mark.parametrize("status", [403, 404])
def test_an_expired_link_is_asked_for_again_once(
    fullstory_fake: FullStoryServer,
    make_provider: Callable[..., FullStoryProvider],
    status: int,
) -> None:
    seed_chat_session(fullstory_fake)
    fullstory_fake.fake.knobs.expired_links = 1
    fullstory_fake.fake.knobs.expired_status = status

    pages = list(make_provider().fetch(WINDOW))

    assert len(records(pages)) == 1
    assert len(fullstory_fake.fake.requests_to("api", "/search/v1/exports")) == 2


def test_a_link_expired_twice_is_a_clear_error(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider]
) -> None:
    seed_chat_session(fullstory_fake)
    fullstory_fake.fake.knobs.expired_links = 2
    error = fail(make_provider())
    assert error.code == "export_link_expired" and error.transient
    assert "expired" in str(error) and "exp-000001" in str(error)
    assert len(fullstory_fake.fake.requests_to("api", "/search/v1/exports")) == 2


def test_the_key_never_appears_in_errors_or_logs_even_when_the_server_echoes_it(
    fullstory_fake: FullStoryServer,
    make_provider: Callable[..., FullStoryProvider],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fullstory_fake.fake.knobs.echo_auth = True
    fullstory_fake.fake.knobs.server_errors = {"create": 10}
    error = fail(make_provider(max_retries=0))
    assert "503" in str(error) and "backend unavailable" not in str(error)  # no reply quoted
    assert "'Basic ****'" in caplog.text  # the echoed key reached the log only masked
    assert API_KEY not in caplog.text
    fullstory_fake.fake.knobs.server_errors = {}
    fullstory_fake.fake.knobs.api_key = "na1.another-key-1234"
    fail(make_provider())  # a 401 that quotes the rejected key: checked inside fail()


@pytest.mark.parametrize("fault", ["auth", "server", "download"])
def test_no_frame_of_a_failure_shows_the_key_or_the_signed_url(
    fullstory_fake: FullStoryServer, make_provider: Callable[..., FullStoryProvider], fault: str
) -> None:
    """What ``pytest -l`` prints: the repr of every local of every frame of the traceback."""
    seed_chat_session(fullstory_fake)
    knobs = fullstory_fake.fake.knobs
    if fault == "auth":
        knobs.api_key = "na1.another-key-1234"
    elif fault == "server":
        knobs.server_errors = {"operation": 10}
    else:
        knobs.corrupt = "garbage"
    error = fail(make_provider(max_retries=1))
    shown = []
    traceback = error.__traceback__
    while traceback is not None:
        shown += [f"{name}={value!r}" for name, value in traceback.tb_frame.f_locals.items()]
        traceback = traceback.tb_next
    assert shown and not [line for line in shown if API_KEY in line or "signature=" in line]


def test_the_key_is_not_in_the_repr(make_provider: Callable[..., FullStoryProvider]) -> None:
    assert API_KEY not in repr(make_provider())
    assert "****" in repr(make_provider())


@pytest.mark.parametrize(
    ("key", "problem"),
    [("", "empty"), ("   ", "empty"), ("na1.key\nX-Evil: 1", "line breaks"), ("clé-ÿ", "ASCII")],
)
def test_an_unusable_key_is_refused_before_any_request(
    fullstory_fake: FullStoryServer,
    make_provider: Callable[..., FullStoryProvider],
    key: str,
    problem: str,
) -> None:
    error = fail(make_provider(api_key=key))
    assert error.code == "auth_failed" and not error.transient
    assert problem in str(error)
    assert fullstory_fake.fake.requests == []


def test_an_api_url_that_is_not_http_is_a_config_error(
    make_provider: Callable[..., FullStoryProvider],
) -> None:
    error = fail(make_provider(api_url="api.fullstory.com"))
    assert error.code == "invalid_config" and not error.transient


def test_an_unreachable_api_is_a_transient_network_error(
    make_provider: Callable[..., FullStoryProvider],
) -> None:
    from pytest_connectors.servers.launch import free_port

    error = fail(make_provider(api_url=f"http://127.0.0.1:{free_port()}", max_retries=1))
    assert error.code == "network_error" and error.transient


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (httpx.Response(200, text="<html>proxy login</html>"), "not JSON"),
        (httpx.Response(200, json=["a list"]), "not a JSON object"),
        (httpx.Response(200, json={"operation": "misspelt"}), "operationId"),
    ],
)
def test_malformed_api_answers_are_named(answer: httpx.Response, problem: str) -> None:
    """A proxy or a changed API answering nonsense: no server of ours produces these."""
    provider = FullStoryProvider(
        api_key=API_KEY,
        api_url="https://api.fullstory.test",
        transport=httpx.MockTransport(lambda request: answer),
    )
    error = fail(provider)
    assert error.code == "malformed_response"
    assert problem in str(error)


@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_a_transport_that_reads_the_body_at_once_still_works(encoding: str | None) -> None:
    """``httpx.MockTransport`` answers are read before the provider streams them."""
    blob = gzip.compress(b"".join(json.dumps(e).encode() + b"\n" for e in session_events(1, 2, T0)))
    headers = {"Content-Encoding": encoding} if encoding else {}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "download.test":
            assert "authorization" not in request.headers
            return httpx.Response(200, content=blob, headers=headers)
        routes = {
            "/segments/v1/exports": {"operationId": "op-1"},
            "/operations/v1/op-1": {"state": "COMPLETED", "results": {"searchExportId": "e-1"}},
            "/search/v1/exports/e-1/results": {"location": "https://download.test/e-1.gz?sig=x"},
        }
        return httpx.Response(200, json=routes[request.url.path])

    with FullStoryProvider(
        api_key=API_KEY, api_url="https://api.fullstory.test", transport=httpx.MockTransport(answer)
    ) as provider:
        pages = list(provider.fetch(WINDOW))
    assert [r.provider_id for r in records(pages)] == ["1:2"]


def test_no_room_for_the_scratch_file_is_one_clear_error(
    fullstory_fake: FullStoryServer,
    make_provider: Callable[..., FullStoryProvider],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fullstory_fake.fake.add_events(synthetic_events(20, start=T0))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))

    error = fail(make_provider())

    assert error.code == "export_spool_failed" and error.transient
    assert str(tmp_path / "gone") in str(error) and "free disk space" in str(error)


def test_the_scratch_file_is_deleted_when_the_pages_are_read_or_abandoned(
    fullstory_fake: FullStoryServer,
    make_provider: Callable[..., FullStoryProvider],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fullstory_fake.fake.add_events(synthetic_events(250, start=T0))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    assert len(records(list(make_provider(page_size=100).fetch(WINDOW)))) == 250
    assert not list(tmp_path.iterdir())
    abandoned = make_provider(page_size=100).fetch(WINDOW)
    next(abandoned), next(abandoned)  # the export is created, then its first page
    assert len(list(tmp_path.iterdir())) == 1
    abandoned.close()
    assert not list(tmp_path.iterdir())
