"""Conversations derived from LangSmith root runs: a real LangGraph thread, every message shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_connectors.imports.conversations import (
    derive_conversations,
    extend_conversation,
    thread_key_of,
)

DATA = Path(__file__).parents[1] / "data" / "langsmith-langgraph-two-turn-thread.json"


def real_thread() -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = json.loads(DATA.read_text())
    return runs


def root(
    run_id: str,
    *,
    inputs: dict[str, Any],
    outputs: dict[str, Any] | None,
    start: str = "2026-11-24T10:00:00.000000",
    end: str | None = "2026-11-24T10:00:01.500000",
    metadata: dict[str, Any] | None = None,
    status: str | None = None,
    error: str | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """A root run as POST /runs/query serves it (times without a zone)."""
    return {
        "id": run_id,
        "trace_id": run_id,
        "parent_run_id": None,
        "name": "agent",
        "run_type": "chain",
        "start_time": start,
        "end_time": end,
        "status": status or ("error" if error else "success" if end else "pending"),
        "error": error,
        "inputs": inputs,
        "outputs": outputs,
        "extra": {"metadata": metadata or {}},
        "tags": tags or [],
    }


def test_the_real_langgraph_thread_becomes_one_conversation_of_two_turns() -> None:
    runs = real_thread()
    assert len(runs) == 13  # two roots and their children: children are not turns

    (conversation,) = derive_conversations(runs)

    assert conversation.id == conversation.thread_key == "t-42"
    assert conversation.origin == "imported" and conversation.connector_id is None
    assert conversation.pending is False
    assert conversation.metadata["thread_id"] == "t-42"
    first, second = conversation.turns
    assert [first.index, second.index] == [0, 1]
    assert first.user_messages == ["What's the weather in Paris?"]
    [call] = first.tool_calls
    assert (call.name, call.args, call.id, call.result) == (
        "get_weather",
        {"city": "Paris"},
        "call_1",
        "18C sunny",
    )
    assert first.answer == "It is 18C and sunny in Paris."
    assert first.trace_id == "01a20d3d-2329-7248-997e-5e3ba2558982"
    assert first.latency_ms == pytest.approx(15.031)
    assert first.error is None
    # The second root's outputs hold the whole thread: only what came after "Thanks!" counts.
    assert second.user_messages == ["Thanks!"]
    assert second.tool_calls == []
    assert second.answer == "You're welcome!"
    assert conversation.started_at == datetime(2026, 11, 24, 11, 7, 20, 233470, tzinfo=UTC)
    assert conversation.ended_at is not None and conversation.ended_at > first.started_at


def test_turns_are_ordered_by_start_time_and_runs_of_other_threads_kept_apart() -> None:
    runs = real_thread()
    other = root(
        "r-other",
        inputs={"messages": [{"role": "user", "content": "hello"}]},
        outputs={"messages": [{"type": "ai", "content": "hi"}]},
        start="2026-11-24T09:00:00",
        end="2026-11-24T09:00:01",
        metadata={"thread_id": "t-7"},
    )
    conversations = derive_conversations([*reversed(runs), other])

    assert [c.id for c in conversations] == ["t-7", "t-42"]  # by first turn
    assert [t.user_messages for t in conversations[1].turns] == [
        ["What's the weather in Paris?"],
        ["Thanks!"],
    ]


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"thread_id": "a", "session_id": "b", "conversation_id": "c"}, "a"),
        ({"session_id": "b", "conversation_id": "c"}, "b"),
        ({"conversation_id": "c"}, "c"),
        ({"thread_id": "", "conversation_id": 42}, "42"),
        ({}, "trace-1"),
    ],
)
def test_thread_key_precedence(metadata: dict[str, Any], expected: str) -> None:
    run = root("run-1", inputs={}, outputs={}, metadata=metadata)
    run["trace_id"] = "trace-1"
    assert thread_key_of(run) == expected


def test_thread_key_read_from_top_level_metadata_too() -> None:
    run = {"id": "x", "trace_id": "x", "metadata": {"session_id": "s-1"}}
    assert thread_key_of(run) == "s-1"


def test_openai_messages_with_function_arguments_and_twice_encoded_tool_content() -> None:
    run = root(
        "r1",
        inputs={
            "messages": [
                {"role": "system", "content": "You are helpful."},
                {"role": "user", "content": "Convert 3 EUR"},
            ]
        },
        outputs={
            "messages": [
                {"role": "system", "content": "You are helpful."},
                {"role": "user", "content": "Convert 3 EUR"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "convert", "arguments": '{"amount": 3}'},
                        }
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": "call_a",
                    "content": json.dumps(json.dumps({"usd": 3.27})),
                },
                {"role": "assistant", "content": "3 EUR is 3.27 USD."},
            ]
        },
    )
    (conversation,) = derive_conversations([run])
    (turn,) = conversation.turns
    assert turn.user_messages == ["Convert 3 EUR"]
    [call] = turn.tool_calls
    assert (call.name, call.args, call.id) == ("convert", {"amount": 3}, "call_a")
    assert json.loads(call.result or "") == {"usd": 3.27}  # one JSON layer left: the tool's own
    assert turn.answer == "3 EUR is 3.27 USD."
    assert turn.latency_ms == pytest.approx(1500.0)


def test_openai_choices_output_and_a_history_sent_as_input() -> None:
    run = root(
        "r1",
        inputs={
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "and now?"},
                {"role": "user", "content": "please"},
            ]
        },
        outputs={"choices": [{"message": {"role": "assistant", "content": "Now this."}}]},
    )
    (turn,) = derive_conversations([run])[0].turns
    assert turn.user_messages == ["and now?", "please"]  # after the last assistant message
    assert turn.answer == "Now this."


def test_lc_constructor_dumps_and_message_to_dict_pairs() -> None:
    def lc(kind: str, **kwargs: Any) -> dict[str, Any]:
        return {
            "lc": 1,
            "type": "constructor",
            "id": ["langchain", "schema", "messages", kind],
            "kwargs": kwargs,
        }

    run = root(
        "r1",
        inputs={"messages": [[lc("HumanMessage", content="Weather in Oslo?", type="human")]]},
        outputs={
            "messages": [
                {"type": "human", "data": {"content": "Weather in Oslo?"}},
                lc(
                    "AIMessage",
                    content="",
                    tool_calls=[{"name": "weather", "args": {"city": "Oslo"}, "id": "c9"}],
                ),
                lc("ToolMessage", content="-3C", tool_call_id="c9", name="weather"),
                {"type": "ai", "data": {"content": "It is -3C in Oslo."}},
            ]
        },
    )
    (turn,) = derive_conversations([run])[0].turns
    assert turn.user_messages == ["Weather in Oslo?"]
    assert [(c.name, c.args, c.result) for c in turn.tool_calls] == [
        ("weather", {"city": "Oslo"}, "-3C")
    ]
    assert turn.answer == "It is -3C in Oslo."


def test_lc_dump_with_openai_tool_calls_in_additional_kwargs() -> None:
    message = {
        "lc": 1,
        "type": "constructor",
        "id": ["langchain_core", "messages", "AIMessageChunk"],
        "kwargs": {
            "content": "",
            "additional_kwargs": {
                "tool_calls": [
                    {"id": "c1", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
                ]
            },
        },
    }
    run = root("r1", inputs={"input": "find x"}, outputs={"generations": [[{"message": message}]]})
    (turn,) = derive_conversations([run])[0].turns
    assert turn.user_messages == ["find x"]
    assert [(c.name, c.args) for c in turn.tool_calls] == [("lookup", {"q": "x"})]
    assert turn.answer is None


def test_content_blocks_with_tool_use_and_tool_result() -> None:
    run = root(
        "r1",
        inputs={
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Search cats"}]}]
        },
        outputs={
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Search cats"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Let me look."},
                        {"type": "tool_use", "id": "tu1", "name": "search", "input": {"q": "cats"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "tu1",
                            "content": [{"type": "text", "text": "3 results"}],
                        }
                    ],
                },
                {"role": "assistant", "content": [{"type": "text", "text": "Found 3."}]},
            ]
        },
    )
    (turn,) = derive_conversations([run])[0].turns
    assert turn.user_messages == ["Search cats"]
    assert [(c.name, c.args, c.id, c.result) for c in turn.tool_calls] == [
        ("search", {"q": "cats"}, "tu1", "3 results")
    ]
    assert turn.answer == "Found 3."


def test_a_single_message_where_a_list_belongs() -> None:
    run = root(
        "r1",
        inputs={"messages": {"role": "user", "content": "just one"}},
        outputs={"messages": {"type": "ai", "content": "fine"}},
    )
    (turn,) = derive_conversations([run])[0].turns
    assert (turn.user_messages, turn.answer) == (["just one"], "fine")


def test_plain_text_inputs_and_outputs() -> None:
    run = root("r1", inputs={"question": "2+2?"}, outputs={"output": "4"})
    (turn,) = derive_conversations([run])[0].turns
    assert (turn.user_messages, turn.answer) == (["2+2?"], "4")


def test_a_repeated_question_in_a_langgraph_thread_splits_at_the_latest_one() -> None:
    human = {"type": "human", "content": "again?"}
    first = root(
        "r1",
        inputs={"messages": [{"role": "user", "content": "again?"}]},
        outputs={"messages": [human, {"type": "ai", "content": "one"}]},
        metadata={"thread_id": "t"},
    )
    second = root(
        "r2",
        inputs={"messages": [{"role": "user", "content": "again?"}]},
        outputs={
            "messages": [
                human,
                {"type": "ai", "content": "one"},
                human,
                {"type": "ai", "content": "two"},
            ]
        },
        start="2026-11-24T10:00:05",
        end="2026-11-24T10:00:06",
        metadata={"thread_id": "t"},
    )
    (conversation,) = derive_conversations([second, first])
    assert [t.answer for t in conversation.turns] == ["one", "two"]


def test_pending_and_failed_runs() -> None:
    pending = root(
        "r1",
        inputs={"messages": [{"role": "user", "content": "slow one"}]},
        outputs=None,
        end=None,
        metadata={"thread_id": "t"},
        tags=["prod"],
    )
    failed = root(
        "r2",
        inputs={"messages": [{"role": "user", "content": "fail"}]},
        outputs=None,
        start="2026-11-24T09:00:00",
        end="2026-11-24T09:00:02",
        error="RuntimeError('the agent failed on purpose')\n\nTraceback (most recent call last):",
        metadata={"thread_id": "t"},
        tags=["prod", "beta"],
    )
    (conversation,) = derive_conversations([pending, failed])
    failed_turn, pending_turn = conversation.turns
    assert failed_turn.error == "RuntimeError('the agent failed on purpose')"
    assert failed_turn.answer is None and failed_turn.pending is False
    assert pending_turn.pending is True
    assert pending_turn.user_messages == ["slow one"]
    assert pending_turn.answer is None and pending_turn.latency_ms is None
    assert conversation.pending is True
    assert conversation.tags == ["prod", "beta"]


def test_a_finished_copy_of_a_run_wins_over_a_pending_one_in_any_order() -> None:
    pending = root("r1", inputs={"input": "q"}, outputs=None, end=None)
    done = root("r1", inputs={"input": "q"}, outputs={"output": "a"})
    for runs in ([pending, done], [done, pending]):
        (conversation,) = derive_conversations(runs)
        (turn,) = conversation.turns
        assert (turn.answer, turn.pending, conversation.pending) == ("a", False, False)


def test_times_without_a_zone_are_utc() -> None:
    run = root("r1", inputs={"input": "q"}, outputs={"output": "a"}, start="2026-11-24T10:00:00")
    (turn,) = derive_conversations([run])[0].turns
    assert turn.started_at == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["role", "type", "content", "messages", "tool_calls", "id", "lc", "kwargs"]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(inputs=json_values, outputs=json_values, metadata=json_values)
def test_any_json_in_a_run_derives_without_raising(
    inputs: Any, outputs: Any, metadata: Any
) -> None:
    run = {
        "id": "r",
        "start_time": "2026-11-24T10:00:00",
        "inputs": inputs,
        "outputs": outputs,
        "extra": {"metadata": metadata},
    }
    (conversation,) = derive_conversations([run])
    assert len(conversation.turns) == 1


def thread_run(
    n: int, second: int, *, pending: bool, tag: str | None, step: int | None
) -> dict[str, Any]:
    """Run ``n`` of one thread, started at ``second``; ids may repeat (a later copy of a run)."""
    metadata: dict[str, Any] = {"thread_id": "long"}
    if step is not None:
        metadata["step"] = step
    return root(
        f"r{n}",
        inputs={"messages": [{"role": "user", "content": f"question {n}"}]},
        outputs=None if pending else {"messages": [{"role": "assistant", "content": f"a{n}"}]},
        start=f"2026-11-24T10:{second // 60:02d}:{second % 60:02d}.000000",
        end=None if pending else f"2026-11-24T10:{second // 60:02d}:{second % 60:02d}.500000",
        metadata=metadata,
        tags=[tag] if tag else [],
    )


thread_runs = st.lists(
    st.builds(
        thread_run,
        n=st.integers(0, 40),
        second=st.integers(0, 3599),
        pending=st.booleans(),
        tag=st.sampled_from([None, "a", "b"]),
        step=st.none() | st.integers(0, 3),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(runs=thread_runs, cuts=st.lists(st.integers(1, 40), max_size=6))
def test_a_thread_extended_page_by_page_equals_the_thread_derived_at_once(
    runs: list[dict[str, Any]], cuts: list[int]
) -> None:
    """Pages of any runs (repeated ids, equal or earlier start times, pending copies) extended
    one after another give the conversation derived from all of them; when a page cannot be
    appended, the caller derives the thread whole, as the sync does."""
    pages = [runs[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(runs)], strict=True)]
    seen: list[dict[str, Any]] = []
    conversation = None
    for page in pages:
        extended = None
        if conversation is not None:
            extended = extend_conversation(conversation, {r["id"] for r in seen}, page)
        seen += page
        conversation = extended or derive_conversations(seen)[0]

    assert conversation == derive_conversations(runs)[0]


def test_runs_after_every_turn_are_appended_without_the_earlier_ones() -> None:
    first = [thread_run(n, n, pending=False, tag="a", step=n) for n in range(3)]
    later = [thread_run(n, n, pending=n == 4, tag="b", step=None) for n in (4, 3)]
    (conversation,) = derive_conversations(first)

    extended = extend_conversation(conversation, {"r0", "r1", "r2"}, later)

    assert extended == derive_conversations([*first, *later])[0]
    assert extended is not None and [t.index for t in extended.turns] == [0, 1, 2, 3, 4]
    assert extended.tags == ["a", "b"] and extended.metadata["step"] == 2 and extended.pending


def test_a_run_seen_before_or_not_after_the_last_turn_is_not_appended() -> None:
    first = [thread_run(n, n, pending=False, tag=None, step=None) for n in range(3)]
    (conversation,) = derive_conversations(first)
    known = {"r0", "r1", "r2"}

    again = thread_run(2, 10, pending=False, tag=None, step=None)
    tie = thread_run(7, 2, pending=False, tag=None, step=None)
    assert extend_conversation(conversation, known, [again]) is None
    assert extend_conversation(conversation, known, [tie]) is None
