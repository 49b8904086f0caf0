"""What a connector's input may hold, checked in one place for the library, CLI and service.

Config keys per provider are fixed by the import-connector contract. A provider's secret
(``apiKey``; Langfuse's ``secretKey``) is a secret:
records leave the package with it masked (``${VAR}`` references stay readable, they are names),
and job records never hold it at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError

from pytest_connectors._support.secrets import MASK, mask
from pytest_connectors.errors import InvalidInputError
from pytest_connectors.models.connector import CamelModel
from pytest_connectors.models.imports import (
    PROVIDER_CATEGORY,
    PROVIDER_SECRET_KEY,
    ImportCategory,
    ImportConnector,
    ImportProvider,
)
from pytest_connectors.registry.merge import merge_keys

SECRET_KEY = "apiKey"
SECRET_KEYS = PROVIDER_SECRET_KEY
_SECRET_NAMES = frozenset(SECRET_KEYS.values())

# Allowed config keys per provider: True when the key must be set before the first sync.
CONFIG_KEYS: dict[ImportProvider, dict[str, bool]] = {
    ImportProvider.LANGSMITH: {
        "apiKey": True,
        "projectName": True,
        "apiUrl": False,
        "workspaceId": False,
    },
    ImportProvider.FULLSTORY: {
        "apiKey": True,
        "apiUrl": False,
        "segmentId": False,
        "orgId": False,
    },
    ImportProvider.LANGFUSE: {
        "publicKey": True,
        "secretKey": True,
        "baseUrl": False,
    },
}

# Where each provider sends the key: a change of one of these must give the key again.
DESTINATION_KEYS: dict[ImportProvider, tuple[str, ...]] = {
    ImportProvider.LANGSMITH: ("apiUrl",),
    ImportProvider.FULLSTORY: ("apiUrl",),
    ImportProvider.LANGFUSE: ("baseUrl",),
}


class CreateImportConnectorInput(CamelModel):
    agent_id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=200)
    category: ImportCategory
    provider: ImportProvider
    config: dict[str, Any] = Field(default_factory=dict)
    tenant_id: str | None = Field(default=None, min_length=1, max_length=128)


class UpdateImportConnectorInput(CamelModel):
    """A partial change: absent fields stay; config keys are merged (``None`` removes one)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None


def _invalid(error: ValidationError) -> InvalidInputError:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "input"
    message = first["msg"].removeprefix("Value error, ")
    return InvalidInputError(f"{where}: {message}")


def parse_create(
    data: CreateImportConnectorInput | Mapping[str, Any],
) -> CreateImportConnectorInput:
    if isinstance(data, CreateImportConnectorInput):
        parsed = data
    else:
        try:
            parsed = CreateImportConnectorInput.model_validate(dict(data))
        except ValidationError as exc:
            raise _invalid(exc) from None
    if PROVIDER_CATEGORY[parsed.provider] is not parsed.category:
        pairs = ", ".join(f"{c.value}/{p.value}" for p, c in PROVIDER_CATEGORY.items())
        raise InvalidInputError(
            f"provider {parsed.provider.value!r} does not belong to category "
            f"{parsed.category.value!r}; allowed pairs: {pairs}"
        )
    check_config(parsed.provider, parsed.config)
    return parsed


def parse_update(
    data: UpdateImportConnectorInput | Mapping[str, Any],
) -> UpdateImportConnectorInput:
    if isinstance(data, UpdateImportConnectorInput):
        return data
    try:
        return UpdateImportConnectorInput.model_validate(dict(data))
    except ValidationError as exc:
        raise _invalid(exc) from None


def check_config(provider: ImportProvider, config: Mapping[str, Any]) -> None:
    """Known keys with string values; a URL that looks like one."""
    allowed = CONFIG_KEYS[provider]
    for key, value in config.items():
        if key not in allowed:
            raise InvalidInputError(
                f"config.{key} is not a {provider.value} setting; allowed: {', '.join(allowed)}"
            )
        if not isinstance(value, str) or not value.strip():
            raise InvalidInputError(f"config.{key} must be a non-empty string")
    for where in DESTINATION_KEYS[provider]:
        url = config.get(where)
        if isinstance(url, str) and not url.startswith(("http://", "https://", "${")):
            raise InvalidInputError(f"config.{where} must start with http:// or https://")
    secret_key = SECRET_KEYS[provider]
    secret = config.get(secret_key)
    if isinstance(secret, str) and MASK in secret and mask(secret) == secret:
        raise InvalidInputError(
            f"config.{secret_key} is the masked placeholder {MASK}: give the key itself "
            "(or a ${VARIABLE} reference), or leave it out to keep the stored one"
        )


def updated_config(connector: ImportConnector, change: Mapping[str, Any]) -> dict[str, Any]:
    """The connector's config with ``change`` merged in: the one merge of update and connect.

    A stored key goes only where it was given for: a change of where the connector sends it
    must give the key again in the same change, as a browser asks for a saved password again
    when the site changes. Otherwise anyone who may edit the connector, but never sees its
    key, could point it at a host of their own and have the key sent there.
    """
    merged = merge_keys(connector.config, change)
    check_config(connector.provider, merged)
    moved = [
        key
        for key in DESTINATION_KEYS[connector.provider]
        if merged.get(key) != connector.config.get(key)
    ]
    secret_key = SECRET_KEYS[connector.provider]
    if moved and connector.config.get(secret_key) and secret_key not in change:
        raise InvalidInputError(
            f"changing config.{moved[0]} changes where the connector sends its key: give "
            f"config.{secret_key} again in the same change"
        )
    return merged


def check_complete(connector: ImportConnector) -> None:
    """Everything a sync needs is set; said before a job is queued, not when it fails."""
    missing = [
        key
        for key, required in CONFIG_KEYS[connector.provider].items()
        if required and not connector.config.get(key)
    ]
    if missing:
        raise InvalidInputError(
            f"import connector {connector.name!r} has no {', '.join(missing)}; set "
            f"{'it' if len(missing) == 1 else 'them'} with update (config) and retry"
        )


def masked_config(config: Mapping[str, Any]) -> dict[str, Any]:
    shown = dict(config)
    for key in _SECRET_NAMES & shown.keys():
        if isinstance(shown[key], str):
            shown[key] = mask(shown[key])
    return shown


def public(connector: ImportConnector) -> ImportConnector:
    """The connector as anyone may see it: its secret masked."""
    return connector.model_copy(update={"config": masked_config(connector.config)})


def job_snapshot(
    connector: ImportConnector, reach: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What a queued job keeps of its connector: everything but the key, which the job reads
    (and resolves) from the connector when it runs, so no job record ever holds it; and the
    rules it runs within (``reach``, None locally)."""
    config = {k: v for k, v in connector.config.items() if k not in _SECRET_NAMES}
    snapshot = {"provider": connector.provider.value, "name": connector.name, "config": config}
    return snapshot if reach is None else {**snapshot, "reach": reach}
