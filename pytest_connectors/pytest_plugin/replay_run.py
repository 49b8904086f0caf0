"""Replays started ahead of the test bodies, and the ``replay`` fixture's object that waits on them.

At the first replay test (after collection and deselection), every selected replay item is
queued on the scheduler (on an xdist worker: the items it holds); each test then takes its own
result, or replays its case itself when it asks for other options than its marker's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from pytest_connectors.pytest_plugin.plugin import records_key
from pytest_connectors.pytest_plugin.replay_state import ReplayState, item_key, run_options

if TYPE_CHECKING:
    from pytest_connectors.evaluation.session import ConnectorSession
    from pytest_connectors.replay.case import ReplayCase
    from pytest_connectors.replay.compare import ReplayResult
    from pytest_connectors.replay.runner import RunOptions
    from pytest_connectors.replay.scheduler import Replayed


def _xdist_queue(config: pytest.Config) -> list[int]:
    """Indexes of the items this xdist worker holds but has not started (best effort: read from
    the worker's queue; when that cannot be read, each case starts with its own test)."""
    for plugin in config.pluginmanager.get_plugins():
        queue = getattr(plugin, "torun", None)
        if queue is None or not hasattr(queue, "lock"):
            continue
        upcoming = getattr(plugin, "nextitem_index", None)
        with queue.lock() as pending:
            return [i for i in [upcoming, *pending] if isinstance(i, int)]
    return []


def _upcoming(item: pytest.Item) -> list[pytest.Item]:
    """The replay items to start now: all selected ones, or on a worker, the ones it holds."""
    session = item.session
    if hasattr(item.config, "workerinput"):
        items = session.items
        chosen = [item, *(items[i] for i in _xdist_queue(item.config) if i < len(items))]
    else:
        chosen = list(session.items)
    return [i for i in chosen if item_key in i.stash or is_replay_item(i)]


def is_replay_item(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    # A selection that found no case leaves pytest's NOTSET there: that item is a skip, not a case.
    return callspec is not None and hasattr(callspec.params.get("replay_case"), "replayable")


def replayable(items: list[pytest.Item]) -> int:
    """How many of ``items`` replay a conversation (the others are skipped with a reason)."""
    cases = [i.callspec.params["replay_case"] for i in items if is_replay_item(i)]  # type: ignore[attr-defined]
    return sum(1 for case in cases if case.replayable)


def schedule(item: pytest.Item, sessions: ConnectorSession, state: ReplayState) -> None:
    from pytest_connectors.errors import ConnectorError

    scheduler = state.scheduler()
    connectors: dict[str, Any] = {}
    for upcoming in _upcoming(item):
        if upcoming.nodeid in scheduler:
            continue
        params = upcoming.callspec.params  # type: ignore[attr-defined]
        case: ReplayCase = params["replay_case"]
        name = params.get("connector_name")
        marker = upcoming.get_closest_marker("replay")
        if not case.replayable or name is None or marker is None:
            continue
        try:
            if name not in connectors:
                try:
                    connectors[name] = sessions.connector(name)
                except ConnectorError as exc:
                    connectors[name] = exc
            connector = connectors[name]
            if isinstance(connector, Exception):
                scheduler.failed(upcoming.nodeid, connector)
                continue
            options = run_options(dict(marker.kwargs))
        except ValueError as exc:
            scheduler.failed(upcoming.nodeid, exc)
            continue
        upcoming.stash[item_key] = {"options": options}
        scheduler.submit(upcoming.nodeid, case, connector, options)


class Replay:
    """The ``replay`` fixture: ``replay.case`` and ``replay.run()`` (``await replay.arun()``)."""

    def __init__(
        self,
        case: ReplayCase,
        item: pytest.Item,
        state: ReplayState,
        connector_name: str,
        options: dict[str, Any],
        sessions: ConnectorSession | None,
    ) -> None:
        self.case = case
        self.audit = state.audit
        self.connector_name = connector_name
        self._item = item
        self._state = state
        self._options = options
        self._sessions = sessions
        self._results: dict[RunOptions, ReplayResult] = {}

    def __repr__(self) -> str:
        mode = "audit" if self.audit else self.connector_name
        return f"<replay {self.case.id!r} on {mode}>"

    def run(
        self,
        stop_on_divergence: bool | None = None,
        tools: Mapping[str, Callable[..., Any]] | None = None,
    ) -> ReplayResult:
        """Replay the recorded user turns on a fresh thread and compare each turn.

        ``stop_on_divergence`` defaults to the marker's (True): the run stops at the first turn
        whose tool calls differ from production's (or that fails where production did not).
        Tool calls the agent leaves to the caller are answered with production's recorded
        results; ``tools={name: callable}`` runs those tools instead.
        """
        __tracebackhide__ = True
        options = run_options(self._options, stop_on_divergence, tools)
        cached = self._results.get(options)
        if cached is not None:
            return cached
        if self.audit:
            from pytest_connectors.replay.runner import audit_case

            result = audit_case(self.case, options)
        else:
            replayed = self._ahead(options)
            if replayed is None:
                replayed = self._now(options)
            self._record(replayed)
            result = replayed.result
        self._results[options] = result
        self._item.stash.setdefault(item_key, {})["result"] = result
        return result

    async def arun(
        self,
        stop_on_divergence: bool | None = None,
        tools: Mapping[str, Callable[..., Any]] | None = None,
    ) -> ReplayResult:
        """:meth:`run` for async tests: waits without blocking their event loop."""
        import asyncio

        return await asyncio.to_thread(self.run, stop_on_divergence, tools)

    def _ahead(self, options: RunOptions) -> Replayed | None:
        """The result replayed ahead of this test, when it was run with these options."""
        from pytest_connectors.replay.scheduler import NotStarted

        scheduled = self._item.stash.get(item_key, {}).get("options")
        job = self._state.scheduler().job(self._item.nodeid)
        if job is None or (scheduled is not None and scheduled != options):
            return None
        try:
            return job.result()
        except NotStarted:
            return None
        except Exception as exc:
            pytest.fail(str(exc), pytrace=False)

    def _now(self, options: RunOptions) -> Replayed:
        import asyncio

        from pytest_connectors.client.clients import AsyncConnectorClient
        from pytest_connectors.errors import ConnectorError
        from pytest_connectors.replay.runner import replay_case
        from pytest_connectors.replay.scheduler import Replayed

        assert self._sessions is not None
        try:
            connector = self._sessions.connector(self.connector_name)
        except ConnectorError as exc:
            pytest.fail(str(exc), pytrace=False)
        calls: list[Any] = []

        async def replay() -> Replayed:
            async with AsyncConnectorClient() as client:
                result = await replay_case(
                    self.case,
                    connector,
                    client,
                    options,
                    on_result=lambda turn, sent, reply: calls.append((turn, sent, reply)),
                )
            return Replayed(result, calls)

        return asyncio.run(replay())

    def _record(self, replayed: Replayed) -> None:
        """The calls go where every agent call of a test goes: latency summary and budgets."""
        from pytest_connectors.evaluation.latency import record_of

        records = self._item.stash.setdefault(records_key, [])
        redaction = self._state.redaction() if self._state.redacts(self._options) else None
        for turn, sent, result in replayed.calls:
            record = record_of(self._item.nodeid, self.connector_name, turn, result, sent)
            if redaction is not None:  # what production's users said, and what came back
                for field in ("user", "answer", "error", "tool_calls"):
                    if record.get(field) is not None:
                        record[field] = redaction.json(record[field])
            records.append(record)
