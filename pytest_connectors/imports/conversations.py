"""Conversations derived from imported LangSmith root runs, free of I/O.

One root run is one turn. Turns are grouped into a conversation by the root metadata key that
LangSmith itself groups threads by (``thread_id``, else ``session_id``, else
``conversation_id``), and a run without any of them is a conversation of its own (its trace id).

Messages are read in every shape a tracer writes them: OpenAI (``role``, ``tool_calls`` with
``function.name`` and JSON ``arguments``), LangChain dicts (``type`` human/ai/tool), LangChain
``lc`` constructor dumps, ``message_to_dict`` pairs, content blocks and tool content encoded as
JSON twice. A LangGraph root's ``outputs.messages`` is the whole thread state, so a turn's own
messages are those after the messages it was sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pytest_connectors._support.times import parse_utc
from pytest_connectors.models.imports import RecordedConversation, RecordedToolCall, RecordedTurn
from pytest_connectors.wire.http import parse_tool_call

__all__ = ["derive_conversations", "thread_key_of"]

THREAD_KEYS = ("thread_id", "session_id", "conversation_id")
TRACE_URL_KEY = "langsmith_trace_url"  # the metadata key replay reports link

_ROLES = {
    "human": "user",
    "user": "user",
    "humanmessage": "user",
    "humanmessagechunk": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "aimessage": "assistant",
    "aimessagechunk": "assistant",
    "tool": "tool",
    "function": "tool",
    "toolmessage": "tool",
    "toolmessagechunk": "tool",
    "functionmessage": "tool",
    "system": "system",
    "developer": "system",
    "systemmessage": "system",
}
# Keys a root run's inputs or outputs use for a single text when it has no message list.
_INPUT_TEXT_KEYS = ("input", "question", "query", "prompt", "message", "text", "content")
_OUTPUT_TEXT_KEYS = ("output", "answer", "response", "result", "content", "text", "message")


@dataclass
class _Message:
    role: str
    text: str = ""
    tool_calls: list[RecordedToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    tool_results: list[tuple[str | None, str]] = field(default_factory=list)  # content blocks
    id: str | None = None


# --- runs -------------------------------------------------------------------------------------


def _metadata(run: Mapping[str, Any]) -> dict[str, Any]:
    extra = run.get("extra")
    found = extra.get("metadata") if isinstance(extra, dict) else None
    if not isinstance(found, Mapping):
        found = run.get("metadata")
    return dict(found) if isinstance(found, Mapping) else {}


def thread_key_of(run: Mapping[str, Any]) -> str:
    """The conversation a root run belongs to: its thread metadata, else its own trace."""
    metadata = _metadata(run)
    for key in THREAD_KEYS:
        value = metadata.get(key)
        if value not in (None, ""):
            return str(value)
    return str(run.get("trace_id") or run.get("id"))


def _is_root(run: Mapping[str, Any]) -> bool:
    parent = run.get("parent_run_id")
    return parent is None or parent == ""


def _is_pending(run: Mapping[str, Any]) -> bool:
    status = run.get("status")
    if status is not None:
        return bool(status == "pending")
    return run.get("end_time") is None and run.get("error") is None


# --- messages ---------------------------------------------------------------------------------


def _unwrap_json_text(text: str) -> str:
    """Tool content is sometimes a JSON string of a JSON string; peel those layers off."""
    for _ in range(3):
        stripped = text.strip()
        if not (stripped.startswith('"') and stripped.endswith('"')):
            break
        try:
            inner = json.loads(stripped)
        except ValueError:
            break
        if not isinstance(inner, str):
            break
        text = inner
    return text


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif (
                isinstance(block, dict)
                and isinstance(block.get("text"), str)
                and block.get("type") in (None, "text", "input_text", "output_text")
            ):
                parts.append(block["text"])
        return "".join(parts)
    return json.dumps(content, ensure_ascii=False, sort_keys=True)


def _tool_result_text(content: Any) -> str:
    if isinstance(content, str):
        return _unwrap_json_text(content)
    if isinstance(content, list) and all(
        isinstance(b, str) or (isinstance(b, dict) and "text" in b) for b in content
    ):
        return _unwrap_json_text(_text_of(content))
    return json.dumps(content, ensure_ascii=False, sort_keys=True)


def _recorded(raw: Mapping[str, Any]) -> RecordedToolCall | None:
    try:
        call = parse_tool_call(dict(raw))
    except ValueError:
        return None
    if not call.name:
        return None
    return RecordedToolCall(name=call.name, args=call.args, id=call.id)


def _tool_calls(fields: Mapping[str, Any]) -> list[RecordedToolCall]:
    raw_calls = fields.get("tool_calls")
    extra = fields.get("additional_kwargs")
    if not raw_calls and isinstance(extra, dict):
        raw_calls = extra.get("tool_calls")
        if not raw_calls and isinstance(extra.get("function_call"), dict):
            raw_calls = [{"function": extra["function_call"]}]
    if not raw_calls and isinstance(fields.get("function_call"), dict):
        raw_calls = [{"function": fields["function_call"]}]
    calls = [c for raw in raw_calls or () if isinstance(raw, dict) if (c := _recorded(raw))]
    content = fields.get("content")
    if not calls and isinstance(content, list):  # tool-use content blocks
        for block in content:
            if isinstance(block, dict) and block.get("type") in ("tool_use", "tool_call"):
                args = block.get("input", block.get("args"))
                call = _recorded({"id": block.get("id"), "name": block.get("name"), "args": args})
                if call is not None:
                    calls.append(call)
    return calls


def _block_tool_results(content: Any) -> list[tuple[str | None, str]]:
    if not isinstance(content, list):
        return []
    return [
        (block.get("tool_use_id"), _tool_result_text(block.get("content")))
        for block in content
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


def _as_message(raw: Any) -> _Message | None:
    """One message in any of the shapes tracers write, or None for what is not a message."""
    if isinstance(raw, str):
        return _Message(role="user", text=raw)
    if isinstance(raw, list | tuple) and len(raw) == 2 and all(isinstance(p, str) for p in raw):
        role = _ROLES.get(raw[0].lower())  # ("user", "hi") tuples
        return _Message(role=role, text=raw[1]) if role else None
    if not isinstance(raw, dict):
        return None
    fields: dict[str, Any] = raw
    kind: Any = raw.get("role") or raw.get("type")
    if raw.get("lc") == 1 and isinstance(raw.get("kwargs"), dict):
        ids = raw.get("id")
        kind = ids[-1] if isinstance(ids, list) and ids else raw["kwargs"].get("type")
        fields = raw["kwargs"]
        if str(kind).lower() in ("chatmessage", "chatmessagechunk"):
            kind = fields.get("role")
    elif isinstance(raw.get("data"), dict) and "role" not in raw:  # message_to_dict
        fields = raw["data"]
    role = _ROLES.get(str(kind).lower()) if kind is not None else None
    if role is None:
        return None
    content = fields.get("content")
    message = _Message(
        role=role,
        id=fields.get("id") if isinstance(fields.get("id"), str) else None,
        tool_call_id=fields.get("tool_call_id"),
    )
    if role == "tool":
        message.text = _tool_result_text(content)
    else:
        message.text = _text_of(content)
        message.tool_calls = _tool_calls(fields) if role == "assistant" else []
        message.tool_results = _block_tool_results(content)
    return message


def _message_list(value: Any) -> list[Any]:
    if isinstance(value, dict):  # a single message where a list was expected
        return [value]
    if not isinstance(value, list):
        return []
    if value and all(isinstance(item, list) for item in value):  # chat-model batches: [[...]]
        return list(value[-1])
    return value


def _messages(value: Any) -> list[_Message]:
    return [m for m in map(_as_message, _message_list(value)) if m is not None]


def _input_messages(inputs: Any) -> list[_Message]:
    if not isinstance(inputs, dict):
        return []
    found = _messages(inputs.get("messages"))
    if found:
        return found
    for key in _INPUT_TEXT_KEYS:
        value = inputs.get(key)
        if isinstance(value, str) and value:
            return [_Message(role="user", text=value)]
        if isinstance(value, dict | list):
            nested = _messages(value if isinstance(value, list) else [value])
            if nested:
                return nested
    return []


def _added_messages(outputs: Any, sent: list[_Message]) -> list[_Message]:
    """The messages a turn added, from the outputs of its root run."""
    if not isinstance(outputs, dict):
        return []
    state = _message_list(outputs.get("messages"))
    if state:
        return _after_sent(state, sent)
    generations = outputs.get("generations")
    if isinstance(generations, list) and generations:
        first = generations[0][0] if isinstance(generations[0], list) else generations[0]
        if isinstance(first, dict):
            message = _as_message(first.get("message"))
            if message is None and isinstance(first.get("text"), str):
                message = _Message(role="assistant", text=first["text"])
            return [message] if message else []
    choices = outputs.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = _as_message(choices[0].get("message"))
        return [message] if message else []
    for key in _OUTPUT_TEXT_KEYS:
        value = outputs.get(key)
        if isinstance(value, str):
            return [_Message(role="assistant", text=value)]
        if isinstance(value, dict):
            message = _as_message(value)
            if message is not None:
                return [message]
    return []


def _same(a: _Message, b: _Message) -> bool:
    if a.id and b.id:
        return a.id == b.id
    return a.role == b.role and a.text == b.text


def _after_sent(state: list[Any], sent: list[_Message]) -> list[_Message]:
    """The messages after the last one the turn was sent, if the state holds it (LangGraph
    returns the whole thread), else after the last user message, else all of them.

    The state is read from its end, so a long thread costs no more than its last turn.
    """
    last_sent = sent[-1] if sent else None
    tail: list[_Message] = []
    for raw in reversed(state):
        message = _as_message(raw)
        if message is None:
            continue
        if last_sent is not None and _same(message, last_sent):
            break
        tail.append(message)
    else:
        users = [i for i, m in enumerate(tail) if m.role == "user" and m.text]
        if users:
            del tail[users[0] :]
    tail.reverse()
    return tail


def _user_messages(sent: list[_Message]) -> list[str]:
    """The user's texts of this turn: those after the last assistant or tool message sent."""
    start = 0
    for index, message in enumerate(sent):
        if message.role in ("assistant", "tool"):
            start = index + 1
    return [m.text for m in sent[start:] if m.role == "user" and m.text]


def _first_line(error: Any) -> str | None:
    if error in (None, ""):
        return None
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else None


def _turn(run: Mapping[str, Any], index: int) -> RecordedTurn:
    sent = _input_messages(run.get("inputs"))
    added = _added_messages(run.get("outputs"), sent)
    calls: list[RecordedToolCall] = []
    by_id: dict[str, RecordedToolCall] = {}
    answer: str | None = None

    def attach(call_id: str | None, result: str) -> None:
        call = by_id.get(call_id) if call_id else None
        if call is None:
            call = next((c for c in calls if c.result is None), None)
        if call is not None:
            call.result = result

    for message in added:
        for call_id, result in message.tool_results:
            attach(call_id, result)
        if message.role == "assistant":
            for call in message.tool_calls:
                calls.append(call)
                if call.id:
                    by_id[call.id] = call
            if message.text:
                answer = message.text
        elif message.role == "tool":
            attach(message.tool_call_id, message.text)
    start = parse_utc(run.get("start_time"))
    end = parse_utc(run.get("end_time"))
    latency = (end - start).total_seconds() * 1000 if start and end else None
    return RecordedTurn(
        index=index,
        user_messages=_user_messages(sent),
        tool_calls=calls,
        answer=answer,
        error=_first_line(run.get("error")),
        latency_ms=latency,
        started_at=start,
        trace_id=str(run.get("trace_id") or run.get("id")),
        pending=_is_pending(run),
    )


# --- conversations ----------------------------------------------------------------------------


def _order_key(run: Mapping[str, Any]) -> tuple[datetime, str]:
    start = parse_utc(run.get("start_time")) or datetime.min.replace(tzinfo=UTC)
    return start, str(run.get("dotted_order") or run.get("id"))


def _latest_by_id(runs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One run per id: a later copy wins, unless it is pending and an earlier one finished."""
    chosen: dict[str, Mapping[str, Any]] = {}
    for run in runs:
        if not _is_root(run):
            continue
        run_id = str(run.get("id"))
        previous = chosen.get(run_id)
        if previous is None or not _is_pending(run) or _is_pending(previous):
            chosen[run_id] = run
    return list(chosen.values())


def derive_conversations(runs: Iterable[Mapping[str, Any]]) -> list[RecordedConversation]:
    """Group root runs into conversations of ordered turns; child runs are ignored.

    Conversations come out ordered by their first turn. ``id`` is the thread key (a caller that
    stores several connectors' conversations namespaces it).
    """
    threads: dict[str, list[Mapping[str, Any]]] = {}
    for run in _latest_by_id(runs):
        threads.setdefault(thread_key_of(run), []).append(run)
    conversations = []
    for key, members in threads.items():
        members.sort(key=_order_key)
        empty = RecordedConversation(id=key, thread_key=key, origin="imported")
        conversations.append(_appended(empty, members))
    conversations.sort(key=lambda c: (c.started_at or datetime.min.replace(tzinfo=UTC), c.id))
    return conversations


def extend_conversation(
    conversation: RecordedConversation, known_ids: Set[str], runs: Iterable[Mapping[str, Any]]
) -> RecordedConversation | None:
    """``conversation`` with the turns of new ``runs`` of its thread appended, equal to what
    deriving all of its runs again gives, at the cost of the new runs only.

    ``known_ids`` are the ids of the runs it was derived from. None when appending cannot tell
    (a run seen before, a run that does not start after every turn): derive the thread whole.
    """
    added = _latest_by_id(runs)
    if not added:
        return conversation  # child runs only: they are no turns
    last = conversation.turns[-1].started_at if conversation.turns else None
    if last is None:
        return None
    for run in added:
        start = parse_utc(run.get("start_time"))
        if start is None or start <= last or str(run.get("id")) in known_ids:
            return None
    added.sort(key=_order_key)
    return _appended(conversation, added)


def _appended(
    conversation: RecordedConversation, members: list[Mapping[str, Any]]
) -> RecordedConversation:
    """The conversation with ``members`` (ordered, all after its turns) as its next turns."""
    first = len(conversation.turns)
    turns = [*conversation.turns, *(_turn(run, first + n) for n, run in enumerate(members))]
    metadata = dict(conversation.metadata)
    tags = list(conversation.tags)
    for run in members:
        metadata.update(_metadata(run))
        tags += [t for t in run.get("tags") or () if isinstance(t, str) and t not in tags]
        trace_url = run.get("trace_url")  # the provider's link to the run in its web app
        if isinstance(trace_url, str):
            metadata.setdefault(TRACE_URL_KEY, trace_url)  # the trace the conversation began in
    ends = [parse_utc(run.get("end_time")) for run in members]
    return conversation.model_copy(
        update={
            "started_at": turns[0].started_at,
            "ended_at": max(
                (e for e in (conversation.ended_at, *ends) if e is not None), default=None
            ),
            "turns": turns,
            "metadata": metadata,
            "tags": tags,
            "pending": conversation.pending or any(turn.pending for turn in turns[first:]),
        }
    )
