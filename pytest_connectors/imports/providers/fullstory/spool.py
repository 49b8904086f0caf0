"""A FullStory export folded into sessions in bounded memory, through a temporary SQLite file.

An export lists events in no promised order, so a session is only whole once the last event of
the file has been read. Holding every session until then took 2 GB for 300k sessions. Instead the
events (the fields a session summary reads) are spilled to a scratch database as they stream in;
then they are read back grouped by session, one session folded at a time, and the finished
sessions are written back in their reporting order (start, then id), from which pages are read.
Memory stays one batch of events and one session, however large the export; the file is deleted
on `close`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Self, overload

from pytest_connectors.imports.provider import Window
from pytest_connectors.imports.providers.fullstory.sessions import (
    SUMMARY_FIELDS,
    AggregatedSession,
    SessionAggregator,
)
from pytest_connectors.models.imports import UserSession

__all__ = ["SessionSpool"]

_BATCH = 5_000  # rows written or read at a time
_CACHE_KIB = 8 * 1024  # SQLite's page cache for the scratch file


class SessionSpool:
    """``add`` export events, then ``finish`` once for the sessions, in reporting order."""

    def __init__(
        self,
        *,
        window: Window | None = None,
        org_id: str | None = None,
        directory: str | os.PathLike[str] | None = None,
    ) -> None:
        self._aggregator = SessionAggregator(window=window, org_id=org_id)
        handle, self._path = tempfile.mkstemp(prefix="fullstory-", suffix=".db", dir=directory)
        os.close(handle)
        self._db = sqlite3.connect(self._path, check_same_thread=False)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{_CACHE_KIB}"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("PRAGMA temp_store=FILE")
        self._db.execute("CREATE TABLE events (user_id TEXT, session_id TEXT, at TEXT, event TEXT)")
        self._pending: list[tuple[str, str, str, str]] = []
        self._finished: _SpooledSessions | None = None

    @property
    def skipped(self) -> int:
        return self._aggregator.skipped

    def add(self, event: Mapping[str, Any]) -> None:
        placed = self._aggregator.place(event)
        if placed is None:
            return
        user_id, session_id, at = placed
        kept = {name: event[name] for name in SUMMARY_FIELDS if name in event}
        text = json.dumps(kept, separators=(",", ":"), ensure_ascii=False)
        self._pending.append((user_id, session_id, at.isoformat(), text))
        if len(self._pending) >= _BATCH:
            self._flush()

    def add_all(self, events: Iterator[dict[str, Any]]) -> None:
        for event in events:
            self.add(event)

    def finish(self) -> Sequence[AggregatedSession]:
        """The sessions, ordered by start then id: the same export always gives the same order."""
        if self._finished is not None:
            return self._finished
        self._flush()
        db = self._db
        db.execute("CREATE TABLE folded (start TEXT, id TEXT, pending INTEGER, session TEXT)")
        rows = db.execute(
            "SELECT user_id, session_id, at, event FROM events ORDER BY user_id, session_id, rowid"
        )
        batch: list[tuple[str, str, int, str]] = []
        for (user_id, session_id), group in itertools.groupby(rows, key=lambda r: (r[0], r[1])):
            placed = ((json.loads(r[3]), datetime.fromisoformat(r[2])) for r in group)
            folded = self._aggregator.fold(user_id, session_id, placed)
            if folded is None:
                continue
            session = folded.session
            start = f"{session.started_at:%Y-%m-%dT%H:%M:%S.%f}" if session.started_at else ""
            batch.append((start, session.id, int(folded.pending), session.model_dump_json()))
            if len(batch) >= _BATCH:
                self._write_folded(batch)
        self._write_folded(batch)
        db.execute("DROP TABLE events")
        # Inserted in reporting order: the position is 1-based.
        db.execute("CREATE TABLE ordered (position INTEGER PRIMARY KEY, pending, session)")
        db.execute(
            "INSERT INTO ordered (pending, session) "
            "SELECT pending, session FROM folded ORDER BY start, id"
        )
        db.execute("DROP TABLE folded")
        db.commit()
        count = db.execute("SELECT count(*) FROM ordered").fetchone()[0]
        self._finished = _SpooledSessions(db, int(count))
        return self._finished

    def close(self) -> None:
        self._db.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", self._pending)
            self._pending.clear()

    def _write_folded(self, batch: list[tuple[str, str, int, str]]) -> None:
        if batch:
            self._db.executemany("INSERT INTO folded VALUES (?, ?, ?, ?)", batch)
            batch.clear()


class _SpooledSessions(Sequence[AggregatedSession]):
    """The folded sessions on disk; a slice reads just its rows."""

    def __init__(self, db: sqlite3.Connection, count: int) -> None:
        self._db = db
        self._count = count

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> AggregatedSession: ...

    @overload
    def __getitem__(self, index: slice) -> list[AggregatedSession]: ...

    def __getitem__(self, index: int | slice) -> AggregatedSession | list[AggregatedSession]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._count)
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            return self._rows(start, stop)
        position = index + self._count if index < 0 else index
        if not 0 <= position < self._count:
            raise IndexError(index)
        return self._rows(position, position + 1)[0]

    def _rows(self, start: int, stop: int) -> list[AggregatedSession]:
        if stop <= start:
            return []
        rows = self._db.execute(
            "SELECT pending, session FROM ordered WHERE position > ? AND position <= ? "
            "ORDER BY position",
            (start, stop),
        )
        return [
            AggregatedSession(UserSession.model_validate_json(text), bool(pending))
            for pending, text in rows
        ]
