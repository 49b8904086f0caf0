"""`conversations export` on conversations whose thread keys fight their file names.

Keys that redact alike, that slugify alike, that are too long for a file name: each
conversation still gets its own file, under the same name on every export, and an export that
fails half-way leaves the folder as it was. The conversations come from the LangSmith fake
through a real sync into SQLite.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from production_threads import IMPORT_CONNECTOR, import_threads

from pytest_connectors.cli.main import main as cli_main
from pytest_connectors.fakes.langsmith import LangSmithServer
from pytest_connectors.imports.facade import Imports
from pytest_connectors.models.imports import RecordedConversation
from pytest_connectors.replay.export import export_conversations
from pytest_connectors.replay.frozen import read_cases
from pytest_connectors.replay.redact import Redaction

HARD_KEYS = [
    "ada@example.com",  # these three redact to ****
    "grace@example.com",
    "sk-live-0123456789abcdefghij",
    "a/b",  # these two slugify alike
    "a b",
    "Thread-A",  # these two collide on case-insensitive file systems
    "thread-a",
    "k" * 300,  # longer than a file name may be
    "用户对话",  # nothing ASCII to keep
    "t-42",
    "../../escape",
]


@pytest.fixture(scope="module")
def hard_db(tmp_path_factory: pytest.TempPathFactory, langsmith_server: LangSmithServer) -> Path:
    langsmith_server.fake.reset()
    threads = {key: [(f"hello from {key[:20]}", "hi")] for key in HARD_KEYS}
    return import_threads(
        tmp_path_factory.mktemp("export") / "imports.db", langsmith_server, threads
    )


def export(db: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[str]:
    code = cli_main(["conversations", "export", f"--db={db}", "--out", str(out), *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out.splitlines()


def test_every_counted_conversation_gets_its_own_file(
    hard_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cases"
    lines = export(hard_db, out, capsys)
    assert lines[-1] == f"Exported {len(HARD_KEYS)} conversations to {out} (redacted)."
    files = sorted(out.iterdir())
    assert len(files) == len(HARD_KEYS)
    assert sorted(lines[:-1]) == sorted(str(f) for f in files)
    assert len({f.name.lower() for f in files}) == len(files)  # case-insensitive too
    assert all(f.parent == out and len(f.name.encode()) <= 100 for f in files)
    cases = read_cases(out)
    assert all(case.replayable for case in cases)
    assert len({case.id for case in cases}) == len(HARD_KEYS)
    text = "".join(f.read_text(encoding="utf-8") for f in files)
    assert "ada@example.com" not in text and "sk-live-0123456789abcdefghij" not in text


def test_the_same_conversation_keeps_its_file_name_across_exports(
    hard_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole, newest = tmp_path / "whole", tmp_path / "newest"
    export(hard_db, whole, capsys)
    export(hard_db, newest, capsys, "--limit", "3")
    assert {p.name for p in newest.iterdir()} <= {p.name for p in whole.iterdir()}
    export(hard_db, whole, capsys)  # again, into the same folder: replaced, not added
    assert len(list(whole.iterdir())) == len(HARD_KEYS)


def test_a_failed_export_writes_nothing(hard_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "cases"
    out.mkdir()
    (out / "kept.json").write_text("{}")
    seen: list[str] = []

    def fail_on_the_fifth(conversation: RecordedConversation) -> RecordedConversation:
        seen.append(conversation.id)
        if len(seen) == 5:
            raise RuntimeError("the hook gave up")
        return conversation

    with Imports(db=hard_db) as imports, pytest.raises(RuntimeError, match="gave up"):
        export_conversations(imports, out, redaction=Redaction(hook=fail_on_the_fifth))
    assert [p.name for p in out.iterdir()] == ["kept.json"]
    assert json.loads((out / "kept.json").read_text()) == {}
    assert [p.name for p in tmp_path.iterdir()] == ["cases"]  # no staging folder left behind
    with Imports(db=hard_db) as imports, pytest.raises(RuntimeError):
        seen.clear()
        export_conversations(imports, tmp_path / "new", redaction=Redaction(hook=fail_on_the_fifth))
    assert not (tmp_path / "new").exists()


def test_an_unwritable_folder_is_one_line(
    hard_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "cases"
    with pytest.raises(SystemExit) as exited:
        cli_main(["conversations", "export", f"--db={hard_db}", "--out", str(out)])
    code, err = exited.value.code, capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert f"cannot write the case files to {out}: " in err and "nothing was written" in err


def test_the_connector_filter_still_applies(
    hard_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = export(hard_db, tmp_path / "cases", capsys, "--connector", IMPORT_CONNECTOR)
    assert lines[-1].startswith(f"Exported {len(HARD_KEYS)} conversations ")
