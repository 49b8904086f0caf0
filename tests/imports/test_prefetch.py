"""Pages read one ahead of the sync engine: in order, errors where their page would be, and the
reading over before the caller goes on (a provider is never closed under a running request)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from pytest_connectors.imports.prefetch import read_ahead

NEVER: Callable[[], bool] = lambda: False  # noqa: E731


def test_the_next_page_is_read_while_the_caller_holds_this_one() -> None:
    asked: list[int] = []
    second_asked = threading.Event()

    def pages(stop: Callable[[], bool]) -> Iterator[int]:
        for number in range(1, 4):
            asked.append(number)
            if number == 2:
                second_asked.set()
            yield number

    with read_ahead(pages, NEVER) as read:
        assert next(read) == 1
        # the caller still holds page 1 (storing it): page 2 is being read meanwhile
        assert second_asked.wait(60)
        assert list(read) == [2, 3]
    assert asked == [1, 2, 3]


def test_a_provider_error_comes_after_the_pages_before_it() -> None:
    def pages(stop: Callable[[], bool]) -> Iterator[int]:
        yield 1
        raise RuntimeError("page 2 failed")

    seen: list[int] = []
    with pytest.raises(RuntimeError, match="page 2 failed"), read_ahead(pages, NEVER) as read:
        seen.extend(read)
    assert seen == [1]


def test_leaving_early_stops_the_reading_before_the_caller_goes_on() -> None:
    ended = threading.Event()

    def pages(stop: Callable[[], bool]) -> Iterator[int]:
        try:
            number = 0
            while not stop():
                number += 1
                yield number
        finally:
            ended.set()

    with read_ahead(pages, NEVER) as read:
        assert next(read) == 1
    assert ended.is_set()  # no wait here: leaving waited for the reader


def test_a_stop_asked_for_reaches_the_provider() -> None:
    stop_asked = threading.Event()
    told: list[bool] = []

    def pages(stop: Callable[[], bool]) -> Iterator[int]:
        yield 1
        stop_asked.wait(60)  # asked for by the caller's thread while this one reads page 2
        told.append(stop())

    with read_ahead(pages, stop_asked.is_set) as read:
        assert next(read) == 1
        stop_asked.set()
        assert list(read) == []
    assert told == [True]
