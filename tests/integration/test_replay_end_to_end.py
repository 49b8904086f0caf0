"""Replay on authentic data: the example agent traced into the LangSmith fake, imported, replayed.

The traced `langgraph dev` posts real runs to the fake; an import connector syncs them into a
SQLite database; `@pytest.mark.replay(source=...)` replays them against the same agent (all
pass) and against a changed copy (the weather turns fail where they asked about the weather).
The conversations are then exported as frozen cases and replayed with the database gone.

The pytest runs are subprocesses: an in-process run would unload the database modules it
imported first, and SQLAlchemy cannot be imported twice in one process.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from children import python_path
from documentation import block
from fakes.fixtures import TRACED_PROJECT
from replay_agents import CASES, agents_project, literal
from service_support import ServiceProcess, issue_key
from traced_agent import send_turns, wait_for_finished_roots

from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer
from pytest_connectors.imports.facade import Imports
from pytest_connectors.models.imports import JobStatus
from pytest_connectors.servers.launch import LangGraphDevServer

EMAIL = "ada.lovelace@example.com"
THREADS = {
    "weather": ["What's the weather in Paris?", "What's the weather in Tokyo?"],
    "name": [f"My name is Ada, write to {EMAIL}", "What is my name?", "weather in London"],
    "chat": ["hello", "thanks"],
}
IMPORT_CONNECTOR = "LangSmith prod"


@dataclass(frozen=True)
class Imported:
    db: Path
    threads: dict[str, str]  # our name -> the thread id LangGraph traced

    def copy(self, folder: Path) -> Path:
        """A private copy of the database, for a session that writes (native traces do).

        The module's tests share ``db``, and which of them a pytest-xdist worker runs before
        another changes from run to run: a session writing there would leave its native traces
        for whichever test reads the database next.
        """
        copy = folder / f"copy-{uuid.uuid4().hex}.db"
        copy.write_bytes(self.db.read_bytes())
        return copy


@pytest.fixture(scope="module")
def imported(
    tmp_path_factory: pytest.TempPathFactory,
    traced_langgraph_server: LangGraphDevServer,
    langsmith_server: LangSmithServer,
) -> Iterator[Imported]:
    langsmith_server.fake.reset()
    threads = {name: str(uuid.uuid4()) for name in THREADS}
    for name, texts in THREADS.items():
        send_turns(traced_langgraph_server, threads[name], texts)
    wait_for_finished_roots(langsmith_server, sum(len(t) for t in THREADS.values()))
    db = tmp_path_factory.mktemp("imported") / "connectors.db"
    with Imports(db=db) as imports:
        connector = imports.connectors.create(
            {
                "agentId": "support-bot",
                "name": IMPORT_CONNECTOR,
                "category": "llm-tracing",
                "provider": "langsmith",
                "config": {
                    "apiKey": API_KEY,
                    "projectName": TRACED_PROJECT,
                    "apiUrl": langsmith_server.url,
                },
            }
        )
        job = imports.connectors.connect(connector.id).job
        assert imports.jobs.wait(job.id, timeout=120).status is JobStatus.SUCCEEDED
    yield Imported(db, threads)


@pytest.fixture
def project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    langgraph_server: LangGraphDevServer,
    changed_server: LangGraphDevServer,
) -> pytest.Pytester:
    return agents_project(pytester, monkeypatch, langgraph_server, changed_server)


SOURCE_TEST = f"""
import pytest

@pytest.mark.replay(source={IMPORT_CONNECTOR!r})
def test_production(replay):
    replay.run().assert_matches()
"""


def test_imported_conversations_pass_against_the_agent_that_produced_them(
    project: pytest.Pytester, imported: Imported, tmp_path: Path
) -> None:
    project.makepyfile(test_source=SOURCE_TEST)
    result = project.runpytest_subprocess(
        "--connector", "Prod Agent", f"--connectors-db={imported.copy(tmp_path)}"
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["3 cases: 3 passed, 0 failed, 0 skipped"])


def test_a_changed_agent_fails_where_the_weather_was_asked(
    project: pytest.Pytester, imported: Imported, tmp_path: Path
) -> None:
    project.makepyfile(test_source=SOURCE_TEST)
    result = project.runpytest_subprocess(
        "--connector", "Changed Agent", f"--connectors-db={imported.copy(tmp_path)}"
    )
    result.assert_outcomes(passed=1, failed=2)
    weather, name = imported.threads["weather"], imported.threads["name"]
    result.stdout.fnmatch_lines_random(
        [
            literal(
                f"  diverged at turn 1 of 2: test_source.py::test_production"
                f"[Changed Agent-{weather}]"
            ),
            literal(
                f"  diverged at turn 3 of 3: test_source.py::test_production[Changed Agent-{name}]"
            ),
            '*    production: get_weather({"city": "London"}) -> answer '
            '"The weather in London is cloudy, 15°C." (* ms)',
            '*    candidate:  get_forecast({"city": "London"}) -> *',
        ]
    )


def test_where_and_limit_select_imported_cases(
    project: pytest.Pytester, imported: Imported
) -> None:
    project.makepyfile(
        test_source=f"""
        import pytest

        @pytest.mark.replay(source={IMPORT_CONNECTOR!r}, where={{"tool": "get_weather"}})
        def test_weather(replay):
            assert any(call.name == "get_weather" for t in replay.case.turns for t in [t]
                       for call in t.tool_calls)

        @pytest.mark.replay(source={IMPORT_CONNECTOR!r}, limit=1, seed=7)
        def test_sampled(replay):
            pass
        """
    )
    result = project.runpytest_subprocess(
        "--connector", "Prod Agent", f"--connectors-db={imported.db}", "--co", "-q"
    )
    ids = [line for line in result.stdout.lines if "::" in line]
    weather_ids = sorted(i for i in ids if "test_weather" in i)
    assert weather_ids == sorted(
        f"test_source.py::test_weather[Prod Agent-{imported.threads[n]}]"
        for n in ("weather", "name")
    )
    assert len([i for i in ids if "test_sampled" in i]) == 1


def test_export_then_replay_without_the_database(
    project: pytest.Pytester, imported: Imported, tmp_path: Path
) -> None:
    db_copy = imported.copy(tmp_path)
    cases = project.path / "cases"
    export = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_connectors.cli",
            "conversations",
            "export",
            "--connector",
            IMPORT_CONNECTOR,
            "--out",
            str(cases),
            "--db",
            str(db_copy),
            "--redact",
            "Tokyo",
        ],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": python_path()},
        text=True,
        timeout=120,
    )
    assert export.returncode == 0, export.stderr
    assert export.stdout.splitlines()[-1] == f"Exported 3 conversations to {cases} (redacted)."
    written = {
        json.loads(path.read_text())["conversation"]["threadKey"]: path
        for path in cases.glob("*.json")
    }
    assert sorted(written) == sorted(imported.threads.values())
    for thread, path in written.items():
        assert path.name.startswith(f"{thread}-") and path.suffix == ".json"
        text = path.read_text()
        assert EMAIL not in text and API_KEY not in text and "Tokyo" not in text
    named = json.loads(written[imported.threads["name"]].read_text())
    assert named["conversation"]["turns"][0]["userMessages"] == ["My name is Ada, write to ****"]
    db_copy.unlink()
    written[imported.threads["weather"]].unlink()  # Tokyo was redacted: no longer true

    project.makepyfile(
        test_frozen="""
        import pytest

        @pytest.mark.replay(path="cases")
        def test_frozen(replay):
            replay.run().assert_matches()
        """
    )
    result = project.runpytest_subprocess("--connector", "Prod Agent")
    result.assert_outcomes(passed=2)


def test_export_mistakes_are_one_line_usage_errors(imported: Imported, tmp_path: Path) -> None:
    def export(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pytest_connectors.cli", "conversations", "export"]
        return subprocess.run(
            [*command, f"--db={imported.db}", *args], capture_output=True, text=True, timeout=60
        )

    (tmp_path / "file").write_text("")
    for args, message in [
        (["--out", str(tmp_path / "file")], "is a file; give a folder for the case files"),
        (["--out", str(tmp_path), "--redact", "("], "--redact '(' is not a regular expression"),
        (["--out", str(tmp_path), "--redact-hook", "nowhere"], "wants MODULE:FUNCTION"),
        (["--out", str(tmp_path), "--connector", "nope"], "nope"),
        (["--limit", "0", "--out", str(tmp_path)], "must be a whole number >= 1"),
    ]:
        done = export(*args)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert list(tmp_path.glob("*.json")) == []


def test_the_session_writes_its_calls_as_native_conversations(
    project: pytest.Pytester, imported: Imported, tmp_path: Path
) -> None:
    db_copy = imported.copy(tmp_path)
    project.makepyfile(
        test_mixed=f"""
        import pytest

        @pytest.mark.replay(source={IMPORT_CONNECTOR!r}, where={{"min_turns": 3}})
        def test_replayed(replay):
            replay.run().assert_matches()

        def test_plain(conversation):
            conversation.send("hello")
            conversation.send("What's the weather in Rome?")
        """
    )
    result = project.runpytest_subprocess("--connector", "Prod Agent", f"--connectors-db={db_copy}")
    result.assert_outcomes(passed=2)
    with Imports(db=db_copy) as imports:
        native = imports.conversations.list(origin="native").items
        imported_ones = imports.conversations.list(origin="imported").items
    assert len(imported_ones) == 3
    ours = native  # the database is this test's own copy: only this session wrote there
    by_test = {c.metadata["test"]: c for c in ours}
    assert len(ours) == 2
    replayed = by_test[f"test_mixed.py::test_replayed[Prod Agent-{imported.threads['name']}]"]
    assert replayed.agent_id == "support-bot"
    assert replayed.metadata["outcome"] == "passed"
    assert replayed.metadata["connector"] == "Prod Agent"
    assert [t.user_messages for t in replayed.turns][2] == ["weather in London"]
    assert [c.name for c in replayed.turns[2].tool_calls] == ["get_weather"]
    assert all(t.latency_ms and t.latency_ms > 0 for t in replayed.turns)
    plain = by_test["test_mixed.py::test_plain[Prod Agent]"]
    assert plain.agent_id == "Prod Agent"
    # An ordinary conversation test's trace reads back as what was said, not only its shape.
    assert [t.user_messages for t in plain.turns] == [["hello"], ["What's the weather in Rome?"]]
    assert [t.answer for t in plain.turns] == [
        "You said: hello",
        "The weather in Rome is sunny, 21°C.",
    ]
    assert [(c.name, c.args) for c in plain.turns[1].tool_calls] == [
        ("get_weather", {"city": "Rome"})
    ]
    assert {c.metadata["sessionId"] for c in ours} == {replayed.metadata["sessionId"]}


def test_a_failed_native_write_is_a_warning_not_a_failure(
    project: pytest.Pytester, tmp_path: Path
) -> None:
    not_a_db = tmp_path / "folder.db"
    not_a_db.mkdir()
    project.makepyfile(
        test_plain="""
        def test_plain(conversation):
            conversation.send("hello")
        """
    )
    result = project.runpytest_subprocess(
        "--connector", "Prod Agent", f"--connectors-db={not_a_db}"
    )
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [f"WARNING pytest-connectors: 1 native trace(s) were not written to {not_a_db}: *"]
    )


# -- docs/replay.md is executed -----------------------------------------------------------------


def test_the_documented_frozen_case_snippet_passes(project: pytest.Pytester) -> None:
    shutil.copytree(CASES, project.path / "replay")
    project.makepyfile(test_replay=block("python", 'path="replay"'))
    result = project.runpytest_subprocess("--connector", "Prod Agent", "-v")
    result.assert_outcomes(passed=4)
    for line in block("text", "PASSED").splitlines():
        result.stdout.fnmatch_lines([literal(line.replace("LangGraph Dev", "Prod Agent")) + "*"])


def test_the_documented_where_snippet_selects_imported_cases(
    project: pytest.Pytester, tmp_path: Path
) -> None:
    db = tmp_path / "empty.db"
    with Imports(db=db) as imports:
        imports.connectors.create(
            {
                "agentId": "shop",
                "name": "LangSmith prod",
                "category": "llm-tracing",
                "provider": "langsmith",
                "config": {"apiKey": "${LANGSMITH_API_KEY}", "projectName": "shop"},
            }
        )
    project.makepyfile(
        test_where="import pytest\n\n" + block("python", "def test_weather_conversations")
    )
    result = project.runpytest_subprocess(
        "--connector", "Prod Agent", f"--connectors-db={db}", "-rs"
    )
    result.assert_outcomes(skipped=1)  # nothing imported yet: pytest's empty parameter set
    result.stdout.fnmatch_lines(["*got empty parameter set*"])


def test_the_documented_export_command_runs(imported: Imported, tmp_path: Path) -> None:
    command = shlex.split(block("bash", "conversations export").strip())
    assert command[:3] == ["pytest-connectors", "conversations", "export"]
    out = tmp_path / "tests" / "replay"
    done = subprocess.run(
        [sys.executable, "-m", "pytest_connectors.cli", *command[1:], f"--db={imported.db}"],
        cwd=tmp_path,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": python_path()},
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(list(out.glob("*.json"))) == 3


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_replay_through_the_service(
    project: pytest.Pytester,
    imported: Imported,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    xdist: list[str],
) -> None:
    db = imported.copy(tmp_path)
    key = issue_key(str(db), "default", "support-bot")
    monkeypatch.setenv("REPLAY_SERVICE_KEY", key)
    project.makepyfile(test_source=SOURCE_TEST)
    with ServiceProcess(str(db), workers=0) as service:
        result = project.runpytest_subprocess(
            "--connector",
            "Prod Agent",
            f"--connectors-url={service.url}",
            "--connectors-api-key=${REPLAY_SERVICE_KEY}",
            *xdist,
        )
        result.assert_outcomes(passed=3)
        assert key not in result.stdout.str() + result.stderr.str()
        with Imports(url=service.url, api_key=key) as imports:
            native = imports.conversations.list(origin="native", limit=500).items
    assert sorted(c.metadata["test"] for c in native) == sorted(
        f"test_source.py::test_production[Prod Agent-{thread}]"
        for thread in imported.threads.values()
    )
    assert {c.metadata["outcome"] for c in native} == {"passed"}
