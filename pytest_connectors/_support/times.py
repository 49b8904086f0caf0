"""Times given by users, read one way everywhere: ISO 8601 text or datetimes, no zone means UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from pytest_connectors.errors import InvalidInputError


def as_utc(value: datetime | str | None, what: str) -> datetime | None:
    """An aware UTC datetime from a datetime or an ISO 8601 text (no zone: UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(
                f"{what}: {value!r} is not an ISO 8601 time such as 2026-03-01T00:00:00Z"
            ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
