"""A connector made ready to call: references resolved, headers built, limits applied.

This is the only place where secrets exist in resolved form; they travel with their
:class:`~pytest_connectors.variables.Redactor` so every text built from a call can be scrubbed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from pytest_connectors._support.secrets import Redactor, is_sensitive_header
from pytest_connectors._support.variables import references, resolve
from pytest_connectors.client.retry import RetryPolicy
from pytest_connectors.errors import InvalidInputError
from pytest_connectors.models.connector import (
    Connector,
    ConnectorType,
    HttpConnectorConfig,
    LangGraphConnectorConfig,
)
from pytest_connectors.wire.auth import auth_headers

DEFAULT_TIMEOUT_MS = 60_000
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF_MS = 500.0


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    type: ConnectorType
    base_url: str
    url: str
    display_url: str  # as written in the file: never holds a resolved secret
    method: str
    headers: tuple[tuple[str, str], ...]
    timeout_ms: float
    retry: RetryPolicy
    redactor: Redactor
    assistant_id: str = ""
    response_path: str | None = None

    @property
    def timeout_s(self) -> float:
        return self.timeout_ms / 1000


def _join(base: str, path: str | None) -> str:
    if not path:
        return base.rstrip("/") or base
    return base.rstrip("/") + "/" + path.lstrip("/")


@functools.lru_cache(maxsize=256)
def _variables_in(*values: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for value in values for name in references(value)))


def variables_of(connector: Connector) -> tuple[str, ...]:
    """The environment variables a connector refers to (its resolution depends on nothing else)."""
    config = connector.config
    fields = [connector.base_url, connector.auth_value or ""]
    if config is not None:
        fields += list((config.headers or {}).values())
        fields.append(getattr(config, "path", None) or "")
    return _variables_in(*fields)


def resolve_target(connector: Connector, environ: Mapping[str, str] | None = None) -> Target:
    """Raises MissingVariableError when a referenced variable is not set."""
    name = connector.name
    config = connector.config
    secrets: list[str] = []

    auth_value = None
    if connector.auth_value:
        auth_value = resolve(connector.auth_value, connector=name, environ=environ)
        secrets.append(auth_value)
    headers = {"Accept": "application/json"}
    for key, value in auth_headers(connector.auth_type, auth_value).items():
        headers[key] = value
        secrets.append(value.split(" ", 1)[-1])
    for key, raw in ((config.headers if config else None) or {}).items():
        value = resolve(raw, connector=name, environ=environ)
        headers[key] = value
        if references(raw) or is_sensitive_header(key):
            secrets.append(value)

    for key, value in headers.items():
        if not value.isascii():
            raise InvalidInputError(
                f"connector {name!r}: the {key} header holds non-ASCII characters, which HTTP "
                "headers cannot carry; check the auth value or header (the value is not shown)"
            )
    base_url = resolve(connector.base_url, connector=name, environ=environ)
    path = config.path if isinstance(config, HttpConnectorConfig) else None
    method = (config.method if isinstance(config, HttpConnectorConfig) else None) or "POST"
    timeout = (config.timeout if config else None) or DEFAULT_TIMEOUT_MS
    retries = config.retries if config and config.retries is not None else DEFAULT_RETRIES
    backoff = (
        config.retry_backoff_ms
        if config and config.retry_backoff_ms is not None
        else DEFAULT_BACKOFF_MS
    )
    return Target(
        name=name,
        type=connector.type,
        base_url=base_url,
        url=_join(base_url, resolve(path, connector=name, environ=environ) if path else None),
        display_url=_join(connector.base_url, path),
        method=method,
        headers=tuple(headers.items()),
        timeout_ms=float(timeout),
        retry=RetryPolicy(retries=retries, backoff_ms=backoff),
        redactor=Redactor(secrets),
        assistant_id=config.assistant_id if isinstance(config, LangGraphConnectorConfig) else "",
        response_path=config.response_path if isinstance(config, HttpConnectorConfig) else None,
    )
