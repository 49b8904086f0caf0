"""What the clients do when the network or the agent misbehaves, and what they never leak.

Every test here runs twice, on the sync ``ConnectorClient`` and on the ``AsyncConnectorClient``
(the autouse ``mode`` fixture). Faults are injected with ``httpx.MockTransport`` through
``transport=``; a closed loopback port stands in for an agent that is down. Pauses between
retries are recorded by the ``sleep=`` the clients take, and not really waited.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from pytest_connectors.client.clients import (
    AsyncConnectorClient,
    ConnectorClient,
    ainvoke_connector,
    atest_connector,
    invoke_connector,
    test_connector,
)
from pytest_connectors.client.flows import http_invoke
from pytest_connectors.client.retry import MAX_DELAY_S
from pytest_connectors.client.target import resolve_target
from pytest_connectors.errors import (
    ConnectorNotFoundError,
    InvalidInputError,
    MissingDependencyError,
    MissingVariableError,
)
from pytest_connectors.models.connector import (
    Connector,
    ConnectorInvokeResult,
    ConnectorTestResult,
    Message,
)
from pytest_connectors.registry.json_file import ConnectorStore

BASE = "http://agent.test"
SECRET = "sk-SECRET-abc123"
SECRET_VARIABLE = "PYTEST_CONNECTORS_TEST_SECRET"

Answer = Callable[[httpx.Request], httpx.Response]


def make_connector(
    *,
    kind: str = "http",
    base_url: str = BASE,
    auth_type: str | None = None,
    auth_value: str | None = None,
    **config: Any,
) -> Connector:
    """Retries wait 0 ms unless a test says otherwise."""
    defaults: dict[str, Any] = {"retryBackoffMs": 0}
    defaults.update({"assistantId": "agent"} if kind == "langgraph" else {"path": "/chat"})
    now = datetime.now(UTC)
    return Connector.model_validate(
        {
            "id": str(uuid.uuid4()),
            "name": "agent",
            "type": kind,
            "baseUrl": base_url,
            "authType": auth_type,
            "authValue": auth_value,
            "config": {**defaults, **config},
            "createdAt": now,
            "updatedAt": now,
        }
    )


def reply(status: int = 200, **kwargs: Any) -> Answer:
    """An answer for Script: a fresh response per request."""
    return lambda request: httpx.Response(status, **kwargs)


def raise_(error: type[httpx.TransportError]) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        raise error("injected", request=request)

    return answer


OK = reply(json={"content": "all good"})


@dataclass
class Mode:
    """Which client the test drives, and the pauses it asked for."""

    kind: str
    sleeps: list[float] = field(default_factory=list)

    def invoke(self, connector: Connector, data: Any = "hello", **kwargs: Any) -> Any:
        """The module-level invoke_connector (or its async twin) on the shared clients."""
        if self.kind == "sync":
            return invoke_connector(connector, data, **kwargs)
        return asyncio.run(ainvoke_connector(connector, data, **kwargs))

    def test(self, connector: Connector, **kwargs: Any) -> Any:
        if self.kind == "sync":
            return test_connector(connector, **kwargs)
        return asyncio.run(atest_connector(connector, **kwargs))


MODE = Mode("sync")


@pytest.fixture(autouse=True, params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> Iterator[Mode]:
    global MODE
    MODE = Mode(request.param)
    yield MODE
    MODE = Mode("sync")


@pytest.fixture
def sleeps(mode: Mode) -> list[float]:
    """Every pause the client took between attempts (it does not really wait)."""
    return mode.sleeps


class Script:
    """Answers requests in order (the last answer repeats) and keeps every request."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request)

    def sync(self, **kwargs: Any) -> ConnectorClient:
        return ConnectorClient(
            transport=httpx.MockTransport(self.handle), sleep=MODE.sleeps.append, **kwargs
        )

    def async_(self, **kwargs: Any) -> AsyncConnectorClient:
        async def handler(request: httpx.Request) -> httpx.Response:
            return self.handle(request)

        async def sleep(seconds: float) -> None:
            MODE.sleeps.append(seconds)

        return AsyncConnectorClient(transport=httpx.MockTransport(handler), sleep=sleep, **kwargs)

    def invoke(
        self,
        connector: Connector | str,
        data: Any = "hello",
        path: Path | None = None,
        **kwargs: Any,
    ) -> ConnectorInvokeResult:
        if MODE.kind == "sync":
            with self.sync(path=path) as client:
                return client.invoke(connector, data, **kwargs)

        async def run() -> ConnectorInvokeResult:
            async with self.async_(path=path) as client:
                return await client.invoke(connector, data, **kwargs)

        return asyncio.run(run())

    def test(self, connector: Connector | str, path: Path | None = None) -> ConnectorTestResult:
        if MODE.kind == "sync":
            with self.sync(path=path) as client:
                return client.test(connector)

        async def run() -> ConnectorTestResult:
            async with self.async_(path=path) as client:
                return await client.test(connector)

        return asyncio.run(run())


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def failed(result: ConnectorInvokeResult | ConnectorTestResult) -> str:
    assert not result.success
    assert result.error is not None
    return result.error


# --- retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_a_busy_or_gateway_error_is_retried_then_succeeds(status: int) -> None:
    script = Script(reply(status, headers={"Retry-After": "0"}), OK)
    result = script.invoke(make_connector())
    assert result.success, result.error
    assert result.text == "all good"
    assert result.attempts == 2
    assert len(script.requests) == 2
    assert result.status_code == 200


def test_retry_after_seconds_is_the_pause(sleeps: list[float]) -> None:
    script = Script(reply(503, headers={"Retry-After": "7"}), OK)
    result = script.invoke(make_connector(retryBackoffMs=100_000))
    assert result.success, result.error
    assert sleeps == [7.0]


def test_retry_after_zero_wins_over_a_long_backoff(sleeps: list[float]) -> None:
    script = Script(reply(503, headers={"Retry-After": "0"}), OK)
    assert script.invoke(make_connector(retryBackoffMs=60_000)).success
    assert sleeps == [0.0]


def test_retry_after_as_an_http_date(sleeps: list[float]) -> None:
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    script = Script(reply(429, headers={"Retry-After": when}), OK)
    assert script.invoke(make_connector()).success
    [pause] = sleeps
    assert 3.0 < pause <= 5.0


def test_a_huge_retry_after_is_capped(sleeps: list[float]) -> None:
    script = Script(reply(429, headers={"Retry-After": "3600"}), OK)
    assert script.invoke(make_connector(timeout=7_200_000)).success
    assert sleeps == [MAX_DELAY_S]


def test_a_retry_after_longer_than_the_time_left_fails_at_once(sleeps: list[float]) -> None:
    script = Script(reply(503, headers={"Retry-After": "30"}, json={"detail": "busy"}), OK)
    result = script.invoke(make_connector(timeout=2000, retries=3))
    error = failed(result)
    assert error.startswith("HTTP 503: busy (not retried: the server asked to wait 30 s")
    assert "config.timeout" in error
    assert sleeps == []
    assert len(script.requests) == 1


def test_retries_and_pauses_share_one_time_budget(sleeps: list[float]) -> None:
    """Each pause counts against config.timeout: the third attempt would start past it."""
    script = Script(reply(503, headers={"Retry-After": "0.6"}))
    result = script.invoke(make_connector(timeout=1000, retries=5))
    assert sleeps == [0.6]
    assert result.attempts == 2
    assert "not retried" in failed(result)


def test_without_retry_after_the_backoff_doubles_with_jitter(sleeps: list[float]) -> None:
    script = Script(reply(503, text="down"))
    result = script.invoke(make_connector(retries=2, retryBackoffMs=100))
    assert failed(result) == "HTTP 503: down"
    assert result.attempts == 3
    first, second = sleeps
    assert 0.05 <= first <= 0.1
    assert 0.1 <= second <= 0.2


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_retries_are_bounded_by_config(retries: int) -> None:
    script = Script(reply(503, json={"detail": "overloaded"}))
    result = script.invoke(make_connector(retries=retries))
    assert failed(result) == "HTTP 503: overloaded"
    assert result.status_code == 503
    assert result.attempts == retries + 1
    assert len(script.requests) == retries + 1


def test_default_retries_are_two() -> None:
    script = Script(reply(429))
    connector = make_connector()
    assert connector.config is not None
    assert connector.config.retries is None
    assert script.invoke(connector).attempts == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 500])
def test_client_errors_and_a_500_are_not_retried(status: int) -> None:
    script = Script(reply(status, json={"detail": "no"}))
    result = script.invoke(make_connector(retries=3))
    assert failed(result) == f"HTTP {status}: no"
    assert result.attempts == 1
    assert len(script.requests) == 1


def test_an_error_without_a_body_says_the_reason_phrase() -> None:
    assert failed(Script(reply(502)).invoke(make_connector(retries=0))) == "HTTP 502: Bad Gateway"


def test_a_connect_error_is_retried() -> None:
    script = Script(raise_(httpx.ConnectError), OK)
    result = script.invoke(make_connector())
    assert result.success, result.error
    assert result.attempts == 2


def test_latency_is_that_of_the_attempt_that_answered() -> None:
    def slow_busy(request: httpx.Request) -> httpx.Response:
        time.sleep(0.5)
        return httpx.Response(429, headers={"Retry-After": "0"})

    result = Script(slow_busy, OK).invoke(make_connector())
    assert result.success, result.error
    assert result.attempts == 2
    assert 0 < result.latency_ms < 500


# --- an agent that is down or slow ------------------------------------------------------------


def test_a_closed_port_is_a_connect_failure_after_every_attempt(
    closed_port: int, mode: Mode
) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    result = mode.invoke(make_connector(base_url=url, retries=2), "hello")
    error = failed(result)
    assert error.startswith(f"cannot connect to {url}/chat")
    assert "is the agent running there?" in error
    assert result.attempts == 3
    assert result.status_code is None

    probe = mode.test(make_connector(base_url=url, retries=0))
    assert failed(probe).startswith(f"cannot connect to {url}/chat")
    assert probe.attempts == 1


def test_a_closed_port_for_a_langgraph_connector(closed_port: int, mode: Mode) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    connector = make_connector(kind="langgraph", base_url=url, retries=1)
    stateless = mode.invoke(connector, "hello")
    assert failed(stateless).startswith(f"cannot connect to {url}")
    assert stateless.attempts == 2
    threaded = mode.invoke(connector, "hello", run_id="ticket-42")
    assert failed(threaded).startswith(f"cannot connect to {url}")
    assert threaded.thread_id is not None


class _TimesOutMidBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield b'{"content": "half an ans'
        raise httpx.ReadTimeout("read timed out")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"content": "half an ans'
        raise httpx.ReadTimeout("read timed out")


def test_a_read_timeout_mid_body_is_reported_and_not_retried() -> None:
    script = Script(lambda request: httpx.Response(200, stream=_TimesOutMidBody()))
    result = script.invoke(make_connector(timeout=1234, retries=3))
    error = failed(result)
    assert error.startswith(f"timed out after 1234 ms waiting for {BASE}/chat")
    assert result.attempts == 1
    assert len(script.requests) == 1


def test_the_timeout_is_passed_to_every_request() -> None:
    seen: list[dict[str, Any]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={"content": "ok"})

    Script(record).invoke(make_connector(timeout=1500))
    assert seen == [{"connect": 1.5, "read": 1.5, "write": 1.5, "pool": 1.5}]


# --- 200 replies that are not what was asked for ----------------------------------------------


def test_a_plain_text_200_is_the_reply() -> None:
    result = Script(reply(text="Just text.")).invoke(make_connector())
    assert result.success, result.error
    assert result.text == "Just text."


def test_an_empty_200_is_a_failure() -> None:
    result = Script(reply(200)).invoke(make_connector())
    assert failed(result) == "HTTP 200, but the reply body is empty"


def test_a_json_200_without_an_assistant_message_is_a_failure() -> None:
    result = Script(reply(json={"status": "queued", "job": 7})).invoke(make_connector())
    error = failed(result)
    assert error.startswith("HTTP 200, but no assistant message in the reply")
    assert "job, status" in error
    assert result.raw_response == '{"status":"queued","job":7}'


def test_test_connector_only_needs_a_2xx() -> None:
    result = Script(reply(json={"status": "queued"})).test(make_connector())
    assert result.success, result.error
    assert result.response == '{"status":"queued"}'


def _graph_state(request: httpx.Request) -> httpx.Response:
    """What runs/wait answers: the thread's whole state, our input messages included."""
    sent = json.loads(request.content)["input"]["messages"]
    state = [{"type": "human", "content": m["content"], "id": m["id"]} for m in sent]
    state.append({"type": "ai", "content": "graph says hi", "id": "ai-1"})
    return httpx.Response(200, json={"messages": state})


def test_a_langgraph_run_is_retried_on_503_like_any_request() -> None:
    script = Script(reply(503, headers={"Retry-After": "0"}), _graph_state)
    result = script.invoke(make_connector(kind="langgraph"))
    assert result.success, result.error
    assert result.text == "graph says hi"
    assert result.attempts == 2
    assert [r.url.path for r in script.requests] == ["/runs/wait", "/runs/wait"]


def test_a_langgraph_run_that_added_no_answer_is_a_failure() -> None:
    def echo_only(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)["input"]["messages"]
        return httpx.Response(200, json={"messages": [{"type": "human", **m} for m in sent]})

    result = Script(echo_only).invoke(make_connector(kind="langgraph"))
    assert failed(result) == "the run added no assistant message"
    assert result.status_code == 200


# --- secrets ----------------------------------------------------------------------------------


def _echo_headers(status: int) -> Answer:
    """A server that repeats the request headers back, as some error pages do."""

    def answer(request: httpx.Request) -> httpx.Response:
        headers = dict(request.headers)
        if status == 200:
            return httpx.Response(200, json={"content": f"you sent {headers}"})
        return httpx.Response(status, json={"detail": {"message": f"rejected {headers}"}})

    return answer


AUTH_CASES = [
    pytest.param("api-key", SECRET, [SECRET], id="api-key"),
    pytest.param("bearer", SECRET, [SECRET], id="bearer"),
    pytest.param(
        "basic",
        f"ada:{SECRET}",
        [f"ada:{SECRET}", base64.b64encode(f"ada:{SECRET}".encode()).decode()],
        id="basic",
    ),
]


def _assert_hidden(result: ConnectorInvokeResult | ConnectorTestResult, forms: list[str]) -> None:
    texts = [result.model_dump_json(), repr(result), str(result.model_dump())]
    for form in forms:
        for text in texts:
            assert form not in text


@pytest.mark.parametrize(("auth_type", "value", "forms"), AUTH_CASES)
@pytest.mark.parametrize("status", [200, 401])
def test_an_echoed_secret_is_masked_in_every_result(
    monkeypatch: pytest.MonkeyPatch, auth_type: str, value: str, forms: list[str], status: int
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, value)
    connector = make_connector(auth_type=auth_type, auth_value=f"${{{SECRET_VARIABLE}}}")
    script = Script(_echo_headers(status))

    result = script.invoke(connector)
    # The secret did go out: the server got it.
    assert any(forms[-1] in " ".join(r.headers.values()) for r in script.requests)
    _assert_hidden(result, forms)
    assert result.raw_response is not None
    assert "****" in result.raw_response
    if status == 200:
        assert result.success
        assert "****" in result.text
    else:
        assert failed(result).startswith("HTTP 401: rejected")
        assert "****" in failed(result)

    _assert_hidden(script.test(connector), forms)


def test_a_literal_secret_is_masked_as_well() -> None:
    connector = make_connector(auth_type="bearer", auth_value=SECRET)
    result = Script(_echo_headers(401)).invoke(connector)
    _assert_hidden(result, [SECRET])
    assert "Bearer ****" in failed(result)


def test_secret_headers_are_masked_and_plain_ones_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    connector = make_connector(
        headers={
            "X-Tenant": f"${{{SECRET_VARIABLE}}}",  # a reference: its value is a secret
            "X-Session-Token": "literal-session-value",  # a secret-looking name
            "X-Trace": "trace-1234",  # neither: shown as is
        }
    )
    result = Script(_echo_headers(200)).invoke(connector)
    _assert_hidden(result, [SECRET, "literal-session-value"])
    assert "trace-1234" in result.text


@pytest.mark.parametrize("secret", ['sk-"SECRET"-1', "sk\\SECRET\\1"])
def test_a_secret_with_json_special_characters_is_masked_too(secret: str) -> None:
    def echo_text(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=f"you sent {request.headers['x-api-key']}")

    connector = make_connector(auth_type="api-key", auth_value=secret)
    result = Script(echo_text).invoke(connector)
    assert result.success, result.error
    assert secret not in result.text
    assert secret not in (result.raw_response or "")


# --- what is sent -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth_type", "value", "expected"),
    [
        ("api-key", "k-123", {"x-api-key": "k-123"}),
        ("bearer", "k-123", {"authorization": "Bearer k-123"}),
        ("basic", "ada:pw", {"authorization": "Basic YWRhOnB3"}),
        ("basic", "YWRhOnB3", {"authorization": "Basic YWRhOnB3"}),  # already encoded
        ("none", "k-123", {}),
        (None, None, {}),
    ],
)
def test_auth_headers_and_config_headers(
    monkeypatch: pytest.MonkeyPatch,
    auth_type: str | None,
    value: str | None,
    expected: dict[str, str],
) -> None:
    monkeypatch.setenv("PYTEST_CONNECTORS_TEST_TENANT", "acme")
    connector = make_connector(
        auth_type=auth_type,
        auth_value=value,
        headers={"X-Trace": "t-1", "X-Tenant": "${PYTEST_CONNECTORS_TEST_TENANT}"},
    )
    script = Script(OK)
    assert script.invoke(connector).success
    headers = script.requests[0].headers
    auth = {k: headers[k] for k in ("authorization", "x-api-key") if k in headers}
    assert auth == expected
    assert headers["x-trace"] == "t-1"
    assert headers["x-tenant"] == "acme"
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"


def test_the_request_is_the_configured_method_and_url_with_the_messages() -> None:
    script = Script(OK)
    connector = make_connector(base_url=f"{BASE}/api/", path="/v2/chat", method="put")
    history = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "my name is Ada"},
        {"role": "assistant", "content": "Hi Ada"},
        {"role": "user", "content": "what is my name"},
    ]
    assert script.invoke(connector, history).success
    [request] = script.requests
    assert request.method == "PUT"
    assert str(request.url) == f"{BASE}/api/v2/chat"
    assert json.loads(request.content) == {"messages": history}


def test_test_connector_sends_hello() -> None:
    script = Script(reply(json={"content": "hi"}))
    result = script.test(make_connector())
    assert (result.success, result.response) == (True, "hi")
    body = json.loads(script.requests[0].content)
    assert body["messages"] == [{"role": "user", "content": "hello"}]


# --- local misuse raises, before any request --------------------------------------------------


def test_an_unknown_connector_name_raises_and_lists_the_known_ones(
    tmp_path: Path, mode: Mode
) -> None:
    path = tmp_path / "connectors.json"
    ConnectorStore(path).create({"name": "known", "type": "http", "baseUrl": BASE})
    script = Script(OK)
    with pytest.raises(ConnectorNotFoundError, match=r"unknown connector 'nope'.*'known'"):
        script.invoke("nope", "hello", path=path)
    with pytest.raises(ConnectorNotFoundError):
        mode.invoke("nope", "hello", path=path)  # type: ignore[arg-type]
    with pytest.raises(ConnectorNotFoundError):
        mode.test("nope", path=path)  # type: ignore[arg-type]
    assert script.requests == []


def test_a_connector_is_found_by_name_or_id_in_its_file(tmp_path: Path) -> None:
    path = tmp_path / "connectors.json"
    created = ConnectorStore(path).create(
        {"name": "known", "type": "http", "baseUrl": BASE, "config": {"path": "/chat"}}
    )
    script = Script(OK)
    assert script.invoke("known", "hello", path=path).success
    assert script.invoke(created.id, "hello", path=path).success
    assert [str(r.url) for r in script.requests] == [f"{BASE}/chat"] * 2


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ([], InvalidInputError),
        ({"messages": []}, ValidationError),
        ([{"role": "robot", "content": "beep"}], ValidationError),
        ({"content": "no role"}, ValidationError),
    ],
)
def test_input_with_nothing_to_send_raises(data: Any, error: type[Exception]) -> None:
    script = Script(OK)
    with pytest.raises(error):
        script.invoke(make_connector(), data)
    assert script.requests == []


@pytest.mark.parametrize(
    "fields",
    [
        {"auth_type": "bearer", "auth_value": "${PYTEST_CONNECTORS_UNSET_VAR}"},
        {"base_url": "${PYTEST_CONNECTORS_UNSET_VAR}"},
        {"headers": {"X-Key": "${PYTEST_CONNECTORS_UNSET_VAR}"}},
        {"path": "/chat/${PYTEST_CONNECTORS_UNSET_VAR}"},
    ],
)
def test_a_missing_variable_raises_naming_it(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any]
) -> None:
    monkeypatch.delenv("PYTEST_CONNECTORS_UNSET_VAR", raising=False)
    connector = make_connector(**fields)
    script = Script(OK)
    with pytest.raises(MissingVariableError, match="PYTEST_CONNECTORS_UNSET_VAR") as caught:
        script.invoke(connector)
    assert caught.value.variable == "PYTEST_CONNECTORS_UNSET_VAR"
    assert caught.value.connector == "agent"
    with pytest.raises(MissingVariableError):
        script.test(connector)
    with pytest.raises(MissingVariableError):
        MODE.invoke(connector, "hello")
    with pytest.raises(MissingVariableError):
        MODE.test(connector)
    assert script.requests == []


def test_a_changed_variable_takes_effect_on_the_next_call_of_the_same_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, "first-token")
    connector = make_connector(auth_type="bearer", auth_value=f"${{{SECRET_VARIABLE}}}")
    script = Script(OK)
    with script.sync() as client:
        client.invoke(connector, "hello")
        monkeypatch.setenv(SECRET_VARIABLE, "second-token")
        client.invoke(connector, "hello")
        monkeypatch.delenv(SECRET_VARIABLE)
        with pytest.raises(MissingVariableError):
            client.invoke(connector, "hello")
    sent = [request.headers["authorization"] for request in script.requests]
    assert sent == ["Bearer first-token", "Bearer second-token"]


# --- bugs are raised, not reported as agent failures ------------------------------------------


def test_a_programming_error_in_a_langgraph_call_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """An SDK whose signature changed is a bug to fix, not "the agent failed"."""

    def wrong(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("wait() got an unexpected keyword argument 'if_not_exists'")

    async def awrong(*args: Any, **kwargs: Any) -> Any:
        wrong()

    # Through the public module: the SDK's private layout differs across supported versions.
    monkeypatch.setattr("langgraph_sdk.client.SyncRunsClient.wait", wrong)
    monkeypatch.setattr("langgraph_sdk.client.RunsClient.wait", awrong)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        Script(_graph_state).invoke(make_connector(kind="langgraph"))


def test_without_langgraph_sdk_a_langgraph_call_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "langgraph_sdk", None)
    script = Script(OK)
    with pytest.raises(MissingDependencyError) as caught:
        script.invoke(make_connector(kind="langgraph"))
    assert script.requests == []
    assert str(caught.value) == (
        "langgraph-sdk is not installed, and LangGraph connectors need it: "
        'pip install "pytest-connectors[langgraph]"'
    )
    assert "\n" not in str(caught.value)
    assert script.invoke(make_connector()).success  # HTTP connectors need no SDK
    assert script.requests[-1].url.path == "/chat"


def test_a_pool_timeout_is_retried() -> None:
    script = Script(raise_(httpx.PoolTimeout), OK)
    result = script.invoke(make_connector())
    assert result.success, result.error
    assert result.attempts == 2


# --- bounded replies --------------------------------------------------------------------------


def test_a_reply_past_max_response_bytes_is_a_clear_failure() -> None:
    big = reply(json={"content": "x" * 2_000_000})
    result = Script(big).invoke(make_connector(maxResponseBytes=1_000_000))
    error = failed(result)
    assert error.startswith(f"the reply from {BASE}/chat is larger than config.maxResponseBytes")
    assert "(1000000 bytes, counted after decompression)" in error
    assert result.attempts == 1
    assert Script(big).invoke(make_connector(maxResponseBytes=3_000_000)).success


def test_the_default_limit_counts_bytes_after_decompression() -> None:
    """A 20 MB reply that compresses to a few kB (a zip bomb) stops at the 10 MB default."""
    import gzip

    bomb = gzip.compress(b'{"content": "' + b"0" * 20_000_000 + b'"}')
    assert len(bomb) < 100_000
    headers = {"content-encoding": "gzip", "content-type": "application/json"}
    result = Script(reply(content=bomb, headers=headers)).invoke(make_connector())
    assert "larger than config.maxResponseBytes (10485760 bytes" in failed(result)
    small = gzip.compress(b'{"content": "unzipped"}')
    assert Script(reply(content=small, headers=headers)).invoke(make_connector()).text == (
        "unzipped"
    )


def test_a_langgraph_reply_past_the_limit_fails_too() -> None:
    def huge_state(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"messages": [{"type": "ai", "content": "y" * 300_000}]})

    result = Script(huge_state).invoke(make_connector(kind="langgraph", maxResponseBytes=100_000))
    assert "larger than config.maxResponseBytes (100000 bytes" in failed(result)


def test_invalid_utf8_in_a_reply_is_a_failure_that_says_so() -> None:
    result = Script(reply(content=b'{"content": "caf\xe9"}')).invoke(make_connector())
    assert failed(result).startswith("HTTP 200, but the reply is not valid UTF-8 (byte 0xe9")

    latin = reply(content=b"caf\xe9", headers={"content-type": "text/plain; charset=latin-1"})
    assert Script(latin).invoke(make_connector()).text == "café"

    graph = Script(reply(content=b'{"messages": [{"type": "ai", "content": "\xff"}]}'))
    error = failed(graph.invoke(make_connector(kind="langgraph")))
    assert error == f"the server at {BASE} answered with a body that is not valid UTF-8"


def test_a_langgraph_reply_that_is_not_json_says_so() -> None:
    result = Script(reply(text="<html>gateway</html>")).invoke(make_connector(kind="langgraph"))
    assert failed(result) == f"the server at {BASE} answered with a body that is not JSON"


# --- OpenAI-compatible requests ---------------------------------------------------------------


def test_config_body_adds_fields_to_every_request_body() -> None:
    script = Script(OK)
    connector = make_connector(body={"model": "gpt-test", "temperature": 0.2})
    assert script.invoke(connector, "hi").success
    assert script.test(connector).success
    invoke, probe = (json.loads(r.content) for r in script.requests)
    assert invoke == {
        "model": "gpt-test",
        "temperature": 0.2,
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert probe == {
        "model": "gpt-test",
        "temperature": 0.2,
        "messages": [{"role": "user", "content": "hello"}],
    }


def test_the_probe_body_passes_a_strict_server() -> None:
    """A server that rejects unknown fields, as strict OpenAI-compatible ones do."""

    def strict(request: httpx.Request) -> httpx.Response:
        unknown = set(json.loads(request.content)) - {"model", "messages", "temperature"}
        if unknown:
            return httpx.Response(422, json={"detail": f"unknown fields {sorted(unknown)}"})
        return httpx.Response(200, json={"choices": [{"message": {"content": "hi"}}]})

    result = Script(strict).test(make_connector(body={"model": "m"}))
    assert (result.success, result.response) == (True, "hi")


# --- redirects keep credentials on the connector's origin ------------------------------------


def _redirect(status: int, location: str) -> Answer:
    return reply(status, headers={"location": location})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_same_origin_redirect_is_followed_with_the_credentials(status: int) -> None:
    script = Script(_redirect(status, "/v2/chat"), OK)
    connector = make_connector(auth_type="api-key", auth_value=SECRET, headers={"X-Tenant": "t"})
    result = script.invoke(connector)
    assert result.success, result.error
    _, second = script.requests
    assert str(second.url) == f"{BASE}/v2/chat"
    assert second.headers["x-api-key"] == SECRET
    assert second.method == ("POST" if status in (307, 308) else "GET")


@pytest.mark.parametrize(
    "location",
    ["https://agent.test/chat", "http://evil.test/chat", "http://agent.test:8080/chat"],
)
def test_a_redirect_to_another_origin_is_refused_and_nothing_is_sent_there(
    monkeypatch: pytest.MonkeyPatch, location: str
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    script = Script(_redirect(302, location), OK)
    connector = make_connector(
        auth_type="bearer",
        auth_value=SECRET,
        headers={"X-API-Key": "literal-key-value", "X-Tenant": f"${{{SECRET_VARIABLE}}}"},
    )
    result = script.invoke(connector)
    error = failed(result)
    assert error.startswith("HTTP 302: the agent redirected to another origin (")
    assert "set baseUrl" in error
    assert result.status_code == 302
    assert [str(r.url) for r in script.requests] == [f"{BASE}/chat"]


def test_too_many_redirects_is_a_failure() -> None:
    script = Script(_redirect(307, "/chat"))
    assert failed(script.invoke(make_connector())) == "more than 5 redirects"
    assert len(script.requests) == 6


def test_a_langgraph_server_that_redirects_is_a_failure() -> None:
    script = Script(_redirect(307, "http://elsewhere.test/runs/wait"), _graph_state)
    connector = make_connector(kind="langgraph", auth_type="api-key", auth_value=SECRET)
    error = failed(script.invoke(connector))
    assert "the server redirected to http://elsewhere.test" in error
    assert "set baseUrl" in error
    assert [r.url.host for r in script.requests] == ["agent.test"]


# --- masked before cut ------------------------------------------------------------------------


def test_secrets_are_masked_before_texts_are_cut() -> None:
    """Each limit (error detail 300, raw_response 2000, test reply 500) falls inside the secret."""
    connector = make_connector(auth_type="api-key", auth_value=SECRET)
    detail = Script(reply(400, json={"detail": "d" * 290 + SECRET}))
    error = failed(detail.invoke(connector))
    raw = Script(reply(400, text="r" * 1990 + SECRET)).invoke(connector).raw_response or ""
    probe = Script(reply(text="p" * 490 + SECRET)).test(connector).response or ""
    for text in (error, raw, probe):
        assert SECRET[:6] not in text
        assert "****" in text


def test_a_secret_in_the_url_stays_out_of_httpx_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    connector = make_connector(base_url=f"{BASE}/chat?key=${{{SECRET_VARIABLE}}}", path="")
    with caplog.at_level(logging.DEBUG):
        script = Script(reply(400, json={"detail": "bad key"}))
        result = script.invoke(connector)
    assert str(script.requests[0].url) == f"{BASE}/chat?key={SECRET}"
    assert "HTTP 400" in failed(result)
    assert "HTTP Request: POST http://agent.test/chat?key=****" in caplog.text
    assert SECRET not in caplog.text


def test_resolved_secrets_do_not_show_in_the_reprs_of_what_holds_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    connector = make_connector(
        base_url=f"{BASE}/chat?key=${{{SECRET_VARIABLE}}}",
        path="",
        auth_type="bearer",
        auth_value=f"${{{SECRET_VARIABLE}}}",
    )
    target = resolve_target(connector)
    flow = http_invoke(target, [Message(role="user", content="hi")])
    exchange = next(flow)
    flow.close()
    for text in (repr(target), repr(exchange), repr(target.redactor)):
        assert SECRET not in text
