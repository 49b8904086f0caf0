"""Replay cases without an agent: frozen files, filters, limits, redaction and the per-turn diff."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from documentation import block

from pytest_connectors.errors import InvalidInputError
from pytest_connectors.models.connector import ToolCall
from pytest_connectors.models.imports import (
    RecordedConversation,
    RecordedToolCall,
    RecordedTurn,
    UserSession,
)
from pytest_connectors.replay.case import ReplayCase, case_file_name, short_hash
from pytest_connectors.replay.compare import (
    CandidateTurn,
    ReplayMismatch,
    ReplayResult,
    TurnComparison,
)
from pytest_connectors.replay.frozen import read_case, read_cases, write_case
from pytest_connectors.replay.redact import Redaction
from pytest_connectors.replay.runner import UnreplayableCase, audit_case
from pytest_connectors.replay.where import Where, select

EXAMPLE_CASES = Path(__file__).resolve().parents[2] / "examples" / "replay"
START = datetime(2026, 11, 20, 9, tzinfo=UTC)


def weather_turn(index: int, city: str, latency: float = 400.0) -> RecordedTurn:
    return RecordedTurn(
        index=index,
        user_messages=[f"What's the weather in {city}?"],
        tool_calls=[
            RecordedToolCall(name="get_weather", args={"city": city}, result=f"Sunny in {city}")
        ],
        answer=f"The weather in {city} is sunny, 21°C.",
        latency_ms=latency,
    )


def conversation(
    key: str, *turns: RecordedTurn, hours: int = 0, **fields: object
) -> RecordedConversation:
    return RecordedConversation(
        id=f"id-{key}",
        thread_key=key,
        started_at=START + timedelta(hours=hours),
        turns=list(turns),
        **fields,  # type: ignore[arg-type]
    )


def case(key: str, *turns: RecordedTurn, hours: int = 0, **fields: object) -> ReplayCase:
    sessions = fields.pop("sessions", ())
    return ReplayCase.of(
        conversation(key, *turns, hours=hours, **fields),
        "prod",
        tuple(sessions),  # type: ignore[arg-type]
    )


# -- frozen files ---------------------------------------------------------------------------------


def test_a_written_case_reads_back_unchanged(tmp_path: Path) -> None:
    original = conversation("t-1", weather_turn(0, "Paris"), metadata={"plan": "pro"})
    session = UserSession(id="u:s", user_id="u", frustrated_clicks=2)
    path = write_case(tmp_path, original, [session])
    assert path == tmp_path / f"t-1-{short_hash('id-t-1')}.json"
    loaded = read_case(path)
    assert loaded.replayable and loaded.id == "t-1" and loaded.source == str(path)
    assert loaded.conversation == original
    assert loaded.sessions == (session,)
    assert json.loads(path.read_text())["conversation"]["turns"][0]["userMessages"] == [
        "What's the weather in Paris?"
    ]


def test_the_example_cases_are_replayable() -> None:
    cases = read_cases(EXAMPLE_CASES)
    assert [c.id for c in cases] == ["t-1041", "t-1042", "t-1043", "t-1044"]
    assert all(c.replayable for c in cases)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "bad.json is not JSON"),
        ('{"format": "other"}', "bad.json is not a replay case file"),
        (
            '{"format": "pytest-connectors/replay-case", "version": 9}',
            "bad.json has version 9; this version reads 1",
        ),
        (
            '{"format": "pytest-connectors/replay-case", "version": 1, '
            '"conversation": {"id": "x", "threadKey": "t", "turns": [{"index": 0}]}}',
            "bad.json has an unreadable shape: turns.0.userMessages: Field required",
        ),
    ],
)
def test_an_unreadable_file_is_a_case_that_says_why(
    tmp_path: Path, content: str, reason: str
) -> None:
    (tmp_path / "bad.json").write_text(content)
    (loaded,) = read_cases(tmp_path)
    assert not loaded.replayable
    assert loaded.skip_reason is not None and loaded.skip_reason.startswith(reason)


def test_cases_that_cannot_be_replayed_say_why() -> None:
    no_turns = case("a")
    no_user = case("b", RecordedTurn(index=0, user_messages=[], answer="hi"))
    second_empty = case("c", weather_turn(0, "Paris"), RecordedTurn(index=1, user_messages=[]))
    pending = case("d", weather_turn(0, "Paris"), pending=True)
    assert no_turns.skip_reason == "the recorded conversation has no turns"
    assert no_user.skip_reason == "the recorded conversation has no user turn"
    assert second_empty.skip_reason == "turn 2 has no user message to send"
    assert pending.skip_reason is not None and "pending" in pending.skip_reason
    with pytest.raises(UnreplayableCase, match="no user turn"):
        audit_case(no_user)


def test_a_missing_path_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no replay cases at .*nowhere: give a case file"):
        read_cases(tmp_path / "nowhere")


def test_ids_are_safe_in_test_ids_and_file_names(tmp_path: Path) -> None:
    odd = conversation("thread [7] / user 1", weather_turn(0, "Paris"))
    digest = short_hash(odd.id)
    assert ReplayCase.of(odd, "prod").id == f"thread-7-user-1-{digest}"
    assert write_case(tmp_path, odd).name == f"thread-7-user-1-{digest}.json"


def test_keys_that_read_alike_get_distinct_stable_bounded_names(tmp_path: Path) -> None:
    keys = ["a/b", "a b", "a?b", "****", "", "x" * 300, "用户 ada@example.com", "t-42"]
    conversations = [conversation(key, weather_turn(0, "Paris")) for key in keys]
    names = [case_file_name(c.thread_key, c.id) for c in conversations]
    ids = [ReplayCase.of(c, "prod").id for c in conversations]
    assert len(set(names)) == len(keys) and len(set(ids)) == len(keys)
    assert names == [case_file_name(c.thread_key, c.id) for c in conversations]  # stable
    assert all(len(name.encode()) <= 100 and name.isascii() for name in names)
    assert all(len(i) <= 100 for i in ids)
    assert ids[-1] == "t-42"  # a plain key is its own id
    for c in conversations:
        assert read_case(write_case(tmp_path, c)).conversation == c
    assert len(list(tmp_path.glob("*.json"))) == len(keys)


# -- where and limit ------------------------------------------------------------------------------


def failing_turn(index: int) -> RecordedTurn:
    return RecordedTurn(index=index, user_messages=["please fail"], error="boom", latency_ms=10)


def small_talk(index: int) -> RecordedTurn:
    return RecordedTurn(index=index, user_messages=["hello"], answer="You said: hello")


@pytest.fixture
def pool() -> list[ReplayCase]:
    frustrated = UserSession(
        id="u1:s1",
        user_id="u1",
        frustrated_clicks=3,
        page_urls=["https://shop.example/checkout"],
    )
    dead = UserSession(id="u2:s2", user_id="u2", dead_clicks=1, error_clicks=2)
    return [
        case("weather", weather_turn(0, "Paris"), hours=3, agent_id="bot", tags=["vip"]),
        case("broken", small_talk(0), failing_turn(1), hours=1, sessions=[frustrated]),
        case("chat", small_talk(0), small_talk(1), small_talk(2), hours=2, sessions=[dead]),
        case("pro", small_talk(0), hours=0, metadata={"plan": "pro"}, agent_id="other"),
    ]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (None, ["pro", "broken", "chat", "weather"]),
        ({"tool": "get_weather"}, ["weather"]),
        ({"error": True}, ["broken"]),
        ({"error": False}, ["pro", "chat", "weather"]),
        ({"agent": "bot"}, ["weather"]),
        ({"tag": "vip"}, ["weather"]),
        ({"metadata": {"plan": "pro"}}, ["pro"]),
        ({"min_turns": 2}, ["broken", "chat"]),
        ({"max_turns": 1}, ["pro", "weather"]),
        ({"since": "2026-11-20T10:00Z", "until": "2026-11-20T12:00:00+00:00"}, ["broken", "chat"]),
        ({"frustrated_clicks": True}, ["broken"]),
        ({"dead_clicks": True}, ["chat"]),
        ({"session_errors": True}, ["chat"]),
        ({"page_url": "/checkout"}, ["broken"]),
        (Where(min_turns=2, error=False), ["chat"]),
        (lambda c: c.id.startswith("b"), ["broken"]),
    ],
)
def test_where_filters(pool: list[ReplayCase], where: object, expected: list[str]) -> None:
    assert [c.id for c in select(pool, where)] == expected  # type: ignore[arg-type]


def test_limit_takes_the_first_in_stable_order_or_a_seeded_sample(
    pool: list[ReplayCase],
) -> None:
    assert [c.id for c in select(reversed(pool), limit=2)] == ["pro", "broken"]
    sampled = {tuple(c.id for c in select(pool, limit=2, seed=seed)) for seed in range(20)}
    assert len(sampled) > 1  # different seeds draw different cases
    for seed in (1, "nightly"):
        first = [c.id for c in select(pool, limit=2, seed=seed)]
        assert first == [c.id for c in select(list(reversed(pool)), limit=2, seed=seed)]


def test_unreadable_cases_stay_selected_to_report_their_skip(pool: list[ReplayCase]) -> None:
    broken = ReplayCase.unreadable("x", "cases/x.json", "x.json is not JSON")
    assert [c.id for c in select([*pool, broken], {"tool": "get_weather"})] == ["weather", "x"]


def test_bad_filters_say_what_is_allowed(pool: list[ReplayCase]) -> None:
    with pytest.raises(InvalidInputError, match="unknown where filter 'tools'; known filters: "):
        select(pool, {"tools": "x"})
    with pytest.raises(InvalidInputError, match="not an ISO date"):
        select(pool, {"since": "yesterday"})
    with pytest.raises(InvalidInputError, match="limit must be a whole number"):
        select(pool, limit=-1)


# -- redaction ------------------------------------------------------------------------------------

SECRET = "sk-live-9f8e7d6c5b4a39281706"
EMAIL = "grace.hopper@example.com"


def leaky() -> RecordedConversation:
    return conversation(
        "t-leak",
        RecordedTurn(
            index=0,
            user_messages=[f"I am {EMAIL}, my key is {SECRET}"],
            tool_calls=[
                RecordedToolCall(
                    name="lookup", args={"email": EMAIL, "token": SECRET}, result=f"found {EMAIL}"
                )
            ],
            answer=f"Hello {EMAIL}",
            error=f"auth failed with password=hunter2hunter2 and {SECRET}",
        ),
        metadata={"user": EMAIL, "nested": [{"apiKey": SECRET}]},
        tags=[EMAIL],
    )


def test_default_redaction_removes_emails_and_secrets_everywhere(tmp_path: Path) -> None:
    redacted = Redaction().conversation(leaky())
    text = write_case(tmp_path, redacted).read_text()
    assert EMAIL not in text and SECRET not in text and "hunter2hunter2" not in text
    turn = redacted.turns[0]
    assert turn.user_messages == ["I am ****, my key is ****"]
    assert turn.tool_calls[0].args == {"email": "****", "token": "****"}
    assert turn.error == "auth failed with password=**** and ****"


def test_custom_patterns_secrets_and_hook() -> None:
    def drop_metadata(c: RecordedConversation) -> RecordedConversation:
        return c.model_copy(update={"metadata": {}})

    redaction = Redaction(patterns=[r"Hello"], secrets=["my key"], hook=drop_metadata)
    redacted = redaction.conversation(leaky())
    assert redacted.metadata == {}
    assert redacted.turns[0].answer == f"**** {EMAIL}"  # only the given pattern applies
    assert redacted.turns[0].user_messages == [f"I am {EMAIL}, **** is {SECRET}"]
    with pytest.raises(ValueError, match="is not a regular expression"):
        Redaction(patterns=["("])


PCK_KEY = "pck_ab12cd34_" + "Q" * 20 + "-" + "z" * 22
# (what the text says, the secret in it): every one must be masked by default.
SHAPED_SECRETS = {
    "service key": (f"use {PCK_KEY} for the service", PCK_KEY),
    "phone, international": ("call me on +33 6 12 34 56 78 tonight", "6 12 34 56 78"),
    "phone, north american": ("my number is (415) 555-2671", "555-2671"),
    "card number": ("charge 4111 1111 1111 1111 please", "4111 1111 1111 1111"),
    "card number, dashes": ("card 5555-5555-5555-4444", "5555-5555-5555-4444"),
    "IBAN": ("wire it to DE89 3704 0044 0532 0130 00", "3704 0044 0532 0130"),
    "IBAN, compact": ("IBAN GB82WEST12345698765432", "GB82WEST12345698765432"),
    "US SSN": ("my SSN is 078-05-1120", "078-05-1120"),
    "basic credentials": ("Authorization: Basic YWRhOnMzY3JldC1wdw==", "YWRhOnMzY3JldC1wdw=="),
    "GitLab token": ("token glpat-Ab12Cd34Ef56Gh78Ij90", "glpat-Ab12Cd34Ef56Gh78Ij90"),
    "GitHub fine-grained token": (
        "github_pat_11ABCDEFG0aBcDeFgHiJkL_mnopQRSTuvwx012345",
        "github_pat_11ABCDEFG0aBcDeFgHiJkL",
    ),
    "Hugging Face token": ("hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567", "hf_aBcDeFgHiJkLmNoPq"),
    "Google API key": ("key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", "AIzaSyA1b2C3d4E5f6G7h8"),
    "database URL password": (
        "DATABASE_URL=postgresql+psycopg://app:s3cr3t-Pw@db:5432/prod",
        "s3cr3t-Pw",
    ),
    "non-ASCII email": ("écrivez à jürgen.müller@beispiel.de", "jürgen.mü"),
    "non-ASCII email, non-ASCII domain": ("联系 用户@例子.中国 谢谢", "用户"),
}


@pytest.mark.parametrize("shape", sorted(SHAPED_SECRETS))
def test_default_redaction_masks_common_shapes(shape: str, tmp_path: Path) -> None:
    text, secret = SHAPED_SECRETS[shape]
    assert secret in text
    turn = RecordedTurn(index=0, user_messages=[text], answer=f"noted: {text}")
    written = write_case(tmp_path, Redaction().conversation(conversation("t-1", turn)))
    assert secret not in written.read_text(encoding="utf-8")
    assert "****" in Redaction().text(text)


def test_checksums_keep_numbers_that_only_look_like_cards_or_accounts() -> None:
    kept = [
        "order 1234567812345678 shipped",  # 16 digits, fails Luhn
        "ref 4111 1111 1111 1112",  # a card's shape, fails Luhn
        "DE00 3704 0044 0532 0130 00",  # an IBAN's shape, fails mod 97
        "SSN-like 000-12-3456",  # area 000 is never issued
        "at 2026-11-24T09:00:00+01:00 it took 1732435200000 ms (v1.2.3)",
        "thread 41111111-1111-1111-1111-111111111111",
        "a basic question about basic information",
    ]
    for text in kept:
        assert Redaction().text(text) == text


def test_redaction_of_long_texts_does_not_hang() -> None:
    # Runs of characters an email or a URL could start with, where a pattern that retries from
    # every position takes hours; linear scanning takes a second or two.
    hostile = ["a" * 500_000, "a." * 250_000, "1" * 500_000, "a@b." * 125_000, "+1 " * 160_000]
    started = time.monotonic()
    for text in hostile:
        Redaction().text(text)
    assert time.monotonic() - started < 60  # a generous deadline: only proves it ends


def test_emails_used_as_keys_are_masked_and_kept_apart() -> None:
    leaky_keys = conversation(
        "t-keys",
        weather_turn(0, "Paris"),
        metadata={"ada@example.com": {"plan": "pro"}, "bob@example.com": "free", "region": "eu"},
    )
    redacted = Redaction().conversation(leaky_keys)
    assert redacted.metadata == {"****": {"plan": "pro"}, "****-2": "free", "region": "eu"}


# -- comparison and diff --------------------------------------------------------------------------


def candidate(
    tools: list[tuple[str, dict[str, object]]],
    answer: str = "",
    error: str | None = None,
    latency: float = 300.0,
) -> CandidateTurn:
    calls = [ToolCall(name=name, args=dict(args)) for name, args in tools]
    return CandidateTurn(answer, calls, [], error, latency)


def result_of(*candidates: CandidateTurn | None, stopped_at: int | None = None) -> ReplayResult:
    recorded = case("t-42", small_talk(0), weather_turn(1, "Rome"), small_talk(2))
    turns = [
        TurnComparison(position, production, cand)
        for position, (production, cand) in enumerate(
            zip(recorded.turns, candidates, strict=True), start=1
        )
    ]
    return ReplayResult(recorded, turns, stopped_at=stopped_at)


def rome_diverged() -> ReplayResult:
    """Turn 2 called another tool; the run stopped there."""
    return result_of(
        candidate([], "You said: hello"),
        candidate([("get_time", {"city": "Rome"})], "It is noon in Rome."),
        None,
        stopped_at=2,
    )


def test_a_different_tool_fails_at_its_turn_with_a_readable_diff() -> None:
    result = rome_diverged()
    with pytest.raises(ReplayMismatch) as failure:
        result.assert_matches()
    assert failure.value.diverged_at == 2
    assert str(failure.value).splitlines() == [
        "replay of 't-42' (prod) diverged at turn 2 of 3 [tools='subset', args='subset']",
        "  turn 1: matches",
        '  turn 2: user said "What\'s the weather in Rome?"',
        '    production: get_weather({"city": "Rome"}) -> answer '
        '"The weather in Rome is sunny, 21°C." (400 ms)',
        '    candidate:  get_time({"city": "Rome"}) -> answer "It is noon in Rome." (300 ms)',
        "    - tool calls do not match (match='subset', args='subset')",
        '    - missing: get_weather({"city": "Rome"})',
        "  turn 3: not replayed (the run stopped at turn 2, where it diverged)",
        "  (replay.run(stop_on_divergence=False) replays every turn whatever happens)",
    ]


def test_the_docs_show_this_diff() -> None:
    sample = block("text", "diverged at turn 2 of 3")
    result = rome_diverged()
    with pytest.raises(ReplayMismatch) as failure:
        result.assert_matches()
    assert str(failure.value) == sample.rstrip("\n")


def test_tool_and_argument_modes_are_those_of_assert_tool_calls() -> None:
    extra = result_of(
        candidate([]),
        candidate([("get_weather", {"city": "Rome", "units": "C"}), ("log", {})]),
        candidate([]),
    )
    extra.assert_matches()  # subset: production's calls were made, extras allowed
    with pytest.raises(ReplayMismatch, match="unexpected: log"):
        extra.assert_matches(tools="unordered")
    with pytest.raises(ReplayMismatch, match="missing: get_weather"):
        extra.assert_matches(args="exact")
    extra.assert_matches(tools=None)
    other_city = result_of(candidate([]), candidate([("get_weather", {"city": "Oslo"})]), None)
    with pytest.raises(ReplayMismatch, match="missing: get_weather"):
        other_city.assert_matches()
    with pytest.raises(ReplayMismatch, match="turn 3: not replayed"):
        other_city.assert_matches(args="ignore")  # turn 2 matches now, but turn 3 never ran


def test_a_candidate_error_always_diverges_unless_production_failed_too() -> None:
    failed = result_of(candidate([]), candidate([], error="agent down"), candidate([]))
    with pytest.raises(ReplayMismatch) as failure:
        failed.assert_matches(tools=None)
    assert "the candidate failed where production answered: agent down" in str(failure.value)
    recorded = case("t-err", failing_turn(0))
    both = ReplayResult(recorded, [TurnComparison(1, recorded.turns[0], candidate([], error="x"))])
    both.assert_matches()


def test_latency_factor_and_answer_checks() -> None:
    slow = result_of(
        candidate([], "You said: hello", latency=100),
        candidate([("get_weather", {"city": "Rome"})], "It rains in Rome", latency=900),
        candidate([], "You said: hello"),
    )
    with pytest.raises(ReplayMismatch, match=r"latency 900 ms > 2 x production's 400 ms"):
        slow.assert_matches(latency_factor=2)
    slow.assert_matches(latency_factor=3)

    def mentions_sun(ours: str, theirs: str | None) -> bool:
        return "sun" in ours.lower() or "sun" not in (theirs or "").lower()

    with pytest.raises(ReplayMismatch, match="answer check mentions_sun rejected the answer"):
        slow.assert_matches(answer=mentions_sun)

    def strict(ours: str, theirs: str | None) -> None:
        assert ours == theirs, f"{ours!r} != {theirs!r}"

    with pytest.raises(ReplayMismatch, match="answer check strict failed: 'It rains in Rome'"):
        slow.assert_matches(answer=strict)
    with pytest.raises(ReplayMismatch, match="the answer differs from production's"):
        slow.assert_matches(answer="exact")
    with pytest.raises(ValueError, match="tools must be None or one of strict"):
        slow.assert_matches(tools="some")  # type: ignore[arg-type]


def test_audit_mode_checks_the_recorded_outputs() -> None:
    recorded = case("t-1", weather_turn(0, "Paris"), small_talk(1))
    result = audit_case(recorded)
    assert result.audit and len(result.replayed) == 2
    result.assert_matches(tools="strict", args="exact", answer="exact")

    def no_weather(ours: str, theirs: str | None) -> bool:
        return "weather" not in ours

    with pytest.raises(ReplayMismatch) as failure:
        result.assert_matches(answer=no_weather)
    message = str(failure.value)
    assert "diverged at turn 1 of 2" in message
    assert "audit mode: the recorded outputs were checked, no agent was called" in message


def test_example_case_files_hold_no_email_or_secret() -> None:
    for path in sorted(EXAMPLE_CASES.glob("*.json")):
        text = path.read_text()
        assert "@example.com" not in text, path
        assert os.fspath(path).endswith(".json")
