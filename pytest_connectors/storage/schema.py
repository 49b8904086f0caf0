"""The tables. Column types hold on SQLite and PostgreSQL alike; times are stored in UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

from pytest_connectors._support.times import utc


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on the Python side, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite keeps text: a naive UTC value sorts and compares correctly as text.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return utc(value)


class JsonText(TypeDecorator[Any]):
    """JSON kept as text. A caller that already holds the canonical text (it hashed it) passes
    the string and it is stored as is: a page of traces is encoded once, not twice."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


def _id(name: str = "id") -> Column[str]:
    return Column(name, String(64), primary_key=True)


metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", UtcDateTime, nullable=False),
)

import_connectors = Table(
    "import_connectors",
    metadata,
    _id(),
    Column("tenant_id", String(128), nullable=False, server_default="default"),
    Column("agent_id", String(128), nullable=False),
    Column("name", String(200), nullable=False),
    Column("category", String(32), nullable=False),
    Column("provider", String(32), nullable=False),
    # As given: a literal apiKey or a ${VAR} reference, resolved only when a job runs.
    Column("config", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("last_synced_at", UtcDateTime),
    Column("last_error", Text),
    # Everything up to here has been scanned completely (see imports/sync.py).
    Column("watermark", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # Per agent; the tenant is part of the key so one tenant's names never reveal another's.
    UniqueConstraint("tenant_id", "agent_id", "name", name="uq_import_connectors_agent_name"),
    Index("ix_import_connectors_tenant_agent", "tenant_id", "agent_id"),
)

import_jobs = Table(
    "import_jobs",
    metadata,
    _id(),
    Column("connector_id", String(64), nullable=False),
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(128), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("window_from", UtcDateTime),
    Column("window_to", UtcDateTime),
    # The connector as it was queued (provider and config, apiKey unresolved).
    Column("snapshot", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("stats", JSON, nullable=False),
    Column("error", Text),
    Column("error_code", String(64)),
    Column("checkpoint", Text),
    # The window actually scanned (resolved from the watermark when the job first ran).
    Column("scan_from", UtcDateTime),
    Column("scan_to", UtcDateTime),
    Column("resumed", Boolean, nullable=False, server_default=text("false")),
    Column("worker_id", String(128)),
    Column("lease_expires_at", UtcDateTime),
    Column("not_before", UtcDateTime),
    Column("stop_requested", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_import_jobs_status_created", "status", "created_at"),
    Index("ix_import_jobs_connector", "connector_id", "status"),
    # At most one running job per connector, whichever worker tries to claim a second one.
    Index(
        "uq_import_jobs_one_running",
        "connector_id",
        unique=True,
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
)

imported_traces = Table(
    "imported_traces",
    metadata,
    Column("connector_id", String(64), primary_key=True),
    Column("provider_id", String(200), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(128), nullable=False),
    Column("thread_key", String(300), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("payload", JsonText, nullable=False),  # the run as the provider served it
    Column("pending", Boolean, nullable=False),
    Column("missing", Boolean, nullable=False),
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # What the provider's listing said of the trace when it was fetched: the same
    # version listed again needs no fetch (version 5). NULL: the provider gives none.
    Column("source_version", String(64)),
    Index("ix_imported_traces_window", "connector_id", "occurred_at"),
    Index("ix_imported_traces_thread", "connector_id", "thread_key"),
)

conversations = Table(
    "conversations",
    metadata,
    # An imported conversation's id; for a native one, its id within its tenant and agent
    # (see storage.conversations.storage_id): a client's id never reaches another's (version 3).
    _id("storage_id"),
    Column("id", String(64), nullable=False),  # the id clients see
    Column("connector_id", String(64)),  # None for native conversations
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(128)),
    Column("thread_key", String(300), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("started_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("turn_count", Integer, nullable=False),
    # The turns, metadata and tags of the conversation, as its JSON record.
    Column("body", JSON, nullable=False),
    Column("pending", Boolean, nullable=False),
    Column("missing", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_conversations_list", "tenant_id", "agent_id", "started_at"),
    Index("ix_conversations_connector", "connector_id", "thread_key"),
    Index("uq_conversations_scoped_id", "id", "tenant_id", "agent_id", unique=True),
)

user_sessions = Table(
    "user_sessions",
    metadata,
    Column("connector_id", String(64), primary_key=True),
    Column("provider_id", String(200), primary_key=True),  # "UserId:SessionId"
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(128), nullable=False),
    Column("user_id", String(200), nullable=False),
    Column("app_user_id", String(200)),
    Column("started_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("content_hash", String(64), nullable=False),
    # The session record with the events that matter (page URLs, custom events, click counts).
    Column("body", JSON, nullable=False),
    # Still active when its window ended: a later sync reads it again (schema version 2).
    Column("pending", Boolean, nullable=False, server_default=text("false")),
    Column("missing", Boolean, nullable=False),
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_user_sessions_window", "connector_id", "occurred_at"),
    Index("ix_user_sessions_agent", "tenant_id", "agent_id"),
)

session_links = Table(
    "session_links",
    metadata,
    Column("conversation_id", String(64), primary_key=True),
    Column("session_connector_id", String(64), primary_key=True),
    Column("session_id", String(200), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(128), nullable=False),
    Column("method", String(32), nullable=False),
    Index("ix_session_links_agent", "tenant_id", "agent_id"),
    Index("ix_session_links_session", "session_connector_id", "session_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    Column("prefix", String(64), nullable=False, unique=True),
    Column("secret_hash", String(128), nullable=False),
    Column("tenant_id", String(128), nullable=False),
    Column("agent_id", String(128)),  # None: the key reaches every agent of its tenant
    Column("name", String(200)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    Column("expires_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
)

# Browser sign-in sessions of the service (version 4): the cookie's id only as its SHA-256.
browser_sessions = Table(
    "browser_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("key_prefix", String(64), nullable=False),
    Column("key_digest", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_browser_sessions_expires", "expires_at"),
)
