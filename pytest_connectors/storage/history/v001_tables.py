"""Version 1: the tables as version 0.1.0 of the package created them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

_metadata = MetaData()


def _when(name: str, *, nullable: bool = True) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


Table(
    "import_connectors",
    _metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(128), nullable=False, server_default="default"),
    Column("agent_id", String(128), nullable=False),
    Column("name", String(200), nullable=False),
    Column("category", String(32), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("config", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    _when("last_synced_at"),
    Column("last_error", Text),
    _when("watermark"),
    _when("created_at", nullable=False),
    _when("updated_at", nullable=False),
    UniqueConstraint("tenant_id", "agent_id", "name", name="uq_import_connectors_agent_name"),
    Index("ix_import_connectors_tenant_agent", "tenant_id", "agent_id"),
)

Table(
    "import_jobs",
    _metadata,
    Column("id", String(64), primary_key=True),
    Column("connector_id", String(64), nullable=False),
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(128), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    _when("window_from"),
    _when("window_to"),
    Column("snapshot", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("stats", JSON, nullable=False),
    Column("error", Text),
    Column("error_code", String(64)),
    Column("checkpoint", Text),
    _when("scan_from"),
    _when("scan_to"),
    Column("resumed", Boolean, nullable=False, server_default=text("false")),
    Column("worker_id", String(128)),
    _when("lease_expires_at"),
    _when("not_before"),
    Column("stop_requested", Boolean, nullable=False, server_default=text("false")),
    _when("created_at", nullable=False),
    _when("started_at"),
    _when("finished_at"),
    _when("updated_at", nullable=False),
    Index("ix_import_jobs_status_created", "status", "created_at"),
    Index("ix_import_jobs_connector", "connector_id", "status"),
    Index(
        "uq_import_jobs_one_running",
        "connector_id",
        unique=True,
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
)

Table(
    "imported_traces",
    _metadata,
    Column("connector_id", String(64), primary_key=True),
    Column("provider_id", String(200), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(128), nullable=False),
    Column("thread_key", String(300), nullable=False),
    _when("occurred_at", nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("pending", Boolean, nullable=False),
    Column("missing", Boolean, nullable=False),
    _when("first_seen_at", nullable=False),
    _when("updated_at", nullable=False),
    Index("ix_imported_traces_window", "connector_id", "occurred_at"),
    Index("ix_imported_traces_thread", "connector_id", "thread_key"),
)

Table(
    "conversations",
    _metadata,
    Column("id", String(64), primary_key=True),
    Column("connector_id", String(64)),
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(128)),
    Column("thread_key", String(300), nullable=False),
    Column("origin", String(16), nullable=False),
    _when("started_at"),
    _when("ended_at"),
    Column("turn_count", Integer, nullable=False),
    Column("body", JSON, nullable=False),
    Column("pending", Boolean, nullable=False),
    Column("missing", Boolean, nullable=False),
    _when("updated_at", nullable=False),
    Index("ix_conversations_list", "tenant_id", "agent_id", "started_at"),
    Index("ix_conversations_connector", "connector_id", "thread_key"),
)

Table(
    "user_sessions",
    _metadata,
    Column("connector_id", String(64), primary_key=True),
    Column("provider_id", String(200), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(128), nullable=False),
    Column("user_id", String(200), nullable=False),
    Column("app_user_id", String(200)),
    _when("started_at"),
    _when("ended_at"),
    _when("occurred_at", nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("body", JSON, nullable=False),
    Column("missing", Boolean, nullable=False),
    _when("first_seen_at", nullable=False),
    _when("updated_at", nullable=False),
    Index("ix_user_sessions_window", "connector_id", "occurred_at"),
    Index("ix_user_sessions_agent", "tenant_id", "agent_id"),
)

Table(
    "session_links",
    _metadata,
    Column("conversation_id", String(64), primary_key=True),
    Column("session_connector_id", String(64), primary_key=True),
    Column("session_id", String(200), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(128), nullable=False),
    Column("method", String(32), nullable=False),
    Index("ix_session_links_agent", "tenant_id", "agent_id"),
    Index("ix_session_links_session", "session_connector_id", "session_id"),
)

Table(
    "api_keys",
    _metadata,
    Column("id", String(64), primary_key=True),
    Column("prefix", String(64), nullable=False, unique=True),
    Column("secret_hash", String(128), nullable=False),
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(128)),
    Column("name", String(200)),
    _when("created_at", nullable=False),
    _when("last_used_at"),
    _when("expires_at"),
    _when("revoked_at"),
)


def upgrade(connection: Connection) -> None:
    _metadata.create_all(connection)
