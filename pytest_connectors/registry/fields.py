"""Field names in messages, spelled as in the connector file (``config.timeout``)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic.alias_generators import to_camel

# pydantic names the member of a union it tried (``config.HttpConnectorConfig.timeout``,
# ``config.launch.str``), and a validated class by its validator (``function-after[...]``).
_UNION_MEMBERS = frozenset(
    {"HttpConnectorConfig", "LangGraphConnectorConfig", "LaunchConfig", "str"}
)


def field_path(location: Sequence[int | str]) -> str:
    """``('config', 'HttpConnectorConfig', 'retry_backoff_ms')`` reads ``config.retryBackoffMs``."""
    parts: list[str] = []
    for part in location:
        if isinstance(part, int) or (parts and parts[-1] == "headers"):
            parts.append(str(part))  # an index, or a header name as written
        elif part not in _UNION_MEMBERS and "[" not in part:
            parts.append(to_camel(part) if "_" in part else part)
    return ".".join(parts) or "(record)"
