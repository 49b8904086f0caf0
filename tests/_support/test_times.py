"""Times are read one way: a time without a zone is UTC, written once in ``_support/times.py``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import pytest_connectors
from pytest_connectors._support.times import as_utc, parse_utc, utc
from pytest_connectors.errors import InvalidInputError

PARIS_SUMMER = timezone(timedelta(hours=2))


def test_a_time_without_a_zone_is_utc_and_others_are_converted() -> None:
    assert utc(datetime(2026, 3, 1, 9, 30)) == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    converted = utc(datetime(2026, 3, 1, 11, 30, tzinfo=PARIS_SUMMER))
    assert converted.tzinfo is UTC and converted.hour == 9


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-01T09:30:00",
        "2026-03-01T09:30:00Z",
        "2026-03-01T11:30:00+02:00",
        " 2026-03-01T09:30Z ",
    ],
)
def test_text_in_any_iso_form_reads_as_the_same_instant(value: str) -> None:
    assert parse_utc(value) == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert as_utc(value, "from") == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("value", ["", "yesterday", 1772357400, None, {"at": "now"}])
def test_what_is_no_time_reads_as_none_from_a_provider(value: object) -> None:
    assert parse_utc(value) is None


def test_a_user_who_gives_no_time_is_told_what_a_time_looks_like() -> None:
    with pytest.raises(InvalidInputError, match=r"from: 'yesterday' is not an ISO 8601 time"):
        as_utc("yesterday", "from")
    assert as_utc(None, "from") is None


def test_the_rule_is_written_once() -> None:
    package = Path(pytest_connectors.__file__).parent
    naive_to_utc = re.compile(r"(?<!datetime\.min)\.replace\(tzinfo=(UTC|timezone\.utc)\)")
    places = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "times.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if naive_to_utc.search(line)
    ]
    assert places == [], "use pytest_connectors._support.times.utc / parse_utc"
