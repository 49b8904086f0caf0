"""The Langfuse fake seeded with ``BENCH_LANGFUSE_TRACES`` synthetic traces, for uvicorn in a
process of its own (``uvicorn langfuse_app:app``), so the sync measured does not share its GIL.

Each trace is one turn of a three-turn session, with a generation, a tool and a generation,
from ``FIRST_TRACE`` on, 10 ms apart.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette

from pytest_connectors.fakes.langfuse import FakeLangfuse, iso

FIRST_TRACE = datetime(2026, 1, 1, tzinfo=UTC)
SPACING = timedelta(milliseconds=10)


def seeded(count: int) -> FakeLangfuse:
    fake = FakeLangfuse()
    for n in range(count):
        at = FIRST_TRACE + SPACING * n
        call = {
            "id": f"call-{n}",
            "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})},
        }
        asked = [{"role": "user", "content": f"Weather in Paris, turn {n}?"}]
        steps = [
            ("GENERATION", asked, {"role": "assistant", "content": None, "tool_calls": [call]}),
            ("TOOL", {"city": "Paris"}, "18C sunny"),
            (
                "GENERATION",
                [*asked, {"role": "tool", "tool_call_id": call["id"], "content": "18C sunny"}],
                {"role": "assistant", "content": "Sunny in Paris."},
            ),
        ]
        fake.add_trace(
            {
                "id": f"trace-{n:06}",
                "timestamp": iso(at),
                "name": "chat",
                "sessionId": f"session-{n // 3}",
                "input": asked[0]["content"],
                "output": "Sunny in Paris.",
            },
            [
                {
                    "id": f"obs-{n:06}-{k}",
                    "type": kind,
                    "name": "get_weather" if kind == "TOOL" else "chat",
                    "startTime": iso(at + timedelta(milliseconds=k)),
                    "endTime": iso(at + timedelta(milliseconds=k + 1)),
                    "input": given,
                    "output": answered,
                }
                for k, (kind, given, answered) in enumerate(steps)
            ],
        )
    return fake


def __getattr__(name: str) -> Starlette:
    """``app``, seeded when uvicorn asks for it, not when the benchmark imports the times."""
    if name != "app":
        raise AttributeError(name)
    return seeded(int(os.environ.get("BENCH_LANGFUSE_TRACES", "1000"))).app
