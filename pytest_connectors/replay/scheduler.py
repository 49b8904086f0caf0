"""Replays many cases at once, ahead of the tests that assert on them.

One event loop in a background thread runs the submitted cases, at most ``concurrency`` at a
time, in the order they were submitted, over one shared :class:`AsyncConnectorClient`. A test
body then waits on its case's future. :meth:`stop` stops starting new cases (pytest's ``-x``);
cases already running finish. Nothing starts until the first case is submitted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from pytest_connectors.client.clients import AsyncConnectorClient
from pytest_connectors.models.connector import Connector, ConnectorInvokeResult, Message
from pytest_connectors.replay.case import ReplayCase
from pytest_connectors.replay.compare import ReplayResult
from pytest_connectors.replay.runner import RunOptions, replay_case


@dataclass
class Replayed:
    """A finished replay and every call it made: (turn, user messages sent, result)."""

    result: ReplayResult
    calls: list[tuple[int, list[Message], ConnectorInvokeResult]] = field(default_factory=list)


class NotStarted(Exception):
    """The case was never started: scheduling stopped first (e.g. after a failure with -x)."""


class ReplayScheduler:
    def __init__(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1; got {concurrency}")
        self.concurrency = concurrency
        self._jobs: dict[str, concurrent.futures.Future[Replayed]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: AsyncConnectorClient | None = None
        self._slots: asyncio.Semaphore | None = None
        self._stopped = False

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                self._slots = asyncio.Semaphore(self.concurrency)
                self._client = AsyncConnectorClient()
                loop.call_soon(ready.set)
                loop.run_forever()

            self._thread = threading.Thread(target=serve, name="replay-scheduler", daemon=True)
            self._thread.start()
            ready.wait()
            self._loop = loop
        return self._loop

    def __contains__(self, key: str) -> bool:
        return key in self._jobs

    def submit(
        self, key: str, case: ReplayCase, connector: Connector, options: RunOptions
    ) -> concurrent.futures.Future[Replayed]:
        """Queue one case (once per key); returns the future its test waits on."""
        job = self._jobs.get(key)
        if job is None:
            loop = self._ensure_loop()
            job = self._jobs[key] = asyncio.run_coroutine_threadsafe(
                self._replay(case, connector, options), loop
            )
        return job

    def failed(self, key: str, error: BaseException) -> None:
        """Record a case that could not even be queued (e.g. its connector did not start)."""
        future: concurrent.futures.Future[Replayed] = concurrent.futures.Future()
        future.set_exception(error)
        self._jobs.setdefault(key, future)

    def job(self, key: str) -> concurrent.futures.Future[Replayed] | None:
        return self._jobs.get(key)

    async def _replay(
        self, case: ReplayCase, connector: Connector, options: RunOptions
    ) -> Replayed:
        assert self._slots is not None and self._client is not None
        async with self._slots:
            if self._stopped:
                raise NotStarted(f"case {case.id!r} was not replayed: scheduling stopped")
            calls: list[tuple[int, list[Message], ConnectorInvokeResult]] = []
            result = await replay_case(
                case,
                connector,
                self._client,
                options,
                on_result=lambda turn, sent, reply: calls.append((turn, sent, reply)),
            )
            return Replayed(result, calls)

    def stop(self) -> None:
        self._stopped = True

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._stopped = True
        for job in self._jobs.values():
            job.cancel()

        async def shutdown() -> None:
            if self._client is not None:
                await self._client.aclose()

        run: Coroutine[Any, Any, None] = shutdown()
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(run, loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None
