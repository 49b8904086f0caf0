"""Fixtures serving the fakes: one server per session (per xdist worker), fresh state per test."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pytest_connectors.fakes.fullstory import FullStoryServer
from pytest_connectors.fakes.langfuse import LangfuseServer
from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer
from pytest_connectors.servers.launch import LangGraphDevServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TRACED_PROJECT = "langgraph-dev-traced"
THREAD = Path(__file__).resolve().parents[1] / "data" / "langsmith-langgraph-two-turn-thread.json"
_DOTTED_STAMP = re.compile(r"(\d{8}T\d{12})Z")


def recent_thread(ago: timedelta = timedelta(hours=1)) -> list[dict[str, Any]]:
    """The real two-turn LangGraph thread, moved in time so that it started `ago` before now.

    The recording has fixed dates and a first sync looks back 7 days: tests that sync it must
    not stop finding it a week after it was recorded. Every timestamp moves by the same amount
    (start and end times, event times, the stamps inside `dotted_order`), so the runs keep their
    order and durations.
    """
    runs: list[dict[str, Any]] = json.loads(THREAD.read_text())
    first = min(datetime.fromisoformat(run["start_time"]) for run in runs)
    shift = datetime.now(UTC) - ago - first.replace(tzinfo=first.tzinfo or UTC)

    def moved(stamp: str) -> str:
        when = datetime.fromisoformat(stamp)
        aware = when.replace(tzinfo=when.tzinfo or UTC) + shift
        return (aware if when.tzinfo else aware.replace(tzinfo=None)).isoformat()

    def moved_dotted(match: re.Match[str]) -> str:
        when = datetime.strptime(match[1], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC) + shift
        return when.strftime("%Y%m%dT%H%M%S%fZ")

    for run in runs:
        for key in ("start_time", "end_time"):
            if run.get(key):
                run[key] = moved(run[key])
        for event in run.get("events") or []:
            if event.get("time"):
                event["time"] = moved(event["time"])
        run["dotted_order"] = _DOTTED_STAMP.sub(moved_dotted, run["dotted_order"])
    return runs


@pytest.fixture(scope="session")
def langsmith_server() -> Iterator[LangSmithServer]:
    """The LangSmith fake under uvicorn on a free loopback port, shared by the session."""
    with LangSmithServer() as server:
        yield server


@pytest.fixture
def langsmith_fake(langsmith_server: LangSmithServer) -> LangSmithServer:
    """The shared LangSmith fake, emptied for this test: no projects, runs, faults or log."""
    langsmith_server.fake.reset()
    return langsmith_server


@pytest.fixture(scope="session")
def traced_langgraph_server(langsmith_server: LangSmithServer) -> Iterator[LangGraphDevServer]:
    """`langgraph dev` serving examples/langgraph_agent with LangSmith tracing switched on.

    Its tracer posts every run to the LangSmith fake, into project `TRACED_PROJECT`, with the
    fake's `API_KEY`. Tests that read those runs take `langsmith_fake` too (which empties the
    fake first) and talk to this server afterwards.
    """
    env = {
        "LANGSMITH_TRACING": "true",
        "LANGSMITH_ENDPOINT": langsmith_server.url,
        "LANGSMITH_API_KEY": API_KEY,
        "LANGSMITH_PROJECT": TRACED_PROJECT,
    }
    with LangGraphDevServer(EXAMPLES / "langgraph_agent", env=env) as server:
        yield server


@pytest.fixture(scope="session")
def fullstory_server() -> Iterator[FullStoryServer]:
    """The FullStory fake under uvicorn: API and download host on two free loopback ports."""
    with FullStoryServer() as server:
        yield server


@pytest.fixture
def fullstory_fake(fullstory_server: FullStoryServer) -> FullStoryServer:
    """The shared FullStory fake, emptied for this test: no events, exports, faults or log."""
    fullstory_server.fake.reset()
    return fullstory_server


@pytest.fixture(scope="session")
def langfuse_server() -> Iterator[LangfuseServer]:
    """The Langfuse fake under uvicorn on a free loopback port, shared by the session."""
    with LangfuseServer() as server:
        yield server


@pytest.fixture
def langfuse_fake(langfuse_server: LangfuseServer) -> LangfuseServer:
    """The shared Langfuse fake, emptied for this test: no traces, faults or request log."""
    langfuse_server.fake.reset()
    return langfuse_server
