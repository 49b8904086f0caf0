"""One place for settings: each environment variable is spelled once, and one resolver decides
which database the CLI, the library and the service open."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_connectors
from pytest_connectors._support.paths import ENV_DB, chosen_database
from pytest_connectors.service.asgi import Settings
from pytest_connectors.storage.engine import database_url

PACKAGE = Path(pytest_connectors.__file__).parent


def test_each_environment_variable_is_named_once() -> None:
    places: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.startswith("PYTEST_CONNECTORS_")
                and node.value.isupper()
            ):
                places.setdefault(node.value, []).append(f"{path.relative_to(PACKAGE)}")
    assert {name: where for name, where in places.items() if len(where) > 1} == {}
    assert places[ENV_DB] == ["_support/paths.py"]


def test_a_named_database_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_DB, "from-env.db")
    assert chosen_database() == "from-env.db"
    assert chosen_database("explicit.db") == "explicit.db"
    assert chosen_database(None, environ={}) is None
    monkeypatch.delenv(ENV_DB)
    assert chosen_database() is None


def test_the_service_and_the_library_read_the_database_alike(tmp_path: Path) -> None:
    environ = {ENV_DB: str(tmp_path / "service.db")}
    assert Settings.read(environ).db_url == str(tmp_path / "service.db")
    assert Settings.read(environ, db_url="flag.db").db_url == "flag.db"  # serve --db wins
    assert Settings.read({}).db_url is None  # the library's default then applies
    assert database_url(str(tmp_path / "service.db")) == f"sqlite:///{tmp_path / 'service.db'}"
