"""The invoke and test flows driven by scripted outcomes: no client, no server, no clock.

A flow yields effects and receives outcomes; these tests play the client's part, so every rule
of the engine (time budget, retries, redirects, cancelling a run) is checked on its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest

from pytest_connectors.client.flows import (
    CANCEL_BUDGET_S,
    CancelRun,
    Effect,
    Flow,
    GetThreadState,
    HttpExchange,
    LangGraphRunOptions,
    Outcome,
    Sleep,
    WaitRun,
    http_invoke,
    http_probe,
    langgraph_invoke,
)
from pytest_connectors.client.target import Target, resolve_target
from pytest_connectors.models.connector import Connector, Message

T = TypeVar("T")
Play = Callable[[Effect], Outcome]


def target(kind: str = "http", **config: Any) -> Target:
    now = datetime.now(UTC)
    defaults: dict[str, Any] = (
        {"assistantId": "agent"} if kind == "langgraph" else {"path": "/chat"}
    )
    connector = Connector.model_validate(
        {
            "id": str(uuid.uuid4()),
            "name": "agent",
            "type": kind,
            "baseUrl": "http://agent.test",
            "authType": "api-key",
            "authValue": "key-123456",
            "config": {"retryBackoffMs": 100, "timeout": 10_000, **defaults, **config},
            "createdAt": now,
            "updatedAt": now,
        }
    )
    return resolve_target(connector)


def drive(flow: Flow[T], *plays: Play) -> tuple[list[Effect], T]:
    """Answer each effect with the next play (the last one repeats); Sleep is answered at once."""
    effects: list[Effect] = []
    queue = list(plays)
    try:
        effect = next(flow)
        while True:
            effects.append(effect)
            if isinstance(effect, Sleep):
                outcome = Outcome()
            else:
                play = queue.pop(0) if len(queue) > 1 else queue[0]
                outcome = play(effect)
            effect = flow.send(outcome)
    except StopIteration as stop:
        return effects, stop.value


def answer(status: int = 200, latency_ms: float = 10.0, **kwargs: Any) -> Play:
    def play(effect: Effect) -> Outcome:
        assert isinstance(effect, HttpExchange)
        request = httpx.Request(effect.method, effect.url)
        response = httpx.Response(status, request=request, **kwargs)
        return Outcome(latency_ms=latency_ms, response=response)

    return play


def fail(
    error: BaseException, latency_ms: float = 10.0, run: tuple[str, str] | None = None
) -> Play:
    return lambda effect: Outcome(latency_ms=latency_ms, error=error, run=run)


def value(data: Any, latency_ms: float = 10.0, run: tuple[str, str] | None = None) -> Play:
    return lambda effect: Outcome(latency_ms=latency_ms, value=data, run=run)


HI = [Message(role="user", content="hi")]
OPENAI_OK = {"choices": [{"message": {"role": "assistant", "content": "hello there"}}]}


# --- HTTP -------------------------------------------------------------------------------------


def test_an_http_call_is_one_exchange_with_the_whole_budget() -> None:
    effects, result = drive(http_invoke(target(), HI), answer(json=OPENAI_OK, latency_ms=42))
    [exchange] = effects
    assert isinstance(exchange, HttpExchange)
    assert (exchange.method, exchange.url, exchange.timeout_s) == (
        "POST",
        "http://agent.test/chat",
        10,
    )
    assert ("X-API-Key", "key-123456") in exchange.headers
    assert json.loads(exchange.content) == {"messages": [{"role": "user", "content": "hi"}]}
    assert exchange.max_bytes == 10 * 1024 * 1024
    assert (result.success, result.text, result.latency_ms) == (True, "hello there", 42)


def test_retries_pause_and_each_attempt_gets_what_is_left_of_the_budget() -> None:
    effects, result = drive(
        http_invoke(target(retries=2), HI),
        answer(503, latency_ms=1000, headers={"Retry-After": "2"}),
        answer(503, latency_ms=500, headers={"Retry-After": "1.5"}),
        answer(json=OPENAI_OK, latency_ms=20),
    )
    kinds = [type(e).__name__ for e in effects]
    assert kinds == ["HttpExchange", "Sleep", "HttpExchange", "Sleep", "HttpExchange"]
    timeouts = [e.timeout_s for e in effects if isinstance(e, HttpExchange)]
    assert timeouts == [10.0, 7.0, 5.0]  # 10 s, minus 1 s + a 2 s pause, minus 0.5 s + 1.5 s
    assert [e.seconds for e in effects if isinstance(e, Sleep)] == [2.0, 1.5]
    assert (result.success, result.attempts, result.latency_ms) == (True, 3, 20)


def test_a_retry_after_past_the_budget_ends_the_call_without_a_pause() -> None:
    effects, result = drive(
        http_invoke(target(retries=5), HI),
        answer(429, latency_ms=4000, headers={"Retry-After": "7"}, json={"detail": "slow down"}),
    )
    assert len(effects) == 1
    assert result.error == (
        "HTTP 429: slow down (not retried: the server asked to wait 7 s before retrying, "
        "longer than the 6000 ms left of config.timeout)"
    )


def test_a_backoff_past_the_budget_ends_the_call_too() -> None:
    effects, result = drive(
        http_invoke(target(retries=5, retryBackoffMs=60_000), HI), fail(httpx.ConnectError("no"))
    )
    assert len(effects) == 1
    assert result.error is not None
    assert result.error.endswith("(not retried: no time left of config.timeout for a retry)")


def test_a_same_origin_redirect_is_a_second_exchange_and_latencies_add_up() -> None:
    effects, result = drive(
        http_invoke(target(), HI),
        answer(308, latency_ms=5, headers={"location": "/v2/chat"}),
        answer(json=OPENAI_OK, latency_ms=7),
    )
    first, second = effects
    assert isinstance(first, HttpExchange)
    assert isinstance(second, HttpExchange)
    assert (second.method, second.url, second.content) == (
        "POST",
        "http://agent.test/v2/chat",
        first.content,
    )
    assert second.headers == first.headers
    assert (result.success, result.latency_ms) == (True, 12)


def test_a_redirect_elsewhere_yields_nothing_more() -> None:
    effects, result = drive(
        http_invoke(target(), HI), answer(302, headers={"location": "https://agent.test/chat"})
    )
    assert len(effects) == 1
    assert result.error is not None
    assert result.error.startswith(
        "HTTP 302: the agent redirected to another origin (https://agent.test:443)"
    )


def test_the_probe_sends_a_plain_chat_request_with_config_body() -> None:
    effects, result = drive(http_probe(target(body={"model": "m-1"})), answer(json=OPENAI_OK))
    [exchange] = effects
    assert isinstance(exchange, HttpExchange)
    assert json.loads(exchange.content) == {
        "model": "m-1",
        "messages": [{"role": "user", "content": "hello"}],
    }
    assert (result.success, result.response) == (True, "hello there")


# --- LangGraph --------------------------------------------------------------------------------


def _state_after(effect: Effect) -> Outcome:
    assert isinstance(effect, WaitRun)
    sent = [dict(m) for m in effect.input["messages"]]
    messages = [*sent, {"type": "ai", "content": "graph answer", "id": "ai-1"}]
    return Outcome(latency_ms=900, value={"messages": messages})


def test_a_thread_call_reads_the_state_then_runs_with_what_is_left() -> None:
    effects, result = drive(
        langgraph_invoke(target("langgraph"), HI, "ticket-1"),
        fail(
            httpx.HTTPStatusError(
                "404", request=httpx.Request("GET", "http://x"), response=httpx.Response(404)
            ),
            latency_ms=250,
        ),
        _state_after,
    )
    state, run = effects
    assert isinstance(state, GetThreadState)
    assert isinstance(run, WaitRun)
    assert state.thread_id == run.thread_id == result.thread_id
    assert (state.timeout_s, run.timeout_s) == (10.0, 9.75)
    assert [m["content"] for m in run.input["messages"]] == ["hi"]
    assert (run.config, run.context) == (None, None)
    assert (result.success, result.text, result.latency_ms) == (True, "graph answer", 900)


def test_run_options_reach_the_run() -> None:
    options = LangGraphRunOptions(config={"configurable": {"x": 1}}, context={"user": "u"})
    effects, _ = drive(
        langgraph_invoke(target("langgraph"), HI, None, options=options), _state_after
    )
    [run] = effects
    assert isinstance(run, WaitRun)
    assert run.thread_id is None
    assert (run.config, run.context) == (options.config, options.context)


def test_a_timed_out_run_is_cancelled_with_a_bounded_budget() -> None:
    timeout = httpx.ReadTimeout("timed out")
    effects, result = drive(
        langgraph_invoke(target("langgraph", timeout=3000), HI, "t", assume_new=True),
        fail(timeout, latency_ms=3000, run=("thread-1", "run-1")),
        value(None),
    )
    run, cancel = effects
    assert isinstance(run, WaitRun)
    assert cancel == CancelRun(run.target, "thread-1", "run-1", min(CANCEL_BUDGET_S, 3.0))
    assert result.error is not None
    assert result.error.startswith("timed out after 3000 ms")
    assert result.error.endswith("; the run was stopped on the server")


def test_a_timeout_before_the_run_started_has_nothing_to_cancel() -> None:
    effects, result = drive(
        langgraph_invoke(target("langgraph"), HI, None), fail(httpx.ConnectTimeout("slow"))
    )
    assert all(isinstance(e, WaitRun | Sleep) for e in effects)
    assert not result.success


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (
            json.JSONDecodeError("Expecting value", "<html>", 0),
            "answered with a body that is not JSON",
        ),
        (
            json.JSONDecodeError("str is not valid UTF-8: surrogates not allowed", "", 0),
            "answered with a body that is not valid UTF-8",
        ),
    ],
)
def test_a_reply_that_cannot_be_decoded_is_an_agent_failure(error: Exception, says: str) -> None:
    _, result = drive(langgraph_invoke(target("langgraph"), HI, None), fail(error))
    assert result.error == f"the server at http://agent.test {says}"
