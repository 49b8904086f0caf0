"""Runs on a LangGraph API server, free of I/O: thread ids, what to send, what came back.

A ``runs/wait`` answer is the thread's whole state, so the messages a run added are those after
the last input message; input messages are sent with ids of our own to find them again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pytest_connectors.models.connector import Message
from pytest_connectors.wire.http import parse_message

# Fixed namespace: the same run id maps to the same thread on every machine and run.
THREAD_NAMESPACE = uuid.UUID("6f1b8a55-3f0c-5c3e-9d5b-2a43c1f0e8b7")


class RunError(Exception):
    """The run finished, but not with a usable answer."""


def thread_id_for(run_id: str) -> str:
    """The run id itself when it is a UUID (servers require one), else a stable UUID5 of it."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(THREAD_NAMESPACE, run_id))


def wire_message(message: Message, message_id: str) -> dict[str, Any]:
    payload = message.model_dump(mode="json", exclude_none=True)
    payload["id"] = message_id
    return payload


def state_messages(values: Any) -> list[Message]:
    if not isinstance(values, dict):
        raise RunError(f"the run returned {type(values).__name__}, not a state object")
    raw = values.get("messages")
    if not isinstance(raw, list):
        keys = ", ".join(sorted(map(str, values))) or "none"
        raise RunError(f"the run's state has no 'messages' list (state keys: {keys})")
    return [parse_message(m) for m in raw if isinstance(m, dict)]


def run_error(values: Any) -> str | None:
    """A graph that raised still answers 200, with ``__error__`` in the body."""
    if isinstance(values, dict) and isinstance(values.get("__error__"), dict):
        error = values["__error__"]
        return f"{error.get('error', 'Error')}: {error.get('message', '')}".rstrip(": ")
    return None


def _same(mine: Message, theirs: Message) -> bool:
    if mine.id and theirs.id:
        return mine.id == theirs.id
    if mine.role != theirs.role:
        return False
    if mine.text or theirs.text:
        return mine.text == theirs.text
    names = [c.name for c in mine.tool_calls or []]
    return names == [c.name for c in theirs.tool_calls or []]


def unseen(history: Sequence[Message], thread: Sequence[Message]) -> list[Message]:
    """The part of ``history`` the thread has not seen.

    Each history message is matched, in order, to the next thread message with the same id (or
    role and text); whatever follows the last match is new. When nothing is new, the trailing
    user messages are sent again: asking the same question twice is a new turn.
    """
    position, last_match = 0, -1
    for index, message in enumerate(history):
        for offset in range(position, len(thread)):
            if _same(message, thread[offset]):
                position, last_match = offset + 1, index
                break
    new = list(history[last_match + 1 :])
    if new:
        return new
    trailing: list[Message] = []
    for message in reversed(history):
        if message.role != "user":
            break
        trailing.insert(0, message)
    return trailing


def added_messages(state: Sequence[Message], sent_ids: Sequence[str]) -> list[Message]:
    """The messages after the last one we sent."""
    ids = set(sent_ids)
    last = max((i for i, m in enumerate(state) if m.id in ids), default=None)
    if last is None:
        raise RunError("the run's state does not contain the messages that were sent")
    return list(state[last + 1 :])


def final_answer(added: Sequence[Message]) -> Message:
    for message in reversed(added):
        if message.role == "assistant":
            return message
    raise RunError("the run added no assistant message")
