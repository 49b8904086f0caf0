"""The handle on one database: an engine with a migrated schema, and its transactions."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from pytest_connectors.errors import DatabaseError
from pytest_connectors.storage.engine import (
    READ_ONLY,
    create_database_engine,
    database_url,
    describe_url,
)
from pytest_connectors.storage.migrations import migrate
from pytest_connectors.storage.signals import JobSignals

__all__ = ["Connection", "Store"]  # Connection: for the type hints of callers above storage


class Store:
    """One database. ``begin()`` is a write transaction, ``read()`` a read-only one."""

    def __init__(
        self,
        db: str | os.PathLike[str] | None = None,
        *,
        project_dir: Path | None = None,
        engine: Engine | None = None,
        existing: bool = False,
    ) -> None:
        """``existing``: only open a database that is there, read-only if it cannot be written
        (for commands that only read: a mistyped path must not become a new database)."""
        self.url = (
            engine.url.render_as_string(hide_password=False)
            if engine is not None
            else database_url(db, project_dir)
        )
        self.engine = (
            engine if engine is not None else create_database_engine(self.url, existing=existing)
        )
        try:
            with self.begin() as connection:
                self.schema_version = migrate(connection)
        except DBAPIError as exc:  # unreachable, not a database, read-only and out of date
            self.engine.dispose()
            raise DatabaseError(
                f"cannot open {describe_url(self.url)}: {_first_line(exc)}"
            ) from None
        except BaseException:
            self.engine.dispose()
            raise

    @functools.cached_property
    def job_signals(self) -> JobSignals:
        """Wake-ups when a job of this database changes (LISTEN/NOTIFY on PostgreSQL)."""
        return JobSignals(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        return describe_url(self.url)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            connection = connection.execution_options(**{READ_ONLY: True})
            with connection.begin():
                yield connection

    def close(self) -> None:
        signals = self.__dict__.pop("job_signals", None)
        if signals is not None:
            signals.close()
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.display_url!r})"


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig or exc).strip().splitlines()[0]
