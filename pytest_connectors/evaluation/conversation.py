"""A multi-turn conversation with one agent, as a test sees it.

The transcript grows turn by turn. A LangGraph agent keeps its own memory in one thread, so only
the new message is sent each turn; an HTTP agent is sent the whole transcript every time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pytest_connectors.client.clients import AsyncConnectorClient, ConnectorClient, InvokeInput
from pytest_connectors.models.connector import (
    Connector,
    ConnectorInvokeResult,
    ConnectorType,
    Message,
    ToolCall,
)

OnResult = Callable[[ConnectorInvokeResult], None]


class ConnectorCallFailed(AssertionError):
    """An agent call inside a test failed: the test fails with the connector's own error."""

    def __init__(self, connector: str, turn: int, sent: Message, result: ConnectorInvokeResult):
        self.connector = connector
        self.turn = turn
        self.result = result
        preview = sent.text if len(sent.text) <= 60 else sent.text[:57] + "..."
        lines = [
            f"connector {connector!r} failed on turn {turn} ({preview!r}): {result.error}",
            f"  latency {result.latency_ms:.1f} ms, {result.attempts} attempt(s)",
        ]
        if result.raw_response:
            lines.append(f"  raw response: {result.raw_response[:300]}")
        lines.append("  pass check=False to send() to inspect failures instead")
        super().__init__("\n".join(lines))


def _user_message(message: str | Message | Mapping[str, Any]) -> Message:
    if isinstance(message, Message):
        return message
    if isinstance(message, str):
        return Message(role="user", content=message)
    return Message.model_validate(message)


class Conversation:
    """Send turns with :meth:`send` (or ``await`` :meth:`asend` in async tests)."""

    def __init__(
        self,
        connector: Connector,
        *,
        run_id: str,
        client: ConnectorClient,
        on_result: OnResult | None = None,
    ) -> None:
        self.connector = connector
        self.run_id = run_id
        self._client = client
        self._on_result = on_result
        self.messages: list[Message] = []
        self.results: list[ConnectorInvokeResult] = []

    def __repr__(self) -> str:
        return (
            f"<Conversation {self.connector.name!r} turns={len(self.results)} "
            f"thread={self.thread_id}>"
        )

    @property
    def _stateful(self) -> bool:
        return self.connector.type is ConnectorType.LANGGRAPH

    @property
    def thread_id(self) -> str | None:
        return next((r.thread_id for r in reversed(self.results) if r.thread_id), None)

    @property
    def latencies_ms(self) -> list[float]:
        return [r.latency_ms for r in self.results]

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Every tool call the assistant made in this conversation, in order."""
        return [call for r in self.results for call in r.tool_calls]

    @property
    def last(self) -> ConnectorInvokeResult:
        if not self.results:
            raise LookupError("no turn has been sent yet")
        return self.results[-1]

    def _outgoing(self, message: Message) -> list[Message]:
        return [message] if self._stateful else [*self.messages, message]

    def _settle(
        self, message: Message, result: ConnectorInvokeResult, check: bool
    ) -> ConnectorInvokeResult:
        __tracebackhide__ = True
        self.results.append(result)
        self.messages.append(message)
        self.messages.extend(result.messages)
        if self._on_result is not None:
            self._on_result(result)
        if check and not result.success:
            raise ConnectorCallFailed(self.connector.name, len(self.results), message, result)
        return result

    def send(
        self, message: str | Message | Mapping[str, Any], *, check: bool = True
    ) -> ConnectorInvokeResult:
        """One turn. A failed call fails the test unless ``check=False``."""
        __tracebackhide__ = True  # failures point at the test's line, not this library
        user = _user_message(message)
        result = self._client.invoke(
            self.connector, self._outgoing(user), run_id=self._run_id(), assume_new=True
        )
        return self._settle(user, result, check)

    async def asend(
        self, message: str | Message | Mapping[str, Any], *, check: bool = True
    ) -> ConnectorInvokeResult:
        __tracebackhide__ = True
        user = _user_message(message)
        # A client per call: an event loop may close after any test, and its sockets with it.
        async with AsyncConnectorClient() as client:
            result = await client.invoke(
                self.connector, self._outgoing(user), run_id=self._run_id(), assume_new=True
            )
        return self._settle(user, result, check)

    def _run_id(self) -> str | None:
        return self.run_id if self._stateful else None


class BoundInvoker:
    """``invoke_connector`` bound to one connector: call it, or ``await`` :meth:`ainvoke`."""

    def __init__(
        self,
        connector: Connector,
        *,
        client: ConnectorClient,
        on_result: OnResult | None = None,
    ) -> None:
        self.connector = connector
        self._client = client
        self._on_result = on_result

    def __repr__(self) -> str:
        return f"<invoke_connector bound to {self.connector.name!r}>"

    def _done(self, result: ConnectorInvokeResult) -> ConnectorInvokeResult:
        if self._on_result is not None:
            self._on_result(result)
        return result

    def __call__(self, data: InvokeInput, *, run_id: str | None = None) -> ConnectorInvokeResult:
        return self._done(self._client.invoke(self.connector, data, run_id=run_id))

    async def ainvoke(
        self, data: InvokeInput, *, run_id: str | None = None
    ) -> ConnectorInvokeResult:
        async with AsyncConnectorClient() as client:
            result = await client.invoke(self.connector, data, run_id=run_id)
        return self._done(result)
