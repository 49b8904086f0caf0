"""Sync and async clients that perform the effects of the shared flows.

A client keeps its HTTP connections (and langgraph-sdk clients) open between calls, so a test
suite pays for connection set-up once. Pass ``transport=`` (e.g. ``httpx.MockTransport``) to
exercise faults without a server.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx

from pytest_connectors.client.flows import (
    Flow,
    HttpExchange,
    Outcome,
    SdkCall,
    Sleep,
    invoke_flow,
    probe_flow,
)
from pytest_connectors.client.target import Target, resolve_target, variables_of
from pytest_connectors.client.transport import AsyncDeadlineTransport, DeadlineTransport
from pytest_connectors.errors import InvalidInputError
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
    """httpx settings of a langgraph-sdk client: one client per server, headers and timeout."""
    return {
        "base_url": target.base_url,
        "headers": dict(target.headers),
        "timeout": target.timeout_s,
        "follow_redirects": True,
    }


SdkT = TypeVar("SdkT")


class _ClientBase(Generic[SdkT]):
    def __init__(self, *, path: PathArg = None, environ: Mapping[str, str] | None = None) -> None:
        self._path = path
        self._environ = environ
        self._sdk: dict[tuple[Any, ...], SdkT] = {}
        self._targets: dict[
            int, tuple[Connector, tuple[str, ...], tuple[str | None, ...], Target]
        ] = {}

    def _target(self, ref: ConnectorRef) -> Target:
        """The resolved connector, reused while the connector and its variables are unchanged."""
        connector = connector_of(ref, self._path)
        env = os.environ if self._environ is None else self._environ
        cached = self._targets.get(id(connector))
        if cached is not None and cached[0] is connector:
            names = cached[1]
            if tuple(env.get(name) for name in names) == cached[2]:
                return cached[3]
        target = resolve_target(connector, self._environ)
        names = variables_of(connector)
        values = tuple(env.get(name) for name in names)
        if len(self._targets) >= 256:  # callers that build a new Connector for every call
            self._targets.clear()
        # Keyed by identity and holding the connector, so an id is never reused while cached.
        self._targets[id(connector)] = (connector, names, values, target)
        return target

    def _langgraph(self, target: Target) -> SdkT:
        key = (target.base_url, target.headers, target.timeout_s)
        sdk = self._sdk.get(key)
        if sdk is None:
            sdk = self._sdk[key] = self._new_sdk(target)
        return sdk

    def _new_sdk(self, target: Target) -> SdkT:
        raise NotImplementedError


class ConnectorClient(_ClientBase["SyncLangGraphClient"]):
    """Invoke and test connectors synchronously over kept-alive connections."""

    def __init__(
        self,
        *,
        path: PathArg = None,
        transport: httpx.BaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(path=path, environ=environ)
        self._transport = DeadlineTransport(transport or httpx.HTTPTransport(verify=ssl_context()))
        self._http: httpx.Client | None = None

    def invoke(
        self,
        connector: ConnectorRef,
        data: InvokeInput,
        *,
        run_id: str | None = None,
        assume_new: bool = False,
    ) -> ConnectorInvokeResult:
        """``assume_new``: the caller sends only messages the thread has not seen (no look-up)."""
        messages, run_id = coerce_input(data, run_id)
        return self._drive(invoke_flow(self._target(connector), messages, run_id, assume_new))

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

    def _perform(self, effect: HttpExchange | SdkCall | Sleep) -> Outcome:
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
            return Outcome()
        if isinstance(effect, HttpExchange):
            client = self._http_client()
            start = time.perf_counter()
            try:
                response = client.request(
                    effect.method,
                    effect.url,
                    content=effect.content,
                    headers=effect.headers,
                    timeout=effect.timeout_s,
                )
            except httpx.HTTPError as exc:
                return Outcome(latency_ms=_elapsed_ms(start), error=exc)
            return Outcome(latency_ms=_elapsed_ms(start), response=response)
        method = getattr(getattr(self._langgraph(effect.target), effect.resource), effect.method)
        start = time.perf_counter()
        try:
            value = method(**effect.kwargs)
        except Exception as exc:
            return Outcome(latency_ms=_elapsed_ms(start), error=exc)
        return Outcome(latency_ms=_elapsed_ms(start), value=value)

    def _http_client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(transport=self._transport, follow_redirects=True)
        return self._http

    def _new_sdk(self, target: Target) -> SyncLangGraphClient:
        from langgraph_sdk.client import SyncLangGraphClient

        http = httpx.Client(transport=self._transport, **_sdk_http_options(target))
        return SyncLangGraphClient(http)


class AsyncConnectorClient(_ClientBase["LangGraphClient"]):
    """The awaitable twin of :class:`ConnectorClient`; bound to the event loop that uses it."""

    def __init__(
        self,
        *,
        path: PathArg = None,
        transport: httpx.AsyncBaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(path=path, environ=environ)
        self._transport = AsyncDeadlineTransport(
            transport or httpx.AsyncHTTPTransport(verify=ssl_context())
        )
        self._http: httpx.AsyncClient | None = None

    async def invoke(
        self,
        connector: ConnectorRef,
        data: InvokeInput,
        *,
        run_id: str | None = None,
        assume_new: bool = False,
    ) -> ConnectorInvokeResult:
        messages, run_id = coerce_input(data, run_id)
        return await self._drive(invoke_flow(self._target(connector), messages, run_id, assume_new))

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

    async def _perform(self, effect: HttpExchange | SdkCall | Sleep) -> Outcome:
        if isinstance(effect, Sleep):
            await asyncio.sleep(effect.seconds)
            return Outcome()
        if isinstance(effect, HttpExchange):
            client = self._http_client()
            start = time.perf_counter()
            try:
                response = await client.request(
                    effect.method,
                    effect.url,
                    content=effect.content,
                    headers=effect.headers,
                    timeout=effect.timeout_s,
                )
            except httpx.HTTPError as exc:
                return Outcome(latency_ms=_elapsed_ms(start), error=exc)
            return Outcome(latency_ms=_elapsed_ms(start), response=response)
        method = getattr(getattr(self._langgraph(effect.target), effect.resource), effect.method)
        start = time.perf_counter()
        try:
            value = await method(**effect.kwargs)
        except Exception as exc:
            return Outcome(latency_ms=_elapsed_ms(start), error=exc)
        return Outcome(latency_ms=_elapsed_ms(start), value=value)

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(transport=self._transport, follow_redirects=True)
        return self._http

    def _new_sdk(self, target: Target) -> LangGraphClient:
        from langgraph_sdk.client import LangGraphClient

        http = httpx.AsyncClient(transport=self._transport, **_sdk_http_options(target))
        return LangGraphClient(http)


# -- module-level functions on shared clients ---------------------------------------------------

_sync_client: ConnectorClient | None = None


def _shared_client() -> ConnectorClient:
    global _sync_client
    if _sync_client is None:
        _sync_client = ConnectorClient()
    return _sync_client


def invoke_connector(
    connector: ConnectorRef, data: InvokeInput, *, run_id: str | None = None, path: PathArg = None
) -> ConnectorInvokeResult:
    """Send messages to a connector's agent and return its reply.

    Remote failures come back as ``success=False`` with an ``error``; only local misuse raises.
    """
    return _shared_client().invoke(connector_of(connector, path), data, run_id=run_id)


def test_connector(connector: ConnectorRef, *, path: PathArg = None) -> ConnectorTestResult:
    """Check that a connector's agent answers a "hello"."""
    return _shared_client().test(connector_of(connector, path))


test_connector.__test__ = False  # type: ignore[attr-defined]


async def ainvoke_connector(
    connector: ConnectorRef, data: InvokeInput, *, run_id: str | None = None, path: PathArg = None
) -> ConnectorInvokeResult:
    async with AsyncConnectorClient() as client:
        return await client.invoke(connector_of(connector, path), data, run_id=run_id)


async def atest_connector(connector: ConnectorRef, *, path: PathArg = None) -> ConnectorTestResult:
    async with AsyncConnectorClient() as client:
        return await client.test(connector_of(connector, path))
