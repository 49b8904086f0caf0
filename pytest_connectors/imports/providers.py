"""The provider of a connector, built only when a job runs: that is when ``${VAR}`` is resolved."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from pytest_connectors._support.variables import references, resolve
from pytest_connectors.errors import InvalidInputError
from pytest_connectors.imports import fullstory, langfuse, langsmith
from pytest_connectors.imports.config import SECRET_KEYS
from pytest_connectors.imports.fullstory import FullStoryProvider
from pytest_connectors.imports.langfuse import LangfuseProvider
from pytest_connectors.imports.langsmith import LangSmithProvider
from pytest_connectors.imports.limits import ProviderLimits
from pytest_connectors.imports.provider import Provider
from pytest_connectors.models.imports import ImportConnector, ImportProvider


@dataclass(frozen=True)
class ProviderEntry:
    """How the registry builds one provider: its default host and a constructor from the
    connector's resolved key and settings."""

    default_url: str
    build: Callable[..., Provider]


def _langsmith(key: str, setting: Callable[[str], Any], **common: Any) -> Provider:
    return LangSmithProvider(
        api_key=key,
        project_name=setting("projectName"),
        api_url=setting("apiUrl"),
        workspace_id=setting("workspaceId"),
        **common,
    )


def _fullstory(key: str, setting: Callable[[str], Any], **common: Any) -> Provider:
    return FullStoryProvider(
        api_key=key,
        api_url=setting("apiUrl"),
        segment_id=setting("segmentId") or "everyone",
        org_id=setting("orgId"),
        **common,
    )


def _langfuse(key: str, setting: Callable[[str], Any], **common: Any) -> Provider:
    return LangfuseProvider(
        public_key=setting("publicKey") or "",
        secret_key=key,
        base_url=setting("baseUrl"),
        **common,
    )


# The one table of providers: adding one is a line here (and its config keys in config.py).
PROVIDERS: dict[ImportProvider, ProviderEntry] = {
    ImportProvider.LANGSMITH: ProviderEntry(langsmith.DEFAULT_API_URL, _langsmith),
    ImportProvider.FULLSTORY: ProviderEntry(fullstory.DEFAULT_API_URL, _fullstory),
    ImportProvider.LANGFUSE: ProviderEntry(langfuse.DEFAULT_BASE_URL, _langfuse),
}


def _entry(connector: ImportConnector) -> ProviderEntry:
    entry = PROVIDERS.get(connector.provider)
    if entry is None:  # pragma: no cover - the enum and the table are checked to match
        raise InvalidInputError(f"no import provider is registered as {connector.provider!r}")
    return entry


def resolved_key(connector: ImportConnector, environ: Mapping[str, str] | None = None) -> str:
    secret_key = SECRET_KEYS[connector.provider]
    value = connector.config.get(secret_key)
    if not isinstance(value, str) or not value:
        raise InvalidInputError(
            f"import connector {connector.name!r} has no {secret_key}; set it with update and retry"
        )
    return resolve(value, connector=connector.name, environ=environ)


def resolved_values(
    connector: ImportConnector, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The key and every variable's value the config refers to: what a job's texts must not
    show (a variable may hold a secret wherever it is used, in a URL too)."""
    values = [resolved_key(connector, environ)]
    for value in connector.config.values():
        if isinstance(value, str):
            values += [
                resolve(f"${{{name}}}", connector=connector.name, environ=environ)
                for name in references(value)
            ]
    return values


def destination(
    connector: ImportConnector, key: str, environ: Mapping[str, str] | None = None
) -> str:
    """Where the connector sends its key, as its ``config[key]`` (apiUrl, baseUrl) says."""
    return str(_setting(connector, key, environ) or _entry(connector).default_url)


def _setting(connector: ImportConnector, key: str, environ: Mapping[str, str] | None) -> Any:
    value = connector.config.get(key)
    if isinstance(value, str):
        return resolve(value, connector=connector.name, environ=environ)
    return value


def provider_for(
    connector: ImportConnector,
    *,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    limits: ProviderLimits | None = None,
) -> Provider:
    """A ready provider for ``connector`` (its config as the job sees it), within ``limits``."""
    key = resolved_key(connector, environ)
    return _entry(connector).build(
        key,
        lambda name: _setting(connector, name, environ),
        transport=transport,
        limits=limits,
    )
