"""Deterministic scorers: checks of an answer that need no model.

Each is usable on its own (``contains("sunny").check(reply)`` raises
:class:`~pytest_connectors.errors.ScoreNotMet`, ``.score(reply)`` returns a :class:`Score`) and
as a replay's answer check (``assert_matches(answer=similar(0.8))``: called with the candidate's
answer and production's). An answer is text, a result, a conversation (its last answer) or a
message. ``similar`` uses rapidfuzz and ``json_matches`` with a JSON Schema uses jsonschema, both
imported on first use (``pip install "pytest-connectors[scorers]"``).
"""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from pytest_connectors.errors import InvalidInputError, MissingDependencyError, ScoreNotMet

__all__ = ["Score", "Scorer", "contains", "json_matches", "matches", "similar"]

SCORERS_MISSING = 'this scorer needs the "scorers" extra: pip install "pytest-connectors[scorers]"'


@dataclass(frozen=True)
class Score:
    passed: bool
    score: float
    reason: str


def answer_text(answer: Any) -> str:
    """The text of an answer: a string, a result or message (``.text``), or a conversation
    (its last answer)."""
    if isinstance(answer, str):
        return answer
    last = getattr(answer, "last", None)
    if last is not None and hasattr(answer, "results"):
        answer = last
    text = getattr(answer, "text", None)
    if isinstance(text, str):
        return text
    raise InvalidInputError(
        f"cannot score {type(answer).__name__}: give text, a result, a message or a conversation"
    )


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"{module} is not installed; {SCORERS_MISSING}") from None


class Scorer:
    """A check of one answer, optionally against a reference (production's answer)."""

    label = "scorer"

    def score(self, answer: Any, reference: str | None = None) -> Score:
        raise NotImplementedError

    def check(self, answer: Any, reference: str | None = None) -> Score:
        """The score; :class:`ScoreNotMet` (an AssertionError) when the answer misses."""
        __tracebackhide__ = True
        found = self.score(answer, reference)
        if not found.passed:
            raise ScoreNotMet(f"{self.label}: {found.reason}", found)
        return found

    def __call__(self, candidate: Any, production: str | None = None) -> bool:
        """The replay answer-check protocol: candidate and production's answer."""
        __tracebackhide__ = True
        self.check(candidate, production)
        return True

    def __repr__(self) -> str:
        return self.label


def _preview(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


class _Contains(Scorer):
    def __init__(self, texts: tuple[str, ...], case_sensitive: bool) -> None:
        if not texts or not all(isinstance(t, str) and t for t in texts):
            raise InvalidInputError(f"contains() needs one or more non-empty texts; got {texts!r}")
        self.texts, self.case_sensitive = texts, case_sensitive
        self.label = f"contains({', '.join(repr(t) for t in texts)})"

    def score(self, answer: Any, reference: str | None = None) -> Score:
        text = answer_text(answer)
        fold = (lambda s: s) if self.case_sensitive else str.casefold
        missing = [t for t in self.texts if fold(t) not in fold(text)]
        found = len(self.texts) - len(missing)
        if missing:
            reason = f"{missing[0]!r} is not in the answer {_preview(text)}"
        else:
            reason = "every text is in the answer"
        return Score(not missing, found / len(self.texts), reason)


def contains(*texts: str, case_sensitive: bool = False) -> Scorer:
    """The answer contains every one of ``texts`` (case-insensitive unless told)."""
    return _Contains(texts, case_sensitive)


class _Matches(Scorer):
    def __init__(self, pattern: str | re.Pattern[str], flags: int) -> None:
        try:
            self.pattern = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        except re.error as exc:
            raise InvalidInputError(f"matches(): {pattern!r} is not a valid regex: {exc}") from None
        self.label = f"matches({self.pattern.pattern!r})"

    def score(self, answer: Any, reference: str | None = None) -> Score:
        text = answer_text(answer)
        if self.pattern.search(text):
            return Score(True, 1.0, "the answer matches")
        return Score(False, 0.0, f"no match in the answer {_preview(text)}")


def matches(pattern: str | re.Pattern[str], flags: int = 0) -> Scorer:
    """The regex ``pattern`` is found in the answer (``re.search``)."""
    return _Matches(pattern, flags)


class _JsonMatches(Scorer):
    def __init__(self, schema: dict[str, Any] | type[BaseModel]) -> None:
        is_model = isinstance(schema, type) and issubclass(schema, BaseModel)
        if not is_model and not isinstance(schema, dict):
            raise InvalidInputError("json_matches() needs a JSON Schema (a dict) or pydantic model")
        self.schema = schema
        name = schema.__name__ if isinstance(schema, type) else "schema"
        self.label = f"json_matches({name})"

    def score(self, answer: Any, reference: str | None = None) -> Score:
        text = answer_text(answer).strip()
        fenced = re.fullmatch(r"```[ \t]*(?:json)?[ \t]*\n(.*?)```", text, re.S | re.I)
        text = fenced.group(1) if fenced else text
        if isinstance(self.schema, type):
            try:
                self.schema.model_validate_json(text)
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(p) for p in error["loc"]) or "the answer"
                return Score(False, 0.0, f"{where}: {error['msg']}")
            return Score(True, 1.0, f"the answer is a valid {self.schema.__name__}")
        try:
            data = json.loads(text)
        except ValueError as exc:
            return Score(False, 0.0, f"the answer is not JSON ({exc})")
        jsonschema = _optional("jsonschema")
        error = jsonschema.exceptions.best_match(
            jsonschema.validators.validator_for(self.schema)(self.schema).iter_errors(data)
        )
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the answer"
            return Score(False, 0.0, f"{where}: {error.message}")
        return Score(True, 1.0, "the answer matches the schema")


def json_matches(schema: dict[str, Any] | type[BaseModel]) -> Scorer:
    """The answer is JSON (bare or fenced) valid under a JSON Schema or a pydantic model."""
    return _JsonMatches(schema)


class _Similar(Scorer):
    def __init__(self, min_ratio: float, to: str | None) -> None:
        if isinstance(min_ratio, bool) or not isinstance(min_ratio, int | float):
            raise InvalidInputError(f"similar() needs a min_ratio from 0 to 1; got {min_ratio!r}")
        if not 0 <= min_ratio <= 1:
            raise InvalidInputError(f"similar() needs a min_ratio from 0 to 1; got {min_ratio!r}")
        self.min_ratio, self.to = float(min_ratio), to
        self.label = f"similar({min_ratio:g})"

    def __call__(self, candidate: Any, production: str | None = None) -> bool:
        __tracebackhide__ = True
        if self.to is None and production is None:
            return True  # production gave no answer to compare with
        return super().__call__(candidate, production)

    def score(self, answer: Any, reference: str | None = None) -> Score:
        expected = self.to if self.to is not None else reference
        if expected is None:
            raise InvalidInputError("similar() needs a text to compare with: similar(0.8, to=...)")
        rapidfuzz = _optional("rapidfuzz")
        ratio = rapidfuzz.fuzz.ratio(
            answer_text(answer), expected, processor=rapidfuzz.utils.default_process
        )
        ratio = float(ratio) / 100
        verdict = "at least" if ratio >= self.min_ratio else "below"
        return Score(
            ratio >= self.min_ratio,
            ratio,
            f"similarity {ratio:.2f} is {verdict} {self.min_ratio:g} to {_preview(expected)}",
        )


def similar(min_ratio: float = 0.8, *, to: str | None = None) -> Scorer:
    """The answer's string similarity (rapidfuzz ``fuzz.ratio``, case and punctuation folded)
    to ``to``, or to production's answer in a replay, is at least ``min_ratio``."""
    return _Similar(min_ratio, to)
