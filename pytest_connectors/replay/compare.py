"""What the candidate did on each recorded turn, and how it compares with production.

Tool calls are compared with the matching of :func:`assert_tool_calls` (production's calls are
the expected ones, the candidate's the actual ones), so ``tools`` takes its match modes and
``args`` its argument modes; ``tools=None`` skips the comparison. A candidate that fails where
production succeeded always diverges. ``latency_factor=2`` allows each turn twice production's
recorded latency. ``answer`` is ``None`` (not compared), ``"exact"``, ``"judge"`` (the selected
judge says whether the candidate's answer says the same as production's), ``judged("rubric")``
(the judge applies that rubric instead), or a function
``answer(candidate_text, production_text)`` that returns False or raises AssertionError to reject
the turn. A judge is asked once per turn.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_connectors.evaluation.judging import Judged
from pytest_connectors.evaluation.toolcalls import (
    ARGS_MODES,
    MATCH_MODES,
    ArgsMode,
    MatchMode,
    ToolCallMismatch,
    assert_tool_calls,
)
from pytest_connectors.models.connector import ConnectorInvokeResult, ToolCall
from pytest_connectors.models.imports import RecordedTurn
from pytest_connectors.replay.case import ReplayCase

AnswerCheck = Callable[[str, str | None], object]
AnswerArg = Literal["exact", "judge"] | Judged | AnswerCheck | None
PREVIEW = 120


@dataclass(frozen=True)
class CandidateTurn:
    """What the agent under test did on one turn (or, in audit mode, what production did)."""

    answer: str
    tool_calls: list[ToolCall]
    tool_results: list[str]
    error: str | None
    latency_ms: float | None

    @classmethod
    def of_result(cls, result: ConnectorInvokeResult) -> CandidateTurn:
        results = [m.text for m in result.messages if m.role == "tool"]
        return cls(
            answer=result.text,
            tool_calls=result.tool_calls,
            tool_results=results,
            error=None if result.success else (result.error or "the call failed"),
            latency_ms=result.latency_ms,
        )

    @classmethod
    def of_recorded(cls, turn: RecordedTurn) -> CandidateTurn:
        return cls(
            answer=turn.answer or "",
            tool_calls=[ToolCall(name=c.name, args=c.args, id=c.id) for c in turn.tool_calls],
            tool_results=[c.result for c in turn.tool_calls if c.result is not None],
            error=turn.error,
            latency_ms=turn.latency_ms,
        )


@dataclass(frozen=True)
class TurnComparison:
    """One recorded turn: what production did, what the candidate did (None: not replayed)."""

    position: int
    production: RecordedTurn
    candidate: CandidateTurn | None

    @property
    def user_text(self) -> str:
        return "\n".join(self.production.user_messages)


@dataclass(frozen=True)
class Check:
    """The comparison a run or an assertion applies to each turn."""

    tools: MatchMode | None = "subset"
    args: ArgsMode = "subset"
    latency_factor: float | None = None
    answer: AnswerArg = None
    # The judge's verdict per turn: a diff reads the problems of a turn more than once.
    _judged: dict[tuple[int, str, str], list[str]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.tools is not None and self.tools not in MATCH_MODES:
            raise ValueError(f"tools must be None or one of {', '.join(MATCH_MODES)}")
        if self.args not in ARGS_MODES:
            raise ValueError(f"args must be one of {', '.join(ARGS_MODES)}; got {self.args!r}")
        factor = self.latency_factor
        if factor is not None and (isinstance(factor, bool) or not factor > 0):
            raise ValueError(f"latency_factor must be a positive number; got {factor!r}")
        if self.answer == "judge":
            object.__setattr__(self, "answer", Judged())
        answer = self.answer
        if answer not in (None, "exact") and not (callable(answer) or isinstance(answer, Judged)):
            raise ValueError(
                "answer must be None, 'exact', 'judge', judged('rubric') or a "
                "function(candidate, production)"
            )

    def label(self) -> str:
        parts = [f"tools={self.tools!r}", f"args={self.args!r}"]
        if self.latency_factor is not None:
            parts.append(f"latency_factor={self.latency_factor:g}")
        if self.answer is not None:
            if isinstance(self.answer, Judged):
                name = self.answer.label
            else:
                name = self.answer if isinstance(self.answer, str) else _name(self.answer)
            parts.append(f"answer={name}")
        return ", ".join(parts)

    def problems(self, turn: TurnComparison) -> list[str]:
        """Why the candidate's turn differs from production's (empty: it matches)."""
        candidate, production = turn.candidate, turn.production
        if candidate is None:
            return ["not replayed"]
        if candidate.error is not None and production.error is None:
            return [f"the candidate failed where production answered: {candidate.error}"]
        found: list[str] = []
        if self.tools is not None:
            expected = [{"name": c.name, "args": c.args} for c in production.tool_calls]
            try:
                assert_tool_calls(candidate.tool_calls, expected, match=self.tools, args=self.args)
            except ToolCallMismatch as exc:
                found.append(str(exc).splitlines()[0].rstrip(":"))
                found += [line.strip() for line in str(exc).splitlines()[1:] if _is_problem(line)]
        if self.latency_factor is not None and production.latency_ms and candidate.latency_ms:
            allowed = production.latency_ms * self.latency_factor
            if candidate.latency_ms > allowed:
                found.append(
                    f"latency {candidate.latency_ms:.0f} ms > {self.latency_factor:g} x "
                    f"production's {production.latency_ms:.0f} ms"
                )
        if isinstance(self.answer, Judged):
            found += self._judged_problems(self.answer, turn, candidate.answer)
        elif self.answer is not None:
            found += _answer_problems(self.answer, candidate.answer, production.answer)
        return found

    def _judged_problems(self, check: Judged, turn: TurnComparison, candidate: str) -> list[str]:
        if turn.production.answer is None:
            return []  # production gave no answer to compare with
        key = (turn.position, turn.production.answer, candidate)
        if key not in self._judged:
            judgement = check.compare(turn.user_text, turn.production.answer, candidate)
            self._judged[key] = [
                f"judge {judgement.judge!r}: {r.reason} (score {r.score:.2f}"
                + (", cached)" if r.cached else ")")
                for r in judgement.criteria
                if not r.ok
            ]
        return self._judged[key]


def _is_problem(line: str) -> bool:
    # assert_tool_calls lists its problems first, then "expected:" and "actual:" blocks.
    text = line.strip()
    return (
        line.startswith("  ")
        and not line.startswith("    ")
        and text
        not in (
            "expected:",
            "actual:",
        )
    )


def _name(check: AnswerCheck) -> str:
    # A scorer (contains, similar...) has a label; a function its name.
    return getattr(check, "label", None) or getattr(check, "__name__", None) or type(check).__name__


def _answer_problems(check: AnswerArg, candidate: str, production: str | None) -> list[str]:
    if check == "exact":
        if candidate != (production or ""):
            return ["the answer differs from production's"]
        return []
    assert callable(check)
    try:
        verdict = check(candidate, production)
    except AssertionError as exc:
        reason = str(exc).strip() or "an assertion failed"
        return [f"answer check {_name(check)} failed: {reason}"]
    if verdict is False:
        return [f"answer check {_name(check)} rejected the answer"]
    return []


def _preview(text: str | None) -> str:
    if not text:
        return '""'
    text = " ".join(text.split())
    return json.dumps(
        text if len(text) <= PREVIEW else text[: PREVIEW - 3] + "...", ensure_ascii=False
    )


def _calls(calls: Sequence[ToolCall | Any]) -> str:
    if not calls:
        return "no tool call"
    return ", ".join(
        f"{c.name}({json.dumps(c.args, ensure_ascii=False, sort_keys=True, default=str)})"
        for c in calls
    )


def _latency(ms: float | None) -> str:
    return "latency unknown" if ms is None else f"{ms:.0f} ms"


def describe_production(turn: RecordedTurn) -> str:
    outcome = f"error {_preview(turn.error)}" if turn.error else f"answer {_preview(turn.answer)}"
    return f"{_calls(turn.tool_calls)} -> {outcome} ({_latency(turn.latency_ms)})"


def describe_candidate(turn: CandidateTurn) -> str:
    outcome = f"error {_preview(turn.error)}" if turn.error else f"answer {_preview(turn.answer)}"
    return f"{_calls(turn.tool_calls)} -> {outcome} ({_latency(turn.latency_ms)})"


class ReplayMismatch(AssertionError):
    """A replayed conversation differs from production; the message is the per-turn diff."""

    def __init__(self, message: str, diverged_at: int) -> None:
        super().__init__(message)
        self.diverged_at = diverged_at


@dataclass
class ReplayResult:
    """Every recorded turn next to what the candidate did; ``assert_matches`` judges them."""

    case: ReplayCase
    turns: list[TurnComparison]
    check: Check = field(default_factory=Check)
    audit: bool = False
    stopped_at: int | None = None  # the diverging turn the run stopped after
    thread_id: str | None = None
    verdict: int | None = None  # the first diverging turn of the last assertion (0: none)
    verdict_reason: str | None = None  # why that turn diverged

    @property
    def replayed(self) -> list[TurnComparison]:
        return [t for t in self.turns if t.candidate is not None]

    def diverged_at(self, check: Check | None = None) -> int | None:
        """The first turn (1-based) that differs under ``check``, or None when all match."""
        divergence = self.divergence(check)
        return divergence[0] if divergence is not None else None

    def divergence(self, check: Check | None = None) -> tuple[int, str] | None:
        """The first turn (1-based) that differs under ``check`` and why, or None."""
        check = check or self.check
        for turn in self.turns:
            problems = check.problems(turn)
            if problems:
                return turn.position, "; ".join(problems)
        return None

    def assert_matches(
        self,
        tools: MatchMode | None = "subset",
        args: ArgsMode = "subset",
        latency_factor: float | None = None,
        answer: AnswerArg = None,
    ) -> None:
        """Fail with a per-turn diff unless every recorded turn matches production."""
        __tracebackhide__ = True
        check = Check(tools=tools, args=args, latency_factor=latency_factor, answer=answer)
        divergence = self.divergence(check)
        self.verdict, self.verdict_reason = divergence or (0, None)
        if divergence is not None:
            raise ReplayMismatch(self.diff(check), divergence[0])

    def diff(self, check: Check | None = None) -> str:
        """The per-turn comparison a person reads: turn, what production did, what we did."""
        check = check or self.check
        first = self.diverged_at(check)
        total = len(self.turns)
        head = f"replay of {self.case.id!r} ({self.case.source})"
        if first is None:
            lines = [f"{head} matches production on all {total} turns [{check.label()}]"]
        else:
            lines = [f"{head} diverged at turn {first} of {total} [{check.label()}]"]
        if self.audit:
            lines.append("  audit mode: the recorded outputs were checked, no agent was called")
        for turn in self.turns:
            problems = check.problems(turn)
            if turn.candidate is None:
                why = (
                    f"the run stopped at turn {self.stopped_at}, where it diverged"
                    if self.stopped_at
                    else "the run ended before it"
                )
                lines.append(f"  turn {turn.position}: not replayed ({why})")
                continue
            if not problems:
                lines.append(f"  turn {turn.position}: matches")
                continue
            lines.append(f"  turn {turn.position}: user said {_preview(turn.user_text)}")
            lines.append(f"    production: {describe_production(turn.production)}")
            lines.append(f"    candidate:  {describe_candidate(turn.candidate)}")
            lines += [f"    - {p}" for p in problems]
        if self.stopped_at is not None and first is not None:
            lines.append(
                "  (replay.run(stop_on_divergence=False) replays every turn whatever happens)"
            )
        return "\n".join(lines)
