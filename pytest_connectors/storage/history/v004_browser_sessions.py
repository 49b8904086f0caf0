"""Version 4: the service's browser sign-in sessions, shared by all its processes.

A row names a session by the SHA-256 of the cookie's random id (the id itself is never stored)
and keeps the proof of the key it signed in with, so every page checks that key again.
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, DateTime, Index, MetaData, String, Table

_metadata = MetaData()

Table(
    "browser_sessions",
    _metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("key_prefix", String(64), nullable=False),
    Column("key_digest", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_browser_sessions_expires", "expires_at"),
)


def upgrade(connection: Connection) -> None:
    _metadata.create_all(connection)
