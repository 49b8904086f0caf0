"""Pydantic models of the connector contract.

Python attributes are snake_case; JSON uses the camelCase keys of the connector file format so a
file written by other tools in that format loads unchanged. Stored records keep keys they do not
know (``extra="allow"``) so rewriting a file never drops another tool's data.
"""

from __future__ import annotations

import unicodedata
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
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

from pytest_connectors._support.secrets import mask, mask_fields, mask_url


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


def _masked_unknown(model: BaseModel, key: str | None, value: Any) -> Any:
    """A key this package does not know, with a secret-looking name, hides its literal value."""
    if key is not None and key not in type(model).model_fields:
        return mask_fields({key: value})[key]
    return value


class LaunchConfig(_Record):
    """How to start the agent locally when ``baseUrl`` does not answer (``config.launch``).

    A string in ``config.launch`` is the LangGraph shorthand for ``{"project": ...}``.
    A ``command`` may hold ``{port}``: the server then gets a free loopback port and the
    connector is pointed at it. Relative paths are relative to the connector file.
    """

    command: str | list[str] | None = Field(
        default=None, description="Command line; a string is split as a shell would."
    )
    project: str | None = Field(
        default=None, description="langgraph: the folder holding langgraph.json (or the file)."
    )
    cwd: str | None = Field(default=None, description="Folder the command runs in.")
    env: dict[str, str] | None = Field(
        default=None, description="Extra environment for the server; values may use ${VAR}."
    )
    ready: str | None = Field(
        default=None, description="URL, or path under the base URL, answering once ready."
    )
    timeout: int | float | None = Field(default=None, gt=0, description="Start timeout in ms.")
    reuse_existing: bool | None = Field(
        default=None, description="Use a server already answering at baseUrl (default true)."
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # The agent's environment may hold a literal secret: shown masked, like auth values.
        for key, value in super().__repr_args__():
            if key == "env" and isinstance(value, dict):
                value = {name: mask(v) for name, v in value.items()}
            yield key, value

    @model_validator(mode="after")
    def _one_way_to_start(self) -> LaunchConfig:
        if self.command is None and self.project is None:
            raise ValueError("config.launch needs a command (or, for langgraph, a project)")
        if self.command is not None and self.project is not None:
            raise ValueError("config.launch takes a command or a project, not both")
        if not (self.command if isinstance(self.command, list) else str(self.command).strip()):
            raise ValueError("config.launch.command is empty")
        return self


class _CommonConfig(_Record):
    headers: dict[str, str] | None = None
    timeout: int | float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="Request timeout in ms."
    )
    retries: int | None = Field(default=None, ge=0, le=10)
    retry_backoff_ms: float | None = Field(default=None, ge=0)
    launch: str | LaunchConfig | None = None  # a string is {"project": ...}
    max_response_bytes: int | None = Field(
        default=None, gt=0, description="Largest reply read, after decompression (10 MB)."
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Literal values of secret-looking headers (and unknown keys) are masked, as in the CLI.
        for key, value in super().__repr_args__():
            masked = mask_fields(value) if key == "headers" and isinstance(value, dict) else value
            yield key, _masked_unknown(self, key, masked)


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


ConnectorConfig = HttpConnectorConfig | LangGraphConnectorConfig

_CONFIG_CLASS: dict[str, type[_CommonConfig]] = {
    "http": HttpConnectorConfig,
    "langgraph": LangGraphConnectorConfig,
}


def _config_of_type(value: Any, info: ValidationInfo) -> Any:
    """Pick the config class from the connector's type instead of guessing from the union.

    Validated as a field (``type`` comes first), so a problem is reported at ``config.timeout``.
    """
    kind = info.data.get("type")
    if isinstance(value, dict) and kind is not None and str(kind) in _CONFIG_CLASS:
        return _CONFIG_CLASS[str(kind)].model_validate(value)
    return value


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
    if kind is ConnectorType.HTTP and config is not None and config.launch is not None:
        launch = config.launch
        if isinstance(launch, str) or launch.project is not None:
            raise ValueError(
                "config.launch as a folder is the LangGraph shorthand; an http connector "
                'needs {"command": "... {port} ..."}'
            )


def _check_base_url(value: str) -> str:
    value = value.strip()
    if not value.startswith(("http://", "https://", "${")):
        raise ValueError("must start with http:// or https:// (or be a ${VARIABLE})")
    if any(char.isspace() for char in value):
        raise ValueError("must not contain spaces (encode them as %20)")
    if value.startswith("http"):
        rest = value.split("://", 1)[1]
        host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
        if not host or host.startswith(":"):
            raise ValueError(f"has no host: expected e.g. {value.split('://')[0]}://127.0.0.1:8000")
    return value


BaseUrl = Annotated[str, AfterValidator(_check_base_url)]


def _check_name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise ValueError("must not contain control characters (newlines, tabs, escapes)")
    return value


NewName = Annotated[str, Field(min_length=1), AfterValidator(_check_name)]


class _ConnectorFields(_Record):
    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            if key == "auth_value" and value is not None:
                value = mask(value)
            elif key == "base_url" and isinstance(value, str):
                value = mask_url(value)
            yield key, _masked_unknown(self, key, value)


class _TypedConfig(_ConnectorFields):
    @field_validator("config", mode="before", check_fields=False)
    @classmethod
    def _config_by_type(cls, value: Any, info: ValidationInfo) -> Any:
        return _config_of_type(value, info)


class Connector(_TypedConfig):
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


class CreateConnectorInput(_TypedConfig):
    name: NewName
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
    """Fields to change; only the fields that are set are applied.

    ``config`` is a patch merged into the stored config key by key (``headers`` name by name);
    ``None`` clears a field or key. See ``pytest_connectors.registry.merge``.
    """

    name: NewName | None = None
    type: ConnectorType | None = None
    base_url: BaseUrl | None = None
    auth_type: AuthType | None = None
    auth_value: str | None = None
    config: dict[str, Any] | None = None

    @field_validator("config", mode="before")
    @classmethod
    def _config_patch(cls, value: Any) -> Any:
        if isinstance(value, BaseModel):  # a whole config object: the fields it was given
            return value.model_dump(by_alias=True, exclude_unset=True)
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            yield key, (mask_fields(value) if key == "config" and value else value)


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
