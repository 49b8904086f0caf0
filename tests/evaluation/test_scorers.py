"""Deterministic scorers, on their own and as a replay's answer check."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from pydantic import BaseModel

from pytest_connectors import (
    ConnectorInvokeResult,
    InvalidInputError,
    Message,
    ScoreNotMet,
    contains,
    json_matches,
    matches,
    similar,
)
from pytest_connectors.errors import MissingDependencyError
from pytest_connectors.models.imports import RecordedTurn
from pytest_connectors.replay.compare import CandidateTurn, Check, TurnComparison

ANSWER = "The weather in Paris is sunny, 21°C."


def reply(text: str) -> ConnectorInvokeResult:
    message = Message(role="assistant", content=text)
    return ConnectorInvokeResult(success=True, message=message, messages=[message], latency_ms=1)


def test_contains_every_text_case_insensitively() -> None:
    assert contains("SUNNY", "paris").check(reply(ANSWER)).score == 1.0
    with pytest.raises(ScoreNotMet) as missed:
        contains("sunny", "Rome").check(ANSWER)
    assert str(missed.value) == (
        "contains('sunny', 'Rome'): 'Rome' is not in the answer "
        "'The weather in Paris is sunny, 21°C.'"
    )
    assert missed.value.score.score == 0.5  # type: ignore[attr-defined]
    assert not contains("SUNNY", case_sensitive=True).score(ANSWER).passed


def test_matches_searches_a_regex() -> None:
    assert matches(r"\d+°C").check(ANSWER).passed
    with pytest.raises(ScoreNotMet, match=r"matches\('snow'\): no match in the answer"):
        matches("snow").check(ANSWER)
    with pytest.raises(InvalidInputError, match="is not a valid regex"):
        matches("(")


class Forecast(BaseModel):
    city: str
    celsius: int


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "celsius": {"type": "integer"}},
    "required": ["city", "celsius"],
}


@pytest.mark.parametrize("schema", [Forecast, SCHEMA], ids=["pydantic", "json-schema"])
def test_json_matches_a_pydantic_model_or_a_json_schema(schema: Any) -> None:
    assert json_matches(schema).check('{"city": "Paris", "celsius": 21}').passed
    fenced = '```json\n{"city": "Paris", "celsius": 21}\n```'
    assert json_matches(schema).check(fenced).passed
    miss = json_matches(schema).score('{"city": "Paris", "celsius": "warm"}')
    assert not miss.passed
    assert miss.reason.startswith("celsius: ")
    assert not json_matches(schema).score("sunny, 21°C").passed


def test_similar_compares_with_rapidfuzz_ignoring_case_and_punctuation() -> None:
    assert similar(0.95, to="the weather in paris is sunny 21°c").check(ANSWER).score > 0.95
    close = similar(0.5, to="The weather in Rome is sunny, 21°C.").score(ANSWER)
    assert close.passed and 0.5 < close.score < 1
    with pytest.raises(ScoreNotMet, match=r"similar\(0.9\): similarity 0\.\d\d is below 0.9"):
        similar(0.9, to="It rains in Rome").check(ANSWER)
    with pytest.raises(InvalidInputError, match="from 0 to 1"):
        similar(2)


def turn(production: str | None, candidate: str) -> TurnComparison:
    recorded = RecordedTurn(index=0, user_messages=["Weather in Paris?"], answer=production)
    return TurnComparison(1, recorded, CandidateTurn(candidate, [], [], None, 10.0))


def test_scorers_are_replay_answer_checks() -> None:
    check = Check(tools=None, answer=similar(0.8))
    assert check.label() == "tools=None, args='subset', answer=similar(0.8)"
    assert check.problems(turn(ANSWER, "The weather in Paris is sunny, 21 °C")) == []
    assert check.problems(turn(ANSWER, "It rains.")) == [
        "answer check similar(0.8) failed: similar(0.8): similarity "
        f"{similar(0).score('It rains.', ANSWER).score:.2f} is below 0.8 to {ANSWER!r}"
    ]
    assert check.problems(turn(None, "anything")) == []  # production gave no answer
    assert Check(tools=None, answer=contains("sunny")).problems(turn(ANSWER, "Rainy.")) == [
        "answer check contains('sunny') failed: contains('sunny'): 'sunny' is not in the "
        "answer 'Rainy.'"
    ]


def test_without_the_extra_similar_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def missing(name: str, *args: Any) -> Any:
        if name == "rapidfuzz":
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(MissingDependencyError, match=r'pip install "pytest-connectors\[scorers\]"'):
        similar(0.8, to="x").score("x")
