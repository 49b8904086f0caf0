"""Judges against a real OpenAI-compatible server that follows documented rules.

The model server (examples/model_server) judges a criterion by the quoted phrases in it, so
every verdict here can be checked by reading the transcript; its ``/control`` script forces
verdicts, unreadable replies and HTTP faults, and ``/calls`` counts what it was asked.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakes.models import EXAMPLES, MODEL_TOKEN, ModelFake

from pytest_connectors import (
    Connector,
    CriteriaNotMet,
    JudgeError,
    Message,
    assert_criteria,
)
from pytest_connectors.evaluation.judging import Judge, judges_from
from pytest_connectors.evaluation.prompts import Prompts, UnreadableVerdict, parse_verdict
from pytest_connectors.evaluation.verdict_cache import VerdictCache
from pytest_connectors.registry.json_file import ConnectorStore
from pytest_connectors.servers.launch import UvicornServer

MakeConnector = Callable[..., Connector]

WEATHER = [
    Message(role="user", content="What's the weather in Paris?"),
    Message(
        role="assistant",
        content="",
        tool_calls=[{"id": "c1", "name": "get_weather", "args": {"city": "Paris"}}],
    ),
    Message(role="tool", content="Sunny, 21°C in Paris", tool_call_id="c1", name="get_weather"),
    Message(role="assistant", content="The weather in Paris is sunny, 21°C."),
]


def fast(**extra: Any) -> dict[str, Any]:
    """Connector config for fault tests: quick retries, a short budget."""
    return {"retries": 2, "retryBackoffMs": 10, "timeout": 5000, **extra}


# -- verdicts in every shape ------------------------------------------------------------------


def test_a_json_mode_judge_passes_a_conversation_that_meets_its_criteria(
    model_fake: ModelFake, model_connector: MakeConnector
) -> None:
    judgement = assert_criteria(
        WEATHER,
        success=['names the city "Paris"', 'gives the temperature "21°C"'],
        failure=['mentions "snow"'],
        judge=model_connector(),
    )
    assert judgement.passed
    assert [(r.kind, r.met, r.ok) for r in judgement.criteria] == [
        ("success", True, True),
        ("success", True, True),
        ("failure", False, True),
    ]
    requests = model_fake.requests()
    assert len(requests) == judgement.calls == 3
    assert all(r["response_format"] == {"type": "json_object"} for r in requests)
    # The whole transcript is judged: the user turn, the tool call with its arguments, the
    # tool's result and the answer.
    prompt = requests[0]["messages"][1]["content"]
    assert "user: What's the weather in Paris?" in prompt
    assert 'assistant calls tool get_weather {"city": "Paris"}' in prompt
    assert "tool get_weather: Sunny, 21°C in Paris" in prompt
    assert judgement.total_tokens is not None and judgement.total_tokens > 0


def test_a_miss_lists_every_criterion_with_its_verdict_score_and_reason(
    model_fake: ModelFake, model_connector: MakeConnector
) -> None:
    with pytest.raises(CriteriaNotMet) as failed:
        assert_criteria(
            WEATHER,
            success=['names the city "Rome"', 'names "Paris"'],
            failure=['says "sunny"'],
            judge=model_connector(),
        )
    assert isinstance(failed.value, AssertionError)
    message = str(failed.value)
    assert "judge 'Rules Judge', model rules-judge: 1 of 3 criteria hold" in message
    assert (
        "FAIL success criterion 'names the city \"Rome\"': not met (score 0.00, 1 verdict): "
        "the agent never said 'Rome'" in message
    )
    assert "ok   success criterion 'names \"Paris\"': met (score 1.00, 1 verdict)" in message
    assert "FAIL failure criterion 'says \"sunny\"': met" in message
    assert not failed.value.judgement.passed  # type: ignore[attr-defined]


def test_a_server_without_json_mode_is_read_from_its_fenced_json(
    model_fake: ModelFake, model_connector: MakeConnector
) -> None:
    judge = Judge(model_connector(model="rules-judge-strict"))
    first = judge.check(WEATHER, ['names "Paris"'])
    assert first.calls == 2  # refused response_format once, asked again without
    second = judge.check(WEATHER, ['names "21°C"'])
    assert second.calls == 1  # and never asks for it again
    formats = [r.get("response_format") for r in model_fake.requests()]
    assert formats == [{"type": "json_object"}, None, None]


def test_a_verdict_in_prose_is_read(model_fake: ModelFake, model_connector: MakeConnector) -> None:
    judge = Judge(model_connector(model="rules-judge-prose"))
    with pytest.raises(CriteriaNotMet, match="the agent never said 'Rome'"):
        judge.check(WEATHER, ['says "Rome"'])
    assert judge.check(WEATHER, ['says "Paris"']).criteria[0].score == 1.0


def test_an_unreadable_reply_is_an_error_of_the_judge_with_its_reply(
    model_fake: ModelFake, model_connector: MakeConnector
) -> None:
    model_fake.script("garbage")
    with pytest.raises(JudgeError) as error:
        assert_criteria(WEATHER, ['says "Paris"'], judge=model_connector())
    assert not isinstance(error.value, AssertionError)  # not a failure of the agent
    assert "judge 'Rules Judge' gave no verdict: its reply is not a verdict" in str(error.value)
    assert "its reply: 'I would rather not say.'" in str(error.value)


@pytest.mark.parametrize(
    ("text", "met", "score"),
    [
        ('{"verdict": "pass", "score": 0.8, "reason": "ok"}', True, 0.8),
        ('Sure.\n```json\n{"verdict": "fail", "reason": "no"}\n```', False, 0.0),
        ('I think {"verdict": "PASS", "score": "1", "reason": "x"} overall', True, 1.0),
        ("Verdict: fail. Score: 0.2. Reason: it never says Paris.", False, 0.2),
        ("PASS", True, 1.0),
    ],
)
def test_verdict_shapes(text: str, met: bool, score: float) -> None:
    verdict = parse_verdict(text)
    assert (verdict.met, verdict.score) == (met, score)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I am not sure.",
        "Verdict: pass. Actually, verdict: fail.",
        '{"verdict": "maybe"}',
        '{"verdict": "pass", "score": 7}',
        '{"score": 1}',
    ],
)
def test_replies_that_are_no_verdict(text: str) -> None:
    with pytest.raises(UnreadableVerdict):
        parse_verdict(text)


# -- a judge that is down, slow or overloaded --------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_judge_that_is_down_errors_the_test_and_is_named(
    model_connector: MakeConnector,
) -> None:
    judge = model_connector(**fast()).model_copy(
        update={"base_url": f"http://127.0.0.1:{_closed_port()}"}
    )
    with pytest.raises(JudgeError) as error:
        assert_criteria(WEATHER, ['says "Paris"'], judge=judge)
    message = str(error.value)
    assert message.startswith(
        "judge 'Rules Judge' gave no verdict: the call failed: cannot connect"
    )
    assert "3 attempt" in message or "cannot connect" in message


def test_a_slow_judge_errors_within_its_timeout(
    model_fake: ModelFake, model_connector: MakeConnector
) -> None:
    model_fake.script({"sleep_ms": 3000})
    with pytest.raises(JudgeError, match="timed out after 300 ms"):
        assert_criteria(WEATHER, ['says "Paris"'], judge=model_connector(**fast(timeout=300)))


def test_the_model_server_holds_every_verdict_for_its_configured_delay(tmp_path: Path) -> None:
    """MODEL_SERVER_DELAY_MS (the benchmarks' 200 ms judge) delays every call, unscripted."""
    slow = UvicornServer(
        "app:app", app_dir=EXAMPLES / "model_server", env={"MODEL_SERVER_DELAY_MS": "1500"}
    )
    with slow:
        store = ConnectorStore(tmp_path / "judges.json")

        def judge(timeout_ms: int) -> Connector:
            return store.create(
                {
                    "name": f"Slow Judge {timeout_ms}",
                    "type": "http",
                    "baseUrl": slow.url,
                    "config": {
                        "path": "/v1/chat/completions",
                        "body": {"model": "rules-judge"},
                        **fast(timeout=timeout_ms, retries=0),
                    },
                }
            )

        with pytest.raises(JudgeError, match="timed out after 300 ms"):
            assert_criteria(WEATHER, ['says "Paris"'], judge=judge(300))
        assert assert_criteria(WEATHER, ['says "Paris"'], judge=judge(30_000)).passed


def test_429_and_5xx_are_retried_within_the_budget(
    model_fake: ModelFake, model_connector: MakeConnector
) -> None:
    model_fake.script(429, 503)
    judgement = assert_criteria(WEATHER, ['says "Paris"'], judge=model_connector(**fast()))
    assert judgement.passed
    assert model_fake.calls == 3


def test_a_judge_that_stays_overloaded_errors(
    model_fake: ModelFake, model_connector: MakeConnector
) -> None:
    model_fake.script(503, 503, 503)
    with pytest.raises(JudgeError, match="HTTP 503: scripted HTTP 503"):
        assert_criteria(WEATHER, ['says "Paris"'], judge=model_connector(**fast()))
    assert model_fake.calls == 3


# -- verdicts that hold ------------------------------------------------------------------------


def test_samples_take_the_majority_and_vary_temperature_and_seed(
    model_fake: ModelFake, model_connector: MakeConnector
) -> None:
    model_fake.script("pass", "fail", "pass")
    judgement = assert_criteria(WEATHER, ['says "Paris"'], judge=model_connector(), samples=3)
    assert judgement.calls == 3
    assert [v.met for v in judgement.criteria[0].verdicts] == [True, False, True]
    bodies = model_fake.requests()
    assert [(b["temperature"], b["seed"]) for b in bodies] == [(0, 7), (1.0, 8), (1.0, 9)]


def test_a_tie_of_samples_fails(model_fake: ModelFake, model_connector: MakeConnector) -> None:
    model_fake.script("pass", "fail")
    with pytest.raises(CriteriaNotMet):
        assert_criteria(WEATHER, ['says "Paris"'], judge=model_connector(), samples=2)


def test_confirm_costs_one_call_on_a_pass(
    model_fake: ModelFake, model_connector: MakeConnector
) -> None:
    judgement = assert_criteria(WEATHER, ['says "Paris"'], judge=model_connector(), confirm=2)
    assert judgement.calls == model_fake.calls == 1


def test_confirm_overturns_a_failure_the_majority_does_not_uphold(
    model_fake: ModelFake, model_connector: MakeConnector
) -> None:
    model_fake.script("fail", "pass", "pass")
    judgement = assert_criteria(WEATHER, ['says "Paris"'], judge=model_connector(), confirm=2)
    assert judgement.passed and judgement.calls == 3


def test_confirm_upholds_a_failure_by_majority(
    model_fake: ModelFake, model_connector: MakeConnector
) -> None:
    model_fake.script("fail", "pass", "fail")
    with pytest.raises(CriteriaNotMet, match="3 verdicts"):
        assert_criteria(WEATHER, ['says "Paris"'], judge=model_connector(), confirm=2)
    assert model_fake.calls == 3


def test_confirm_re_asks_a_met_failure_criterion(
    model_fake: ModelFake, model_connector: MakeConnector
) -> None:
    model_fake.script("pass", "fail", "fail")  # "met" on the first ask, then not
    judgement = assert_criteria(WEATHER, failure=['says "x"'], judge=model_connector(), confirm=2)
    assert judgement.passed and judgement.calls == 3


# -- the cache ---------------------------------------------------------------------------------


def test_a_cached_verdict_costs_no_call_in_a_later_session(
    model_fake: ModelFake, model_connector: MakeConnector, tmp_path: Path
) -> None:
    connector = model_connector()
    first = Judge(connector, cache=tmp_path / "cache").check(WEATHER, ['says "Paris"'], confirm=1)
    assert (first.calls, first.cache_hits) == (1, 0)
    later = Judge(connector, cache=tmp_path / "cache")  # a new judge: another session
    again = later.check(WEATHER, ['says "Paris"'], confirm=1)
    assert (again.calls, again.cache_hits) == (0, 1)
    assert again.criteria[0].cached and again.criteria[0].reason == first.criteria[0].reason
    assert model_fake.calls == 1


def test_a_cached_failure_still_fails(
    model_fake: ModelFake, model_connector: MakeConnector, tmp_path: Path
) -> None:
    judge = Judge(model_connector(), cache=tmp_path)
    for _ in range(2):
        with pytest.raises(CriteriaNotMet, match="never said 'Rome'"):
            judge.check(WEATHER, ['says "Rome"'])
    assert model_fake.calls == 1


@pytest.mark.parametrize("change", ["criterion", "transcript", "model", "prompts", "samples"])
def test_no_hit_when_what_the_verdict_depends_on_changes(
    change: str, model_fake: ModelFake, model_connector: MakeConnector, tmp_path: Path
) -> None:
    connector = model_connector()
    Judge(connector, cache=tmp_path).check(WEATHER, ['says "Paris"'])
    criterion, transcript, samples = 'says "Paris"', WEATHER, 1
    prompts = Prompts()
    if change == "criterion":
        criterion = 'says "paris"'
    elif change == "transcript":
        transcript = [*WEATHER, Message(role="user", content="thanks")]
    elif change == "model":
        connector = model_connector("Other Judge", model="rules-judge-prose")
    elif change == "prompts":
        prompts = Prompts(version="judge-v2")
    else:
        samples = 3
    judge = Judge(connector, cache=tmp_path, prompts=prompts)
    judgement = judge.check(transcript, [criterion], samples=samples)
    assert judgement.cache_hits == 0 and judgement.calls == samples


def test_cache_modes(model_fake: ModelFake, model_connector: MakeConnector, tmp_path: Path) -> None:
    connector = model_connector()

    def calls_with(mode: str) -> int:
        return Judge(connector, cache=VerdictCache(tmp_path, mode)).check(WEATHER, ['"21°C"']).calls

    assert calls_with("read") == 1  # nothing stored yet, and "read" stores nothing
    assert calls_with("off") == 1
    assert calls_with("on") == 1  # stored now
    assert calls_with("read") == 0
    assert calls_with("refresh") == 1  # asked again whatever is stored
    assert calls_with("on") == 0


# -- secrets -----------------------------------------------------------------------------------


def test_the_judge_connectors_secret_never_shows(
    model_fake: ModelFake, model_connector: MakeConnector
) -> None:
    connector = model_connector()
    judge = Judge(connector)
    model_fake.script("leak")  # the fake quotes the Authorization header in its reason
    judgement = judge.evaluate(WEATHER, ['says "Paris"'])
    model_fake.script("fail", 401)
    with pytest.raises(CriteriaNotMet) as failed:
        judge.check(WEATHER, ['says "Paris"'])
    with pytest.raises(JudgeError) as error:
        judge.check(WEATHER, ['says "Rome"'])
    outputs = [
        judgement.report(),
        str(judgement.as_dict()),
        repr(judge),
        str(failed.value),
        str(error.value),
        repr(error.value),
    ]
    assert "the request said Bearer" in judgement.report()
    for output in outputs:
        assert MODEL_TOKEN not in output


# -- a real conversation -----------------------------------------------------------------------


def test_a_conversation_with_a_real_agent_is_judged(
    model_fake: ModelFake,
    model_connector: MakeConnector,
    http_agent_server: Any,
    http_agent_token: str,
) -> None:
    from pytest_connectors import ConnectorClient, Conversation

    agent_connector = Connector.model_validate(
        {
            "id": "agent",
            "name": "HTTP Agent",
            "type": "http",
            "baseUrl": http_agent_server.url,
            "authType": "bearer",
            "authValue": http_agent_token,
            "config": {"path": "/v1/chat/completions"},
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": "2026-01-01T00:00:00.000Z",
        }
    )
    with ConnectorClient() as client:
        conversation = Conversation(agent_connector, run_id="judged", client=client)
        conversation.send("My name is Ada")
        conversation.send("What is my name?")
    assert_criteria(
        conversation,
        success=['greets the user by name "Ada"', 'answers "Your name is Ada"'],
        failure=['says "I don\'t know"'],
        judge=model_connector(),
    )


# -- pairwise, for replays ---------------------------------------------------------------------


def _turn(production: str, candidate: str) -> Any:
    from pytest_connectors.models.imports import RecordedTurn
    from pytest_connectors.replay.compare import CandidateTurn, TurnComparison

    recorded = RecordedTurn(index=0, user_messages=["Weather in Paris?"], answer=production)
    return TurnComparison(1, recorded, CandidateTurn(candidate, [], [], None, 10.0))


def test_answer_judge_passes_the_same_facts_in_other_words(
    model_fake: ModelFake, model_connector: MakeConnector
) -> None:
    from pytest_connectors import judged
    from pytest_connectors.replay.compare import Check

    check = Check(tools=None, answer=judged(judge=model_connector()))
    same = _turn("The weather in Paris is sunny, 21°C.", "It's sunny in Paris today: 21°C!")
    assert check.problems(same) == []
    missing = _turn("The weather in Paris is sunny, 21°C.", "It's sunny today.")
    assert check.problems(missing) == [
        "judge 'Rules Judge': the candidate leaves out '21°c' (score 0.00)"
    ]
    check.problems(missing)  # read again by a diff: the judge is not asked again
    assert model_fake.calls == 2
    prompt = model_fake.requests()[0]["messages"][1]["content"]
    assert "<user>\nWeather in Paris?\n</user>" in prompt
    assert "the same facts, nothing that contradicts production" in prompt


def test_answer_judge_uses_the_selected_judge_and_a_rubric_of_your_own(
    model_fake: ModelFake,
    model_connector: MakeConnector,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    model_connector("Replay Judge")  # written to tmp_path/judges.json
    monkeypatch.setenv("PYTEST_CONNECTORS_FILE", str(tmp_path / "judges.json"))
    monkeypatch.setenv("PYTEST_CONNECTORS_JUDGE", "Replay Judge")
    with judges_from(None):  # as outside pytest: the judge named by the environment
        _judge_with_the_selected_judge(model_fake)


def _judge_with_the_selected_judge(model_fake: ModelFake) -> None:
    from pytest_connectors import judged
    from pytest_connectors.replay.compare import Check

    assert Check(tools=None, answer="judge").label() == "tools=None, args='subset', answer=judge"
    turn = _turn("Sunny, 21°C in Paris.", "Paris: sunny and 21°C.")
    assert Check(tools=None, answer="judge").problems(turn) == []
    rubric = Check(tools=None, answer=judged("Same facts, and polite"))
    assert rubric.problems(turn) == []
    assert "Same facts, and polite" in model_fake.requests()[-1]["messages"][1]["content"]


def test_the_documented_real_model_judge_is_a_valid_connector() -> None:
    import json

    from documentation import block

    from pytest_connectors import CreateConnectorInput

    sample = block("json", '{"name": "GPT judge"')
    connector = CreateConnectorInput.model_validate(json.loads(sample))
    assert connector.config is not None and connector.config.body == {  # type: ignore[union-attr]
        "model": "gpt-4o-mini",
        "temperature": 0,
        "seed": 7,
    }
