"""One implementation of invoke and test, shared by the sync and async clients.

Each operation is a generator ("flow") that yields effects (an HTTP exchange, a LangGraph call,
a pause) and receives their outcomes. Retries, time budgets, redirects, parsing, error wording
and redaction live here; the clients only perform effects, so both behave identically by
construction, and a test can drive a flow with scripted outcomes and no I/O at all.

A flow keeps no clock: the time a call has used is the sum of its outcomes' latencies and its
pauses, so ``config.timeout`` bounds the whole call, retries included.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from pytest_connectors._support.secrets import Redactor
from pytest_connectors.client.retry import RetryPolicy, retry_decision
from pytest_connectors.client.target import Target, origin_of
from pytest_connectors.client.transport import ReplyTooLargeError
from pytest_connectors.models.connector import (
    ConnectorInvokeResult,
    ConnectorTestResult,
    ConnectorType,
    Message,
)
from pytest_connectors.wire import http as http_protocol
from pytest_connectors.wire import langgraph as langgraph_protocol

RAW_LIMIT = 2000
RESPONSE_LIMIT = 500
MAX_REDIRECTS = 5
CANCEL_BUDGET_S = 2.0  # a timed-out run is cancelled within this much more time

T = TypeVar("T")


# -- effects and outcomes -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class HttpExchange:
    """One HTTP request; its URL and headers may hold resolved secrets, its repr does not."""

    method: str
    url: httpx.URL
    headers: tuple[tuple[str, str], ...]
    content: bytes
    timeout_s: float
    max_bytes: int

    def __repr__(self) -> str:
        return f"<HttpExchange {self.method} {len(self.content)} bytes>"


@dataclass(frozen=True, slots=True)
class GetThreadState:
    """``threads.get_state`` on a LangGraph server."""

    target: Target
    thread_id: str
    timeout_s: float


@dataclass(frozen=True, slots=True)
class WaitRun:
    """``runs.wait``: start a run and wait for the thread's final state."""

    target: Target
    thread_id: str | None
    input: Mapping[str, Any] = field(hash=False)
    config: Mapping[str, Any] | None = field(hash=False)
    context: Mapping[str, Any] | None = field(hash=False)
    timeout_s: float


@dataclass(frozen=True, slots=True)
class CancelRun:
    """``runs.cancel`` of a run that outlived its call."""

    target: Target
    thread_id: str
    run_id: str
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


SdkEffect = GetThreadState | WaitRun | CancelRun
Effect = HttpExchange | GetThreadState | WaitRun | CancelRun | Sleep


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an effect gave: a response (HTTP), a value (LangGraph) or an error, and its time."""

    latency_ms: float = 0.0
    response: httpx.Response | None = None
    value: Any = None
    error: BaseException | None = None
    run: tuple[str, str] | None = None  # (thread id, run id) of a run the server started


Flow = Generator[Effect, Outcome, T]


@dataclass(frozen=True, slots=True)
class LangGraphRunOptions:
    """A LangGraph run's ``config`` (configurable, tags, recursion limit...) and ``context``."""

    config: Mapping[str, Any] | None = None
    context: Mapping[str, Any] | None = None


# -- time budget and retries --------------------------------------------------------------------


class Budget:
    """The time left of one call: ``config.timeout`` minus what its effects used."""

    __slots__ = ("spent_ms", "total_ms")

    def __init__(self, total_ms: float) -> None:
        self.total_ms = total_ms
        self.spent_ms = 0.0

    @property
    def left_s(self) -> float:
        return max(self.total_ms - self.spent_ms, 0.0) / 1000


@dataclass(frozen=True, slots=True)
class Attempted:
    outcome: Outcome
    attempts: int
    stopped: str | None = None  # why a retryable failure was not retried


def with_retries(
    build: Callable[[float], Effect], policy: RetryPolicy, budget: Budget
) -> Flow[Attempted]:
    """Perform the effect ``build(time_left_s)`` until it answers for good, attempts run out,
    or the time budget would not cover the pause before the next attempt."""
    attempt = 1
    while True:
        outcome = yield build(budget.left_s)
        budget.spent_ms += outcome.latency_ms
        response = outcome.response
        retry, hinted = retry_decision(
            outcome.error,
            response.status_code if response is not None else None,
            response.headers if response is not None else None,
        )
        if not retry or attempt >= policy.attempts:
            return Attempted(outcome, attempt)
        left = budget.left_s
        if hinted is not None and hinted > left:
            return Attempted(
                outcome,
                attempt,
                f"the server asked to wait {hinted:g} s before retrying, longer than the "
                f"{left * 1000:.0f} ms left of config.timeout",
            )
        pause = policy.delay_s(attempt, hinted)
        if pause >= left:
            return Attempted(outcome, attempt, "no time left of config.timeout for a retry")
        yield Sleep(pause)
        budget.spent_ms += pause * 1000
        attempt += 1


# -- wording and redaction ----------------------------------------------------------------------


def _origin_text(url: httpx.URL | str) -> str:
    scheme, host, port = origin_of(str(url))
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def _body_text(response: httpx.Response) -> str:
    try:
        return response.content.decode("utf-8", "replace")
    except httpx.ResponseNotRead:
        return ""


def describe_error(error: BaseException, target: Target) -> str:
    """A one-line account of a failed request that says what to check (secrets masked)."""
    where = target.display_url
    if isinstance(error, httpx.ConnectTimeout | httpx.ConnectError):
        reason = str(error) or type(error).__name__
        text = f"cannot connect to {where} ({reason}); is the agent running there?"
    elif isinstance(error, httpx.TimeoutException):
        text = (
            f"timed out after {target.timeout_ms:g} ms waiting for {where}; "
            "raise config.timeout if the agent is just slow"
        )
    elif isinstance(error, ReplyTooLargeError):
        text = (
            f"the reply from {where} is larger than config.maxResponseBytes ({error.limit} "
            "bytes, counted after decompression); raise it if the agent's replies are that big"
        )
    elif isinstance(error, httpx.HTTPStatusError):
        response = error.response
        # Masked before it is cut: a cut through an echoed secret would leave most of it.
        safe = target.redactor.scrub(_body_text(response))
        detail = http_protocol.error_detail(safe) or response.reason_phrase
        text = f"HTTP {response.status_code}: {detail}"
    elif isinstance(error, httpx.HTTPError):
        text = f"request to {where} failed: {type(error).__name__}: {error}"
    elif isinstance(error, json.JSONDecodeError):
        if "utf-8" in str(error).lower():
            text = f"the server at {where} answered with a body that is not valid UTF-8"
        else:
            text = f"the server at {where} answered with a body that is not JSON"
    else:
        text = f"{type(error).__name__}: {error}"
    return target.redactor.scrub(text)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)


def _scrub(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.scrub(value)
    if isinstance(value, list):
        return [_scrub(v, redactor) for v in value]
    if isinstance(value, dict):
        return {redactor.scrub(k): _scrub(v, redactor) for k, v in value.items()}
    return value


ResultT = TypeVar("ResultT", ConnectorInvokeResult, ConnectorTestResult)


def redact(result: ResultT, redactor: Redactor, source: str | None = None) -> ResultT:
    """Replace any resolved secret the agent or server echoed back.

    ``source`` is the whole reply text the result was parsed from. Without a backslash in it no
    JSON escape can hide a secret, so searching it (and the error) is exact and cheap;
    otherwise every string of the result is searched.
    """
    if not redactor:
        return result
    exact = source is not None and "\\" not in source
    if exact and not redactor.leaks(source or "") and not redactor.leaks(result.error or ""):
        return result
    data = result.model_dump(mode="json")
    if not any(redactor.leaks(text) for text in _strings(data)):
        return result
    return type(result).model_validate(_scrub(data, redactor))


def _with_note(error: str, stopped: str | None) -> str:
    return error if stopped is None else f"{error} (not retried: {stopped})"


def _failure(
    attempted: Attempted, target: Target, latency_ms: float | None = None, **extra: Any
) -> ConnectorInvokeResult:
    outcome = attempted.outcome
    assert outcome.error is not None
    status = None
    raw = None
    if isinstance(outcome.error, httpx.HTTPStatusError):
        status = outcome.error.response.status_code
        raw = target.redactor.scrub(_body_text(outcome.error.response))[:RAW_LIMIT] or None
    return ConnectorInvokeResult(
        success=False,
        latency_ms=outcome.latency_ms if latency_ms is None else latency_ms,
        error=_with_note(describe_error(outcome.error, target), attempted.stopped),
        status_code=status,
        raw_response=raw,
        attempts=attempted.attempts,
        **extra,
    )


# -- HTTP ---------------------------------------------------------------------------------------

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _exchange(
    target: Target, method: str, url: httpx.URL, content: bytes
) -> Callable[[float], Effect]:
    headers = target.request_headers

    def build(left_s: float) -> Effect:
        return HttpExchange(method, url, headers, content, left_s, target.max_response_bytes)

    return build


def _http_result(
    target: Target, attempted: Attempted, sent: Sequence[Message], latency_ms: float
) -> tuple[ConnectorInvokeResult, str | None]:
    """The result of a final reply, and the reply's whole text (to search for secrets)."""
    outcome = attempted.outcome
    if outcome.error is not None or outcome.response is None:
        return _failure(attempted, target, latency_ms), None
    response = outcome.response
    body = response.content
    content_type = response.headers.get("content-type", "")
    invalid: http_protocol.ReplyError | None = None
    try:
        text = http_protocol.decode_text(body, content_type)
    except http_protocol.ReplyError as exc:
        text, invalid = body.decode("utf-8", "replace"), exc
    # Masked before it is cut: a cut through an echoed secret would leave most of it.
    safe = target.redactor.scrub(text)
    common: dict[str, Any] = {
        "latency_ms": latency_ms,
        "attempts": attempted.attempts,
        "status_code": response.status_code,
        "raw_response": safe[:RAW_LIMIT],
    }
    status = response.status_code
    if not response.is_success:
        detail = http_protocol.error_detail(safe) or response.reason_phrase
        error = _with_note(f"HTTP {status}: {detail}", attempted.stopped)
        return ConnectorInvokeResult(success=False, error=error, **common), text
    try:
        if invalid is not None:
            raise invalid
        messages = http_protocol.parse_reply(text, content_type, sent, target.response_path)
        final = langgraph_protocol.final_answer(messages)
    except (http_protocol.ReplyError, langgraph_protocol.RunError) as exc:
        error = f"HTTP {status}, but {target.redactor.scrub(str(exc))}"
        return ConnectorInvokeResult(success=False, error=error, **common), text
    return ConnectorInvokeResult(success=True, message=final, messages=messages, **common), text


def _redirected(
    target: Target, response: httpx.Response, method: str, url: httpx.URL, content: bytes
) -> tuple[str, httpx.URL, bytes] | str:
    """The request a same-origin redirect asks for, or why it is not followed.

    Connector secrets (auth and config headers) go only to the connector's own origin, so a
    redirect to another origin is a failure rather than a request without them that would
    fail less clearly.
    """
    location = response.headers.get("location")
    if not location:
        return f"HTTP {response.status_code} without a Location header"
    new_url = url.join(location)
    if origin_of(str(new_url)) != target.origin:
        return (
            f"HTTP {response.status_code}: the agent redirected to another origin "
            f"({_origin_text(new_url)}); it was not followed, so connector credentials stay "
            "with the connector's own origin: set baseUrl and path to the address that answers"
        )
    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
        return "GET", new_url, b""
    return method, new_url, content


def _http_call(target: Target, content: bytes, sent: Sequence[Message]) -> Flow[_HttpCall]:
    budget = Budget(target.timeout_ms)
    method, url = target.method, target.http_url
    latency_ms = 0.0
    for _ in range(MAX_REDIRECTS + 1):
        attempted = yield from with_retries(
            _exchange(target, method, url, content), target.retry, budget
        )
        latency_ms += attempted.outcome.latency_ms
        response = attempted.outcome.response
        if response is None or response.status_code not in _REDIRECTS:
            result, text = _http_result(target, attempted, sent, latency_ms)
            return _HttpCall(result, text)
        follow = _redirected(target, response, method, url, content)
        if isinstance(follow, str):
            return _HttpCall(_refused(target, attempted, latency_ms, follow), None)
        method, url, content = follow
    return _HttpCall(
        _refused(target, attempted, latency_ms, f"more than {MAX_REDIRECTS} redirects"), None
    )


@dataclass(frozen=True, slots=True)
class _HttpCall:
    result: ConnectorInvokeResult
    text: str | None  # the whole reply text, when there was a reply


def _refused(
    target: Target, attempted: Attempted, latency_ms: float, why: str
) -> ConnectorInvokeResult:
    response = attempted.outcome.response
    return ConnectorInvokeResult(
        success=False,
        latency_ms=latency_ms,
        error=why,
        status_code=response.status_code if response is not None else None,
        attempts=attempted.attempts,
    )


def http_invoke(target: Target, messages: Sequence[Message]) -> Flow[ConnectorInvokeResult]:
    call = yield from _http_call(target, http_protocol.invoke_body(messages, target.body), messages)
    return redact(call.result, target.redactor, call.text)


def http_probe(target: Target) -> Flow[ConnectorTestResult]:
    hello = [Message(role="user", content=http_protocol.TEST_MESSAGE)]
    call = yield from _http_call(target, http_protocol.probe_body(target.body), hello)
    result = redact(call.result, target.redactor, call.text)
    if result.success:
        text = result.text
    elif result.status_code is not None and 200 <= result.status_code < 300:
        # Reachable and answering: a connectivity check need not understand the reply.
        text = result.raw_response or ""
    else:
        return _as_test_result(result)
    return ConnectorTestResult(
        success=True,
        latency_ms=result.latency_ms,
        response=text[:RESPONSE_LIMIT],  # masked already: redact() came first
        attempts=result.attempts,
    )


def _as_test_result(result: ConnectorInvokeResult) -> ConnectorTestResult:
    """Of a result that is redacted already, so cutting its text cannot reveal a secret."""
    return ConnectorTestResult(
        success=result.success,
        latency_ms=result.latency_ms,
        response=result.text[:RESPONSE_LIMIT] if result.success else None,
        error=result.error,
        attempts=result.attempts,
    )


# -- LangGraph ----------------------------------------------------------------------------------


def _is_missing(error: BaseException | None) -> bool:
    return isinstance(error, httpx.HTTPStatusError) and error.response.status_code == 404


def _run_result(
    target: Target,
    attempted: Attempted,
    sent_ids: Sequence[str],
    thread_id: str | None,
    latency_ms: float,
) -> ConnectorInvokeResult:
    outcome = attempted.outcome
    if outcome.error is not None:
        return _failure(attempted, target, latency_ms, thread_id=thread_id)
    values = outcome.value
    encoded = http_protocol.encode(values).decode()
    common: dict[str, Any] = {
        "latency_ms": latency_ms,
        "attempts": attempted.attempts,
        "thread_id": thread_id,
        "raw_response": target.redactor.scrub(encoded)[:RAW_LIMIT],
        "status_code": 200,
    }
    graph_error = langgraph_protocol.run_error(values)
    if graph_error is not None:
        return ConnectorInvokeResult(success=False, error=graph_error, **common)
    try:
        added = langgraph_protocol.added_messages(
            langgraph_protocol.state_messages(values), sent_ids
        )
        final = langgraph_protocol.final_answer(added)
    except langgraph_protocol.RunError as exc:
        return ConnectorInvokeResult(success=False, error=str(exc), **common)
    return ConnectorInvokeResult(success=True, message=final, messages=added, **common)


def _thread_messages(state: Any) -> list[Message]:
    values = state.get("values") if isinstance(state, dict) else None
    if not values:
        return []
    return langgraph_protocol.state_messages(values)


def _cancel_note(outcome: Outcome) -> str:
    # 404: the server stopped the run itself when the call hung up (on_disconnect="cancel").
    if outcome.error is None or _is_missing(outcome.error):
        return "; the run was stopped on the server"
    return f"; stopping the run on the server failed ({type(outcome.error).__name__})"


def langgraph_invoke(
    target: Target,
    history: Sequence[Message],
    run_id: str | None,
    assume_new: bool = False,
    options: LangGraphRunOptions | None = None,
) -> Flow[ConnectorInvokeResult]:
    budget = Budget(target.timeout_ms)
    thread_id = langgraph_protocol.thread_id_for(run_id) if run_id is not None else None
    to_send: Sequence[Message] = history
    if thread_id is not None and not assume_new:
        known = thread_id
        state = yield from with_retries(
            lambda left: GetThreadState(target, known, left), target.retry, budget
        )
        if state.outcome.error is not None and not _is_missing(state.outcome.error):
            return redact(_failure(state, target, thread_id=thread_id), target.redactor)
        to_send = langgraph_protocol.unseen(history, _thread_messages(state.outcome.value))
        if not to_send:
            return ConnectorInvokeResult(
                success=False,
                latency_ms=0.0,
                thread_id=thread_id,
                attempts=0,
                error=f"thread {thread_id} already holds every message given: add a user message",
            )
    sent_ids = [str(uuid.uuid4()) for _ in to_send]
    run_input = {
        "messages": [
            langgraph_protocol.wire_message(m, i) for m, i in zip(to_send, sent_ids, strict=True)
        ]
    }
    options = options or LangGraphRunOptions()
    attempted = yield from with_retries(
        lambda left: WaitRun(target, thread_id, run_input, options.config, options.context, left),
        target.retry,
        budget,
    )
    result = _run_result(target, attempted, sent_ids, thread_id, attempted.outcome.latency_ms)
    run = attempted.outcome.run
    if isinstance(attempted.outcome.error, httpx.TimeoutException) and run is not None:
        cancelled = yield CancelRun(target, *run, min(CANCEL_BUDGET_S, target.timeout_s))
        result = result.model_copy(update={"error": f"{result.error}{_cancel_note(cancelled)}"})
    return redact(result, target.redactor)


def langgraph_probe(target: Target) -> Flow[ConnectorTestResult]:
    hello = [Message(role="user", content=http_protocol.TEST_MESSAGE)]
    result = yield from langgraph_invoke(target, hello, None)
    return _as_test_result(result)


def invoke_flow(
    target: Target,
    messages: Sequence[Message],
    run_id: str | None,
    assume_new: bool = False,
    options: LangGraphRunOptions | None = None,
) -> Flow[ConnectorInvokeResult]:
    if target.type is ConnectorType.LANGGRAPH:
        return langgraph_invoke(target, messages, run_id, assume_new, options)
    return http_invoke(target, messages)


def probe_flow(target: Target) -> Flow[ConnectorTestResult]:
    if target.type is ConnectorType.LANGGRAPH:
        return langgraph_probe(target)
    return http_probe(target)
