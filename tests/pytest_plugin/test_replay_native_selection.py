"""``@pytest.mark.replay(where={"origin": "native", ...})``: the native conversations of a
database, narrowed by agent, window and the other conditions; a bad selection is one line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from children import python_path
from pytester_ini import write_ini

# The database layer is loaded before pytester takes its snapshot of the loaded modules: an
# in-process run would otherwise unload it, and SQLAlchemy cannot be loaded twice.
from pytest_connectors.imports import local  # noqa: F401
from pytest_connectors.imports.facade import Imports
from pytest_connectors.models.imports import (
    RecordedConversation,
    RecordedToolCall,
    RecordedTurn,
    Scope,
)

NOW = datetime.now(UTC)


def native(key: str, agent: str, hours_ago: float, tool: str | None = None) -> RecordedConversation:
    calls = [RecordedToolCall(name=tool, args={}, result="ok")] if tool else []
    return RecordedConversation(
        id=f"id-{key}",
        agent_id=agent,
        thread_key=key,
        origin="native",
        started_at=NOW - timedelta(hours=hours_ago),
        turns=[RecordedTurn(index=0, user_messages=["hi"], tool_calls=calls, answer="hello")],
        metadata={"source": "otlp"},
    )


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("PYTEST_CONNECTORS_FILE", raising=False)
    monkeypatch.delenv("PYTEST_CONNECTORS_DB", raising=False)
    monkeypatch.setenv("PYTHONPATH", python_path())
    write_ini(pytester)
    return pytester


@pytest.fixture
def db(project: pytest.Pytester) -> Path:
    path = project.path / "native.db"
    rows = {
        "bot": [native("t-new", "bot", 1, tool="refund"), native("t-old", "bot", 48)],
        "other": [native("t-other", "other", 1, tool="refund")],
        "mail": [native("ada.lovelace@example.com", "mail", 2)],
    }
    for agent, conversations in rows.items():
        with Imports(path, scope=Scope(tenant_id="acme", agent_id=agent)) as imports:
            imports.conversations.write_native(conversations)
    return path


def collected(project: pytest.Pytester, db: Path, where: str) -> list[str]:
    project.makepyfile(
        test_native=f"""
        import pytest

        @pytest.mark.replay(where={where})
        def test_case(replay):
            pass
        """
    )
    result = project.runpytest("--co", "-q", "--replay-audit", f"--connectors-db={db}")
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    return sorted(line for line in result.stdout.lines if line.startswith("test_native.py::"))


def test_agent_window_and_conditions_select_native_cases(
    project: pytest.Pytester, db: Path
) -> None:
    since = (NOW - timedelta(hours=1.5)).isoformat()
    item = "test_native.py::test_case[recorded-{}]"
    assert collected(project, db, '{"origin": "native", "agent": "bot"}') == [
        item.format("t-new"),
        item.format("t-old"),
    ]
    assert collected(project, db, f'{{"origin": "native", "since": "{since}"}}') == [
        item.format("t-new"),
        item.format("t-other"),
    ]
    assert collected(project, db, '{"origin": "native", "agent": "bot", "tool": "refund"}') == [
        item.format("t-new")
    ]


def test_audit_replays_them_against_their_recorded_answers(
    project: pytest.Pytester, db: Path
) -> None:
    project.makepyfile(
        test_native="""
        import pytest

        @pytest.mark.replay(where={"origin": "native", "agent": "bot"})
        def test_case(replay):
            replay.run().assert_matches(tools="strict")
            assert replay.case.source == "native"
        """
    )
    result = project.runpytest("--replay-audit", f"--connectors-db={db}")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("marker", "said"),
    [
        (
            'where={"origin": "natve"}',
            "give @pytest.mark.replay exactly one of source='IMPORT CONNECTOR' or "
            "path='FOLDER_OR_FILE', or neither with where={'origin': 'native', ...}*",
        ),
        (
            'source="LangSmith prod", where={"origin": "native"}',
            "@pytest.mark.replay(source='LangSmith prod') reads what an import connector "
            "imported, never native conversations: drop source=*",
        ),
        (
            'where={"origin": "native", "since": "yesterday"}',
            "@pytest.mark.replay: where since='yesterday' is not an ISO date or time*",
        ),
        (
            'where={"origin": "native", "colour": "red"}',
            "@pytest.mark.replay: unknown where filter 'colour'; known filters: *origin*",
        ),
        (
            'path="cases", where={"origin": "elsewhere"}',
            "@pytest.mark.replay: where origin='elsewhere' is not one of 'imported', 'native'",
        ),
    ],
)
def test_a_bad_selection_is_one_line(
    project: pytest.Pytester, db: Path, marker: str, said: str
) -> None:
    (project.path / "cases").mkdir()
    project.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.replay({marker})
        def test_case(replay):
            pass
        """
    )
    result = project.runpytest("--replay-audit", f"--connectors-db={db}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: test_bad.py::test_case: {said}"])
    assert "Traceback" not in result.stderr.str()


def test_without_a_database_it_says_where_it_looked(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_native="""
        import pytest

        @pytest.mark.replay(where={"origin": "native"})
        def test_case(replay):
            pass
        """
    )
    result = project.runpytest("--replay-audit")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: replay(source=...) and replay(where={'origin': 'native'}) read conversations *"]
    )


def test_their_thread_keys_are_redacted_in_test_ids(project: pytest.Pytester, db: Path) -> None:
    [shown] = collected(project, db, '{"origin": "native", "agent": "mail"}')
    assert "ada.lovelace@example.com" not in shown and "lovelace" not in shown
    assert shown.startswith("test_native.py::test_case[recorded-conversation-")
