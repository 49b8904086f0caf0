"""The provider of a connector, built only when a job runs: that is when ``${VAR}`` is resolved."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from pytest_connectors._support.variables import references, resolve
from pytest_connectors.errors import InvalidInputError
from pytest_connectors.imports import fullstory, langsmith
from pytest_connectors.imports.config import SECRET_KEY
from pytest_connectors.imports.fullstory import FullStoryProvider
from pytest_connectors.imports.langsmith import LangSmithProvider
from pytest_connectors.imports.limits import ProviderLimits
from pytest_connectors.imports.provider import Provider
from pytest_connectors.models.imports import ImportConnector, ImportProvider


def resolved_key(connector: ImportConnector, environ: Mapping[str, str] | None = None) -> str:
    value = connector.config.get(SECRET_KEY)
    if not isinstance(value, str) or not value:
        raise InvalidInputError(
            f"import connector {connector.name!r} has no apiKey; set it with update and retry"
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
    """Where the connector sends its key, as its ``config[key]`` (apiUrl) says, resolved."""
    default = (
        langsmith.DEFAULT_API_URL
        if connector.provider is ImportProvider.LANGSMITH
        else fullstory.DEFAULT_API_URL
    )
    return str(_setting(connector, key, environ) or default)


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
    if connector.provider is ImportProvider.LANGSMITH:
        provider: Provider = LangSmithProvider(
            api_key=key,
            project_name=_setting(connector, "projectName", environ),
            api_url=_setting(connector, "apiUrl", environ),
            workspace_id=_setting(connector, "workspaceId", environ),
            transport=transport,
            limits=limits,
        )
    else:
        provider = FullStoryProvider(
            api_key=key,
            api_url=_setting(connector, "apiUrl", environ),
            segment_id=_setting(connector, "segmentId", environ) or "everyone",
            org_id=_setting(connector, "orgId", environ),
            transport=transport,
            limits=limits,
        )
    return provider
