"""Pydantic models of the connector contract.

Python attributes are snake_case; JSON uses the camelCase keys of the connector file format so a
file written by other tools in that format loads unchanged. Stored records keep keys they do not
know (``extra="allow"``) so rewriting a file never drops another tool's data.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

from pytest_connectors._support.secrets import mask


class ConnectorType(StrEnum):
    HTTP = "http"
    LANGGRAPH = "langgraph"


class AuthType(StrEnum):
    NONE = "none"
    API_KEY = "api-key"
    BEARER = "bearer"
    BASIC = "basic"


CONNECTOR_TYPE_DESCRIPTIONS: dict[ConnectorType, str] = {
    ConnectorType.HTTP: "Generic HTTP/REST API connector",
    ConnectorType.LANGGRAPH: "LangGraph Dev API connector for langgraph-backed agents",
}


def _iso_utc(value: datetime) -> str:
    # Millisecond precision with a trailing Z: the format JavaScript's toISOString() writes.
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[AwareDatetime, PlainSerializer(_iso_utc, return_type=str)]


def utc_now() -> datetime:
    """Now, at the millisecond precision the file keeps, so a returned record equals a re-read."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        hide_input_in_errors=True,  # the input may hold an auth value
    )


class _Record(CamelModel):
    """A stored record: unknown keys are kept and written back, even when they are null.

    A declared field that is None is left out unless it was set explicitly (an explicit null in
    a file stays; in an update it means "clear this field").
    """

    model_config = ConfigDict(extra="allow")

    @model_serializer(mode="wrap")
    def _omit_unset_fields(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name, info in type(self).model_fields.items():
                if name in self.model_fields_set:
                    continue
                for key in (name, info.alias):
                    if key in data and data[key] is None:
                        del data[key]
        return data


class _CommonConfig(_Record):
    headers: dict[str, str] | None = None
    timeout: int | float | None = Field(default=None, gt=0, description="Request timeout in ms.")
    retries: int | None = Field(default=None, ge=0, le=10)
    retry_backoff_ms: float | None = Field(default=None, ge=0)
    max_response_bytes: int | None = Field(
        default=None, gt=0, description="Largest reply read, after decompression (10 MB)."
    )


class HttpConnectorConfig(_CommonConfig):
    method: Literal["GET", "POST", "PUT", "PATCH"] | None = None
    path: str | None = None
    response_path: str | None = None
    body: dict[str, Any] | None = Field(
        default=None, description="Fields added to every request body (model, temperature...)."
    )

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class LangGraphConnectorConfig(_CommonConfig):
    assistant_id: str = Field(min_length=1)
    launch: str | None = None


ConnectorConfig = HttpConnectorConfig | LangGraphConnectorConfig

_CONFIG_CLASS: dict[str, type[_CommonConfig]] = {
    "http": HttpConnectorConfig,
    "langgraph": LangGraphConnectorConfig,
}


def _coerce_config(data: Any) -> Any:
    """Pick the config class from the connector's type instead of guessing from the union."""
    if isinstance(data, dict):
        config = data.get("config")
        kind = data.get("type")
        if isinstance(config, dict) and isinstance(kind, str) and kind in _CONFIG_CLASS:
            data = {**data, "config": _CONFIG_CLASS[kind].model_validate(config)}
    return data


def _check_config(kind: ConnectorType | None, config: ConnectorConfig | None) -> None:
    if kind is None:
        return
    if kind is ConnectorType.LANGGRAPH and not isinstance(config, LangGraphConnectorConfig):
        raise ValueError("a langgraph connector needs config.assistantId (e.g. 'agent')")
    if (
        kind is ConnectorType.HTTP
        and config is not None
        and not isinstance(config, HttpConnectorConfig)
    ):
        raise ValueError("config does not fit an http connector")


def _check_base_url(value: str) -> str:
    value = value.strip()
    if not value.startswith(("http://", "https://", "${")):
        raise ValueError("must start with http:// or https:// (or be a ${VARIABLE})")
    return value


BaseUrl = Annotated[str, AfterValidator(_check_base_url)]


class _ConnectorFields(_Record):
    @model_validator(mode="before")
    @classmethod
    def _config_by_type(cls, data: Any) -> Any:
        return _coerce_config(data)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            yield key, (mask(value) if key == "auth_value" and value is not None else value)


class Connector(_ConnectorFields):
    """A named way to reach an agent, as stored in the connector file (immutable)."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str = Field(min_length=1)
    type: ConnectorType
    base_url: BaseUrl
    auth_type: AuthType | None = None
    auth_value: str | None = None
    config: ConnectorConfig | None = None
    created_at: Timestamp
    updated_at: Timestamp

    @model_validator(mode="after")
    def _config_matches_type(self) -> Connector:
        _check_config(self.type, self.config)
        return self


class CreateConnectorInput(_ConnectorFields):
    name: str = Field(min_length=1)
    type: ConnectorType
    base_url: BaseUrl
    auth_type: AuthType | None = None
    auth_value: str | None = None
    config: ConnectorConfig | None = None

    @model_validator(mode="after")
    def _config_matches_type(self) -> CreateConnectorInput:
        _check_config(self.type, self.config)
        return self


class UpdateConnectorInput(_ConnectorFields):
    """Fields to change; only the fields that are set are applied."""

    name: str | None = Field(default=None, min_length=1)
    type: ConnectorType | None = None
    base_url: BaseUrl | None = None
    auth_type: AuthType | None = None
    auth_value: str | None = None
    config: ConnectorConfig | None = None


class ContentBlock(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    type: str | None = None


Role = Literal["user", "assistant", "system", "tool"]


class Message(BaseModel):
    """One chat message, in the OpenAI chat shape with LangChain's extensions."""

    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | list[ContentBlock] = ""
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    additional_kwargs: dict[str, Any] | None = None
    response_metadata: dict[str, Any] | None = None
    id: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return "" if value is None else value

    @property
    def text(self) -> str:
        """The content as plain text, whatever its shape."""
        if isinstance(self.content, str):
            return self.content
        return "".join(block.text or "" for block in self.content if block.type == "text")


class ConnectorInvokeInput(CamelModel):
    messages: list[Message] = Field(min_length=1)
    run_id: str | None = None


class ConnectorTestResult(CamelModel):
    __test__ = False  # not a pytest test class, whatever its name

    success: bool
    latency_ms: float
    response: str | None = None
    error: str | None = None
    attempts: int = 1


class ConnectorInvokeResult(CamelModel):
    success: bool
    latency_ms: float
    message: Message | None = None
    messages: list[Message] = Field(default_factory=list)
    thread_id: str | None = None
    raw_response: str | None = None
    error: str | None = None
    status_code: int | None = None
    attempts: int = 1

    @property
    def text(self) -> str:
        """The final assistant answer as text ("" when there is none)."""
        return self.message.text if self.message is not None else ""

    @property
    def tool_calls(self) -> list[ToolCall]:
        """Every tool call the assistant made during this call, in order."""
        return [call for m in self.messages if m.role == "assistant" for call in m.tool_calls or []]
