"""Who plays a model's part in a test (the judge, the simulated user).

A call names its connector, or the pytest plugin resolves names for the test it runs, or the
environment names one. Either way each connector's player is built once: it may hold a
launched server and a warm client.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from pytest_connectors.client.clients import connector_of
from pytest_connectors.models.connector import Connector

Player = TypeVar("Player")
Outcome = TypeVar("Outcome")
Wanted = Connector | str


class ByConnector(Generic[Player]):
    """Players built once per connector name or connector object.

    A connector object is keyed by identity and held while cached, so its id is never reused
    by another object meanwhile.
    """

    def __init__(self, limit: int | None = None) -> None:
        self._limit = limit
        self._built: dict[object, tuple[Wanted, Player]] = {}

    def get(self, wanted: Wanted, build: Callable[[], Player]) -> Player:
        key = wanted if isinstance(wanted, str) else id(wanted)
        found = self._built.get(key)
        if found is not None and found[0] is wanted:
            return found[1]
        if self._limit is not None and len(self._built) >= self._limit:
            self._built.clear()
        player = build()
        self._built[key] = (wanted, player)
        return player


class Role(Generic[Player, Outcome]):
    """One part a model plays: the variable that names its connector outside pytest, and,
    within a block, who resolves names and who is shown every outcome."""

    def __init__(
        self,
        name: str,
        env: str,
        build: Callable[[Connector], Player],
        missing: Callable[[], Exception],
    ) -> None:
        self.env = env
        self._build = build
        self._missing = missing
        self._library: ByConnector[Player] = ByConnector(limit=64)
        self._provider: contextvars.ContextVar[Callable[[Wanted | None], Player] | None] = (
            contextvars.ContextVar(f"{name}_provider", default=None)
        )
        self._observer: contextvars.ContextVar[Callable[[Outcome], None] | None] = (
            contextvars.ContextVar(f"{name}_observer", default=None)
        )

    def from_env(self, environ: Mapping[str, str] | None = None) -> str | None:
        value = (os.environ if environ is None else environ).get(self.env, "").strip()
        return value or None

    @contextlib.contextmanager
    def provided(
        self,
        provider: Callable[[Wanted | None], Player] | None,
        observer: Callable[[Outcome], None] | None = None,
    ) -> Iterator[None]:
        """Within the block, ``None`` or a name is resolved by ``provider`` and every outcome
        is shown to ``observer``."""
        tokens = (self._provider.set(provider), self._observer.set(observer))
        try:
            yield
        finally:
            self._provider.reset(tokens[0])
            self._observer.reset(tokens[1])

    def observe(self, outcome: Outcome) -> None:
        observer = self._observer.get()
        if observer is not None:
            observer(outcome)

    def resolve(self, ref: Wanted | None) -> Player:
        provider = self._provider.get()
        if provider is not None:
            return provider(ref)
        wanted = ref or self.from_env()
        if wanted is None:
            raise self._missing()
        return self._library.get(wanted, lambda: self._build(connector_of(wanted)))
