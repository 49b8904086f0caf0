"""LangGraph runs without I/O (pytest_connectors.wire.langgraph): thread ids, what to send,
what a run added, and how a graph error is read."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pytest_connectors.models.connector import Message, ToolCall
from pytest_connectors.wire.langgraph import (
    RunError,
    added_messages,
    final_answer,
    run_error,
    state_messages,
    thread_id_for,
    unseen,
    wire_message,
)


def user(text: str) -> Message:
    return Message(role="user", content=text)


def ai(text: str = "", *, id: str | None = None, calls: list[ToolCall] | None = None) -> Message:
    return Message(role="assistant", content=text, id=id, tool_calls=calls)


# --- thread ids -------------------------------------------------------------------------------


def test_a_uuid_run_id_is_the_thread_id() -> None:
    run_id = str(uuid.uuid4())
    assert thread_id_for(run_id) == run_id


@pytest.mark.parametrize("run_id", ["my run", "ticket-42", "ünïcode run", "x" * 300])
def test_any_other_run_id_maps_to_a_uuid(run_id: str) -> None:
    thread_id = thread_id_for(run_id)
    assert str(uuid.UUID(thread_id)) == thread_id
    assert thread_id == thread_id_for(run_id)


def test_the_mapping_is_the_same_on_every_machine_and_release() -> None:
    # Pinned: a run id given on one machine must reach the same thread from another one.
    assert thread_id_for("my run") == "76748d54-e688-5ae3-8f30-2bb6faab506b"


def test_different_run_ids_get_different_threads() -> None:
    ids = {thread_id_for(f"ticket-{n}") for n in range(200)}
    assert len(ids) == 200


# --- what is sent -----------------------------------------------------------------------------


def test_wire_message_carries_our_id_and_no_empty_fields() -> None:
    assert wire_message(user("hi"), "m-1") == {"role": "user", "content": "hi", "id": "m-1"}


def test_wire_message_replaces_an_existing_id() -> None:
    assert wire_message(ai("x", id="server-id"), "ours")["id"] == "ours"


def test_unseen_of_a_new_thread_is_the_whole_history() -> None:
    history = [Message(role="system", content="be brief"), user("hi")]
    assert unseen(history, []) == history


def test_unseen_with_the_whole_history_is_only_the_new_turn() -> None:
    thread = [user("my name is Ada"), ai("Nice to meet you, Ada.", id="a1")]
    history = [
        user("my name is Ada"),
        ai("Nice to meet you, Ada.", id="a1"),
        user("what is my name"),
    ]
    assert unseen(history, thread) == [user("what is my name")]


def test_unseen_matches_assistant_messages_without_ids_by_text() -> None:
    thread = [user("my name is Ada"), ai("Nice to meet you, Ada.", id="a1")]
    history = [user("my name is Ada"), ai("Nice to meet you, Ada."), user("and you?")]
    assert unseen(history, thread) == [user("and you?")]


def test_messages_with_ids_match_by_id_alone() -> None:
    """The server may rewrite a message's text (a trimmer, a summariser); its id stays."""
    thread = [user("my name is Ada"), ai("Hello Ada (edited by the server)", id="a1")]
    history = [user("my name is Ada"), ai("Hello Ada", id="a1"), user("and you?")]
    assert unseen(history, thread) == [user("and you?")]


def test_the_same_text_under_another_id_is_another_message() -> None:
    thread = [user("hello"), ai("You said: hello", id="a1")]
    history = [user("hello"), ai("You said: hello", id="other"), user("bye")]
    assert unseen(history, thread) == [ai("You said: hello", id="other"), user("bye")]


def test_unseen_with_only_the_new_message_sends_it() -> None:
    thread = [user("my name is Ada"), ai("Nice to meet you, Ada.", id="a1")]
    assert unseen([user("what is my name")], thread) == [user("what is my name")]


def test_asking_the_same_question_again_is_a_new_turn() -> None:
    thread = [user("hello"), ai("You said: hello", id="a1")]
    assert unseen([user("hello")], thread) == [user("hello")]
    whole = [user("hello"), ai("You said: hello", id="a1"), user("hello")]
    assert unseen(whole, thread) == [user("hello")]


def test_a_history_the_thread_already_holds_has_nothing_to_send() -> None:
    thread = [user("hello"), ai("You said: hello", id="a1")]
    assert unseen([user("hello"), ai("You said: hello", id="a1")], thread) == []


def test_unseen_after_a_tool_call_turn() -> None:
    call = ToolCall(id="call_1", name="get_weather", args={"city": "Paris"})
    thread = [
        user("weather in Paris?"),
        ai(calls=[call], id="a1"),
        Message(role="tool", content="Sunny", tool_call_id="call_1", id="t1"),
        ai("It is sunny.", id="a2"),
    ]
    # The caller kept only the final answer of that turn.
    history = [user("weather in Paris?"), ai("It is sunny.", id="a2"), user("thanks")]
    assert unseen(history, thread) == [user("thanks")]
    # ...or every message of it, without ids.
    history = [
        user("weather in Paris?"),
        ai(calls=[call]),
        Message(role="tool", content="Sunny", tool_call_id="call_1"),
        ai("It is sunny."),
        user("thanks"),
    ]
    assert unseen(history, thread) == [user("thanks")]


# --- what came back ---------------------------------------------------------------------------


def state(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"messages": list(messages)}


def test_state_messages_reads_langchain_message_types() -> None:
    values = state(
        {"type": "human", "content": "weather?", "id": "h1"},
        {
            "type": "ai",
            "content": "",
            "id": "a1",
            "tool_calls": [{"name": "get_weather", "args": {"city": "Paris"}, "id": "c1"}],
        },
        {"type": "tool", "content": "Sunny", "tool_call_id": "c1", "name": "get_weather"},
        {"type": "ai", "content": "It is sunny.", "id": "a2"},
    )
    messages = state_messages(values)
    assert [m.role for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1].tool_calls == [
        ToolCall(id="c1", name="get_weather", args={"city": "Paris"}, type="tool_call")
    ]
    assert (messages[2].tool_call_id, messages[2].name) == ("c1", "get_weather")
    assert messages[3].id == "a2"


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ([], "returned list, not a state object"),
        ({"answer": 1, "steps": []}, "no 'messages' list (state keys: answer, steps)"),
        ({"messages": "hi"}, "no 'messages' list"),
    ],
)
def test_a_state_without_messages_is_a_run_error(values: Any, problem: str) -> None:
    with pytest.raises(RunError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        state_messages(values)


def test_run_error_reads_the_error_a_graph_raised() -> None:
    values = {"__error__": {"error": "RuntimeError", "message": "the agent failed on purpose"}}
    assert run_error(values) == "RuntimeError: the agent failed on purpose"


def test_run_error_without_a_message() -> None:
    assert run_error({"__error__": {"error": "ValueError"}}) == "ValueError"


@pytest.mark.parametrize("values", [state(), {"__error__": "text"}, None, []])
def test_a_normal_state_is_no_run_error(values: Any) -> None:
    assert run_error(values) is None


def test_added_messages_are_those_after_the_last_one_sent() -> None:
    thread = [user("old"), ai("old answer", id="a0")]
    mine = [
        Message(role="user", content="q1", id="s1"),
        Message(role="user", content="q2", id="s2"),
    ]
    new = [ai(calls=[ToolCall(name="f")], id="a1"), ai("done", id="a2")]
    assert added_messages([*thread, *mine, *new], ["s1", "s2"]) == new


def test_added_messages_when_the_state_lost_our_messages() -> None:
    with pytest.raises(RunError, match="does not contain the messages that were sent"):
        added_messages([user("x"), ai("y")], ["s1"])


def test_final_answer_is_the_last_assistant_message() -> None:
    answer = ai("done", id="a2")
    tool = Message(role="tool", content="r", tool_call_id="c")
    assert final_answer([ai(calls=[ToolCall(name="f")]), tool, answer]) is answer


def test_a_run_that_added_no_assistant_message_has_no_final_answer() -> None:
    with pytest.raises(RunError, match="no assistant message"):
        final_answer([Message(role="tool", content="r", tool_call_id="c")])
    with pytest.raises(RunError, match="no assistant message"):
        final_answer([])
