"""What a judge and a simulated user are asked, and how their replies are read.

The prompts are plain text with ``{placeholders}``; :class:`Prompts` holds one set and its
``version``. The version and a hash of the texts are part of every cached verdict's key, so a
changed prompt never reuses a verdict given to another. A project overrides any of them with
``Prompts(criterion=..., version="my-v2")`` (library) or the ``judge_prompts`` ini file.

A verdict is JSON ``{"verdict": "pass"|"fail", "score": 0..1, "reason": "..."}``. It is read
from a bare JSON reply, a fenced JSON block, JSON inside prose, or a sentence with a clear
verdict ("Verdict: PASS"); anything else is :class:`UnreadableVerdict`, never a pass.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from pytest_connectors.models.connector import Message

PROMPTS_VERSION = "judge-v1"

SYSTEM = (
    "You are a strict, fair evaluator of conversations between a user and an AI agent. "
    "You judge only what the transcript shows. You answer with one JSON object and nothing else."
)

CRITERION = """Decide whether the conversation below meets this criterion.

<criterion>
{criterion}
</criterion>

<transcript>
{transcript}
</transcript>

Answer with JSON only: {{"verdict": "pass" if the conversation meets the criterion, else \
"fail", "score": a number from 0 to 1 saying how fully it is met, "reason": one sentence}}."""

PAIRWISE = """Two answers were given to the same user turn: production's (known good) and a \
candidate's. Decide whether the candidate's answer meets the rubric compared with production's.

<rubric>
{rubric}
</rubric>

<user>
{user}
</user>

<production>
{production}
</production>

<candidate>
{candidate}
</candidate>

Answer with JSON only: {{"verdict": "pass" or "fail", "score": 0 to 1, "reason": one sentence}}."""

PAIRWISE_RUBRIC = (
    "The candidate says the same as production: the same facts, nothing that contradicts "
    "production, and nothing important missing. Wording and style may differ."
)

SIMULATOR = """You play the user in a conversation with an AI agent, to test the agent.

<persona>
{persona}
</persona>

<scenario>
{scenario}
</scenario>

<transcript>
{transcript}
</transcript>

Write the user's next message, in character. Answer with JSON only: {{"message": the next \
user message (null when you stop), "status": "continue", or "goal_reached" when the scenario's \
goal is reached, or "abandoned" when this user would give up}}."""


@dataclass(frozen=True)
class Prompts:
    """One versioned set of prompts; change ``version`` whenever a text changes meaning."""

    system: str = SYSTEM
    criterion: str = CRITERION
    pairwise: str = PAIRWISE
    pairwise_rubric: str = PAIRWISE_RUBRIC
    simulator: str = SIMULATOR
    version: str = PROMPTS_VERSION

    @property
    def identity(self) -> str:
        """The version and a hash of every text: what a cached verdict was asked with."""
        digest = hashlib.sha256()
        for item in fields(self):
            digest.update(getattr(self, item.name).encode())
            digest.update(b"\0")
        return f"{self.version}:{digest.hexdigest()[:16]}"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str) -> Prompts:
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown prompt {unknown[0]!r}; known: {sorted(known)}")
        if not all(isinstance(value, str) for value in data.values()):
            raise ValueError(f"{where}: every prompt and the version must be text")
        if "version" not in data:
            raise ValueError(f"{where}: give a 'version' for your prompts (it keys the cache)")
        return cls(**dict(data))


# -- transcripts ---------------------------------------------------------------------------------


def _args(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def render_transcript(messages: Iterable[Message]) -> str:
    """The transcript a judge reads: one line per message, tool calls with their arguments."""
    lines: list[str] = []
    for message in messages:
        text = message.text
        if message.role == "tool":
            lines.append(f"tool {message.name or 'result'}: {text}")
            continue
        if text or not message.tool_calls:
            lines.append(f"{message.role}: {text}")
        for call in message.tool_calls or []:
            lines.append(f"{message.role} calls tool {call.name} {_args(call.args)}")
    return "\n".join(lines)


def transcript_hash(transcript: str) -> str:
    return hashlib.sha256(transcript.encode()).hexdigest()


# -- verdicts ------------------------------------------------------------------------------------


class UnreadableVerdict(ValueError):
    """A judge's reply holds no verdict that can be read."""


@dataclass(frozen=True)
class Verdict:
    """One answer of a judge: whether the criterion is met, how fully, and why."""

    met: bool
    score: float
    reason: str


_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)```", re.S)
_PROSE_VERDICT = re.compile(r"\bverdict\b\W{0,5}(pass|fail)\b", re.I)
_BARE = re.compile(r"\W*(pass|fail)(?:ed)?\W*", re.I)
_PROSE_SCORE = re.compile(r"\bscore\b\W{0,5}(\d+(?:\.\d+)?)", re.I)
_PROSE_REASON = re.compile(r"\breason\b\W{0,3}(.+)", re.I | re.S)
MAX_JSON_STARTS = 20


def _verdict_of(data: Any) -> Verdict | None:
    if not isinstance(data, dict) or "verdict" not in data:
        return None
    raw = data["verdict"]
    if isinstance(raw, bool):
        met = raw
    elif isinstance(raw, str) and raw.strip().lower() in ("pass", "fail"):
        met = raw.strip().lower() == "pass"
    else:
        raise UnreadableVerdict(f'"verdict" is {raw!r}, not "pass" or "fail"')
    return Verdict(met, _score(data.get("score"), met), str(data.get("reason") or "").strip())


def _score(raw: Any, met: bool) -> float:
    if raw is None:
        return 1.0 if met else 0.0
    if isinstance(raw, str):
        try:
            raw = float(raw)
        except ValueError:
            raise UnreadableVerdict(f'"score" is {raw!r}, not a number') from None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= 1:
        raise UnreadableVerdict(f'"score" is {raw!r}, not a number from 0 to 1')
    return float(raw)


def _json_objects(text: str) -> Iterable[Any]:
    """Bare JSON, then fenced blocks, then any object embedded in prose (a bounded search)."""
    stripped = text.strip()
    for candidate in [stripped, *(m.group(1).strip() for m in _FENCE.finditer(text))]:
        yield _decoded(candidate, 0)
    start = text.find("{")
    for _ in range(MAX_JSON_STARTS):
        if start < 0:
            return
        yield _decoded(text, start)
        start = text.find("{", start + 1)


_DECODER = json.JSONDecoder()


def _decoded(text: str, start: int) -> Any:
    """The JSON value at ``start`` (None when there is none)."""
    try:
        return _DECODER.raw_decode(text, start)[0] if start else json.loads(text)
    except json.JSONDecodeError:
        return None


def parse_verdict(text: str) -> Verdict:
    """The verdict a reply holds; :class:`UnreadableVerdict` when there is none, or two."""
    for data in _json_objects(text):
        verdict = _verdict_of(data)
        if verdict is not None:
            return verdict
    words = {match.lower() for match in _PROSE_VERDICT.findall(text)}
    bare = _BARE.fullmatch(text)
    if bare is not None:
        words.add(bare.group(1).lower())
    if len(words) != 1:
        why = "both pass and fail" if words else "no verdict"
        raise UnreadableVerdict(f"the reply holds {why}")
    met = words.pop() == "pass"
    score = _PROSE_SCORE.search(text)
    reason = _PROSE_REASON.search(text)
    return Verdict(
        met,
        _score(score.group(1) if score else None, met),
        (reason.group(1) if reason else text).strip().rstrip("."),
    )


@dataclass(frozen=True)
class UserTurn:
    """What a simulated user does next: say ``message``, or stop (goal reached or abandoned)."""

    message: str | None
    status: str  # "continue" | "goal_reached" | "abandoned"


STATUSES = ("continue", "goal_reached", "abandoned")


def parse_user_turn(text: str) -> UserTurn:
    """A simulator's JSON reply, or its plain text taken as the next message."""
    for data in _json_objects(text):
        if isinstance(data, dict) and ("message" in data or "status" in data):
            status = str(data.get("status") or "continue").strip().lower()
            if status not in STATUSES:
                raise UnreadableVerdict(f'"status" is {status!r}, not one of {STATUSES}')
            message = data.get("message")
            if status == "continue" and not (isinstance(message, str) and message.strip()):
                raise UnreadableVerdict('"status" is "continue" but there is no "message"')
            return UserTurn(message if isinstance(message, str) else None, status)
    if not text.strip():
        raise UnreadableVerdict("the reply is empty")
    return UserTurn(text.strip(), "continue")


def cut(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def messages_for(prompts: Prompts, user: str) -> Sequence[Message]:
    return [Message(role="system", content=prompts.system), Message(role="user", content=user)]
