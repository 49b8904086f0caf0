"""What a new project gets from the plugin without configuring anything.

The replay marker finds the database the CLI fills (``$PYTEST_CONNECTORS_DB``, else
``data/connectors.db`` next to the connector file), and installing the plugin brings no
warning from pytest-asyncio. Runs are subprocesses, as users start pytest: a fresh interpreter
loads the installed plugins from their entry points, and SQLAlchemy is imported once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from children import python_path
from production_threads import IMPORT_CONNECTOR, import_threads
from pytester_ini import write_ini

from pytest_connectors import ConnectorStore
from pytest_connectors.fakes.langsmith import LangSmithServer
from pytest_connectors.imports.facade import Imports
from pytest_connectors.servers.launch import UvicornServer

THREADS = {"t-default-db": [("hello there", "You said: hello there")]}
REPLAY_SUITE = f"""
import pytest

@pytest.mark.replay(source={IMPORT_CONNECTOR!r})
def test_production(replay):
    replay.run().assert_matches(answer="exact")
"""


@pytest.fixture
def echo_project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    http_agent_server: UvicornServer,
    http_agent_token: str,
) -> pytest.Pytester:
    """A project with data/connectors.json, whose "Echo Agent" answers "You said: <text>"."""
    for name in ("PYTEST_CONNECTORS_FILE", "PYTEST_CONNECTORS_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONPATH", python_path())
    write_ini(pytester)
    ConnectorStore(pytester.path / "data" / "connectors.json").create(
        {
            "name": "Echo Agent",
            "type": "http",
            "baseUrl": http_agent_server.url,
            "authType": "bearer",
            "authValue": http_agent_token,
            "config": {"path": "/v1/chat/completions"},
        }
    )
    pytester.makepyfile(test_production=REPLAY_SUITE)
    return pytester


@pytest.fixture(scope="module")
def production_db(
    tmp_path_factory: pytest.TempPathFactory, langsmith_server: LangSmithServer
) -> Path:
    """Imported once per module, before any pytester run: SQLAlchemy must not be imported
    during a test whose pytester unloads, at its end, the modules first imported in it."""
    langsmith_server.fake.reset()
    return import_threads(
        tmp_path_factory.mktemp("production") / "imports.db", langsmith_server, THREADS
    )


def origins(db: Path) -> list[str]:
    with Imports(db=db) as imports:
        return [c.origin for c in imports.conversations.list(limit=50).items]


def test_replay_reads_the_database_the_cli_fills_by_default(
    echo_project: pytest.Pytester, production_db: Path
) -> None:
    db = echo_project.path / "data" / "connectors.db"
    db.write_bytes(production_db.read_bytes())
    result = echo_project.runpytest_subprocess("--connector", "Echo Agent")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["1 case*: 1 passed*"])
    # Only an explicit --connectors-db receives the session's native traces.
    assert origins(db) == ["imported"]


def test_replay_reads_the_database_named_by_the_environment(
    echo_project: pytest.Pytester,
    production_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    db = tmp_path / "elsewhere.db"
    db.write_bytes(production_db.read_bytes())
    monkeypatch.setenv("PYTEST_CONNECTORS_DB", str(db))
    result = echo_project.runpytest_subprocess("--connector", "Echo Agent")
    result.assert_outcomes(passed=1)
    assert not (echo_project.path / "data" / "connectors.db").exists()


def test_a_missing_default_database_is_named_and_not_created(
    echo_project: pytest.Pytester,
) -> None:
    result = echo_project.runpytest_subprocess("--connector", "Echo Agent")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    default = echo_project.path / "data" / "connectors.db"
    result.stderr.fnmatch_lines(
        [
            "ERROR: replay(source=...) and replay(where={'origin': 'native'}) read "
            f"conversations from {default} (the default: $PYTEST_CONNECTORS_DB, else "
            "connectors.db next to the connector file), which does not exist: *"
        ]
    )
    assert "Traceback" not in result.stderr.str()
    assert not default.exists()


ASYNC_SUITE = """
import pytest
import pytest_asyncio

@pytest_asyncio.fixture
async def greeting():
    return "hi"

@pytest.mark.asyncio
async def test_async(greeting):
    assert greeting == "hi"
"""


def test_a_project_with_no_configuration_gets_no_asyncio_warning(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", python_path())
    pytester.makepyfile(test_async=ASYNC_SUITE)  # no ini, no pyproject: nothing configured
    result = pytester.runpytest_subprocess("-W", "error")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["asyncio: *asyncio_default_fixture_loop_scope=function*"])
    assert "PytestDeprecationWarning" not in result.stdout.str() + result.stderr.str()


def test_the_projects_own_asyncio_loop_scope_still_wins(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", python_path())
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = module\n")
    pytester.makepyfile(test_async=ASYNC_SUITE)
    result = pytester.runpytest_subprocess("-W", "error")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["asyncio: *asyncio_default_fixture_loop_scope=module*"])
    result = pytester.runpytest_subprocess("-o", "asyncio_default_fixture_loop_scope=class")
    result.stdout.fnmatch_lines(["asyncio: *asyncio_default_fixture_loop_scope=class*"])
