"""The database a CLI command is pointed at: mistyped, read-only, or not a database at all.

Every command is the real ``pytest-connectors`` in a subprocess. A command that only reads never
creates the database it is given (``--db`` or ``$PYTEST_CONNECTORS_DB``), and reads one it may
not write; a file that is not a database is one line, for every command. Under root, which
ignores file modes, the commands run without the capability to override them (``setpriv``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_support import child_env

from pytest_connectors.storage.api_keys import create_api_key
from pytest_connectors.storage.store import Store

PROG = "pytest-connectors: error: "
READ_COMMANDS = [
    ["imports", "list"],
    ["imports", "get", "LangSmith prod"],
    ["jobs", "get", "job_1"],
    ["conversations", "list"],
    ["conversations", "show", "cnv_1"],
    ["conversations", "export", "--out", "exported"],
    ["sessions", "list"],
    ["keys", "list"],
]
CREATE = [
    *("imports", "create", "--agent", "agt_1", "--name", "LangSmith prod"),
    *("--category", "llm-tracing", "--provider", "langsmith", "--provider-key", "${LANGSMITH_KEY}"),
]


def _without_file_override() -> list[str]:
    """A prefix that makes a root process respect file modes, as any other user does."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes cannot be enforced")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, as_user: bool = False
) -> subprocess.CompletedProcess[str]:
    prefix = _without_file_override() if as_user else []
    return subprocess.run(
        [*prefix, sys.executable, "-m", "pytest_connectors.cli", *args],
        cwd=cwd,
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_usage_error(done: subprocess.CompletedProcess[str], *said: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PROG), done.stderr
    for text in said:
        assert text in lines[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Every command that reads, with --db; the two ways of opening it, with the environment too.
MISTYPED = [(command, "--db") for command in READ_COMMANDS]
MISTYPED += [(["imports", "list"], "env"), (["keys", "list"], "env")]


@pytest.mark.parametrize(
    ("command", "given"), MISTYPED, ids=[f"{' '.join(c[:2])} {g}" for c, g in MISTYPED]
)
def test_a_mistyped_database_is_not_created_by_a_command_that_reads(
    tmp_path: Path, command: list[str], given: str
) -> None:
    typo = tmp_path / "dta" / "conectors.db"
    if given == "--db":
        done = cli(*command, "--db", str(typo), cwd=tmp_path)
    else:
        done = cli(*command, cwd=tmp_path, env={"PYTEST_CONNECTORS_DB": str(typo)})
    assert_one_line_usage_error(done, f"no database at {typo}", "check the path")
    assert not typo.parent.exists()


def test_a_command_that_writes_creates_the_database(tmp_path: Path) -> None:
    fresh = tmp_path / "data" / "connectors.db"
    created = cli(*CREATE, "--db", str(fresh), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    listed = cli("imports", "list", cwd=tmp_path, env={"PYTEST_CONNECTORS_DB": str(fresh)})
    assert listed.returncode == 0 and "LangSmith prod" in listed.stdout
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A database with a connector and a key: as a read-only file, and in a read-only folder."""
    source = tmp_path / "source.db"
    assert cli(*CREATE, "--db", str(source), cwd=tmp_path).returncode == 0
    with Store(str(source)) as store:
        create_api_key(store, tenant_id="acme", name="ci")
    places = {"file": tmp_path / "ro-file.db", "folder": tmp_path / "ro-folder" / "connectors.db"}
    places["folder"].parent.mkdir()
    for path in places.values():
        shutil.copyfile(source, path)
        path.chmod(0o444)
    places["folder"].parent.chmod(0o555)
    yield places
    places["folder"].parent.chmod(0o755)


@pytest.mark.parametrize("where", ["file", "folder"])
def test_a_read_only_database_can_be_listed_but_not_changed(
    read_only: dict[str, Path], where: str, tmp_path: Path
) -> None:
    db = read_only[where]
    before = _digest(db)
    listed = cli("imports", "list", "--db", str(db), cwd=tmp_path, as_user=True)
    assert listed.returncode == 0, listed.stderr
    assert "LangSmith prod" in listed.stdout
    conversations = cli("conversations", "list", "--db", str(db), cwd=tmp_path, as_user=True)
    assert conversations.returncode == 0, conversations.stderr
    assert "No conversations." in conversations.stdout
    keys = cli("keys", "list", "--db", str(db), cwd=tmp_path, as_user=True)
    assert keys.returncode == 0, keys.stderr
    assert "acme" in keys.stdout
    changed = cli(
        "imports", "delete", "LangSmith prod", "--db", str(db), cwd=tmp_path, as_user=True
    )
    assert_one_line_usage_error(changed, str(db))
    assert _digest(db) == before


@pytest.mark.parametrize(
    "command",
    [
        ["imports", "list"],
        ["conversations", "list"],
        ["keys", "list"],
        CREATE,
        ["keys", "create", "--tenant", "acme"],
    ],
    ids=["imports list", "conversations list", "keys list", "imports create", "keys create"],
)
def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path, command: list[str]) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("meeting notes, not a database\n" * 100, encoding="utf-8")
    done = cli(*command, "--db", str(notes), cwd=tmp_path)
    assert_one_line_usage_error(done, "notes.txt", "not a database")
    assert notes.read_text(encoding="utf-8") == "meeting notes, not a database\n" * 100
