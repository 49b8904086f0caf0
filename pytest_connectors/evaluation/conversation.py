"""A multi-turn conversation with one agent, as a test sees it.

The transcript grows turn by turn. A LangGraph agent keeps its own memory in one thread, so only
the new message is sent each turn; an HTTP agent is sent the whole transcript every time.

Tool calls the agent leaves to the caller (plain OpenAI function calling, where the reply holds
``tool_calls`` and the caller runs them) are answered in one of two ways:

- ``tools={"get_weather": get_weather}`` (on the conversation or on one ``send``): each call is
  run as ``tool(**args)``, its result sent back as a ``tool`` message, and so on until the agent
  answers in text. ``send`` returns the whole turn: every tool call, tool result and the answer.
- by hand: ``conversation.pending_tool_calls`` lists the calls not yet answered, and
  ``conversation.answer_tool_calls({call_id_or_tool_name: result})`` sends their results.

An agent that runs its own tools (a LangGraph graph with a tool node) needs neither.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

from pytest_connectors.client.clients import AsyncConnectorClient, ConnectorClient, InvokeInput
from pytest_connectors.errors import InvalidInputError
from pytest_connectors.models.connector import (
    Connector,
    ConnectorInvokeResult,
    ConnectorType,
    Message,
    ToolCall,
)

if TYPE_CHECKING:
    from pytest_connectors.evaluation.scenarios import Persona, Scenario, ScenarioCase
    from pytest_connectors.evaluation.simulation import Simulation, SimulatorRef

OnResult = Callable[[ConnectorInvokeResult], None]
# Told what each call sent too, so a record can say what the user asked.
OnCall = Callable[[list[Message], ConnectorInvokeResult], None]
Tool = Callable[..., Any]
MAX_TOOL_ROUNDS = 10

# A turn: yields what to send, receives each call's result, returns the whole turn's result.
Turn = Generator[list[Message], ConnectorInvokeResult, ConnectorInvokeResult]


def _tool_output(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def tool_message(call: ToolCall, output: Any) -> Message:
    """The ``tool`` message that answers ``call`` with ``output`` (text, or JSON of a value)."""
    return Message(role="tool", content=_tool_output(output), tool_call_id=call.id, name=call.name)


def unanswered_tool_calls(messages: list[Message]) -> list[ToolCall]:
    """The tool calls of the last assistant message that no later tool message answers."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role == "assistant":
            answered = {m.tool_call_id for m in messages[index + 1 :] if m.role == "tool"}
            return [c for c in message.tool_calls or [] if c.id is None or c.id not in answered]
        if message.role == "user":
            return []
    return []


def combined_result(
    rounds: list[ConnectorInvokeResult], sent: list[list[Message]]
) -> ConnectorInvokeResult:
    """One result for a turn of several calls: every message in order, times and tries summed."""
    last = rounds[-1]
    if len(rounds) == 1:
        return last
    messages: list[Message] = []
    for index, result in enumerate(rounds):
        messages.extend(result.messages)
        if index + 1 < len(rounds):
            messages.extend(sent[index])
    return last.model_copy(
        update={
            "messages": messages,
            "latency_ms": sum(r.latency_ms for r in rounds),
            "attempts": sum(r.attempts for r in rounds),
        }
    )


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
    """Send turns with :meth:`send` (or ``await`` :meth:`asend` in async tests).

    ``tools`` answers the tool calls an agent leaves to the caller (see the module docstring);
    ``config``/``context`` go to every LangGraph run of the conversation.
    """

    def __init__(
        self,
        connector: Connector,
        *,
        run_id: str,
        client: ConnectorClient,
        on_result: OnResult | None = None,
        tools: Mapping[str, Tool] | None = None,
        config: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        on_call: OnCall | None = None,
    ) -> None:
        self.connector = connector
        self.run_id = run_id
        self._client = client
        self._on_result = on_result
        self._on_call = on_call
        self.tools: dict[str, Tool] = dict(tools or {})
        self.config = config
        self.context = context
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
    def pending_tool_calls(self) -> list[ToolCall]:
        """The tool calls of the agent's last message that no tool result has answered yet."""
        return unanswered_tool_calls(self.messages)

    @property
    def last(self) -> ConnectorInvokeResult:
        if not self.results:
            raise LookupError("no turn has been sent yet")
        return self.results[-1]

    def _outgoing(self, turn: list[Message]) -> list[Message]:
        return list(turn) if self._stateful else [*self.messages, *turn]

    def _turn(self, new: list[Message], tools: Mapping[str, Tool]) -> Turn:
        """Send ``new``; while the agent asks only for tools in ``tools``, run them and answer."""
        sent: list[list[Message]] = []
        rounds: list[ConnectorInvokeResult] = []
        so_far = list(new)
        result = yield self._outgoing(so_far)
        rounds.append(result)
        while tools and result.success:
            so_far.extend(result.messages)
            calls = unanswered_tool_calls(so_far)
            if not calls or any(call.name not in tools for call in calls):
                break  # answered in text, or a tool the test did not give: left to the caller
            if len(rounds) > MAX_TOOL_ROUNDS:
                result = result.model_copy(
                    update={
                        "success": False,
                        "error": f"the agent still asked for tools after {MAX_TOOL_ROUNDS} "
                        "rounds of answers; is it looping?",
                    }
                )
                rounds[-1] = result
                break
            answers = [tool_message(call, tools[call.name](**call.args)) for call in calls]
            sent.append(answers)
            so_far.extend(answers)
            result = yield (answers if self._stateful else [*self.messages, *so_far])
            rounds.append(result)
        return combined_result(rounds, [*sent, []])

    def _settle(
        self, new: list[Message], result: ConnectorInvokeResult, check: bool
    ) -> ConnectorInvokeResult:
        __tracebackhide__ = True
        self.results.append(result)
        self.messages.extend(new)
        self.messages.extend(result.messages)
        if check and not result.success:
            raise ConnectorCallFailed(self.connector.name, len(self.results), new[-1], result)
        return result

    def _options(
        self, config: Mapping[str, Any] | None, context: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        return {
            "config": self.config if config is None else config,
            "context": self.context if context is None else context,
        }

    def _drive(self, turn: Turn, call: Callable[[list[Message]], ConnectorInvokeResult]) -> Any:
        try:
            outgoing = next(turn)
            while True:
                outgoing = turn.send(call(outgoing))
        except StopIteration as stop:
            return stop.value

    def _exchange(
        self, new: list[Message], tools: Mapping[str, Tool], options: dict[str, Any]
    ) -> ConnectorInvokeResult:
        def call(outgoing: list[Message]) -> ConnectorInvokeResult:
            result = self._client.invoke(
                self.connector, outgoing, run_id=self._run_id(), assume_new=True, **options
            )
            self._report(outgoing, result)
            return result

        combined: ConnectorInvokeResult = self._drive(self._turn(new, tools), call)
        return combined

    async def _aexchange(
        self, new: list[Message], tools: Mapping[str, Tool], options: dict[str, Any]
    ) -> ConnectorInvokeResult:
        # A client per call: an event loop may close after any test, and its sockets with it.
        async with AsyncConnectorClient() as client:
            turn = self._turn(new, tools)
            try:
                outgoing = next(turn)
                while True:
                    result = await client.invoke(
                        self.connector, outgoing, run_id=self._run_id(), assume_new=True, **options
                    )
                    self._report(outgoing, result)
                    outgoing = turn.send(result)
            except StopIteration as stop:
                combined: ConnectorInvokeResult = stop.value
                return combined

    def _report(self, sent: list[Message], result: ConnectorInvokeResult) -> None:
        if self._on_result is not None:
            self._on_result(result)
        if self._on_call is not None:
            self._on_call(sent, result)

    def send(
        self,
        message: str | Message | Mapping[str, Any],
        *,
        check: bool = True,
        tools: Mapping[str, Tool] | None = None,
        config: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> ConnectorInvokeResult:
        """One turn. A failed call fails the test unless ``check=False``.

        ``tools`` (default: the conversation's) answers the tool calls the agent leaves to the
        caller until it answers in text; the result then holds the whole turn.
        """
        __tracebackhide__ = True  # failures point at the test's line, not this library
        new = [_user_message(message)]
        tools = self.tools if tools is None else tools
        result = self._exchange(new, tools, self._options(config, context))
        return self._settle(new, result, check)

    async def asend(
        self,
        message: str | Message | Mapping[str, Any],
        *,
        check: bool = True,
        tools: Mapping[str, Tool] | None = None,
        config: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> ConnectorInvokeResult:
        __tracebackhide__ = True
        new = [_user_message(message)]
        tools = self.tools if tools is None else tools
        result = await self._aexchange(new, tools, self._options(config, context))
        return self._settle(new, result, check)

    def _answers(self, outputs: Mapping[str, Any]) -> list[Message]:
        pending = self.pending_tool_calls
        if not pending:
            raise InvalidInputError("no tool call is waiting for an answer")
        answers = []
        for call in pending:
            key = call.id if call.id is not None and call.id in outputs else call.name
            if key not in outputs:
                raise InvalidInputError(
                    f"no result given for tool call {call.name!r} (id {call.id!r}); "
                    "key the results by call id or tool name"
                )
            answers.append(tool_message(call, outputs[key]))
        return answers

    def answer_tool_calls(
        self,
        outputs: Mapping[str, Any],
        *,
        check: bool = True,
        tools: Mapping[str, Tool] | None = None,
    ) -> ConnectorInvokeResult:
        """Send the results of :attr:`pending_tool_calls`, keyed by call id or tool name."""
        __tracebackhide__ = True
        new = self._answers(outputs)
        tools = self.tools if tools is None else tools
        result = self._exchange(new, tools, self._options(None, None))
        return self._settle(new, result, check)

    async def aanswer_tool_calls(
        self,
        outputs: Mapping[str, Any],
        *,
        check: bool = True,
        tools: Mapping[str, Tool] | None = None,
    ) -> ConnectorInvokeResult:
        __tracebackhide__ = True
        new = self._answers(outputs)
        tools = self.tools if tools is None else tools
        result = await self._aexchange(new, tools, self._options(None, None))
        return self._settle(new, result, check)

    def simulate(
        self,
        scenario: str | Scenario | ScenarioCase,
        persona: str | Persona | None = None,
        *,
        max_turns: int | None = None,
        simulator: SimulatorRef = None,
        until: Callable[[Conversation], bool] | None = None,
        check: bool = True,
    ) -> Simulation:
        """Let a simulated user (``simulator``, default: the selected one) play ``persona``
        toward ``scenario``'s goal, until it says the goal is reached or abandoned, ``until``
        holds, or ``max_turns`` user turns (default 10, or the scenario's) were sent."""
        __tracebackhide__ = True
        from pytest_connectors.evaluation.simulation import simulate

        return simulate(
            self,
            scenario,
            persona,
            max_turns=max_turns,
            simulator=simulator,
            until=until,
            check=check,
        )

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

    def __call__(
        self,
        data: InvokeInput,
        *,
        run_id: str | None = None,
        config: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> ConnectorInvokeResult:
        result = self._client.invoke(
            self.connector, data, run_id=run_id, config=config, context=context
        )
        return self._done(result)

    async def ainvoke(
        self,
        data: InvokeInput,
        *,
        run_id: str | None = None,
        config: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> ConnectorInvokeResult:
        async with AsyncConnectorClient() as client:
            result = await client.invoke(
                self.connector, data, run_id=run_id, config=config, context=context
            )
        return self._done(result)
