"""Version 2: sessions still active at the end of a window are stored pending, like traces."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(connection: Connection) -> None:
    connection.execute(
        text("ALTER TABLE user_sessions ADD COLUMN pending BOOLEAN NOT NULL DEFAULT false")
    )
