"""Judges: any connector, asked in plain words whether a conversation meets criteria.

A judge is a connector like the agent under test: an OpenAI-compatible endpoint (its
``config.body`` carries ``model``, ``temperature``, ``seed``) or a LangGraph graph, called through
the same client, so it has the same timeouts, retries, secrets policy and launch support.
Transient failures (connection refused, 429, 5xx) are retried within the connector's
``config.timeout``; a judge that stays down, or answers with no verdict, raises
:class:`~pytest_connectors.errors.JudgeError`: the test errors, it neither passes nor fails.

Verdicts that hold: ``samples=N`` asks N times and takes the majority (a tie fails);
``confirm=K`` asks a failing criterion K more times and upholds the failure only when most of
all its verdicts fail. A first ask uses the connector's body as it is; every further ask of the
same criterion raises ``temperature`` to at least :data:`REASK_TEMPERATURE` and moves ``seed``,
so a seeded endpoint does not just repeat itself. An HTTP judge is asked for JSON mode
(``response_format``) unless its body says otherwise; an endpoint that refuses it with HTTP 400
or 422 is asked again without, and never again with, in that process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_connectors.client.clients import ConnectorClient, shared_client
from pytest_connectors.errors import CriteriaNotMet, InvalidInputError, JudgeError
from pytest_connectors.evaluation.prompts import (
    Prompts,
    UnreadableVerdict,
    Verdict,
    cut,
    messages_for,
    parse_verdict,
    render_transcript,
    transcript_hash,
)
from pytest_connectors.evaluation.roles import Role
from pytest_connectors.evaluation.verdict_cache import VerdictCache, cache_key
from pytest_connectors.models.connector import (
    Connector,
    ConnectorInvokeResult,
    ConnectorType,
    HttpConnectorConfig,
    Message,
)

__all__ = [
    "CriterionResult",
    "Judge",
    "JudgeRef",
    "Judgement",
    "assert_criteria",
    "judge_env",
]

Kind = Literal["success", "failure", "pairwise"]
REASK_TEMPERATURE = 1.0
JSON_MODE = {"type": "json_object"}
JUDGE_ENV = "PYTEST_CONNECTORS_JUDGE"


@dataclass
class Cost:
    """What fresh judge calls cost: calls, seconds, and tokens when the endpoint says."""

    calls: int = 0
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    def add(self, result: ConnectorInvokeResult) -> None:
        self.calls += 1
        self.latency_ms += result.latency_ms
        usage = _usage(result.raw_response)
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                setattr(self, name, (getattr(self, name) or 0) + value)

    def merge(self, other: Cost) -> None:
        self.calls += other.calls
        self.latency_ms += other.latency_ms
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = getattr(other, name)
            if value is not None:
                setattr(self, name, (getattr(self, name) or 0) + value)


def _usage(raw: str | None) -> dict[str, Any]:
    """``usage`` of an OpenAI-style reply (LangGraph runs and cut replies have none)."""
    if not raw or '"usage"' not in raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    usage = data.get("usage") if isinstance(data, dict) else None
    return usage if isinstance(usage, dict) else {}


@dataclass(frozen=True)
class CriterionResult:
    """One criterion's outcome: met or not, the majority's score and reason, every verdict."""

    criterion: str
    kind: Kind
    met: bool
    score: float
    reason: str
    verdicts: tuple[Verdict, ...]
    cached: bool

    @property
    def ok(self) -> bool:
        """A success (or pairwise) criterion holds when met; a failure criterion when not."""
        return not self.met if self.kind == "failure" else self.met

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        state = "met" if self.met else "not met"
        asked = f"{len(self.verdicts)} verdict{'s' if len(self.verdicts) != 1 else ''}"
        origin = ", cached" if self.cached else ""
        return (
            f"{mark} {self.kind} criterion {self.criterion!r}: {state} "
            f"(score {self.score:.2f}, {asked}{origin}): {self.reason}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "kind": self.kind,
            "met": self.met,
            "ok": self.ok,
            "score": self.score,
            "reason": self.reason,
            "verdicts": len(self.verdicts),
            "cached": self.cached,
        }


@dataclass
class Judgement:
    """Every criterion's result, and what judging cost (cache hits are not calls or samples)."""

    judge: str
    model: str | None
    criteria: list[CriterionResult]
    samples: int
    confirm: int
    cost: Cost = field(default_factory=Cost)

    @property
    def passed(self) -> bool:
        return all(result.ok for result in self.criteria)

    @property
    def cache_hits(self) -> int:
        return sum(1 for result in self.criteria if result.cached)

    @property
    def calls(self) -> int:
        return self.cost.calls

    @property
    def latency_ms(self) -> float:
        return self.cost.latency_ms

    @property
    def total_tokens(self) -> int | None:
        return self.cost.total_tokens

    def report(self) -> str:
        held = sum(1 for r in self.criteria if r.ok)
        model = f", model {self.model}" if self.model else ""
        head = f"judge {self.judge!r}{model}: {held} of {len(self.criteria)} criteria hold"
        return "\n".join([head, *(f"  {r.line()}" for r in self.criteria)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "model": self.model,
            "passed": self.passed,
            "criteria": [r.as_dict() for r in self.criteria],
            "cache_hits": self.cache_hits,
            "calls": self.cost.calls,
            "latency_ms": round(self.cost.latency_ms, 1),
            "total_tokens": self.cost.total_tokens,
        }


# -- what is judged ------------------------------------------------------------------------------


def messages_of(source: Any) -> list[Message]:
    """The messages of a conversation, a result, or a list of messages (dicts or Message)."""
    if isinstance(source, str):
        raise InvalidInputError(
            "judge a conversation, a result or a list of messages, not a bare string; "
            'wrap an answer as [{"role": "assistant", "content": text}]'
        )
    messages = getattr(source, "messages", source)
    try:
        found = [m if isinstance(m, Message) else Message.model_validate(m) for m in messages]
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"cannot read the messages to judge: {exc}") from None
    if not found:
        raise InvalidInputError("nothing to judge: the conversation has no messages yet")
    return found


def _criteria(kind: str, given: Sequence[str] | str) -> list[str]:
    items = [given] if isinstance(given, str) else list(given)
    if not all(isinstance(item, str) and item.strip() for item in items):
        raise InvalidInputError(f"{kind} criteria must be non-empty strings; got {items!r}")
    return items


def _positive(name: str, value: int, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidInputError(f"{name} must be a whole number >= {least}; got {value!r}")
    return value


# -- the judge -----------------------------------------------------------------------------------


class Judge:
    """A connector that judges. ``cache`` is a :class:`VerdictCache`, a folder, or None.

    Without ``client`` it calls through the client ``invoke_connector`` shares.
    """

    def __init__(
        self,
        connector: Connector,
        *,
        client: ConnectorClient | None = None,
        prompts: Prompts | None = None,
        cache: VerdictCache | str | os.PathLike[str] | None = None,
    ) -> None:
        self.connector = connector
        self.prompts = prompts or Prompts()
        self.cache = (
            cache if cache is None or isinstance(cache, VerdictCache) else VerdictCache(cache)
        )
        self._client = client or shared_client()
        self._json_mode = self._is_http and "response_format" not in self._body
        self._variants: dict[tuple[int, bool], Connector] = {}
        self.cost = Cost()  # every fresh call this judge made
        self.hits = 0

    def __repr__(self) -> str:
        return f"<Judge {self.name!r} model={self.model!r} prompts={self.prompts.version!r}>"

    @property
    def name(self) -> str:
        return self.connector.name

    @property
    def _is_http(self) -> bool:
        return self.connector.type is ConnectorType.HTTP

    @property
    def _body(self) -> dict[str, Any]:
        config = self.connector.config
        return dict(config.body or {}) if isinstance(config, HttpConnectorConfig) else {}

    @property
    def model(self) -> str | None:
        """``config.body.model`` of an HTTP judge, the assistant id of a LangGraph one."""
        if self._is_http:
            model = self._body.get("model")
            return None if model is None else str(model)
        return getattr(self.connector.config, "assistant_id", None)

    @property
    def identity(self) -> list[str | None]:
        return [self.name, self.model, self.prompts.identity]

    # -- one call --------------------------------------------------------------------------------

    def _variant(self, index: int, json_mode: bool) -> Connector:
        """The connector for the ``index``-th ask of one question (0: as configured)."""
        key = (index, json_mode)
        found = self._variants.get(key)
        if found is not None:
            return found
        if not self._is_http or (index == 0 and not json_mode):
            return self.connector
        body = self._body
        if json_mode:
            body["response_format"] = JSON_MODE
        if index:
            temperature = body.get("temperature")
            if not isinstance(temperature, int | float) or temperature < REASK_TEMPERATURE:
                body["temperature"] = REASK_TEMPERATURE
            seed = body.get("seed")
            body["seed"] = (seed if isinstance(seed, int) else 0) + index
        config = self.connector.config
        assert isinstance(config, HttpConnectorConfig)
        variant = self.connector.model_copy(
            update={"config": config.model_copy(update={"body": body})}
        )
        self._variants[key] = variant
        return variant

    def _call(self, prompt: str, index: int, cost: Cost) -> ConnectorInvokeResult:
        messages = messages_for(self.prompts, prompt)
        result = self._client.invoke(self._variant(index, self._json_mode), messages)
        cost.add(result)
        if not result.success and self._json_mode and result.status_code in (400, 422):
            self._json_mode = False  # no JSON mode here: read fenced JSON or prose instead
            result = self._client.invoke(self._variant(index, False), messages)
            cost.add(result)
        if not result.success:
            raise JudgeError(
                self.name, f"the call failed: {result.error}", result.raw_response or None
            )
        return result

    def ask(self, prompt: str, index: int = 0, cost: Cost | None = None) -> Verdict:
        """One fresh verdict on ``prompt``; JudgeError when the judge gives none."""
        cost = cost if cost is not None else Cost()
        result = self._call(prompt, index, cost)
        try:
            return parse_verdict(result.text)
        except UnreadableVerdict as exc:
            raise JudgeError(
                self.name,
                f"its reply is not a verdict ({exc}); a judge must answer "
                '{"verdict": "pass"|"fail", "score": 0..1, "reason": "..."}',
                cut(result.text),
            ) from None

    # -- criteria --------------------------------------------------------------------------------

    def _decide(
        self, prompt: str, kind: Kind, samples: int, confirm: int, cost: Cost
    ) -> tuple[bool, list[Verdict]]:
        def bad(verdict: Verdict) -> bool:
            return verdict.met if kind == "failure" else not verdict.met

        verdicts = [self.ask(prompt, index, cost) for index in range(samples)]
        failing = 2 * sum(map(bad, verdicts)) >= len(verdicts)  # a tie fails
        if failing and confirm:
            verdicts += [self.ask(prompt, samples + i, cost) for i in range(confirm)]
            failing = 2 * sum(map(bad, verdicts)) > len(verdicts)  # upheld by majority only
        met = failing if kind == "failure" else not failing
        return met, verdicts

    def _result(
        self, criterion: str, kind: Kind, prompt: str, samples: int, confirm: int, cost: Cost
    ) -> CriterionResult:
        key = cache_key(self.identity, kind, criterion, transcript_hash(prompt), samples, confirm)
        stored = self.cache.get(key) if self.cache is not None else None
        if stored is not None:
            try:
                verdicts = tuple(Verdict(bool(v[0]), float(v[1]), str(v[2])) for v in stored["v"])
                met = bool(stored["met"])
            except (KeyError, TypeError, ValueError, IndexError):
                stored = None
            else:
                self.hits += 1
                return _criterion_result(criterion, kind, met, verdicts, cached=True)
        fresh = Cost()
        met, asked = self._decide(prompt, kind, samples, confirm, fresh)
        cost.merge(fresh)
        self.cost.merge(fresh)
        if self.cache is not None:
            self.cache.put(key, {"met": met, "v": [[v.met, v.score, v.reason] for v in asked]})
        return _criterion_result(criterion, kind, met, tuple(asked), cached=False)

    def evaluate(
        self,
        source: Any,
        success: Sequence[str] | str = (),
        failure: Sequence[str] | str = (),
        *,
        samples: int = 1,
        confirm: int = 0,
    ) -> Judgement:
        """Judge every criterion against the whole transcript; never raises on a miss."""
        successes, failures = _criteria("success", success), _criteria("failure", failure)
        if not successes and not failures:
            raise InvalidInputError("give at least one success or failure criterion to judge")
        samples, confirm = _positive("samples", samples, 1), _positive("confirm", confirm, 0)
        transcript = render_transcript(messages_of(source))
        judgement = Judgement(self.name, self.model, [], samples, confirm)
        kinds: list[tuple[str, Kind]] = [(c, "success") for c in successes]
        kinds += [(c, "failure") for c in failures]
        for criterion, kind in kinds:
            prompt = self.prompts.criterion.format(criterion=criterion, transcript=transcript)
            judgement.criteria.append(
                self._result(criterion, kind, prompt, samples, confirm, judgement.cost)
            )
        JUDGES.observe(judgement)
        return judgement

    def check(
        self,
        source: Any,
        success: Sequence[str] | str = (),
        failure: Sequence[str] | str = (),
        *,
        samples: int = 1,
        confirm: int = 0,
    ) -> Judgement:
        """:meth:`evaluate`, raising :class:`CriteriaNotMet` when a criterion does not hold."""
        __tracebackhide__ = True
        judgement = self.evaluate(source, success, failure, samples=samples, confirm=confirm)
        if not judgement.passed:
            raise CriteriaNotMet("criteria not met: " + judgement.report(), judgement)
        return judgement

    def score(self, source: Any, criterion: str, *, samples: int = 1) -> float:
        """How fully ``criterion`` is met, 0 to 1: the mean score of ``samples`` verdicts."""
        result = self.evaluate(source, [criterion], samples=samples).criteria[0]
        return sum(v.score for v in result.verdicts) / len(result.verdicts)

    def compare(
        self,
        user: str,
        production: str,
        candidate: str,
        *,
        rubric: str | None = None,
        samples: int = 1,
        confirm: int = 0,
    ) -> Judgement:
        """Whether the candidate's answer meets ``rubric`` (default: says the same) next to
        production's answer to the same user turn."""
        rubric = rubric or self.prompts.pairwise_rubric
        prompt = self.prompts.pairwise.format(
            rubric=rubric, user=user, production=production, candidate=candidate
        )
        judgement = Judgement(self.name, self.model, [], samples, confirm)
        judgement.criteria.append(
            self._result(rubric, "pairwise", prompt, samples, confirm, judgement.cost)
        )
        JUDGES.observe(judgement)
        return judgement


def _criterion_result(
    criterion: str, kind: Kind, met: bool, verdicts: tuple[Verdict, ...], *, cached: bool
) -> CriterionResult:
    majority = [v for v in verdicts if v.met == met] or list(verdicts)
    return CriterionResult(
        criterion=criterion,
        kind=kind,
        met=met,
        score=sum(v.score for v in majority) / len(majority),
        reason=majority[0].reason,
        verdicts=verdicts,
        cached=cached,
    )


# -- which judge ---------------------------------------------------------------------------------

JudgeRef = Judge | Connector | str | None

NO_JUDGE = (
    "no judge is selected: pass judge=NAME, run pytest with --judge-connector NAME, set "
    f"`judge_connector = NAME` in the ini options, or export {JUDGE_ENV}=NAME"
)
# The pytest plugin resolves names per test, so a judge connector is launched and cached like
# any of the session's.
JUDGES: Role[Judge, Judgement] = Role(
    "judge", JUDGE_ENV, lambda connector: Judge(connector), lambda: JudgeError("(none)", NO_JUDGE)
)
judge_env = JUDGES.from_env
judges_from = JUDGES.provided


def resolve_judge(ref: JudgeRef) -> Judge:
    """A judge from a Judge, a connector, a connector name, or None (the selected one)."""
    return ref if isinstance(ref, Judge) else JUDGES.resolve(ref)


def assert_criteria(
    source: Any,
    success: Sequence[str] | str = (),
    failure: Sequence[str] | str = (),
    *,
    judge: JudgeRef = None,
    samples: int = 1,
    confirm: int = 0,
) -> Judgement:
    """Judge a conversation, a result or a list of messages against plain-language criteria.

    Every success criterion must be met and no failure criterion met, or it raises
    :class:`~pytest_connectors.errors.CriteriaNotMet` listing each criterion's verdict, score
    and reason. A judge that gives no verdict raises
    :class:`~pytest_connectors.errors.JudgeError` instead.
    """
    __tracebackhide__ = True
    return resolve_judge(judge).check(source, success, failure, samples=samples, confirm=confirm)


@dataclass(frozen=True)
class Judged:
    """An answer check for replays: the judge compares the candidate's answer with
    production's under ``rubric`` (default: says the same). See :func:`judged`."""

    rubric: str | None = None
    judge: JudgeRef = None
    samples: int = 1
    confirm: int = 0

    @property
    def label(self) -> str:
        return "judge" if self.rubric is None else f"judged({cut(self.rubric, 40)!r})"

    def compare(self, user: str, production: str, candidate: str) -> Judgement:
        judge = resolve_judge(self.judge)
        return judge.compare(
            user,
            production,
            candidate,
            rubric=self.rubric,
            samples=self.samples,
            confirm=self.confirm,
        )


def judged(
    rubric: str | None = None, *, judge: JudgeRef = None, samples: int = 1, confirm: int = 0
) -> Judged:
    """``assert_matches(answer=judged("criteria ..."))``: a replayed answer judged against
    production's with a rubric of your own."""
    return Judged(rubric, judge, _positive("samples", samples, 1), _positive("confirm", confirm, 0))
