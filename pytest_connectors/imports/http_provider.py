"""What the HTTP providers share: a scan a job can stop mid-request, pauses that end on a stop,
and ``with provider:`` closing its connections."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Self

from pytest_connectors.imports.provider import Page, Window
from pytest_connectors.imports.replies import Interrupted, pause_unless_stopped

NEVER_STOP: Callable[[], bool] = lambda: False  # noqa: E731


class HttpProvider:
    """Implements the `Provider` protocol's ``fetch`` over the subclass's ``_scan``."""

    def __init__(self, sleep: Callable[[float], None] | None) -> None:
        self._sleep = sleep  # tests pass one; otherwise pauses poll for a stop
        self._should_stop = NEVER_STOP

    def fetch(
        self,
        window: Window,
        *,
        resume_from: str | None = None,
        should_stop: Callable[[], bool] = NEVER_STOP,
    ) -> Iterator[Page]:
        """Yield the window's records page by page, from ``resume_from`` (a page's checkpoint).

        A stop asked for mid-request ends the scan at once; the caller sees ``should_stop()``.
        """
        self._should_stop = should_stop
        try:
            yield from self._scan(window, resume_from)
        except Interrupted:
            return
        finally:
            self._should_stop = NEVER_STOP

    def _scan(self, window: Window, resume_from: str | None) -> Iterator[Page]:
        raise NotImplementedError

    def _pause(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        elif pause_unless_stopped(seconds, self._should_stop):
            raise Interrupted(stopped=True)

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
