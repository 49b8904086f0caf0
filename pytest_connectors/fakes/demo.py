"""The demo providers of ``pytest-connectors demo``: the fakes, filled with the conversations
users had with the example agent (``examples/langgraph_agent``), dated within the last hour.

A first sync looks back 7 days, so the data is made when the demo starts, relative to now: it is
found whatever the day. The traces are shaped as LangGraph's tracer posts them (one root run a
turn, the thread's messages in its outputs, ``thread_id`` in its metadata), and the answers are
the example agent's own, so replaying them against it passes. FullStory holds one session per
conversation, linked to it by a ``Chat Opened`` custom event carrying the thread id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_connectors.fakes.fullstory import FullStoryServer, session_events
from pytest_connectors.fakes.langsmith import LangSmithServer

PROJECT = "support-prod"
_IDS = uuid.UUID("8f7c1d2e-3b4a-4c5d-9e6f-0a1b2c3d4e5f")


@dataclass(frozen=True)
class Turn:
    user: str
    answer: str | None = None
    tool: tuple[str, dict[str, Any], str] | None = None  # name, arguments, result
    error: str | None = None
    latency_ms: float = 1000.0


@dataclass(frozen=True)
class Thread:
    key: str
    turns: tuple[Turn, ...]
    email: str | None = None
    frustrated_clicks: int = 0


def _weather(city: str, forecast: str, latency_ms: float) -> Turn:
    return Turn(
        f"What's the weather in {city}?",
        f"The weather in {city} is {forecast[:1].lower()}{forecast[1:]}.",
        ("get_weather", {"city": city}, f"{forecast} in {city}"),
        latency_ms=latency_ms,
    )


THREADS: tuple[Thread, ...] = (
    Thread(
        "t-1041",
        (_weather("Paris", "Sunny, 21°C", 744.0), _weather("Tokyo", "Rainy, 18°C", 1022.4)),
    ),
    Thread(
        "t-1042",
        (
            Turn(
                "My name is Grace, you can reach me at grace@example.com",
                "Nice to meet you, Grace.",
            ),
            Turn("What is my name?", "Your name is Grace."),
            Turn("thanks", "You said: thanks"),
        ),
        email="grace@example.com",
        frustrated_clicks=2,
    ),
    Thread(
        "t-1043",
        (
            Turn("hello", "You said: hello"),
            Turn("How many messages are in this thread?", "This thread holds 3 messages."),
            _weather("London", "Cloudy, 15°C", 1011.5),
        ),
    ),
    Thread(
        "t-1044",
        (
            Turn(
                "Something went wrong, please fail",
                error="RuntimeError: the agent failed on purpose",
            ),
            Turn("hello again", "You said: hello again"),
        ),
    ),
)


def _started(now: datetime, thread: int) -> datetime:
    """Thread ``n`` of the demo starts 50 - 10n minutes before ``now``; its turns 30 s apart."""
    return now - timedelta(minutes=50 - 10 * thread)


def langsmith_runs(now: datetime | None = None) -> list[dict[str, Any]]:
    """One finished LangGraph root run per turn of `THREADS`, as the tracer posts them."""
    now = now or datetime.now(UTC)
    runs = []
    for number, thread in enumerate(THREADS):
        messages: list[dict[str, Any]] = []
        for index, turn in enumerate(thread.turns):
            run_id = str(uuid.uuid5(_IDS, f"{thread.key}/{index}"))
            start = _started(now, number) + timedelta(seconds=30 * index)
            messages.append({"type": "human", "content": turn.user, "id": f"{run_id}-human"})
            if turn.tool is not None:
                name, args, result = turn.tool
                call_id = f"call_{name}_{len(messages)}"
                call = {"name": name, "args": args, "id": call_id, "type": "tool_call"}
                messages.append(
                    {"type": "ai", "content": "", "tool_calls": [call], "id": f"{run_id}-call"}
                )
                messages.append(
                    {
                        "type": "tool",
                        "name": name,
                        "content": result,
                        "tool_call_id": call_id,
                        "status": "success",
                        "id": f"{run_id}-tool",
                    }
                )
            if turn.answer is not None:
                messages.append({"type": "ai", "content": turn.answer, "id": f"{run_id}-answer"})
            metadata = {"thread_id": thread.key, "graph_id": "agent", "user_email": thread.email}
            runs.append(
                {
                    "id": run_id,
                    "name": "LangGraph",
                    "run_type": "chain",
                    "start_time": start,
                    "end_time": start + timedelta(milliseconds=turn.latency_ms),
                    "inputs": {"messages": [{"role": "user", "content": turn.user}]},
                    "outputs": None if turn.error else {"messages": [dict(m) for m in messages]},
                    "error": turn.error,
                    "extra": {"metadata": metadata},
                    "tags": ["production"],
                    "trace_id": run_id,
                }
            )
    return runs


def fullstory_events(now: datetime | None = None) -> list[dict[str, Any]]:
    """The browser sessions in which the `THREADS` conversations took place."""
    now = now or datetime.now(UTC)
    events = []
    for number, thread in enumerate(THREADS):
        events += session_events(
            5_100_000_000 + number,
            7_100_000_000_000 + number,
            _started(now, number) - timedelta(seconds=20),
            pages=("https://shop.example/", "https://shop.example/help"),
            frustrated=thread.frustrated_clicks,
            custom=[("Chat Opened", {"thread_id": thread.key})],
            app_user_id=f"user-{number + 1}",
            email=thread.email,
        )
    return events


def langsmith_demo(*, port: int = 0) -> LangSmithServer:
    """A LangSmith fake (not started) holding `langsmith_runs` in project `PROJECT`."""
    server = LangSmithServer(port=port)
    server.fake.add_runs(langsmith_runs(), project=PROJECT)
    return server


def fullstory_demo(*, port: int = 0) -> FullStoryServer:
    """A FullStory fake (not started) holding `fullstory_events`."""
    server = FullStoryServer(port=port)
    server.fake.add_events(fullstory_events())
    return server
