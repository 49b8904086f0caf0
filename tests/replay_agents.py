"""The example agent and a changed copy of it, as connectors of a user's project that replays the
example cases (examples/replay/)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from children import python_path
from pytester_ini import write_ini

from pytest_connectors import ConnectorStore
from pytest_connectors.servers.launch import LangGraphDevServer

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "examples" / "replay"
AGENT = ROOT / "examples" / "langgraph_agent"


@pytest.fixture(scope="module")
def changed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LangGraphDevServer]:
    """The example agent, changed: the weather question calls another tool."""
    project = tmp_path_factory.mktemp("changed-agent")
    shutil.copytree(AGENT, project, dirs_exist_ok=True)
    source = (project / "agent.py").read_text()
    for old, new in [
        ("def get_weather(", "def get_forecast("),
        ('"name": "get_weather"', '"name": "get_forecast"'),
        ("ToolNode([get_weather])", "ToolNode([get_forecast])"),
    ]:
        assert old in source
        source = source.replace(old, new)
    (project / "agent.py").write_text(source)
    with LangGraphDevServer(project) as server:
        yield server


def literal(text: str) -> str:
    """``text`` as an fnmatch pattern that matches it exactly (brackets included)."""
    return "".join(f"[{c}]" if c in "[]*?" else c for c in text)


def agents_project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    prod: LangGraphDevServer,
    changed: LangGraphDevServer,
) -> pytest.Pytester:
    """A user's project whose connectors are "Prod Agent" and "Changed Agent"."""
    monkeypatch.delenv("PYTEST_CONNECTORS_FILE", raising=False)
    # The project's pytest and CLI children import this checkout, not another install.
    monkeypatch.setenv("PYTHONPATH", python_path())
    write_ini(pytester)
    store = ConnectorStore(pytester.path / "data" / "connectors.json")
    for name, server in [("Prod Agent", prod), ("Changed Agent", changed)]:
        store.create(
            {
                "name": name,
                "type": "langgraph",
                "baseUrl": server.url,
                "config": {"assistantId": "agent"},
            }
        )
    return pytester
