"""A connector made ready to call: references resolved, headers built, limits applied.

This is the only place where secrets exist in resolved form; they travel with their
:class:`~pytest_connectors.variables.Redactor` so every text built from a call can be scrubbed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from pytest_connectors._support.secrets import Redactor, Secret, is_sensitive_header, mask_url
from pytest_connectors._support.variables import lookup, references, resolve
from pytest_connectors.client.retry import RetryPolicy
from pytest_connectors.client.transport import DEFAULT_MAX_RESPONSE_BYTES
from pytest_connectors.errors import InvalidInputError, MissingVariableError
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


@dataclass(frozen=True, slots=True, repr=False)
class Target:
    """Holds resolved secrets (headers, URL): its repr shows only what the file says."""

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
    body: Mapping[str, Any] | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    # Built once per resolution, not per call: parsing and header building cost per request.
    http_url: httpx.URL = field(init=False)
    request_headers: tuple[tuple[str, str], ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "http_url", httpx.URL(self.url))
        content_type = (("Content-Type", "application/json"),)
        object.__setattr__(self, "request_headers", content_type + self.headers)

    def __repr__(self) -> str:
        return f"<Target {self.name!r} {self.type.value} {self.display_url}>"

    @property
    def timeout_s(self) -> float:
        return self.timeout_ms / 1000

    @property
    def origin(self) -> tuple[str, str, int | None]:
        return origin_of(self.url)


def origin_of(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port, the default port spelled out."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def _escaped(secret: str) -> str:
    """How a secret reads inside a JSON string, where quotes and backslashes are escaped."""
    return json.dumps(secret, ensure_ascii=False)[1:-1]


def _secret_url_variables(raw: str) -> list[str]:
    """The ``${VAR}`` of a URL whose values are secret: in the query or userinfo, or so named."""
    head, _, query = raw.partition("?")
    authority = head.split("//", 1)[-1].split("/", 1)[0]
    hidden = set(references(query)) | set(references(authority.rpartition("@")[0]))
    return [name for name in references(raw) if name in hidden or is_sensitive_header(name)]


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


def variable_values(
    connector: Connector, environ: Mapping[str, str] | None = None
) -> tuple[Secret | None, ...]:
    """The current values of the connector's variables, masked in any repr."""
    values = (lookup(name, environ) for name in variables_of(connector))
    return tuple(None if value is None else Secret(value) for value in values)


def _url(
    base_url: str, path: str | None, raw: str, name: str, environ: Mapping[str, str] | None
) -> str:
    url = _join(base_url, resolve(path, connector=name, environ=environ) if path else None)
    return Secret(url) if references(raw) or (path and references(path)) else url


def resolve_target(connector: Connector, environ: Mapping[str, str] | None = None) -> Target:
    """Raises MissingVariableError when a referenced variable is not set."""
    name = connector.name
    for variable in variables_of(connector):
        if lookup(variable, environ) is None:  # raised before any secret is resolved
            raise MissingVariableError(variable, name)
    config = connector.config
    # Resolved values are held as Secret (masked in repr: pytest -l prints these locals).
    secrets: list[str] = []

    auth_value = None
    if connector.auth_value:
        auth_value = Secret(resolve(connector.auth_value, connector=name, environ=environ))
        secrets.append(auth_value)
    headers: dict[str, str] = {"Accept": "application/json"}
    auth = {k: Secret(v) for k, v in auth_headers(connector.auth_type, auth_value).items()}
    headers.update(auth)
    secrets += [Secret(v.split(" ", 1)[-1]) for v in auth.values()]
    for key, raw in ((config.headers if config else None) or {}).items():
        value = resolve(raw, connector=name, environ=environ)
        secret = bool(references(raw)) or is_sensitive_header(key)
        headers[key] = value = Secret(value) if secret else value
        if secret:
            secrets.append(value)

    bad = next((key for key, value in headers.items() if not value.isascii()), None)
    if bad is not None:
        auth_value, value = None, ""  # no resolved secret left in this frame's locals
        headers.clear()
        secrets.clear()
        raise InvalidInputError(
            f"connector {name!r}: the {bad} header holds non-ASCII characters, which HTTP "
            "headers cannot carry; check the auth value or header (the value is not shown)"
        )
    base_url = resolve(connector.base_url, connector=name, environ=environ)
    if references(connector.base_url):
        base_url = Secret(base_url)
    path = config.path if isinstance(config, HttpConnectorConfig) else None
    for raw in (connector.base_url, path or ""):
        for variable in _secret_url_variables(raw):
            secrets.append(Secret(resolve(f"${{{variable}}}", connector=name, environ=environ)))
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
        url=_url(base_url, path, connector.base_url, name, environ),
        display_url=mask_url(_join(connector.base_url, path)),
        method=method,
        headers=tuple(headers.items()),
        timeout_ms=float(timeout),
        retry=RetryPolicy(retries=retries, first_delay_s=backoff / 1000),
        redactor=Redactor([*secrets, *map(_escaped, secrets)]),
        assistant_id=config.assistant_id if isinstance(config, LangGraphConnectorConfig) else "",
        response_path=config.response_path if isinstance(config, HttpConnectorConfig) else None,
        body=config.body if isinstance(config, HttpConnectorConfig) else None,
        max_response_bytes=(config.max_response_bytes if config else None)
        or DEFAULT_MAX_RESPONSE_BYTES,
    )
