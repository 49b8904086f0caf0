"""Pages read one ahead: the provider reads page n+1 while the sync engine stores page n.

A provider mostly waits on the network and the engine on the database and the CPU, so the two
overlap; memory holds one more page, not the window. The pages come in the provider's order and
a provider's error surfaces where its page would have. Leaving the ``with`` block stops the
reading (through the ``should_stop`` the provider was given) and waits for it, so a provider is
never closed under a request it is still making.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_POLL_S = 0.2  # how often the reading thread, a page ahead, looks whether it is still wanted
# How long leaving waits for a provider that does not honour its stop (one that does ends within
# a poll of its own); past it the provider is closed all the same.
_JOIN_S = 30.0


@contextmanager
def read_ahead(
    pages_of: Callable[[Callable[[], bool]], Iterator[T]], should_stop: Callable[[], bool]
) -> Iterator[Iterator[T]]:
    """The pages of ``pages_of(stop)``, read on a helper thread one page ahead of the caller."""
    left = threading.Event()
    handed = threading.Event()  # the page handed over was taken: the next may be read
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)

    def stopping() -> bool:
        return left.is_set() or should_stop()

    def hand(item: tuple[str, Any]) -> bool:
        while not left.is_set():
            try:
                handoff.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def until_taken() -> bool:
        while not left.is_set():
            if handed.wait(_POLL_S):
                handed.clear()
                return True
        return False

    def pump() -> None:
        try:
            for page in pages_of(stopping):
                if not hand(("page", page)) or not until_taken():
                    return
        except Exception as exc:  # the caller's thread decides, as if it had read the page
            hand(("error", exc))
            return
        hand(("end", None))

    def taken() -> Iterator[T]:
        while True:
            kind, value = handoff.get()
            handed.set()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    context = contextvars.copy_context()  # the job's logging context goes along
    reader = threading.Thread(target=context.run, args=(pump,), name="provider-pages", daemon=True)
    reader.start()
    try:
        yield taken()
    finally:
        left.set()
        reader.join(_JOIN_S)
