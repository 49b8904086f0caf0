"""The surface every backend of the facade offers: the local database, or a remote service.

Connector arguments named ``ref`` take an id or a name (a name must be unique in the caller's
scope). Records come back with ``apiKey`` masked. Errors are the package's exception tree
(:mod:`pytest_connectors.errors`), whichever backend raised them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import Field

from pytest_connectors.imports.config import CreateImportConnectorInput, UpdateImportConnectorInput
from pytest_connectors.models.connector import CamelModel
from pytest_connectors.models.imports import (
    ImportConnector,
    Job,
    RecordedConversation,
    SessionLink,
    UserSession,
)

Origin = Literal["imported", "native"]
MAX_SEARCH_TEXT = 200  # the longest text a conversation search takes


@dataclass(frozen=True)
class ConversationQuery:
    """Which conversations to list, newest first: every given filter holds; then one page,
    ``limit`` at a time (the backend's default when None), continuing from ``cursor``."""

    connector: str | None = None  # an id or a name
    agent_id: str | None = None
    origin: Origin | None = None
    limit: int | None = None
    cursor: str | None = None
    since: datetime | None = None  # started at or after
    until: datetime | None = None  # started before
    text: str | None = None  # in the thread key, a message, a tool call, an answer or metadata


class ConnectResult(CamelModel):
    connector: ImportConnector
    job: Job


class LinkedSession(CamelModel):
    method: str
    session: UserSession


class ConversationDetail(CamelModel):
    """A conversation with its turns and the user sessions linked to it."""

    conversation: RecordedConversation
    sessions: list[LinkedSession] = Field(default_factory=list)

    @classmethod
    def of(
        cls, conversation: RecordedConversation, links: Sequence[tuple[SessionLink, UserSession]]
    ) -> ConversationDetail:
        return cls(
            conversation=conversation,
            sessions=[LinkedSession(method=link.method, session=s) for link, s in links],
        )


class ConversationList(CamelModel):
    items: list[RecordedConversation]
    next_cursor: str | None = None


class Backend(Protocol):
    def list_connectors(self, agent_id: str | None = None) -> list[ImportConnector]: ...

    def get_connector(self, ref: str) -> ImportConnector: ...

    def create_connector(
        self, data: CreateImportConnectorInput | Mapping[str, Any]
    ) -> ImportConnector: ...

    def update_connector(
        self, ref: str, data: UpdateImportConnectorInput | Mapping[str, Any]
    ) -> ImportConnector: ...

    def connect(self, ref: str, config: Mapping[str, Any] | None = None) -> ConnectResult: ...

    def disconnect(self, ref: str) -> ImportConnector: ...

    def sync(
        self, ref: str, from_: datetime | str | None = None, to: datetime | str | None = None
    ) -> Job: ...

    def delete_connector(self, ref: str) -> None: ...

    def get_job(self, job_id: str) -> Job: ...

    def wait_job(self, job_id: str, timeout: float | None = None) -> Job: ...

    def list_conversations(self, query: ConversationQuery) -> ConversationList: ...

    def get_conversation(
        self, conversation_id: str, *, agent_id: str | None = None
    ) -> ConversationDetail: ...

    def write_native(
        self, conversations: Sequence[RecordedConversation]
    ) -> list[RecordedConversation]: ...

    def list_sessions(self, *, connector: str | None = None) -> list[UserSession]: ...

    def close(self) -> None: ...
