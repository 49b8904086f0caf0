"""Serves the example HTTP agent for the tests that run against the "HTTP Agent" connector.

The "LangGraph Dev" connector needs nothing here: its ``config.launch`` lets the plugin start
``langgraph dev`` itself. The HTTP connector reads its URL and token from ``${HTTP_AGENT_URL}``
and ``${HTTP_AGENT_TOKEN}``, which this fixture sets once the server is up.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_connectors.servers.launch import UvicornServer

HTTP_AGENT_DIR = Path(__file__).parent / "http_agent"


@pytest.fixture(scope="session")
def http_agent() -> Iterator[UvicornServer]:
    token = secrets.token_urlsafe(24)
    server = UvicornServer("app:app", app_dir=HTTP_AGENT_DIR, env={"HTTP_AGENT_TOKEN": token})
    with server, pytest.MonkeyPatch.context() as env:
        env.setenv("HTTP_AGENT_URL", server.url)
        env.setenv("HTTP_AGENT_TOKEN", token)
        yield server


@pytest.fixture(autouse=True)
def _serve_http_agent(request: pytest.FixtureRequest) -> None:
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("connector_name") == "HTTP Agent":
        request.getfixturevalue("http_agent")
