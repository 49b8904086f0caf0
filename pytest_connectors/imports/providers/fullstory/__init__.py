"""FullStory: users' sessions from segment exports, as sessions (see `.provider`)."""

from __future__ import annotations

from pytest_connectors.imports.provider import ConfigKey, Provider, ProviderSettings, ProviderSpec
from pytest_connectors.imports.providers.fullstory.provider import (
    DEFAULT_API_URL,
    FullStoryProvider,
)
from pytest_connectors.models.imports import ImportCategory


def _build(settings: ProviderSettings) -> Provider:
    return FullStoryProvider(
        api_key=settings.get("apiKey") or "",
        api_url=settings.get("apiUrl"),
        segment_id=settings.get("segmentId") or "everyone",
        org_id=settings.get("orgId"),
        transport=settings.transport,
        limits=settings.limits,
    )


SPEC = ProviderSpec(
    name="fullstory",
    category=ImportCategory.SESSION_DATA,
    config={
        "apiKey": ConfigKey(required=True, secret=True),
        "apiUrl": ConfigKey(url=True, default=DEFAULT_API_URL),
        "segmentId": ConfigKey(),
        "orgId": ConfigKey(),
    },
    build=_build,
    time_ordered=True,
)
