"""Replaying a case: a fresh thread on the connector, the recorded user turns sent in order.

The messages sent follow :class:`pytest_connectors.evaluation.conversation.Conversation`: a
LangGraph agent keeps the thread, so each turn sends only its new user messages; an HTTP agent
is sent the whole transcript every turn. Latency is measured by the client around each call,
so it stays the call's own even when many cases run at once on one event loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_connectors.client.clients import AsyncConnectorClient
from pytest_connectors.evaluation.conversation import (
    MAX_TOOL_ROUNDS,
    combined_result,
    tool_message,
    unanswered_tool_calls,
)
from pytest_connectors.models.connector import (
    Connector,
    ConnectorInvokeResult,
    ConnectorType,
    Message,
)
from pytest_connectors.replay.case import ReplayCase
from pytest_connectors.replay.compare import CandidateTurn, Check, ReplayResult, TurnComparison
from pytest_connectors.replay.tool_answers import RecordedAnswers, Tool

OnResult = Callable[[int, list[Message], ConnectorInvokeResult], None]


@dataclass(frozen=True)
class RunOptions:
    """How a case is replayed; the plugin runs cases ahead with the options their marker gives."""

    stop_on_divergence: bool = True
    check: Check = field(default_factory=Check)
    # Tools run instead of the recorded results, as (name, callable) pairs so options hash.
    tools: tuple[tuple[str, Tool], ...] = ()


class UnreplayableCase(ValueError):
    """The case cannot be replayed (the plugin reports it as skipped, with this reason)."""


def _require_replayable(case: ReplayCase) -> None:
    if case.skip_reason is not None:
        raise UnreplayableCase(f"case {case.id!r} cannot be replayed: {case.skip_reason}")


async def replay_case(
    case: ReplayCase,
    connector: Connector,
    client: AsyncConnectorClient,
    options: RunOptions | None = None,
    *,
    on_result: OnResult | None = None,
) -> ReplayResult:
    """Send the case's user turns to ``connector`` and compare each turn with production."""
    _require_replayable(case)
    options = options or RunOptions()
    stateful = connector.type is ConnectorType.LANGGRAPH
    run_id = f"replay:{case.id}#{uuid.uuid4()}" if stateful else None
    transcript: list[Message] = []
    turns: list[TurnComparison] = []
    stopped_at: int | None = None
    thread_id: str | None = None
    recorded = case.turns
    for position, production in enumerate(recorded, start=1):
        user = [Message(role="user", content=text) for text in production.user_messages]
        outgoing = user if stateful else [*transcript, *user]
        answers = RecordedAnswers(production, dict(options.tools))
        result = await _turn(client, connector, outgoing, run_id, stateful, answers)
        if on_result is not None:
            on_result(position, user, result)
        thread_id = result.thread_id or thread_id
        transcript += [*user, *result.messages]
        turn = TurnComparison(position, production, CandidateTurn.of_result(result))
        turns.append(turn)
        if options.stop_on_divergence and options.check.problems(turn):
            stopped_at = position
            break
    turns += [
        TurnComparison(position, production, None)
        for position, production in enumerate(recorded, start=1)
        if position > len(turns)
    ]
    return ReplayResult(
        case, turns, check=options.check, stopped_at=stopped_at, thread_id=thread_id
    )


async def _turn(
    client: AsyncConnectorClient,
    connector: Connector,
    outgoing: list[Message],
    run_id: str | None,
    stateful: bool,
    answers: RecordedAnswers,
) -> ConnectorInvokeResult:
    """One user turn: tool calls left to the caller are answered until the agent answers in text.

    An agent that runs its own tools (LangGraph) leaves none, so it is called once.
    """
    rounds: list[ConnectorInvokeResult] = []
    sent: list[list[Message]] = []
    so_far = list(outgoing)
    while True:
        result = await client.invoke(
            connector,
            so_far if not stateful or not rounds else sent[-1],
            run_id=run_id,
            assume_new=stateful,
        )
        rounds.append(result)
        so_far.extend(result.messages)
        calls = unanswered_tool_calls(so_far) if result.success else []
        if not calls:
            break
        if len(rounds) > MAX_TOOL_ROUNDS:
            rounds[-1] = _looping(result)
            break
        replies = [tool_message(call, answers.answer(call)) for call in calls]
        sent.append(replies)
        so_far.extend(replies)
    return combined_result(rounds, [*sent, []])


def _looping(result: ConnectorInvokeResult) -> ConnectorInvokeResult:
    error: dict[str, Any] = {
        "success": False,
        "error": f"the agent still asked for tools after {MAX_TOOL_ROUNDS} rounds of answers",
    }
    return result.model_copy(update=error)


def audit_case(case: ReplayCase, options: RunOptions | None = None) -> ReplayResult:
    """The recorded outputs as the candidate: the assertions run without calling any agent."""
    _require_replayable(case)
    options = options or RunOptions()
    turns = [
        TurnComparison(position, turn, CandidateTurn.of_recorded(turn))
        for position, turn in enumerate(case.turns, start=1)
    ]
    return ReplayResult(case, turns, check=options.check, audit=True)
