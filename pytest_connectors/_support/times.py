"""Times read one way everywhere: ISO 8601 text or datetimes, and a time without a zone is UTC.

Users, providers and SQLite all hand over times without a zone; every one of them means UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pytest_connectors.errors import InvalidInputError


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; one without a zone is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_utc(value: Any) -> datetime | None:
    """A datetime or ISO 8601 text as an aware UTC datetime; None when it is neither."""
    if isinstance(value, datetime):
        return utc(value)
    if not isinstance(value, str):
        return None
    try:
        return utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        return None


def as_utc(value: datetime | str | None, what: str) -> datetime | None:
    """Like `parse_utc` for a time a user gave: text that is no time is an `InvalidInputError`."""
    if value is None:
        return None
    moment = parse_utc(value)
    if moment is None:
        raise InvalidInputError(
            f"{what}: {value!r} is not an ISO 8601 time such as 2026-03-01T00:00:00Z"
        )
    return moment
