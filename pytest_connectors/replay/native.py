"""A test session's own agent calls as conversations of origin ``native``, for the database.

One conversation per test and connector, for the agent the replayed case was recorded from (else
the connector's name): its turns in order with the user messages, answers, tool calls with their
arguments, latency and errors (as the call records carry them: long texts cut, secret-looking
arguments masked), and in its metadata
the test id, the connector, the pytest session id, the git revision when known and the test's
outcome. Built from the JSON records that reach the controller, so xdist runs write the same.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_connectors.evaluation.latency import CallRecord
from pytest_connectors.models.imports import RecordedConversation, RecordedToolCall, RecordedTurn
from pytest_connectors.replay.compare import ReplayResult

NAMESPACE = uuid.UUID("6f1c0f0e-8f3a-4a4e-9d55-2f1f4c7e9b21")


def git_revision(root: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    revision = done.stdout.strip()
    return revision if done.returncode == 0 and revision else None


def turns_of_result(result: ReplayResult) -> list[dict[str, Any]]:
    """The candidate's side of a replay, as recorded turns in JSON."""
    turns = []
    for turn in result.replayed:
        candidate = turn.candidate
        assert candidate is not None
        recorded = RecordedTurn(
            index=turn.position - 1,
            user_messages=list(turn.production.user_messages),
            tool_calls=[
                RecordedToolCall(name=c.name, args=c.args, id=c.id) for c in candidate.tool_calls
            ],
            answer=candidate.answer or None,
            error=candidate.error,
            latency_ms=candidate.latency_ms,
        )
        turns.append(recorded.model_dump(mode="json", by_alias=True))
    return turns


def _tool_calls_of(record: CallRecord) -> list[RecordedToolCall]:
    if "tool_calls" in record:
        return [RecordedToolCall(name=c["name"], args=c["args"]) for c in record["tool_calls"]]
    return [RecordedToolCall(name=name) for name in record["tools"]]


def _turns_of_records(records: Sequence[CallRecord]) -> list[RecordedTurn]:
    return [
        RecordedTurn(
            index=position,
            user_messages=list(record.get("user", [])),
            tool_calls=_tool_calls_of(record),
            answer=record.get("answer") or None,
            error=record["error"],
            latency_ms=record["latency_ms"],
        )
        for position, record in enumerate(sorted(records, key=lambda r: r["turn"]))
    ]


def native_conversations(
    records: Sequence[CallRecord],
    replayed: Sequence[Mapping[str, Any]],
    *,
    session_id: str,
    revision: str | None,
    outcomes: Mapping[str, str] | None = None,
) -> list[RecordedConversation]:
    """``records``: every call of the session; ``replayed``: the richer turns of replay tests."""
    now = datetime.now(UTC)
    grouped: dict[tuple[str, str], list[CallRecord]] = {}
    for record in records:
        grouped.setdefault((record["test"], record["connector"]), []).append(record)
    rich = {(r["test"], r["connector"]): r for r in replayed}
    conversations = []
    for key in sorted(set(grouped) | set(rich)):
        test, connector = key
        agent = connector
        if key in rich:
            turns = [RecordedTurn.model_validate(t) for t in rich[key]["turns"]]
            agent = rich[key].get("agent") or connector
        else:
            turns = _turns_of_records(grouped[key])
        outcome = (outcomes or {}).get(test)
        metadata: dict[str, Any] = {
            "test": test,
            "connector": connector,
            "sessionId": session_id,
            "outcome": outcome,
        }
        if revision:
            metadata["gitRevision"] = revision
        conversations.append(
            RecordedConversation(
                id=str(uuid.uuid5(NAMESPACE, f"{session_id}|{test}|{connector}")),
                agent_id=agent,
                thread_key=f"{test}|{connector}",
                origin="native",
                started_at=now,
                ended_at=now,
                turns=turns,
                metadata=metadata,
                tags=["pytest"],
            )
        )
    return conversations
