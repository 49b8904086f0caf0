"""assert_tool_calls: match modes, argument modes, sources and the diff shown on failure."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pytest_connectors import (
    ConnectorInvokeResult,
    Message,
    ToolCall,
    ToolCallMismatch,
    assert_tool_calls,
)

PARIS = ToolCall(id="c1", name="get_weather", args={"city": "Paris", "units": "C"})
NEWS = ToolCall(id="c2", name="search", args={"q": "news"})
ROME = ToolCall(id="c3", name="get_weather", args={"city": "Rome"})
CALLS = [PARIS, NEWS, ROME]


def mismatch(*args: Any, **kwargs: Any) -> str:
    with pytest.raises(ToolCallMismatch) as info:
        assert_tool_calls(*args, **kwargs)
    assert isinstance(info.value, AssertionError)
    return str(info.value)


# --- match modes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expected",
    [
        ["get_weather", "search", "get_weather"],
        [{"name": "get_weather", "args": {"city": "Paris"}}, "search", ROME],
        [PARIS, NEWS, ROME],
    ],
)
def test_strict_passes_on_the_same_calls_in_order(expected: list[Any]) -> None:
    assert_tool_calls(CALLS, expected)


def test_strict_fails_on_another_order_with_a_readable_diff() -> None:
    message = mismatch(CALLS, ["search", "get_weather", "get_weather"])
    assert message == "\n".join(
        [
            "tool calls do not match (match='strict', args='subset'):",
            '  call 1: expected search(...), got get_weather({"city": "Paris", "units": "C"})',
            '  call 2: expected get_weather(...), got search({"q": "news"})',
            "  expected:",
            "    - search(...)",
            "    - get_weather(...)",
            "    - get_weather(...)",
            "  actual:",
            '    - get_weather({"city": "Paris", "units": "C"})',
            '    - search({"q": "news"})',
            '    - get_weather({"city": "Rome"})',
        ]
    )


def test_strict_fails_on_a_missing_call() -> None:
    message = mismatch(CALLS[:2], ["get_weather", "search", {"name": "book", "args": {"n": 2}}])
    assert '  call 3: expected book({"n": 2}), but no call was made' in message.splitlines()


def test_strict_fails_on_an_extra_call() -> None:
    message = mismatch(CALLS, ["get_weather", "search"])
    assert message.splitlines()[1] == '  call 3: unexpected get_weather({"city": "Rome"})'


def test_unordered_passes_in_any_order() -> None:
    assert_tool_calls(CALLS, [ROME, "search", {"name": "get_weather"}], match="unordered")


def test_unordered_fails_on_missing_and_unexpected_calls() -> None:
    message = mismatch(CALLS, ["search", "get_weather", "send_email"], match="unordered")
    lines = message.splitlines()
    assert lines[0] == "tool calls do not match (match='unordered', args='subset'):"
    assert lines[1:3] == [
        "  missing: send_email(...)",
        '  unexpected: get_weather({"city": "Rome"})',
    ]


def test_unordered_counts_repeated_calls() -> None:
    message = mismatch([PARIS], ["get_weather", "get_weather"], match="unordered")
    assert "  missing: get_weather(...)" in message.splitlines()


def test_subset_passes_when_every_expected_call_was_made() -> None:
    assert_tool_calls(CALLS, ["search"], match="subset")
    assert_tool_calls(CALLS, [{"name": "get_weather", "args": {"city": "Rome"}}], match="subset")
    assert_tool_calls(CALLS, [], match="subset")


def test_subset_fails_on_a_missing_call_only() -> None:
    message = mismatch(CALLS, ["search", "send_email"], match="subset")
    assert message.splitlines()[1:3] == ["  missing: send_email(...)", "  expected:"]


def test_superset_passes_when_every_call_made_was_expected() -> None:
    assert_tool_calls([NEWS], ["search", "get_weather", "send_email"], match="superset")
    assert_tool_calls([], ["search"], match="superset")


def test_superset_fails_on_an_unexpected_call_only() -> None:
    message = mismatch(CALLS, ["get_weather", "get_weather", "send_email"], match="superset")
    assert message.splitlines()[1:3] == ['  unexpected: search({"q": "news"})', "  expected:"]


# --- argument modes ------------------------------------------------------------------------


def test_args_exact_passes_on_equal_arguments() -> None:
    assert_tool_calls(
        [PARIS], [{"name": "get_weather", "args": {"city": "Paris", "units": "C"}}], args="exact"
    )


def test_args_exact_fails_when_the_call_had_more_arguments() -> None:
    message = mismatch([PARIS], [{"name": "get_weather", "args": {"city": "Paris"}}], args="exact")
    assert message.splitlines()[:2] == [
        "tool calls do not match (match='strict', args='exact'):",
        '  call 1: expected get_weather({"city": "Paris"}), '
        'got get_weather({"city": "Paris", "units": "C"})',
    ]


def test_args_ignore_compares_names_only() -> None:
    assert_tool_calls([PARIS], [{"name": "get_weather", "args": {"city": "Oslo"}}], args="ignore")
    message = mismatch([PARIS], [{"name": "search", "args": {"city": "Oslo"}}], args="ignore")
    assert "got get_weather(" in message


def test_args_subset_passes_on_a_subset_of_arguments() -> None:
    assert_tool_calls([PARIS], [{"name": "get_weather", "args": {"units": "C"}}], args="subset")
    assert_tool_calls([PARIS], [{"name": "get_weather", "args": {}}], args="subset")


def test_args_subset_fails_on_a_different_value_or_a_missing_key() -> None:
    message = mismatch([PARIS], [{"name": "get_weather", "args": {"city": "Rome"}}])
    assert 'expected get_weather({"city": "Rome"})' in message
    mismatch([PARIS], [{"name": "get_weather", "args": {"country": "FR"}}])


def test_arguments_key_is_accepted_for_args() -> None:
    assert_tool_calls([NEWS], [{"name": "search", "arguments": {"q": "news"}}], args="exact")
    mismatch([NEWS], [{"name": "search", "arguments": {"q": "sport"}}], args="exact")


def test_an_unmatched_call_in_unordered_mode_respects_the_args_mode() -> None:
    expected = [{"name": "get_weather", "args": {"city": "Paris"}}]
    mismatch([PARIS], expected, match="unordered", args="exact")
    assert_tool_calls([PARIS], expected, match="unordered", args="subset")


# --- sources and bad input -----------------------------------------------------------------


def test_accepts_an_invoke_result() -> None:
    result = ConnectorInvokeResult(
        success=True,
        latency_ms=1.0,
        messages=[
            Message(role="assistant", tool_calls=[PARIS]),
            Message(role="tool", content="Sunny", tool_call_id="c1"),
            Message(role="assistant", content="It is sunny."),
        ],
    )
    assert_tool_calls(result, [{"name": "get_weather", "args": {"city": "Paris"}}])
    assert "actual:" in mismatch(result, [])


def test_accepts_a_conversation_like_object() -> None:
    conversation = SimpleNamespace(tool_calls=[NEWS, ROME])
    assert_tool_calls(conversation, ["search", "get_weather"])
    mismatch(conversation, ["search"])


def test_accepts_any_iterable_of_calls() -> None:
    assert_tool_calls(tuple(CALLS), ["get_weather", "search", "get_weather"])
    assert_tool_calls(iter([NEWS]), ["search"])


def test_no_calls_expected_and_none_made() -> None:
    assert_tool_calls([], [])
    message = mismatch([], ["search"])
    assert message.splitlines()[-3:] == ["    - search(...)", "  actual:", "    (none)"]
    assert "  expected:\n    (none)" in mismatch([NEWS], [])


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        (
            {"match": "exact"},
            "match must be one of strict, unordered, subset, superset; got 'exact'",
        ),
        ({"args": "strict"}, "args must be one of exact, ignore, subset; got 'strict'"),
    ],
)
def test_a_bad_mode_is_a_value_error_listing_the_modes(kwargs: dict[str, str], text: str) -> None:
    with pytest.raises(ValueError) as info:
        assert_tool_calls(CALLS, [], **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == text
    assert not isinstance(info.value, ToolCallMismatch)


def test_an_expected_call_without_a_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="an expected tool call needs a 'name'"):
        assert_tool_calls(CALLS, [{"args": {"city": "Paris"}}])


def test_a_mismatch_reads_well_in_a_pytest_run(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings =\n    error\n"
        "    ignore:Module already imported:pytest.PytestAssertRewriteWarning\n"
    )
    pytester.makepyfile(
        """
        from pytest_connectors import ToolCall, assert_tool_calls

        def test_tools():
            calls = [ToolCall(name="get_weather", args={"city": "Paris"})]
            assert_tool_calls(calls, [{"name": "get_weather", "args": {"city": "Rome"}}])
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E   *.ToolCallMismatch: tool calls do not match (match='strict', args='subset'):",
            'E         call 1: expected get_weather({"city": "Rome"}), '
            'got get_weather({"city": "Paris"})',
            "E         expected:",
            'E           - get_weather({"city": "Rome"})',
            "E         actual:",
            'E           - get_weather({"city": "Paris"})',
        ]
    )
