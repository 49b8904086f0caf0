"""Version 3: a native conversation's id names it within its tenant and agent only.

Conversations are stored under ``storage_id``: an imported conversation's own id (derived from
its connector, so unique already), or for a native one a digest of (tenant, agent, id). The id a
client gave stays the visible ``id``, unique per tenant and agent. The table is rebuilt, since
SQLite cannot change a primary key in place.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    text,
)

_metadata = MetaData()

_rebuilt = Table(
    "conversations_v3",
    _metadata,
    Column("storage_id", String(64), primary_key=True),
    Column("id", String(64), nullable=False),
    Column("connector_id", String(64)),
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(128)),
    Column("thread_key", String(300), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("turn_count", Integer, nullable=False),
    Column("body", JSON, nullable=False),
    Column("pending", Boolean, nullable=False),
    Column("missing", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

_COPIED = ", ".join(column.name for column in _rebuilt.columns if column.name != "storage_id")

_INDEXES = [
    "CREATE INDEX ix_conversations_list ON conversations (tenant_id, agent_id, started_at)",
    "CREATE INDEX ix_conversations_connector ON conversations (connector_id, thread_key)",
    "CREATE UNIQUE INDEX uq_conversations_scoped_id ON conversations (id, tenant_id, agent_id)",
]


def _native_storage_id(tenant_id: str, agent_id: str | None, conversation_id: str) -> str:
    # Frozen copy of storage.conversations.storage_id as this version wrote it.
    digest = hashlib.sha256(json.dumps([tenant_id, agent_id, conversation_id]).encode())
    return "nat_" + digest.hexdigest()[:60]


def upgrade(connection: Connection) -> None:
    _rebuilt.create(connection)
    connection.execute(
        text(
            f"INSERT INTO conversations_v3 (storage_id, {_COPIED}) SELECT id, {_COPIED} "
            "FROM conversations"
        )
    )
    natives = connection.execute(
        text("SELECT id, tenant_id, agent_id FROM conversations WHERE origin = 'native'")
    ).all()
    if natives:
        connection.execute(
            text("UPDATE conversations_v3 SET storage_id = :new WHERE storage_id = :old"),
            [
                {"old": row.id, "new": _native_storage_id(row.tenant_id, row.agent_id, row.id)}
                for row in natives
            ],
        )
    connection.execute(text("DROP TABLE conversations"))
    connection.execute(text("ALTER TABLE conversations_v3 RENAME TO conversations"))
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(
                "ALTER TABLE conversations RENAME CONSTRAINT conversations_v3_pkey "
                "TO conversations_pkey"
            )
        )
    for index in _INDEXES:
        connection.execute(text(index))
