"""The JSON the service reads and writes, declared once for validation and the OpenAPI document.

Request bodies refuse unknown keys (a typo must not pass silently). Responses are the records of
the facade (``models.imports``, ``imports.backend``) with their camelCase keys, so the remote
backend reads back exactly what the local one returns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from pytest_connectors.models.imports import (
    ImportCategory,
    ImportConnector,
    RecordedConversation,
    UserSession,
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
AgentId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]


class _Body(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        hide_input_in_errors=True,
    )


class CreateConnectorBody(_Body):
    """``agentId`` may be left out with an agent-scoped key: it is the key's agent."""

    agent_id: AgentId | None = None
    name: Name
    category: ImportCategory
    provider: Annotated[str, StringConstraints(min_length=1, max_length=200)]  # checked by name
    config: dict[str, Any] = Field(default_factory=dict)


class UpdateConnectorBody(_Body):
    """A partial update: ``config`` keys are merged (null removes one); status never moves."""

    name: Name | None = None
    config: dict[str, Any] | None = None


class ConnectBody(_Body):
    config: dict[str, Any] | None = None


class SyncBody(_Body):
    """The window ``[from, to)``; a time without a zone is UTC, as in the library."""

    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None


class NativeConversationsBody(_Body):
    conversations: list[RecordedConversation] = Field(max_length=1000)


class ConnectorList(_Body):
    items: list[ImportConnector]


class ConversationItems(_Body):
    items: list[RecordedConversation]


class SessionList(_Body):
    items: list[UserSession]


class Health(_Body):
    status: str
    version: str


class ErrorDetail(_Body):
    code: str
    message: str
    # What a client needs to raise the exception the local backend raises (not_found, conflict).
    kind: str | None = None
    ref: str | None = None
    name: str | None = None
    agent_id: str | None = None


class ErrorBody(_Body):
    error: ErrorDetail
