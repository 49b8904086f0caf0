"""What the HTTP providers share: a scan a job can stop mid-request, one retry loop (the
`RetryPolicy` of agent calls and jobs, ``Retry-After``, the page's deadline) with pauses that end
on a stop, and ``with provider:`` closing its connections."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn, Self, TypeVar

import httpx

from pytest_connectors._support.secrets import Redactor
from pytest_connectors._support.text import counted
from pytest_connectors.client.retry import RetryPolicy, parse_retry_after
from pytest_connectors.client.transport import DeadlineTransport
from pytest_connectors.imports.limits import ProviderLimits, limit_name
from pytest_connectors.imports.provider import (
    Page,
    ProviderError,
    StoredVersions,
    Window,
    retry_log,
)
from pytest_connectors.imports.replies import (
    DecodedJson,
    Interrupted,
    ReplyTooLargeError,
    TooManyValuesError,
    decode_json,
    pause_unless_stopped,
    read_reply,
)

NEVER_STOP: Callable[[], bool] = lambda: False  # noqa: E731
T = TypeVar("T")


class TryAgain(Exception):
    """One attempt failed in a way that may pass: wait (``hint`` seconds if the server said)."""

    def __init__(self, code: str, reason: str, hint: float | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.hint = hint


class HttpProvider:
    """Implements the `Provider` protocol's ``fetch`` over the subclass's ``_scan``.

    A subclass sets ``label``, ``limits``, ``_policy`` and ``_redactor`` for `_with_retries`.
    """

    label = "the provider"
    limits: ProviderLimits
    _policy: RetryPolicy
    _redactor: Redactor

    def __init__(self, sleep: Callable[[float], None] | None) -> None:
        self._sleep = sleep  # tests pass one; otherwise pauses poll for a stop
        self._should_stop = NEVER_STOP
        self._stored: StoredVersions | None = None

    def fetch(
        self,
        window: Window,
        *,
        resume_from: str | None = None,
        should_stop: Callable[[], bool] = NEVER_STOP,
        stored: StoredVersions | None = None,
    ) -> Iterator[Page]:
        """Yield the window's records page by page, from ``resume_from`` (a page's checkpoint).

        A stop asked for mid-request ends the scan at once; the caller sees ``should_stop()``.
        ``stored`` is there for a subclass's ``_scan`` whose listing gives versions.
        """
        self._should_stop = should_stop
        self._stored = stored
        try:
            yield from self._scan(window, resume_from)
        except Interrupted:
            return
        finally:
            self._should_stop = NEVER_STOP
            self._stored = None

    def _scan(self, window: Window, resume_from: str | None) -> Iterator[Page]:
        raise NotImplementedError

    def _pause(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        elif pause_unless_stopped(seconds, self._should_stop):
            raise Interrupted(stopped=True)

    def _with_retries(
        self,
        what: str,
        attempt: Callable[[int, float], T],
        give_up: Callable[[TryAgain, int], NoReturn],
    ) -> T:
        """``attempt(number, page_deadline)`` until it returns, raises anything but `TryAgain`,
        the policy's attempts are spent or the pause would outlast the page's time: then
        ``give_up(last failure, attempts)``. Each retry is one line of ``retry_log``."""
        deadline = time.perf_counter() + self.limits.page_timeout_s
        for number in range(1, self._policy.attempts + 1):
            try:
                return attempt(number, deadline)
            except TryAgain as caught:
                failure = caught
            # Outside the handler: nothing chains onto the error give_up raises.
            delay = self._policy.delay_s(number, failure.hint)
            if number >= self._policy.attempts or time.perf_counter() + delay >= deadline:
                give_up(failure, number)
            retry_log.info(
                "%s %s: %s; retry %d of %d in %.1f s",
                self.label,
                what,
                self._redactor.scrub(failure.reason),
                number,
                self._policy.retries,
                delay,
            )
            self._pause(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class JsonApiProvider(HttpProvider):
    """A provider of a JSON API: each call retried with backoff on 429 (honouring
    ``Retry-After``), 5xx, timeouts and dropped connections, within the page's deadline and
    the reply bounds of `ProviderLimits`. Failures carry fixed messages: what the API said goes
    to the log, scrubbed of the key.

    A subclass sets ``label`` and ``url_setting``, the attributes ``__init__`` sets here, and
    says what each refusal means (``_status_error``).
    """

    url_setting = "apiUrl"

    def __init__(
        self,
        *,
        api_url: str,
        base_url: str,
        headers: Mapping[str, str],
        transport: httpx.BaseTransport | None,
        redactor: Redactor,
        limits: ProviderLimits,
        timeout_s: float | None,
        max_retries: int,
        sleep: Callable[[float], None] | None,
        key_problem: str | None = None,
    ) -> None:
        """``base_url`` is where the API's paths start; ``transport`` is the one the caller
        was given (the service's reach rules live in it), else plain HTTP."""
        super().__init__(sleep)
        self.api_url = api_url
        self.limits = limits
        self.timeout_s = timeout_s or limits.request_timeout_s
        self._client = httpx.Client(
            base_url=base_url,
            headers=dict(headers),
            transport=DeadlineTransport(transport or httpx.HTTPTransport()),
            timeout=httpx.Timeout(self.timeout_s),
        )
        self._redactor = redactor
        self._policy = RetryPolicy(retries=max(0, max_retries))
        self._key_problem = key_problem

    def close(self) -> None:
        self._client.close()

    def _fail(self, code: str, message: str, *, transient: bool = False) -> NoReturn:
        raise ProviderError(code, self._redactor.scrub(message), transient=transient)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> DecodedJson:
        """One API call with retries, all within the page timeout; the decoded JSON, or a
        `ProviderError`. `Interrupted` if the job is asked to stop meanwhile."""
        if self._key_problem is not None:
            self._fail("auth_failed", self._key_problem, transient=False)
        what = f"{method} /{path}"
        request = self._client.build_request(method, path, params=params, json=body)

        def attempt(number: int, page_deadline: float) -> DecodedJson:
            deadline = min(time.perf_counter() + self.timeout_s, page_deadline)
            decoded, failure, hinted = self._attempt(request, what, number, deadline)
            if decoded is not None:
                return decoded
            assert failure is not None
            if not failure.transient:
                self._fail(failure.code, str(failure), transient=False)
            raise TryAgain(failure.code, str(failure), hinted)

        def give_up(failure: TryAgain, _attempts: int) -> NoReturn:
            self._fail(failure.code, failure.reason, transient=True)

        return self._with_retries(what, attempt, give_up)

    def _attempt(
        self, request: httpx.Request, what: str, attempt: int, deadline: float
    ) -> tuple[DecodedJson | None, ProviderError | None, float | None]:
        """One try: the decoded answer, or why not and the wait the server asked for.

        Failures are returned, not raised in the handlers: a chained httpx error would carry
        its request, and the request the key.
        """
        limits = self.limits
        try:
            response = read_reply(
                self._client,
                request,
                deadline=deadline,
                max_bytes=limits.max_reply_bytes,
                should_stop=self._should_stop,
            )
        except Interrupted as exc:
            if exc.stopped:
                raise
            return None, self._timeout(what, attempt), None
        except ReplyTooLargeError:
            return None, self._too_large(what, f"{limits.max_reply_bytes} bytes"), None
        except httpx.TimeoutException:
            return None, self._timeout(what, attempt), None
        except httpx.TransportError as exc:
            failure = ProviderError(
                "connection_failed",
                f"the connection to {self.label} at {self.api_url} failed during {what} "
                f"({type(exc).__name__}, {counted(attempt, 'attempt')}); "
                f"check {self.url_setting} and the network",
                transient=True,
            )
            return None, failure, None
        if response.status_code >= 300:
            hinted = parse_retry_after(response.headers.get("retry-after"))
            return None, self._status_error(what, response, attempt), hinted
        try:
            return decode_json(response.content, max_values=limits.max_reply_values), None, None
        except TooManyValuesError:
            return None, self._too_large(what, f"{limits.max_reply_values} JSON values"), None
        except ValueError:
            failure = ProviderError(
                "malformed_page",
                f"{self.label} answered {what} with a body that is not JSON "
                f"({counted(attempt, 'attempt')}); try again later",
                transient=True,
            )
            return None, failure, None

    def _timeout(self, what: str, attempt: int) -> ProviderError:
        return ProviderError(
            "timeout",
            f"{self.label} did not answer {what} completely within {self.timeout_s:g} s "
            f"({counted(attempt, 'attempt')}; {limit_name('request_timeout_s')} sets the limit); "
            "try again later",
            transient=True,
        )

    def _too_large(self, what: str, limit: str) -> ProviderError:
        return ProviderError(
            "reply_too_large",
            f"{self.label}'s answer to {what} holds more than {limit}, the limit of one answer "
            f"({limit_name('max_reply_bytes')}); raise it if the records are that large",
            transient=False,
        )

    def _status_error(self, what: str, response: httpx.Response, attempt: int) -> ProviderError:
        raise NotImplementedError


def reply_detail(response: httpx.Response) -> str:
    """The API's own one-line reason, if it gave one (``detail`` or ``error``), for the log."""
    try:
        data = decode_json(response.content, max_values=10_000).value
    except ValueError:
        return ""
    if isinstance(data, Mapping):
        for key in ("detail", "error", "message"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return " ".join(value.split())[:300]
    return ""
