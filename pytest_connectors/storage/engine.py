"""Opening the database: a path or URL in, a ready engine with an up-to-date schema out."""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pytest_connectors._support.paths import DATABASE_FILE_NAME, chosen_database, resolve_path
from pytest_connectors.errors import DatabaseError

# How long a SQLite writer waits for another one before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option of a connection that only reads: on SQLite it does not take the write lock.
READ_ONLY = "pytest_connectors_read_only"


def default_database_path(project_dir: Path | None = None) -> Path:
    """``connectors.db`` next to the connector file (``data/connectors.db`` by default)."""
    return resolve_path(project_dir=project_dir).parent / DATABASE_FILE_NAME


def database_url(db: str | os.PathLike[str] | None = None, project_dir: Path | None = None) -> str:
    """The URL to open: an explicit path or URL, then ``$PYTEST_CONNECTORS_DB``, then the default.

    A value with ``://`` is a SQLAlchemy URL; anything else is a SQLite file path.
    """
    text = chosen_database(db)
    if text is None:
        return f"sqlite:///{default_database_path(project_dir)}"
    if "://" in text:
        if text.startswith(("postgresql://", "postgres://")):
            # psycopg 3 is the supported driver; a bare postgresql:// would ask for psycopg2.
            text = "postgresql+psycopg://" + text.split("://", 1)[1]
        return text
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (project_dir or Path.cwd()) / path
    return f"sqlite:///{path}"


def describe_url(url: str) -> str:
    """The URL as it may be shown: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def create_database_engine(url: str, *, existing: bool = False) -> Engine:
    """An engine for ``url``; for a SQLite file: the file made 0600, WAL and a busy timeout.

    With ``existing``, a SQLite file is never created (a mistyped path is an error, not a new
    empty database), and one this process may not write is opened read-only."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(
            f"{url!r} is not a database URL; give a file path or a URL such as "
            "postgresql://user@host/db"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, existing=existing)
    options: dict[str, Any] = {"pool_pre_ping": True}
    try:
        return create_engine(url, **options)
    except (ArgumentError, ImportError, ModuleNotFoundError) as exc:
        raise DatabaseError(
            f"cannot open {describe_url(url)}: {exc}; give a SQLite file path or a "
            "postgresql:// URL"
        ) from None


def _sqlite_engine(url: str, database: str | None, *, existing: bool = False) -> Engine:
    in_memory = not database or database == ":memory:"
    read_only = False
    options: dict[str, Any] = {}
    if not in_memory:
        assert database is not None
        path = Path(database)
        if not existing:
            _create_private_file(path)
        elif not path.is_file():
            raise DatabaseError(
                f"no database at {path}; check the path (commands that write create it)"
            )
        elif not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            read_only = True
            options["creator"] = _read_only_connector(path)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        **options,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # The sqlite3 module's own transaction handling is switched off so that BEGIN is ours:
        # BEGIN IMMEDIATE takes the write lock up front, which keeps writers from deadlocking.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory and not read_only:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # On a read-only file every transaction reads: opening the store finds the schema up to
        # date without writing, and a write fails with SQLite's "readonly database".
        readonly = read_only or connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def _read_only_connector(path: Path) -> Callable[[], sqlite3.Connection]:
    """Connections that only read the file. In a folder this process may not write, SQLite
    cannot make the shared-memory file WAL reads use; without a ``-wal`` file no writer is
    active either, so the file is read as immutable."""
    query = "mode=ro"
    if not os.access(path.parent, os.W_OK) and not Path(f"{path}-wal").exists():
        query += "&immutable=1"
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?{query}"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(
            uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )

    return connect


def _create_private_file(path: Path) -> None:
    """Create the database file readable by its owner only (it holds connector keys)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        doing = "write" if path.exists() else "create"
        raise DatabaseError(f"cannot {doing} the database {path}: {exc.strerror}") from None
    os.close(fd)
