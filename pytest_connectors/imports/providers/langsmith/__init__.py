"""LangSmith: a project's root runs, as traces (see `.provider`)."""

from __future__ import annotations

from pytest_connectors.imports.provider import ConfigKey, Provider, ProviderSettings, ProviderSpec
from pytest_connectors.imports.providers.langsmith.provider import (
    DEFAULT_API_URL,
    LangSmithProvider,
)
from pytest_connectors.models.imports import ImportCategory


def _build(settings: ProviderSettings) -> Provider:
    return LangSmithProvider(
        api_key=settings.get("apiKey") or "",
        project_name=settings.get("projectName") or "",
        api_url=settings.get("apiUrl"),
        workspace_id=settings.get("workspaceId"),
        web_url=settings.get("webUrl"),
        transport=settings.transport,
        limits=settings.limits,
    )


SPEC = ProviderSpec(
    name="langsmith",
    category=ImportCategory.LLM_TRACING,
    config={
        "apiKey": ConfigKey(required=True, secret=True),
        "projectName": ConfigKey(required=True),
        "apiUrl": ConfigKey(url=True, default=DEFAULT_API_URL),
        "workspaceId": ConfigKey(),
        "webUrl": ConfigKey(),  # the web app, for links to traces: when not found from apiUrl
    },
    build=_build,
    time_ordered=True,
)
