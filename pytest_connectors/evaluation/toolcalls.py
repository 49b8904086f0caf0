"""Assertions on the tools an agent called, with a diff a person can read.

Match modes compare the list of calls: ``strict`` (same calls, same order), ``unordered`` (same
calls, any order), ``subset`` (every expected call was made; others may be too), ``superset``
(every call made was expected; some expected ones may be missing). Argument modes compare each
call's arguments: ``exact``, ``ignore`` (names only), ``subset`` (expected arguments present with
equal values; extra arguments allowed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

from pytest_connectors.models.connector import ToolCall

MatchMode = Literal["strict", "unordered", "subset", "superset"]
ArgsMode = Literal["exact", "ignore", "subset"]
MATCH_MODES: tuple[MatchMode, ...] = ("strict", "unordered", "subset", "superset")
ARGS_MODES: tuple[ArgsMode, ...] = ("exact", "ignore", "subset")

Expected = str | ToolCall | Mapping[str, Any]


class HasToolCalls(Protocol):
    @property
    def tool_calls(self) -> list[ToolCall]: ...


class ToolCallMismatch(AssertionError):
    """The agent's tool calls differ from the expected ones."""


def _expected(item: Expected) -> tuple[str, dict[str, Any] | None]:
    """An expected call: a name, or a name with arguments (``None``: any arguments)."""
    if isinstance(item, str):
        return item, None
    if isinstance(item, ToolCall):
        return item.name, item.args
    if "name" not in item:
        raise ValueError(f"an expected tool call needs a 'name': {dict(item)!r}")
    args = item.get("args", item.get("arguments"))
    return str(item["name"]), None if args is None else dict(args)


def _args_match(actual: Mapping[str, Any], expected: dict[str, Any] | None, mode: ArgsMode) -> bool:
    if expected is None or mode == "ignore":
        return True
    if mode == "exact":
        return dict(actual) == expected
    return all(key in actual and actual[key] == value for key, value in expected.items())


def _label(name: str, args: Mapping[str, Any] | None) -> str:
    if args is None:
        return f"{name}(...)"
    return f"{name}({json.dumps(args, ensure_ascii=False, sort_keys=True, default=str)})"


def _pair(
    actual: Sequence[ToolCall],
    expected: Sequence[tuple[str, dict[str, Any] | None]],
    mode: ArgsMode,
) -> tuple[list[int], list[int]]:
    """Greedy matching: indexes of unmatched actual calls and unmatched expected calls."""
    free = list(range(len(actual)))
    missing = []
    for e_index, (name, args) in enumerate(expected):
        hit = next(
            (i for i in free if actual[i].name == name and _args_match(actual[i].args, args, mode)),
            None,
        )
        if hit is None:
            missing.append(e_index)
        else:
            free.remove(hit)
    return free, missing


def _diff(
    actual: Sequence[ToolCall],
    expected: Sequence[tuple[str, dict[str, Any] | None]],
    match: MatchMode,
    args: ArgsMode,
    problems: list[str],
) -> str:
    lines = [f"tool calls do not match (match={match!r}, args={args!r}):"]
    lines += [f"  {p}" for p in problems]
    lines.append("  expected:")
    lines += [f"    - {_label(n, a)}" for n, a in expected] or ["    (none)"]
    lines.append("  actual:")
    lines += [f"    - {_label(c.name, c.args)}" for c in actual] or ["    (none)"]
    return "\n".join(lines)


def _calls_of(source: HasToolCalls | Iterable[ToolCall]) -> list[ToolCall]:
    # Checked first: a pydantic result is itself iterable (over its fields).
    calls = getattr(source, "tool_calls", None)
    if calls is not None:
        return list(calls)
    return list(source)  # type: ignore[arg-type]


def assert_tool_calls(
    source: HasToolCalls | Iterable[ToolCall],
    expected: Sequence[Expected],
    *,
    match: MatchMode = "strict",
    args: ArgsMode = "subset",
) -> None:
    """Fail with a readable diff unless ``source``'s tool calls fit ``expected``.

    ``source`` is an invoke result, a conversation, or a list of ToolCall. An expected call is a
    tool name, ``{"name": ..., "args": {...}}``, or a ToolCall.
    """
    __tracebackhide__ = True
    if match not in MATCH_MODES:
        raise ValueError(f"match must be one of {', '.join(MATCH_MODES)}; got {match!r}")
    if args not in ARGS_MODES:
        raise ValueError(f"args must be one of {', '.join(ARGS_MODES)}; got {args!r}")
    actual = _calls_of(source)
    wanted = [_expected(item) for item in expected]
    problems: list[str] = []
    if match == "strict":
        for i in range(max(len(actual), len(wanted))):
            if i >= len(actual):
                problems.append(
                    f"call {i + 1}: expected {_label(*wanted[i])}, but no call was made"
                )
            elif i >= len(wanted):
                problems.append(
                    f"call {i + 1}: unexpected {_label(actual[i].name, actual[i].args)}"
                )
            elif actual[i].name != wanted[i][0] or not _args_match(
                actual[i].args, wanted[i][1], args
            ):
                problems.append(
                    f"call {i + 1}: expected {_label(*wanted[i])}, "
                    f"got {_label(actual[i].name, actual[i].args)}"
                )
    else:
        extra, missing = _pair(actual, wanted, args)
        if match in ("unordered", "subset"):
            problems += [f"missing: {_label(*wanted[i])}" for i in missing]
        if match in ("unordered", "superset"):
            problems += [f"unexpected: {_label(actual[i].name, actual[i].args)}" for i in extra]
    if problems:
        raise ToolCallMismatch(_diff(actual, wanted, match, args, problems))
