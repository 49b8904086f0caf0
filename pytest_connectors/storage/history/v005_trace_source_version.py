"""Version 5: the version a listing gave each trace, so a re-sync skips the unchanged ones."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(connection: Connection) -> None:
    connection.execute(text("ALTER TABLE imported_traces ADD COLUMN source_version VARCHAR(64)"))
