"""Shared fixtures: real local agent servers, started on first use and stopped at session end.

Under pytest-xdist each worker starts its own servers, on ports the kernel picks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres import PostgresServer, available, empty_database

from pytest_connectors.servers.launch import LangGraphDevServer, UvicornServer

pytest_plugins = ["browser", "fakes.fixtures", "fakes.models", "replay_agents"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="session")
def langgraph_server() -> Iterator[LangGraphDevServer]:
    """`langgraph dev` serving examples/langgraph_agent (graph "agent")."""
    with LangGraphDevServer(EXAMPLES / "langgraph_agent") as server:
        yield server


@pytest.fixture(scope="session")
def http_agent_token() -> str:
    return "test-token-for-http-agent"


@pytest.fixture(scope="session")
def http_agent_server(http_agent_token: str) -> Iterator[UvicornServer]:
    """uvicorn serving examples/http_agent/app.py, which accepts ``http_agent_token``."""
    server = UvicornServer(
        "app:app", app_dir=EXAMPLES / "http_agent", env={"HTTP_AGENT_TOKEN": http_agent_token}
    )
    with server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL 15 server of this test session (see tests/postgres.py)."""
    problem = available()
    if problem is not None:
        pytest.skip(problem)
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def postgres_database(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh database for one test module."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database for one test: a SQLite file, or the module's PostgreSQL database emptied."""
    if request.param == "sqlite":
        return str(tmp_path / "connectors.db")
    url: str = request.getfixturevalue("postgres_database")
    empty_database(url)
    return url
