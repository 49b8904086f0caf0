"""Langfuse: traces with their observations, through the public API (see `.provider`)."""

from __future__ import annotations

from pytest_connectors.imports.provider import ConfigKey, Provider, ProviderSettings, ProviderSpec
from pytest_connectors.imports.providers.langfuse.provider import (
    DEFAULT_BASE_URL,
    LangfuseProvider,
)
from pytest_connectors.models.imports import ImportCategory


def _build(settings: ProviderSettings) -> Provider:
    return LangfuseProvider(
        public_key=settings.get("publicKey") or "",
        secret_key=settings.get("secretKey") or "",
        base_url=settings.get("baseUrl"),
        transport=settings.transport,
        limits=settings.limits,
    )


SPEC = ProviderSpec(
    name="langfuse",
    category=ImportCategory.LLM_TRACING,
    config={
        "publicKey": ConfigKey(required=True),
        "secretKey": ConfigKey(required=True, secret=True),
        "baseUrl": ConfigKey(url=True, default=DEFAULT_BASE_URL),
    },
    build=_build,
    time_ordered=True,
)
