"""FullStory sessions of a time window, through the asynchronous Segment Export.

FullStory lists a window of data in bulk only this way: create an export (an operation), poll the
operation until it completes, ask for the results' location (a signed URL on another host),
download that gzip NDJSON file of events and fold the events into sessions. The API key is sent
as ``Authorization: Basic <key>`` to the API host only, never to the download host: a signed URL
needs no credentials, and that host is not FullStory's to trust with them.

A checkpoint names the export and how many sessions were already handed over, so a retried job
neither starts a second export nor hands the same page twice; an export that has expired since
is replaced by a new one.

What FullStory may cost is bounded (`ProviderLimits`): the bytes and JSON values of an answer,
the decompressed size of the export, the time of each request and of each step (an API call
with its retries; the download of the export) and a stop asked for mid-request ends the fetch
at once. An event line that cannot be read is skipped and counted on the first page. No message
quotes what FullStory answered: that goes to the log, masked.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from pytest_connectors._support.secrets import MASK, Redactor, Secret
from pytest_connectors._support.text import counted
from pytest_connectors._support.times import utc
from pytest_connectors.client.retry import RetryPolicy, parse_retry_after
from pytest_connectors.client.transport import DeadlineTransport
from pytest_connectors.imports.http_provider import HttpProvider, TryAgain
from pytest_connectors.imports.limits import ProviderLimits, limit_name
from pytest_connectors.imports.provider import (
    FetchedRecord,
    Page,
    ProviderError,
    Window,
    decode_checkpoint,
    encode_checkpoint,
)
from pytest_connectors.imports.providers.fullstory.gzip_ndjson import (
    ExportTooLargeError,
    GzipNdjsonDecoder,
    MalformedExportError,
)
from pytest_connectors.imports.providers.fullstory.sessions import AggregatedSession
from pytest_connectors.imports.providers.fullstory.spool import SessionSpool
from pytest_connectors.imports.replies import (
    Interrupted,
    ReplyStream,
    ReplyTooLargeError,
    TooManyValuesError,
    decode_json,
    read_reply,
)

__all__ = ["DEFAULT_API_URL", "FullStoryProvider"]

DEFAULT_API_URL = "https://api.fullstory.com"
PAGE_SIZE = 100
MAX_RETRY_WAIT_S = 60.0  # a longer Retry-After is cut to this; the retry budget still applies
_POLL_FIRST_S = 0.25
_POLL_MAX_S = 15.0
_BODY_EXCERPT = 200  # of a reply, in the log only

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Gone(Exception):
    """The operation or export the checkpoint names no longer exists."""


class _LinkExpired(Exception):
    """The download host refused the signed URL: it has expired."""


@dataclass(frozen=True)
class _Checkpoint:
    window: Window
    operation: str
    export: str | None = None
    done: int = 0  # sessions of the export already handed over

    def encode(self) -> str:
        state = {"operation": self.operation, "export": self.export, "done": self.done}
        return encode_checkpoint(self.window, **state)

    @classmethod
    def decode(cls, text: str | None, window: Window) -> _Checkpoint | None:
        """The checkpoint if it is ours and for this window; anything else starts afresh."""
        state = decode_checkpoint(text, window)
        if state is None:
            return None
        try:
            export = state.get("export")
            return cls(
                window=window,
                operation=str(state["operation"]),
                export=None if export is None else str(export),
                done=max(0, int(state.get("done", 0))),
            )
        except (ValueError, TypeError, KeyError):
            return None


def _rfc3339(moment: datetime) -> str:
    return utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _in_utc(window: Window) -> Window:
    """Times without a zone are UTC, as everywhere in the import path."""

    return Window(start=utc(window.start), end=utc(window.end))


class FullStoryProvider(HttpProvider):
    """The `Provider` for FullStory: pages of sessions (``kind="session"``) of a window."""

    label = "FullStory"

    def __init__(
        self,
        *,
        api_key: str,
        api_url: str | None = None,
        segment_id: str = "everyone",
        transport: httpx.BaseTransport | None = None,
        timeout_s: float | None = None,
        operation_timeout_s: float = 600.0,
        max_retries: int = 5,
        sleep: Callable[[float], None] | None = None,
        org_id: str | None = None,
        page_size: int = PAGE_SIZE,
        limits: ProviderLimits | None = None,
    ) -> None:
        """``org_id`` (the ``<org>`` of ``app.fullstory.com/ui/<org>/...``) makes session URLs.

        ``timeout_s`` bounds an API request from connecting to its last byte (default: the
        limits' request timeout); ``sleep`` replaces the pauses, which otherwise end early when
        the job is asked to stop.
        """
        # Secrets: pytest prints the locals of failing frames (-l) with repr, which masks them.
        self._api_key = Secret(api_key)
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.segment_id = segment_id
        self.org_id = org_id
        self.operation_timeout_s = operation_timeout_s
        self.max_retries = max(0, max_retries)
        self._policy = RetryPolicy(
            retries=self.max_retries,
            first_delay_s=1.0,
            max_delay_s=30.0,
            max_hint_s=MAX_RETRY_WAIT_S,
        )
        self.page_size = max(1, page_size)
        self.limits = limits or ProviderLimits()
        self.timeout_s = timeout_s or self.limits.request_timeout_s
        super().__init__(sleep)
        self._redactor = Redactor([api_key])
        # Two clients: nothing the API host sets (headers, cookies) can reach the download host.
        # The download's timeouts are cut to what its step has left, not to timeout_s.
        guarded = DeadlineTransport(transport or httpx.HTTPTransport())
        self._api = httpx.Client(
            transport=guarded, timeout=httpx.Timeout(self.timeout_s), follow_redirects=False
        )
        self._downloads = httpx.Client(
            transport=guarded, timeout=httpx.Timeout(None), follow_redirects=True
        )

    def __repr__(self) -> str:
        return (
            f"FullStoryProvider(api_url={self.api_url!r}, segment_id={self.segment_id!r}, "
            f"api_key={MASK!r})"
        )

    def close(self) -> None:
        self._api.close()
        self._downloads.close()  # the transport they share is closed twice, which is harmless

    # --- the Provider protocol ----------------------------------------------------------------

    def _scan(self, window: Window, resume_from: str | None) -> Iterator[Page]:
        should_stop = self._should_stop
        self._check_settings()
        window = _in_utc(window)
        checkpoint = _Checkpoint.decode(resume_from, window)
        while True:
            resumed = checkpoint is not None
            if checkpoint is None:
                operation = self._create_export(window)
                checkpoint = _Checkpoint(window, operation=operation)
                # Handed over at once: a retried job waits on this export instead of a new one.
                yield Page(records=[], checkpoint=checkpoint.encode())
                if should_stop():
                    return
            gone = False
            try:
                ready = self._export_sessions(checkpoint, window, should_stop)
            except _Gone:
                gone = True
            # Raised and logged outside the handler, so no error chains onto what follows.
            if gone:
                if not resumed:
                    raise ProviderError(
                        "export_expired",
                        f"FullStory lost export operation {checkpoint.operation} right after "
                        "creating it; sync again",
                        transient=True,
                    )
                log.info("FullStory export %s expired; starting a new one", checkpoint.operation)
                checkpoint = None
                continue
            if ready is None:
                return
            checkpoint, spool, skipped = ready
            if checkpoint.done:  # counted by the attempt that handed over the first page
                skipped = {}
            with spool:  # its scratch file goes however the pages end
                yield from self._pages(spool.finish(), checkpoint, should_stop, skipped)
            return

    # --- the steps ----------------------------------------------------------------------------

    def _export_sessions(
        self, checkpoint: _Checkpoint, window: Window, should_stop: Callable[[], bool]
    ) -> tuple[_Checkpoint, SessionSpool, dict[str, int]] | None:
        """The export's sessions once it is ready; None if asked to stop first."""
        if checkpoint.export is None:
            export = self._wait_for_export(checkpoint.operation, should_stop)
            if export is None or should_stop():
                return None
            checkpoint = replace(checkpoint, export=export)
        return checkpoint, *self._load_sessions(checkpoint.export or "", window)

    def _create_export(self, window: Window) -> str:
        body = {
            "segmentId": self.segment_id,
            "type": "TYPE_EVENT",
            "format": "FORMAT_NDJSON",
            "timeRange": {"start": _rfc3339(window.start), "end": _rfc3339(window.end)},
            "segmentTimeRange": {"start": "", "end": ""},
        }
        response = self._call("POST", "/segments/v1/exports", "creating the export", json=body)
        if response.status_code == 403:
            raise ProviderError(
                "plan_without_export",
                "FullStory refused to create a Segment Export (403): the account needs the "
                "Segment Export add-on and the key must be an Admin or Architect key; "
                "enable the add-on or use such a key, then reconnect",
                transient=False,
            )
        if response.status_code == 404:
            raise ProviderError(
                "segment_not_found",
                f"FullStory knows no segment {self.segment_id!r} (404); set the connector's "
                'segmentId to an existing segment ("everyone" exports every session)',
                transient=False,
            )
        data = self._json(self._expect_ok(response, "creating the export"), "creating the export")
        operation = data.get("operationId")
        if not isinstance(operation, str) or not operation:
            self._malformed("creating the export", "no operationId in the answer")
        return operation

    def _wait_for_export(self, operation: str, should_stop: Callable[[], bool]) -> str | None:
        """The export id once the operation completes; None if asked to stop while waiting."""
        what = f"checking export operation {operation}"
        started, slept, delay = time.monotonic(), 0.0, _POLL_FIRST_S
        while True:
            response = self._call("GET", f"/operations/v1/{quote(operation, safe='')}", what)
            if response.status_code == 404:
                raise _Gone
            data = self._json(self._expect_ok(response, what), what)
            state = str(data.get("state", "")).upper()
            if state == "COMPLETED":
                results = data.get("results")
                export = results.get("searchExportId") if isinstance(results, dict) else None
                if not isinstance(export, str) or not export:
                    self._malformed(what, "a completed operation without results.searchExportId")
                return export
            if state == "FAILED":
                details = self._excerpt(str(data.get("errorDetails") or "no details given"))
                log.warning("FullStory export operation %s failed: %s", operation, details)
                raise ProviderError(
                    "export_failed",
                    f"FullStory export operation {operation} failed (the log holds FullStory's "
                    "details); sync again later, or a smaller window",
                    transient=False,
                )
            # Measured both ways: the clock, and the pauses asked for (an injected sleep).
            waited = max(time.monotonic() - started, slept)
            if waited >= self.operation_timeout_s:
                progress = data.get("estimatePctComplete")
                done = f", {progress}% done" if isinstance(progress, int | float) else ""
                raise ProviderError(
                    "export_timeout",
                    f"FullStory export operation {operation} was still {state or 'pending'} "
                    f"after {self.operation_timeout_s:g} s{done}; a retried job keeps waiting "
                    "on the same export",
                    transient=True,
                )
            if should_stop():
                return None
            pause = min(delay, self.operation_timeout_s - waited)
            self._pause(pause)
            slept += pause
            delay = min(delay * 2, _POLL_MAX_S)

    def _results_location(self, export: str) -> str:
        what = f"getting the location of export {export}"
        path = f"/search/v1/exports/{quote(export, safe='')}/results"
        response = self._call("GET", path, what)
        if response.status_code in (404, 410):
            raise _Gone
        data = self._json(self._expect_ok(response, what), what)
        location = data.get("location")
        if not isinstance(location, str) or urlsplit(location).scheme not in ("http", "https"):
            self._malformed(what, "no usable location in the answer")
        return Secret(location)  # a signed URL is a credential for the export while it lasts

    def _load_sessions(self, export: str, window: Window) -> tuple[SessionSpool, dict[str, int]]:
        """Download the export and fold it into sessions; an expired link is renewed once.

        Also the event lines skipped, by reason."""
        for _ in range(2):
            location = self._results_location(export)
            try:
                return self._retrying(
                    f"downloading export {export}",
                    functools.partial(self._download, location, window),
                )
            except _LinkExpired:
                log.info("the download link of FullStory export %s expired; asking again", export)
        raise ProviderError(
            "export_link_expired",
            f"the download link of FullStory export {export} had expired twice in a row; "
            "a retried job asks for a new one (check this machine's clock if it persists)",
            transient=True,
        )

    def _download(
        self, location: str, window: Window, deadline: float
    ) -> tuple[SessionSpool, dict[str, int]]:
        """The export in a spool of its own (a failed attempt leaves nothing behind), and the
        event lines skipped, by reason."""
        failure: Exception | None = None
        spool: SessionSpool | None = None
        try:
            spool = SessionSpool(window=window, org_id=self.org_id)
            skipped = self._read_export(location, spool, deadline)
            spool.finish()
        except (OSError, sqlite3.Error) as exc:
            failure = _no_scratch(exc)
        except BaseException:
            if spool is not None:
                spool.close()
            raise
        if failure is not None:
            if spool is not None:
                spool.close()
            raise failure
        assert spool is not None
        return spool, skipped

    def _read_export(
        self, location: str, aggregator: SessionSpool, deadline: float
    ) -> dict[str, int]:
        # No auth header and a client of its own: the signed URL is the only credential.
        limit = self.limits.max_download_bytes
        decoder = GzipNdjsonDecoder(max_bytes=limit)
        where = _without_query(location)
        # Errors are raised after the handlers: a chained httpx error would carry its request.
        failure: Exception | None = None
        try:
            with ReplyStream(
                self._downloads,
                self._downloads.build_request("GET", location),  # in no local: it holds the URL
                deadline=deadline,
                max_bytes=limit,
                should_stop=self._should_stop,
            ) as response:
                status = response.status_code
                if status in (401, 403, 404, 410):
                    raise _LinkExpired
                if status == 429 or status >= 500:
                    hint = parse_retry_after(response.headers.get("retry-after"))
                    raise TryAgain(_status_code(status), f"{where} answered {status}", hint)
                if status != 200:
                    raise ProviderError(
                        "download_failed",
                        f"downloading the FullStory export from {where} failed with HTTP "
                        f"{status}; sync again later",
                        transient=True,
                    )
                for chunk in response.chunks():
                    aggregator.add_all(decoder.feed(chunk))
            aggregator.add_all(decoder.close())
        except MalformedExportError as exc:
            failure = ProviderError(
                "malformed_export",
                f"the FullStory export downloaded from {where} is not valid gzip NDJSON: {exc}; "
                "a retried job downloads a new export",
                transient=True,
            )
        except (ReplyTooLargeError, ExportTooLargeError):
            failure = ProviderError(
                "export_too_large",
                f"the FullStory export is larger than {limit} bytes once decompressed, the "
                f"limit of one export ({limit_name('max_download_bytes')}); sync a shorter "
                "window (--from/--to) or raise the limit",
                transient=False,
            )
        except Interrupted as exc:
            if exc.stopped:
                raise
            failure = self._step_timeout(f"downloading the export from {where}")
        except httpx.TimeoutException:
            failure = self._step_timeout(f"downloading the export from {where}")
        except httpx.TransportError as exc:
            failure = TryAgain("network_error", f"the download from {where} broke off ({exc})")
        if failure is not None:
            raise failure
        if decoder.skipped:
            log.warning("FullStory export from %s: event lines skipped: %s", where, decoder.skipped)
        return dict(decoder.skipped)

    def _step_timeout(self, what: str) -> ProviderError:
        return ProviderError(
            "timeout",
            f"{what} on FullStory did not finish within {self.limits.page_timeout_s:g} s "
            f"({limit_name('page_timeout_s')} sets the limit); sync again later",
            transient=True,
        )

    def _pages(
        self,
        sessions: Sequence[AggregatedSession],
        checkpoint: _Checkpoint,
        should_stop: Callable[[], bool],
        skipped: dict[str, int],
    ) -> Iterator[Page]:
        done = min(checkpoint.done, len(sessions))
        if done == len(sessions):
            yield Page(records=[], checkpoint=None, skipped=skipped)
            return
        first = True
        while done < len(sessions):
            if not first and should_stop():
                return
            chunk = sessions[done : done + self.page_size]
            done += len(chunk)
            after = replace(checkpoint, done=done).encode() if done < len(sessions) else None
            records = [_record(item) for item in chunk]
            yield Page(records=records, checkpoint=after, skipped=skipped if first else {})
            first = False

    # --- HTTP ---------------------------------------------------------------------------------

    def _call(self, method: str, path: str, what: str, json: Any = None) -> httpx.Response:
        """One API request, retried on 429, 5xx and network failures within the budget.

        Other statuses are returned for the caller to read, except 401, which is always the key.
        """
        auth = Secret(f"Basic {self._api_key}")
        headers = {"Authorization": auth, "Accept": "application/json"}

        def attempt(step_deadline: float) -> httpx.Response:
            failure: TryAgain | ProviderError | None = None
            request = self._api.build_request(
                method, self.api_url + path, json=json, headers=headers
            )
            try:
                response = read_reply(
                    self._api,
                    request,
                    deadline=min(time.perf_counter() + self.timeout_s, step_deadline),
                    max_bytes=self.limits.max_reply_bytes,
                    should_stop=self._should_stop,
                )
            except Interrupted as exc:
                if exc.stopped:
                    raise
                failure = TryAgain("timeout", "FullStory did not answer in time")
            except ReplyTooLargeError:
                failure = self._too_large(what, f"{self.limits.max_reply_bytes} bytes")
            except httpx.TimeoutException:
                failure = TryAgain("timeout", "FullStory did not answer in time")
            except httpx.TransportError as exc:
                failure = TryAgain("network_error", f"could not reach FullStory ({exc})")
            if failure is not None:  # raised outside the handler: no httpx error chained to it
                raise failure
            status = response.status_code
            if status == 429 or status >= 500:
                self._log_reply(what, response)
                hint = parse_retry_after(response.headers.get("retry-after"))
                raise TryAgain(_status_code(status), f"FullStory answered {status}", hint)
            return response

        response = self._retrying(what, attempt)
        if response.status_code == 401:
            raise ProviderError(
                "auth_failed",
                "FullStory rejected the API key (401); check the connector's apiKey "
                "(an Admin or Architect key, sent as is)",
                transient=False,
            )
        return response

    def _retrying(self, what: str, attempt: Callable[[float], T]) -> T:
        """``attempt(deadline)`` until it succeeds, the retries run out or the step's time does."""

        def give_up(failure: TryAgain, attempts: int) -> NoReturn:
            raise ProviderError(
                failure.code,
                f"{what} on FullStory gave up after {counted(attempts, 'attempt')}: "
                f"{self._redactor.scrub(failure.reason)}; sync again later",
                transient=True,
            )

        return self._with_retries(what, lambda _number, deadline: attempt(deadline), give_up)

    def _expect_ok(self, response: httpx.Response, what: str) -> httpx.Response:
        status = response.status_code
        if 200 <= status < 300:
            return response
        self._log_reply(what, response)
        if status == 403:
            raise ProviderError(
                "permission_denied",
                f"FullStory refused {what} (403); the key must be an Admin or Architect key",
                transient=False,
            )
        raise ProviderError(
            "bad_request" if 400 <= status < 500 else "unexpected_status",
            f"{what} on FullStory failed with HTTP {status} (the log holds FullStory's answer); "
            "check the connector's config, or sync again later",
            transient=False,
        )

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        problem = ""
        try:
            data = decode_json(response.content, max_values=self.limits.max_reply_values).value
        except TooManyValuesError:
            raise self._too_large(what, f"{self.limits.max_reply_values} JSON values") from None
        except ValueError:  # its message quotes the body: not chained to ours
            problem = "the answer is not JSON"
        else:
            if not isinstance(data, dict):
                problem = "the answer is not a JSON object"
        if problem:
            self._malformed(what, problem)
        return data  # type: ignore[no-any-return]

    def _too_large(self, what: str, limit: str) -> ProviderError:
        return ProviderError(
            "reply_too_large",
            f"FullStory's answer to {what} holds more than {limit}, the limit of one answer "
            f"({limit_name('max_reply_bytes')}); check apiUrl, or raise the limit",
            transient=False,
        )

    def _malformed(self, what: str, problem: str) -> NoReturn:
        raise ProviderError(
            "malformed_response",
            f"{what} on FullStory: {problem}; sync again later (check apiUrl if it persists)",
            transient=True,
        )

    def _log_reply(self, what: str, response: httpx.Response) -> None:
        """What FullStory answered, for the operator: masked, one line, never in a job's error."""
        excerpt = self._excerpt(response.content[: _BODY_EXCERPT * 4].decode(errors="replace"))
        log.warning("%s: FullStory answered HTTP %s: %s", what, response.status_code, excerpt)

    def _excerpt(self, text: str) -> str:
        one_line = " ".join(self._redactor.scrub(text).split())
        if len(one_line) > _BODY_EXCERPT:
            one_line = one_line[:_BODY_EXCERPT] + "..."
        return one_line or "(empty body)"

    def _check_settings(self) -> None:
        key = self._api_key
        if not key.strip():
            raise ProviderError(
                "auth_failed",
                "the FullStory API key is empty; set the connector's apiKey",
                transient=False,
            )
        if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
            raise ProviderError(
                "auth_failed",
                "the FullStory API key holds spaces, line breaks or non-ASCII characters; "
                "set the connector's apiKey to the key exactly as FullStory shows it",
                transient=False,
            )
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProviderError(
                "invalid_config",
                f"the FullStory apiUrl {self.api_url!r} is not an http(s) URL; "
                f"leave it unset for {DEFAULT_API_URL}",
                transient=False,
            )


def _status_code(status: int) -> str:
    return "rate_limited" if status == 429 else "server_error"


def _no_scratch(exc: Exception) -> ProviderError:
    return ProviderError(
        "export_spool_failed",
        f"the FullStory export could not be folded into sessions in a scratch file under "
        f"{tempfile.gettempdir()} ({exc}); free disk space there (or point TMPDIR elsewhere) "
        "and sync again",
        transient=True,
    )


def _without_query(url: str) -> str:
    """A signed URL without its signature, fit for a message."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _record(item: AggregatedSession) -> FetchedRecord:
    session = item.session
    assert session.started_at is not None  # the aggregator only makes sessions with events
    return FetchedRecord(
        kind="session",
        provider_id=session.id,
        occurred_at=session.started_at,
        payload=session.model_dump(mode="json", by_alias=True),
        pending=item.pending,
    )
