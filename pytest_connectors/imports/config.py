"""What a connector's input may hold, checked in one place for the library, CLI and service.

The config keys of each provider are its spec's (`ProviderSpec.config`). A provider's secrets
(``apiKey``; Langfuse's ``secretKey``) leave the package masked (``${VAR}`` references stay
readable, they are names), and job records never hold them at all. A connector whose provider is
no longer installed shows every config value masked: which of them are secret is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError

from pytest_connectors._support.secrets import MASK, mask
from pytest_connectors.errors import InvalidInputError
from pytest_connectors.imports.provider import ProviderSpec
from pytest_connectors.imports.providers import find_spec, spec_of
from pytest_connectors.models.connector import CamelModel
from pytest_connectors.models.imports import ImportCategory, ImportConnector
from pytest_connectors.registry.merge import merge_keys


class CreateImportConnectorInput(CamelModel):
    agent_id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=200)
    category: ImportCategory
    provider: str = Field(min_length=1, max_length=200)  # a registered name: see parse_create
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
    spec = spec_of(parsed.provider)
    if spec.category is not parsed.category:
        raise InvalidInputError(
            f"provider {spec.name!r} does not belong to category {parsed.category.value!r}; "
            f"its category is {spec.category.value!r}"
        )
    check_config(spec, parsed.config)
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


def check_config(spec: ProviderSpec, config: Mapping[str, Any]) -> None:
    """Known keys with string values; a URL that looks like one."""
    for key, value in config.items():
        if key not in spec.config:
            raise InvalidInputError(
                f"config.{key} is not a {spec.name} setting; allowed: {', '.join(spec.config)}"
            )
        if not isinstance(value, str) or not value.strip():
            raise InvalidInputError(f"config.{key} must be a non-empty string")
    for where in spec.url_keys:
        url = config.get(where)
        if isinstance(url, str) and not url.startswith(("http://", "https://", "${")):
            raise InvalidInputError(f"config.{where} must start with http:// or https://")
    for secret_key in spec.secret_keys:
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
    spec = spec_of(connector.provider)
    merged = merge_keys(connector.config, change)
    check_config(spec, merged)
    moved = [key for key in spec.url_keys if merged.get(key) != connector.config.get(key)]
    for secret_key in spec.secret_keys:
        if moved and connector.config.get(secret_key) and secret_key not in change:
            raise InvalidInputError(
                f"changing config.{moved[0]} changes where the connector sends its key: give "
                f"config.{secret_key} again in the same change"
            )
    return merged


def check_complete(connector: ImportConnector) -> None:
    """Everything a sync needs is set; said before a job is queued, not when it fails."""
    spec = spec_of(connector.provider)
    missing = [key for key in spec.required_keys if not connector.config.get(key)]
    if missing:
        raise InvalidInputError(
            f"import connector {connector.name!r} has no {', '.join(missing)}; set "
            f"{'it' if len(missing) == 1 else 'them'} with update (config) and retry"
        )


def secret_keys(provider: str) -> frozenset[str] | None:
    """The config keys ``provider`` keeps secrets in; None when it is not installed (or its
    plugin is broken), and so every key may be one."""
    spec = find_spec(provider)
    return None if spec is None else frozenset(spec.secret_keys)


def masked_config(provider: str, config: Mapping[str, Any]) -> dict[str, Any]:
    secrets = secret_keys(provider)
    shown = dict(config)
    for key in shown.keys() if secrets is None else secrets & shown.keys():
        if isinstance(shown[key], str):
            shown[key] = mask(shown[key])
    return shown


def public(connector: ImportConnector) -> ImportConnector:
    """The connector as anyone may see it: its secrets masked."""
    return connector.model_copy(
        update={"config": masked_config(connector.provider, connector.config)}
    )


def job_snapshot(
    connector: ImportConnector, reach: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What a queued job keeps of its connector: everything but the key, which the job reads
    (and resolves) from the connector when it runs, so no job record ever holds it; and the
    rules it runs within (``reach``, None locally)."""
    secrets = secret_keys(connector.provider)
    config = {k: v for k, v in connector.config.items() if secrets is not None and k not in secrets}
    snapshot = {"provider": connector.provider, "name": connector.name, "config": config}
    return snapshot if reach is None else {**snapshot, "reach": reach}
