"""Records of import connectors: the connectors themselves, their sync jobs, and what they import.

JSON keeps the camelCase keys of the import-connector contract; Python attributes are snake_case.
The secrets of a connector's config (``apiKey``; what its provider's spec marks secret) are
masked whenever a record is shown or serialised for anyone but the sync job that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from pytest_connectors.models.connector import CamelModel, Timestamp


class ImportCategory(StrEnum):
    LLM_TRACING = "llm-tracing"
    SESSION_DATA = "session-data"


# A provider's name: one of the registry's (`pytest_connectors.imports.providers`), checked where
# a connector is created; the records keep the name, so a provider installed later is no schema
# change.
PROVIDER_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"


class ConnectorStatus(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTED = "connected"


class JobTrigger(StrEnum):
    CONNECT = "connect"
    SYNC = "sync"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True)
class Scope:
    """Who is asking: the database owner (both ``None``), a tenant, or one agent of a tenant.

    Every read and write of the data layer takes a scope, so the service cannot forget to apply
    one on a route.
    """

    tenant_id: str | None = None
    agent_id: str | None = None

    @classmethod
    def owner(cls) -> Scope:
        return cls()

    @property
    def is_owner(self) -> bool:
        return self.tenant_id is None and self.agent_id is None


class ImportConnector(CamelModel):
    id: str
    tenant_id: str = "default"
    agent_id: str
    name: str
    category: ImportCategory
    provider: str = Field(pattern=PROVIDER_NAME_PATTERN)
    config: dict[str, Any] = Field(default_factory=dict)
    status: ConnectorStatus = ConnectorStatus.DISCONNECTED
    last_synced_at: Timestamp | None = None
    last_error: str | None = None
    created_at: Timestamp
    updated_at: Timestamp


class JobStats(CamelModel):
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    marked_missing: int = 0
    # Records the provider served that could not be read, by reason (``no_id``, ``not_json``,
    # ``invalid_text``, ``nested_too_deep``, ...): skipped, so the rest of the window is stored.
    skipped: dict[str, int] = Field(default_factory=dict)
    # How much of the job's time window the fetched records cover, 0..1, only growing; 1.0 once
    # the job succeeded. None while unknown: the provider does not fetch in time order.
    progress: float | None = Field(default=None, ge=0.0, le=1.0)


class Job(CamelModel):
    id: str
    connector_id: str
    trigger: JobTrigger
    status: JobStatus
    from_: Timestamp | None = Field(default=None, alias="from")
    to: Timestamp | None = None
    attempts: int = 0
    stats: JobStats = Field(default_factory=JobStats)
    error: str | None = None
    error_code: str | None = None
    created_at: Timestamp
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None


class RecordedToolCall(CamelModel):
    """A tool call production made: its name and arguments, and the result the tool returned."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None
    result: str | None = None


class RecordedTurn(CamelModel):
    """One user turn of a recorded conversation and what the agent did in answer."""

    index: int
    user_messages: list[str]
    tool_calls: list[RecordedToolCall] = Field(default_factory=list)
    answer: str | None = None
    error: str | None = None
    latency_ms: float | None = None
    started_at: Timestamp | None = None
    trace_id: str | None = None
    pending: bool = False  # the run had not finished when it was imported


class RecordedConversation(CamelModel):
    """Turns grouped by thread: imported from a tracing provider, or written by a test session."""

    id: str
    connector_id: str | None = None
    agent_id: str | None = None
    thread_key: str
    origin: Literal["imported", "native"] = "imported"
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    turns: list[RecordedTurn] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    pending: bool = False
    missing: bool = False


class UserSession(CamelModel):
    """A FullStory session (``UserId:SessionId``) and the signals that matter for an agent test."""

    id: str
    connector_id: str | None = None
    user_id: str
    app_user_id: str | None = None
    user_email: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    url: str | None = None
    page_count: int = 0
    event_count: int = 0
    frustrated_clicks: int = 0
    dead_clicks: int = 0
    error_clicks: int = 0
    page_urls: list[str] = Field(default_factory=list)
    # Custom events as ``{"name", "at", "pageUrl", "properties"}``. A bounded number is kept per
    # session (those naming a thread under a larger bound); ``custom_event_count`` counts them all.
    custom_events: list[dict[str, Any]] = Field(default_factory=list)
    custom_event_count: int = 0
    missing: bool = False


class SessionLink(CamelModel):
    conversation_id: str
    session_id: str
    # How the two were joined, strongest first.
    method: Literal["metadata", "custom_event", "user_time_overlap"]
