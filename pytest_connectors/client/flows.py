"""One implementation of invoke and test, shared by the sync and async clients.

Each operation is a generator ("flow") that yields effects (an HTTP exchange, a LangGraph SDK
call, a pause) and receives their outcomes. Retries, parsing, error wording and redaction live
here; the clients only perform effects, so both behave identically by construction.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from pytest_connectors._support.secrets import Redactor
from pytest_connectors.client.retry import RetryPolicy, retry_decision
from pytest_connectors.client.target import Target
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

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HttpExchange:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    content: bytes
    timeout_s: float


@dataclass(frozen=True, slots=True)
class SdkCall:
    """A call on a langgraph-sdk client: ``client.<resource>.<method>(**kwargs)``."""

    target: Target
    resource: str
    method: str
    kwargs: dict[str, Any] = field(hash=False)


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Effect = HttpExchange | SdkCall | Sleep


@dataclass(slots=True)
class Outcome:
    latency_ms: float = 0.0
    response: httpx.Response | None = None
    value: Any = None
    error: BaseException | None = None


Flow = Generator[Effect, Outcome, T]


def with_retries(effect: HttpExchange | SdkCall, policy: RetryPolicy) -> Flow[tuple[Outcome, int]]:
    """Perform ``effect`` until it answers for good or attempts run out."""
    attempt = 1
    while True:
        outcome = yield effect
        response = outcome.response
        retry, hinted = retry_decision(
            outcome.error,
            response.status_code if response is not None else None,
            response.headers if response is not None else None,
        )
        if not retry or attempt >= policy.attempts:
            return outcome, attempt
        yield Sleep(policy.delay_s(attempt, hinted))
        attempt += 1


def describe_error(error: BaseException, target: Target) -> str:
    """A one-line account of a failed request that says what to check."""
    where = target.display_url
    if isinstance(error, httpx.ConnectTimeout | httpx.ConnectError):
        reason = str(error) or type(error).__name__
        return f"cannot connect to {where} ({reason}); is the agent running there?"
    if isinstance(error, httpx.TimeoutException):
        return (
            f"timed out after {target.timeout_ms:g} ms waiting for {where}; "
            "raise config.timeout if the agent is just slow"
        )
    if isinstance(error, httpx.HTTPStatusError):
        response = error.response
        try:
            body = response.content
        except httpx.ResponseNotRead:
            body = b""
        detail = http_protocol.error_detail(body) or response.reason_phrase
        return f"HTTP {response.status_code}: {detail}"
    if isinstance(error, httpx.HTTPError):
        return f"request to {where} failed: {type(error).__name__}: {error}"
    if isinstance(error, ValueError) and "json" in type(error).__name__.lower():
        return f"the server at {where} answered with a body that is not JSON"
    return f"{type(error).__name__}: {error}"


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

    ``source`` is the reply body the result was parsed from. Without a backslash in it no JSON
    escape can hide a secret, so searching it (and the error) is exact and cheap; otherwise
    every string of the result is searched.
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


def _raw(body: bytes | str) -> str:
    text = body if isinstance(body, str) else body[: RAW_LIMIT * 4].decode("utf-8", "replace")
    return text[:RAW_LIMIT]


def _failure(
    outcome: Outcome, attempts: int, target: Target, **extra: Any
) -> ConnectorInvokeResult:
    assert outcome.error is not None
    status = None
    raw = None
    if isinstance(outcome.error, httpx.HTTPStatusError):
        status = outcome.error.response.status_code
        try:
            raw = _raw(outcome.error.response.content)
        except httpx.ResponseNotRead:
            raw = None
    return ConnectorInvokeResult(
        success=False,
        latency_ms=outcome.latency_ms,
        error=describe_error(outcome.error, target),
        status_code=status,
        raw_response=raw,
        attempts=attempts,
        **extra,
    )


# -- HTTP -------------------------------------------------------------------------------------


def _exchange(target: Target, content: bytes) -> HttpExchange:
    headers = (("Content-Type", "application/json"), *target.headers)
    return HttpExchange(target.method, target.url, headers, content, target.timeout_s)


def _whole(outcome: Outcome) -> bool:
    """Whether ``raw_response`` holds the whole reply body (it is cut at RAW_LIMIT)."""
    return outcome.response is not None and len(outcome.response.content) <= RAW_LIMIT


def _http_result(
    target: Target, outcome: Outcome, attempts: int, sent: Sequence[Message]
) -> ConnectorInvokeResult:
    if outcome.error is not None or outcome.response is None:
        return _failure(outcome, attempts, target)
    response = outcome.response
    body = response.content
    common: dict[str, Any] = {
        "latency_ms": outcome.latency_ms,
        "attempts": attempts,
        "status_code": response.status_code,
        "raw_response": _raw(body),
    }
    if not response.is_success:
        detail = http_protocol.error_detail(body) or response.reason_phrase
        return ConnectorInvokeResult(
            success=False, error=f"HTTP {response.status_code}: {detail}", **common
        )
    try:
        messages = http_protocol.parse_reply(
            body, response.headers.get("content-type", ""), sent, target.response_path
        )
        final = langgraph_protocol.final_answer(messages)
    except (http_protocol.ReplyError, langgraph_protocol.RunError) as exc:
        return ConnectorInvokeResult(
            success=False, error=f"HTTP {response.status_code}, but {exc}", **common
        )
    return ConnectorInvokeResult(success=True, message=final, messages=messages, **common)


def http_invoke(target: Target, messages: Sequence[Message]) -> Flow[ConnectorInvokeResult]:
    exchange = _exchange(target, http_protocol.invoke_body(messages))
    outcome, attempts = yield from with_retries(exchange, target.retry)
    result = _http_result(target, outcome, attempts, messages)
    return redact(result, target.redactor, result.raw_response if _whole(outcome) else None)


def http_probe(target: Target) -> Flow[ConnectorTestResult]:
    exchange = _exchange(target, http_protocol.probe_body())
    outcome, attempts = yield from with_retries(exchange, target.retry)
    hello = [Message(role="user", content=http_protocol.TEST_MESSAGE)]
    result = _http_result(target, outcome, attempts, hello)
    if result.success:
        text = result.text
    elif result.status_code is not None and 200 <= result.status_code < 300:
        # Reachable and answering: a connectivity check need not understand the reply.
        text = result.raw_response or ""
    else:
        return redact(_as_test_result(result), target.redactor)
    probe = ConnectorTestResult(
        success=True,
        latency_ms=result.latency_ms,
        response=text[:RESPONSE_LIMIT],
        attempts=attempts,
    )
    return redact(probe, target.redactor)


def _as_test_result(result: ConnectorInvokeResult) -> ConnectorTestResult:
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
    target: Target, outcome: Outcome, attempts: int, sent_ids: Sequence[str], thread_id: str | None
) -> ConnectorInvokeResult:
    if outcome.error is not None:
        return _failure(outcome, attempts, target, thread_id=thread_id)
    values = outcome.value
    common: dict[str, Any] = {
        "latency_ms": outcome.latency_ms,
        "attempts": attempts,
        "thread_id": thread_id,
        "raw_response": _raw(http_protocol.encode(values).decode()),
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


def langgraph_invoke(
    target: Target, history: Sequence[Message], run_id: str | None, assume_new: bool = False
) -> Flow[ConnectorInvokeResult]:
    thread_id = langgraph_protocol.thread_id_for(run_id) if run_id is not None else None
    to_send: Sequence[Message] = history
    if thread_id is not None and not assume_new:
        get_state = SdkCall(target, "threads", "get_state", {"thread_id": thread_id})
        state, attempts = yield from with_retries(get_state, target.retry)
        if state.error is not None and not _is_missing(state.error):
            return redact(_failure(state, attempts, target, thread_id=thread_id), target.redactor)
        to_send = langgraph_protocol.unseen(history, _thread_messages(state.value))
        if not to_send:
            return ConnectorInvokeResult(
                success=False,
                latency_ms=0.0,
                thread_id=thread_id,
                attempts=0,
                error=f"thread {thread_id} already holds every message given: add a user message",
            )
    sent_ids = [str(uuid.uuid4()) for _ in to_send]
    kwargs: dict[str, Any] = {
        "thread_id": thread_id,
        "assistant_id": target.assistant_id,
        "input": {
            "messages": [
                langgraph_protocol.wire_message(m, i)
                for m, i in zip(to_send, sent_ids, strict=True)
            ]
        },
        "raise_error": False,
    }
    if thread_id is not None:
        kwargs.update(multitask_strategy="enqueue", if_not_exists="create")
    outcome, attempts = yield from with_retries(
        SdkCall(target, "runs", "wait", kwargs), target.retry
    )
    return redact(_run_result(target, outcome, attempts, sent_ids, thread_id), target.redactor)


def langgraph_probe(target: Target) -> Flow[ConnectorTestResult]:
    hello = [Message(role="user", content=http_protocol.TEST_MESSAGE)]
    result = yield from langgraph_invoke(target, hello, None)
    return redact(_as_test_result(result), target.redactor)


def invoke_flow(
    target: Target, messages: Sequence[Message], run_id: str | None, assume_new: bool = False
) -> Flow[ConnectorInvokeResult]:
    if target.type is ConnectorType.LANGGRAPH:
        return langgraph_invoke(target, messages, run_id, assume_new)
    return http_invoke(target, messages)


def probe_flow(target: Target) -> Flow[ConnectorTestResult]:
    if target.type is ConnectorType.LANGGRAPH:
        return langgraph_probe(target)
    return http_probe(target)
