"""Reading HTTP chat replies and writing requests, without I/O (pytest_connectors.wire.http).

These are the pure functions behind the HTTP connector: whatever shape an endpoint answers in,
the caller gets the same list of messages, or a ReplyError that says what was wrong.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_connectors.models.connector import ContentBlock, Message, ToolCall
from pytest_connectors.wire.http import (
    ReplyError,
    error_detail,
    invoke_body,
    parse_message,
    parse_reply,
    parse_tool_call,
    probe_body,
)

JSON = "application/json"
SENT = [Message(role="user", content="hi there")]


def reply(payload: Any, content_type: str = JSON, **kwargs: Any) -> list[Message]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_reply(body, content_type, SENT, **kwargs)


def assistant(text: str) -> Message:
    return Message(role="assistant", content=text)


# --- the reply shapes, in the documented order ------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "label"),
    [
        ({"choices": [{"message": {"role": "assistant", "content": "Hi!"}}]}, "openai"),
        ({"choices": [{"text": "Hi!"}]}, "legacy completions"),
        ({"message": {"role": "assistant", "content": "Hi!"}}, "message object"),
        ({"message": "Hi!"}, "message string"),
        ({"content": "Hi!"}, "content"),
        ({"response": "Hi!"}, "response"),
        ({"messages": [{"role": "assistant", "content": "Hi!"}]}, "messages"),
        ("Hi!", "json string"),
    ],
)
def test_each_known_shape_reads_as_one_assistant_message(payload: Any, label: str) -> None:
    assert reply(payload) == [assistant("Hi!")], label


def test_openai_choice_wins_over_other_keys() -> None:
    payload = {"choices": [{"message": {"content": "from choices"}}], "content": "from content"}
    assert reply(payload) == [assistant("from choices")]


def test_content_blocks_are_kept_and_read_as_text() -> None:
    [message] = reply(
        {"content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]}
    )
    assert message.role == "assistant"
    assert message.content == [
        ContentBlock(type="text", text="Hel"),
        ContentBlock(type="text", text="lo"),
    ]
    assert message.text == "Hello"


def test_messages_array_that_echoes_the_history_gives_only_the_new_entries() -> None:
    history = [
        Message(role="user", content="my name is Ada"),
        assistant("Nice to meet you, Ada."),
        Message(role="user", content="what is my name"),
    ]
    echoed = {
        "messages": [
            *(m.model_dump(exclude_none=True) for m in history),
            {"role": "assistant", "content": "Your name is Ada."},
        ]
    }
    body = json.dumps(echoed).encode()
    assert parse_reply(body, JSON, history) == [assistant("Your name is Ada.")]


def test_messages_array_without_the_history_is_taken_whole() -> None:
    payload = {
        "messages": [
            {"role": "assistant", "content": "", "tool_calls": [{"name": "f", "args": {}}]},
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
            {"role": "assistant", "content": "It is 42."},
        ]
    }
    assert [(m.role, m.text) for m in reply(payload)] == [
        ("assistant", ""),
        ("tool", "42"),
        ("assistant", "It is 42."),
    ]


@pytest.mark.parametrize("content_type", ["text/plain; charset=utf-8", "", "text/markdown"])
def test_a_body_that_is_not_json_is_the_reply_text(content_type: str) -> None:
    assert reply(b"Hello, *world*", content_type) == [assistant("Hello, *world*")]


def test_utf8_reply_text_survives() -> None:
    assert reply("Sunny, 21°C, 晴れ".encode(), "text/plain") == [assistant("Sunny, 21°C, 晴れ")]


# --- responsePath -----------------------------------------------------------------------------


def test_response_path_points_at_a_nested_string() -> None:
    payload = {"data": {"reply": {"text": "deep"}}, "content": "shallow"}
    assert reply(payload, response_path="data.reply.text") == [assistant("deep")]


def test_response_path_walks_list_indexes_including_negative_ones() -> None:
    payload = {"outputs": [{"text": "first"}, {"text": "last"}]}
    assert reply(payload, response_path="outputs.0.text") == [assistant("first")]
    assert reply(payload, response_path="outputs.-1.text") == [assistant("last")]


def test_response_path_to_a_message_object_keeps_its_tool_calls() -> None:
    payload = {"result": {"role": "assistant", "tool_calls": [{"name": "f", "args": {"x": 1}}]}}
    [message] = reply(payload, response_path="result")
    assert message.tool_calls == [ToolCall(name="f", args={"x": 1}, type="tool_call")]


def test_response_path_that_is_missing_says_where_it_stopped() -> None:
    with pytest.raises(ReplyError, match=r"responsePath 'data\.answer' .*stopped at 'answer'"):
        reply({"data": {"reply": "x"}}, response_path="data.answer")


def test_response_path_on_a_number_is_an_error() -> None:
    with pytest.raises(ReplyError, match="not a message or text"):
        reply({"data": 3}, response_path="data")


def test_response_path_with_a_text_body_is_an_error() -> None:
    with pytest.raises(ReplyError, match=r"responsePath 'a\.b' is set but the reply is not JSON"):
        reply(b"plain words", "text/plain", response_path="a.b")


# --- replies that hold no chat answer ---------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"   \n"])
def test_an_empty_body_is_an_error(body: bytes) -> None:
    with pytest.raises(ReplyError, match="empty"):
        reply(body)


def test_json_without_an_assistant_message_names_the_keys_and_the_fix() -> None:
    with pytest.raises(ReplyError) as caught:
        reply({"status": "ok", "data": {"x": 1}})
    text = str(caught.value)
    assert "no assistant message" in text
    assert "data, status" in text
    assert "responsePath" in text


def test_an_empty_json_object_is_an_error() -> None:
    with pytest.raises(ReplyError, match=r"no assistant message .*top-level keys: none"):
        reply({})


@pytest.mark.parametrize("payload", [[1, 2], 42, None, True])
def test_json_that_is_not_an_object_or_string_is_an_error(payload: Any) -> None:
    with pytest.raises(ReplyError, match="not a chat reply"):
        reply(payload)


def test_broken_json_that_claims_to_be_json_says_where_it_broke() -> None:
    with pytest.raises(ReplyError, match=r"says it is JSON but is not \(line 1, column 9"):
        reply(b'{"oops":', "application/json; charset=utf-8")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body>Sign in</body></html>", "text/html; charset=utf-8"),
        (b"  <!DOCTYPE html><html></html>", "text/plain"),
        (b"<html><head></head></html>", ""),
    ],
)
def test_an_html_page_is_an_error_that_points_at_the_url(body: bytes, content_type: str) -> None:
    with pytest.raises(ReplyError, match=r"HTML page.*check the base URL and path"):
        reply(body, content_type)


# --- messages and tool calls ------------------------------------------------------------------


def test_openai_tool_call_arguments_json_string_becomes_args() -> None:
    raw = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris", "days": 2}'},
    }
    assert parse_tool_call(raw) == ToolCall(
        id="call_1", name="get_weather", args={"city": "Paris", "days": 2}, type="tool_call"
    )


@pytest.mark.parametrize(
    ("arguments", "args"),
    [
        ("", {}),
        (None, {}),
        ({"city": "Oslo"}, {"city": "Oslo"}),
        ("not json", {"_raw": "not json"}),
        ("[1, 2]", {"_value": [1, 2]}),
    ],
)
def test_odd_openai_arguments_never_raise(arguments: Any, args: dict[str, Any]) -> None:
    call = parse_tool_call({"function": {"name": "f", "arguments": arguments}})
    assert (call.name, call.args) == ("f", args)


def test_langchain_tool_call_shape() -> None:
    raw = {"id": "c9", "name": "search", "args": {"q": "x"}, "type": "tool_call"}
    assert parse_tool_call(raw) == ToolCall(
        id="c9", name="search", args={"q": "x"}, type="tool_call"
    )


def test_openai_tool_call_reply_reads_as_an_assistant_message_with_calls() -> None:
    call = {"id": "call_7", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    [message] = reply(
        {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [call]}}]}
    )
    assert message.role == "assistant"
    assert message.content == ""
    assert message.tool_calls == [ToolCall(id="call_7", name="f", args={}, type="tool_call")]


@pytest.mark.parametrize(
    ("given", "role"),
    [
        ({"type": "ai"}, "assistant"),
        ({"type": "human"}, "user"),
        ({"role": "developer"}, "system"),
        ({"type": "tool", "tool_call_id": "c"}, "tool"),
        ({}, "assistant"),
    ],
)
def test_langchain_and_openai_roles_map_to_chat_roles(given: dict[str, Any], role: str) -> None:
    assert parse_message({**given, "content": "x"}).role == role


# --- request bodies ---------------------------------------------------------------------------


def test_invoke_body_posts_openai_shaped_messages_without_empty_fields() -> None:
    history = [
        Message(role="user", content="What's the weather in Paris?"),
        Message(
            role="assistant",
            tool_calls=[ToolCall(id="c1", name="get_weather", args={"city": "Paris"})],
        ),
        Message(role="tool", content="Sunny, 21°C in Paris", tool_call_id="c1"),
    ]
    assert json.loads(invoke_body(history)) == {
        "messages": [
            {"role": "user", "content": "What's the weather in Paris?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "content": "Sunny, 21°C in Paris", "tool_call_id": "c1"},
        ]
    }


def test_invoke_body_is_utf8_not_ascii_escaped() -> None:
    assert "21°C".encode() in invoke_body([Message(role="user", content="21°C")])


def test_probe_body_is_a_plain_chat_request_that_strict_servers_accept() -> None:
    """No field beyond ``messages``: strict OpenAI-compatible servers reject unknown ones."""
    assert json.loads(probe_body()) == {"messages": [{"role": "user", "content": "hello"}]}


def test_config_body_fields_go_into_every_request_body() -> None:
    extra = {"model": "gpt-test", "temperature": 0}
    hello = Message(role="user", content="hi")
    assert json.loads(invoke_body([hello], extra)) == {
        "model": "gpt-test",
        "temperature": 0,
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert json.loads(probe_body(extra))["model"] == "gpt-test"


def test_a_reply_that_is_not_valid_utf8_is_an_error_that_says_so() -> None:
    with pytest.raises(ReplyError, match=r"not valid UTF-8 \(byte 0xff at offset 13\)"):
        parse_reply(b'{"content": "\xff"}', "application/json", [])


def test_a_declared_charset_is_honoured() -> None:
    [message] = parse_reply("café".encode("latin-1"), "text/plain; charset=ISO-8859-1", [])
    assert message.text == "café"


# --- error details ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"detail": "the agent failed on purpose"}', "the agent failed on purpose"),
        (b'{"error": {"message": "invalid token", "type": "auth"}}', "invalid token"),
        (b'{"error": "quota exceeded"}', "quota exceeded"),
        (b'{"message": "Not Found"}', "Not Found"),
        (b'{"detail": [{"loc": ["body"], "msg": "bad"}]}', '[{"loc": ["body"], "msg": "bad"}]'),
        (b"Service Unavailable\n\n  try later", "Service Unavailable try later"),
        (b"", ""),
    ],
)
def test_error_detail_picks_the_useful_line(body: bytes, detail: str) -> None:
    assert error_detail(body) == detail


def test_error_detail_is_bounded() -> None:
    detail = error_detail(b"x" * 5000, limit=50)
    assert len(detail) == 50
    assert detail.endswith("...")
