"""Fixtures serving the fakes: one server per session (per xdist worker), fresh state per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.langsmith import LangSmithServer


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
