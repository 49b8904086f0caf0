"""Fixtures serving the fakes: one server per session (per xdist worker), fresh state per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.fullstory import FullStoryServer
from fakes.langsmith import API_KEY, LangSmithServer
from pytest_connectors.servers.launch import LangGraphDevServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TRACED_PROJECT = "langgraph-dev-traced"


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
