"""Answering the tool calls a candidate leaves to the caller with the results production recorded.

An agent behind plain OpenAI function calling (an HTTP agent) returns tool calls for the caller
to run. A replay answers each from the same turn of the recorded conversation: first the unused
recorded call with the same tool name and arguments, then the next unused one with the same
name, in order. A call production never made in that turn is answered with a ``no recorded
result`` error text, so the agent goes on and the turn's comparison shows the divergence.
A tool given to ``replay.run(tools={name: callable})`` runs instead of the recording.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pytest_connectors.models.connector import ToolCall
from pytest_connectors.models.imports import RecordedToolCall, RecordedTurn

Tool = Callable[..., Any]


def no_recorded_result(call: ToolCall) -> str:
    """The answer to a call production never made in this turn (text the agent is sent)."""
    args = json.dumps(call.args, ensure_ascii=False, sort_keys=True, default=str)
    return json.dumps(
        {"error": f"no recorded result: production made no {call.name} call with {args}"},
        ensure_ascii=False,
    )


class RecordedAnswers:
    """The recorded results of one production turn, each used at most once."""

    def __init__(self, turn: RecordedTurn, tools: Mapping[str, Tool] | None = None) -> None:
        self._unused: list[RecordedToolCall] = [c for c in turn.tool_calls if c.result is not None]
        self._tools = dict(tools or {})

    def _take(self, call: ToolCall) -> RecordedToolCall | None:
        same = [c for c in self._unused if c.name == call.name]
        chosen = next((c for c in same if c.args == call.args), same[0] if same else None)
        if chosen is not None:
            self._unused.remove(chosen)
        return chosen

    def answer(self, call: ToolCall) -> Any:
        """The tool's output for ``call``: the override tool's, the recorded one, or an error."""
        if call.name in self._tools:
            return self._tools[call.name](**call.args)
        recorded = self._take(call)
        return recorded.result if recorded is not None else no_recorded_result(call)
