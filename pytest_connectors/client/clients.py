"""Sync and async clients that perform the effects of the shared flows.

A client keeps its HTTP connections (and langgraph-sdk clients) open between calls, so a test
suite pays for connection set-up once. Pass ``transport=`` (e.g. ``httpx.MockTransport``) to
exercise faults without a server.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypedDict, TypeVar, cast

import httpx

from pytest_connectors.client.flows import (
    CancelRun,
    Effect,
    Flow,
    GetThreadState,
    HttpExchange,
    LangGraphRunOptions,
    Outcome,
    SdkEffect,
    Sleep,
    WaitRun,
    invoke_flow,
    probe_flow,
)
from pytest_connectors.client.logs import secret_log_filter
from pytest_connectors.client.target import (
    Target,
    resolve_target,
    variable_values,
    variables_of,
)
from pytest_connectors.client.transport import (
    ACCEPT_ENCODING,
    AsyncDeadlineTransport,
    CallLimits,
    DeadlineTransport,
    current_limits,
)
from pytest_connectors.errors import InvalidInputError, MissingDependencyError
from pytest_connectors.models.connector import (
    Connector,
    ConnectorInvokeInput,
    ConnectorInvokeResult,
    ConnectorTestResult,
    Message,
)
from pytest_connectors.registry.functions import PathArg, store_for

if TYPE_CHECKING:
    from langgraph_sdk.client import LangGraphClient, SyncLangGraphClient
    from langgraph_sdk.schema import Config, Context, RunCreateMetadata

T = TypeVar("T")
ConnectorRef = Connector | str
MessageLike = Message | Mapping[str, Any]
InvokeInput = ConnectorInvokeInput | Mapping[str, Any] | str | MessageLike | Sequence[MessageLike]


def _message(item: MessageLike | str) -> Message:
    if isinstance(item, Message):
        return item
    if isinstance(item, str):
        return Message(role="user", content=item)
    return Message.model_validate(item)


def coerce_input(data: InvokeInput, run_id: str | None = None) -> tuple[list[Message], str | None]:
    """The messages and run id of a string, a message, a list of them, or a ConnectorInvokeInput.

    An explicit ``run_id`` wins over the input's own.
    """
    if isinstance(data, Mapping) and "messages" in data:
        data = ConnectorInvokeInput.model_validate(data)
    if isinstance(data, ConnectorInvokeInput):
        return list(data.messages), run_id if run_id is not None else data.run_id
    if isinstance(data, str | Message | Mapping):
        return [_message(data)], run_id
    messages = [_message(item) for item in data]
    if not messages:
        raise InvalidInputError("no messages to send: give at least one message")
    return messages, run_id


def connector_of(ref: ConnectorRef, path: PathArg = None) -> Connector:
    return ref if isinstance(ref, Connector) else store_for(path).find(ref)


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """Built once: loading CA certificates costs ~15 ms, a whole loopback call costs ~1 ms."""
    return ssl.create_default_context()


def _elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _sdk_http_options(target: Target) -> dict[str, Any]:
    """httpx settings of a langgraph-sdk client: one client per server, headers and timeout.

    Redirects are refused by the transport: following one would carry the connector's
    credentials wherever the server points.
    """
    return {
        "base_url": target.base_url,
        "headers": {**dict(target.headers), "Accept-Encoding": ACCEPT_ENCODING},
        "timeout": target.timeout_s,
        "follow_redirects": False,
    }


_HTTP_HEADERS = {"Accept-Encoding": ACCEPT_ENCODING}

LANGGRAPH_MISSING = (
    "langgraph-sdk is not installed, and LangGraph connectors need it: "
    'pip install "pytest-connectors[langgraph]"'
)


def _import_sdk() -> Any:
    """langgraph_sdk.client, imported on the first LangGraph call (HTTP-only users skip it)."""
    try:
        from langgraph_sdk import client
    except ImportError:
        raise MissingDependencyError(LANGGRAPH_MISSING) from None
    return client


# What a LangGraph call may fail with that is the agent's or the network's doing. Anything else
# (a TypeError from an SDK whose signature changed, say) is a bug and is raised as one.
CALL_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, json.JSONDecodeError)


def _limits(effect: HttpExchange | SdkEffect) -> CallLimits:
    """Limits for the transport; an HTTP exchange passes its timeout to httpx itself."""
    if isinstance(effect, HttpExchange):
        return CallLimits(deadline=float("inf"), max_bytes=effect.max_bytes)
    deadline = time.perf_counter() + effect.timeout_s
    return CallLimits(deadline=deadline, max_bytes=effect.target.max_response_bytes)


class _WaitArgs(TypedDict):
    """The arguments of ``runs.wait`` common to thread and stateless runs (checked by mypy)."""

    input: dict[str, Any]
    config: Config | None
    context: Context | None
    raise_error: bool
    on_disconnect: Literal["cancel"]
    on_run_created: Callable[[RunCreateMetadata], None]


def _wait_args(effect: WaitRun, created: list[RunCreateMetadata]) -> _WaitArgs:
    return {
        "input": dict(effect.input),
        "config": cast("Config | None", effect.config),
        "context": cast("Context | None", effect.context),
        "raise_error": False,  # a graph error is read from the state, as a failed result
        "on_disconnect": "cancel",  # a call that gives up takes its run with it
        "on_run_created": created.append,
    }


def _run_of(created: list[RunCreateMetadata]) -> tuple[str, str] | None:
    for meta in created:
        if meta.get("thread_id"):
            return str(meta["thread_id"]), str(meta["run_id"])
    return None


SdkT = TypeVar("SdkT")


class _ClientBase(Generic[SdkT]):
    def __init__(self, *, path: PathArg = None, environ: Mapping[str, str] | None = None) -> None:
        self._path = path
        self._environ = environ
        self._sdk: dict[tuple[Any, ...], SdkT] = {}
        self._headers: dict[tuple[tuple[str, str], ...], httpx.Headers] = {}
        self._targets: dict[
            int, tuple[Connector, tuple[str, ...], tuple[str | None, ...], Target]
        ] = {}

    def _target(self, ref: ConnectorRef) -> Target:
        """The resolved connector, reused while the connector and its variables are unchanged."""
        connector = connector_of(ref, self._path)
        cached = self._targets.get(id(connector))
        if (
            cached is not None
            and cached[0] is connector
            and variable_values(connector, self._environ) == cached[2]
        ):
            return cached[3]
        target = resolve_target(connector, self._environ)
        secret_log_filter.watch(target.redactor)
        names = variables_of(connector)
        values = variable_values(connector, self._environ)
        if len(self._targets) >= 256:  # callers that build a new Connector for every call
            self._targets.clear()
        # Keyed by identity and holding the connector, so an id is never reused while cached.
        self._targets[id(connector)] = (connector, names, values, target)
        return target

    def _request(
        self, effect: HttpExchange, defaults: httpx.Headers, cookies: httpx.Cookies
    ) -> httpx.Request:
        """The request, built without httpx's per-call merging of URL, headers and timeout.

        The URL is parsed once per target and the headers merged once per header set, which
        is most of what a call costs beyond the network.
        """
        headers = self._headers.get(effect.headers)
        if headers is None:
            if len(self._headers) >= 256:
                self._headers.clear()
            headers = self._headers[effect.headers] = httpx.Headers(defaults)
            headers.update(effect.headers)
        timeout = effect.timeout_s
        request = httpx.Request(
            effect.method,
            effect.url,
            headers=headers,
            content=effect.content,
            extensions={
                "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
            },
        )
        if cookies:  # what the agent set earlier goes back to it, as httpx would send it
            cookies.set_cookie_header(request)
        return request

    def _langgraph(self, target: Target) -> SdkT:
        key = (target.base_url, target.headers, target.timeout_s)
        sdk = self._sdk.get(key)
        if sdk is None:
            sdk = self._sdk[key] = self._new_sdk(target)
        return sdk

    def _new_sdk(self, target: Target) -> SdkT:
        raise NotImplementedError


class ConnectorClient(_ClientBase["SyncLangGraphClient"]):
    """Invoke and test connectors synchronously over kept-alive connections.

    ``sleep`` is how the client waits between attempts (``time.sleep``; tests pass a recorder).
    """

    def __init__(
        self,
        *,
        path: PathArg = None,
        transport: httpx.BaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        super().__init__(path=path, environ=environ)
        inner = transport or httpx.HTTPTransport(verify=ssl_context())
        self._transport = DeadlineTransport(inner)
        self._sdk_transport = DeadlineTransport(inner, sdk=True)
        self._http: httpx.Client | None = None
        self._sleep = sleep

    def invoke(
        self,
        connector: ConnectorRef,
        data: InvokeInput,
        *,
        run_id: str | None = None,
        assume_new: bool = False,
        config: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> ConnectorInvokeResult:
        """``assume_new``: the caller sends only messages the thread has not seen (no look-up).

        ``config`` and ``context`` are a LangGraph run's own (HTTP connectors have
        ``config.body`` in the connector instead, and ignore them).
        """
        messages, run_id = coerce_input(data, run_id)
        options = LangGraphRunOptions(config, context) if config or context else None
        flow = invoke_flow(self._target(connector), messages, run_id, assume_new, options)
        return self._drive(flow)

    def test(self, connector: ConnectorRef) -> ConnectorTestResult:
        return self._drive(probe_flow(self._target(connector)))

    test.__test__ = False  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        for sdk in self._sdk.values():
            sdk.http.client.close()
        self._sdk.clear()

    def __enter__(self) -> ConnectorClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _drive(self, flow: Flow[T]) -> T:
        try:
            effect = next(flow)
            while True:
                effect = flow.send(self._perform(effect))
        except StopIteration as stop:
            result: T = stop.value
            return result

    def _perform(self, effect: Effect) -> Outcome:
        match effect:
            case Sleep(seconds=seconds):
                self._sleep(seconds)
                return Outcome()
            case HttpExchange():
                return self._exchange(effect)
            case GetThreadState() | WaitRun() | CancelRun():
                return self._sdk_call(effect)

    def _exchange(self, effect: HttpExchange) -> Outcome:
        client = self._http_client()
        token = current_limits.set(_limits(effect))
        start = time.perf_counter()
        try:
            response = client.send(self._request(effect, client.headers, client.cookies))
        except httpx.HTTPError as exc:
            return Outcome(latency_ms=_elapsed_ms(start), error=exc)
        finally:
            current_limits.reset(token)
        return Outcome(latency_ms=_elapsed_ms(start), response=response)

    def _sdk_call(self, effect: SdkEffect) -> Outcome:
        sdk = self._langgraph(effect.target)
        created: list[RunCreateMetadata] = []
        token = current_limits.set(_limits(effect))
        start = time.perf_counter()
        try:
            match effect:
                case GetThreadState(thread_id=thread_id):
                    value: Any = sdk.threads.get_state(thread_id)
                case WaitRun(thread_id=None):
                    value = sdk.runs.wait(
                        None, effect.target.assistant_id, **_wait_args(effect, created)
                    )
                case WaitRun(thread_id=str(thread_id)):
                    value = sdk.runs.wait(
                        thread_id,
                        effect.target.assistant_id,
                        multitask_strategy="enqueue",
                        if_not_exists="create",
                        **_wait_args(effect, created),
                    )
                case CancelRun(thread_id=thread_id, run_id=run_id):
                    sdk.runs.cancel(thread_id, run_id)
                    value = None
        except CALL_ERRORS as exc:
            return Outcome(latency_ms=_elapsed_ms(start), error=exc, run=_run_of(created))
        finally:
            current_limits.reset(token)
        return Outcome(latency_ms=_elapsed_ms(start), value=value, run=_run_of(created))

    def _http_client(self) -> httpx.Client:
        if self._http is None:
            # Redirects are followed by the flow, which keeps credentials on their origin.
            self._http = httpx.Client(
                transport=self._transport, follow_redirects=False, headers=_HTTP_HEADERS
            )
        return self._http

    def _new_sdk(self, target: Target) -> SyncLangGraphClient:
        sdk = _import_sdk()
        http = httpx.Client(transport=self._sdk_transport, **_sdk_http_options(target))
        client: SyncLangGraphClient = sdk.SyncLangGraphClient(http)
        return client


class AsyncConnectorClient(_ClientBase["LangGraphClient"]):
    """The awaitable twin of :class:`ConnectorClient`; bound to the event loop that uses it."""

    def __init__(
        self,
        *,
        path: PathArg = None,
        transport: httpx.AsyncBaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        super().__init__(path=path, environ=environ)
        inner = transport or httpx.AsyncHTTPTransport(verify=ssl_context())
        self._transport = AsyncDeadlineTransport(inner)
        self._sdk_transport = AsyncDeadlineTransport(inner, sdk=True)
        self._http: httpx.AsyncClient | None = None
        self._sleep = sleep

    async def invoke(
        self,
        connector: ConnectorRef,
        data: InvokeInput,
        *,
        run_id: str | None = None,
        assume_new: bool = False,
        config: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> ConnectorInvokeResult:
        messages, run_id = coerce_input(data, run_id)
        options = LangGraphRunOptions(config, context) if config or context else None
        flow = invoke_flow(self._target(connector), messages, run_id, assume_new, options)
        return await self._drive(flow)

    async def test(self, connector: ConnectorRef) -> ConnectorTestResult:
        return await self._drive(probe_flow(self._target(connector)))

    test.__test__ = False  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        for sdk in self._sdk.values():
            await sdk.http.client.aclose()
        self._sdk.clear()

    async def __aenter__(self) -> AsyncConnectorClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _drive(self, flow: Flow[T]) -> T:
        try:
            effect = next(flow)
            while True:
                effect = flow.send(await self._perform(effect))
        except StopIteration as stop:
            result: T = stop.value
            return result

    async def _perform(self, effect: Effect) -> Outcome:
        match effect:
            case Sleep(seconds=seconds):
                await self._sleep(seconds)
                return Outcome()
            case HttpExchange():
                return await self._exchange(effect)
            case GetThreadState() | WaitRun() | CancelRun():
                return await self._sdk_call(effect)

    async def _exchange(self, effect: HttpExchange) -> Outcome:
        client = self._http_client()
        token = current_limits.set(_limits(effect))
        start = time.perf_counter()
        try:
            response = await client.send(self._request(effect, client.headers, client.cookies))
        except httpx.HTTPError as exc:
            return Outcome(latency_ms=_elapsed_ms(start), error=exc)
        finally:
            current_limits.reset(token)
        return Outcome(latency_ms=_elapsed_ms(start), response=response)

    async def _sdk_call(self, effect: SdkEffect) -> Outcome:
        sdk = self._langgraph(effect.target)
        created: list[RunCreateMetadata] = []
        token = current_limits.set(_limits(effect))
        start = time.perf_counter()
        try:
            match effect:
                case GetThreadState(thread_id=thread_id):
                    value: Any = await sdk.threads.get_state(thread_id)
                case WaitRun(thread_id=None):
                    value = await sdk.runs.wait(
                        None, effect.target.assistant_id, **_wait_args(effect, created)
                    )
                case WaitRun(thread_id=str(thread_id)):
                    value = await sdk.runs.wait(
                        thread_id,
                        effect.target.assistant_id,
                        multitask_strategy="enqueue",
                        if_not_exists="create",
                        **_wait_args(effect, created),
                    )
                case CancelRun(thread_id=thread_id, run_id=run_id):
                    await sdk.runs.cancel(thread_id, run_id)
                    value = None
        except CALL_ERRORS as exc:
            return Outcome(latency_ms=_elapsed_ms(start), error=exc, run=_run_of(created))
        finally:
            current_limits.reset(token)
        return Outcome(latency_ms=_elapsed_ms(start), value=value, run=_run_of(created))

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                transport=self._transport, follow_redirects=False, headers=_HTTP_HEADERS
            )
        return self._http

    def _new_sdk(self, target: Target) -> LangGraphClient:
        sdk = _import_sdk()
        http = httpx.AsyncClient(transport=self._sdk_transport, **_sdk_http_options(target))
        client: LangGraphClient = sdk.LangGraphClient(http)
        return client


# -- module-level functions on shared clients ---------------------------------------------------

_sync_client: ConnectorClient | None = None


def shared_client() -> ConnectorClient:
    """The client of the module-level functions, made on first use."""
    global _sync_client
    if _sync_client is None:
        _sync_client = ConnectorClient()
    return _sync_client


def invoke_connector(
    connector: ConnectorRef,
    data: InvokeInput,
    *,
    run_id: str | None = None,
    path: PathArg = None,
    config: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> ConnectorInvokeResult:
    """Send messages to a connector's agent and return its reply.

    Remote failures come back as ``success=False`` with an ``error``; only local misuse raises.
    ``config``/``context`` go to a LangGraph run as its own (ignored by HTTP connectors).
    """
    return shared_client().invoke(
        connector_of(connector, path), data, run_id=run_id, config=config, context=context
    )


def test_connector(connector: ConnectorRef, *, path: PathArg = None) -> ConnectorTestResult:
    """Check that a connector's agent answers a "hello"."""
    return shared_client().test(connector_of(connector, path))


test_connector.__test__ = False  # type: ignore[attr-defined]


async def ainvoke_connector(
    connector: ConnectorRef,
    data: InvokeInput,
    *,
    run_id: str | None = None,
    path: PathArg = None,
    config: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> ConnectorInvokeResult:
    async with AsyncConnectorClient() as client:
        return await client.invoke(
            connector_of(connector, path), data, run_id=run_id, config=config, context=context
        )


async def atest_connector(connector: ConnectorRef, *, path: PathArg = None) -> ConnectorTestResult:
    async with AsyncConnectorClient() as client:
        return await client.test(connector_of(connector, path))
