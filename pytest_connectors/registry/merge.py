"""What ``update`` means, in one place: the CLI, the library and the service all merge here.

Top-level fields that are given replace the stored ones; ``config`` is merged key by key and
``config.headers`` name by name; ``None`` clears a field, a config key or a header. When the
type changes, the config keys only the old type knows are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from pytest_connectors.models.connector import (
    Connector,
    HttpConnectorConfig,
    LangGraphConnectorConfig,
    UpdateConnectorInput,
)

_CONFIG_CLASSES: tuple[type[BaseModel], ...] = (HttpConnectorConfig, LangGraphConnectorConfig)


def _field_names() -> dict[str, str]:
    """Config keys as written in files (camelCase) and in Python, to the Python field name."""
    names: dict[str, str] = {}
    for cls in _CONFIG_CLASSES:
        for name, info in cls.model_fields.items():
            names[name] = name
            if info.alias:
                names[info.alias] = name
    return names


def _type_fields(kind: str) -> set[str]:
    cls = HttpConnectorConfig if kind == "http" else LangGraphConnectorConfig
    return set(cls.model_fields)


def merge_config(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` (Python field names) with ``patch`` (either spelling) applied."""
    return merge_keys(current, patch, _field_names())


def merge_keys(
    current: Mapping[str, Any], patch: Mapping[str, Any], names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The one config merge, for every kind of connector: keys of ``patch`` replace, ``None``
    removes, ``headers`` merge name by name. ``names`` maps spellings to the stored key."""
    merged = dict(current)
    for key, value in patch.items():
        field = names.get(key, key) if names else key
        if value is None:
            merged.pop(field, None)
        elif field == "headers" and isinstance(value, dict):
            headers = {**(merged.get("headers") or {}), **value}
            merged["headers"] = {k: v for k, v in headers.items() if v is not None}
        else:
            merged[field] = value
    return merged


def apply_update(current: Connector, change: UpdateConnectorInput, now: datetime) -> Connector:
    """The connector ``current`` becomes with ``change``; raises ``ValidationError`` if invalid."""
    merged = current.model_dump(by_alias=False)
    for field in change.model_fields_set - {"config"}:
        value = getattr(change, field)
        if value is None:
            merged.pop(field, None)
        else:
            merged[field] = value
    config = merged.get("config")
    if "config" in change.model_fields_set:
        patch = change.config
        config = None if patch is None else merge_config(config or {}, patch)
    if config is not None and str(merged["type"]) != str(current.type):
        dropped = _type_fields(str(current.type)) - _type_fields(str(merged["type"]))
        config = {k: v for k, v in config.items() if k not in dropped}
    if config is None:
        merged.pop("config", None)
    else:
        merged["config"] = config
    merged["updated_at"] = now
    return Connector.model_validate(merged)
