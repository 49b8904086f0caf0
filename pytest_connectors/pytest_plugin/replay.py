"""pytest glue for replaying production conversations: the ``replay`` marker, fixture and options.

``@pytest.mark.replay(path=... | source=..., limit=None, seed=None, where=None,
stop_on_divergence=True, tools="subset", args="subset")`` on a test that uses the ``replay``
fixture makes one item per conversation, its id next to the connector's
(``test_x[LangGraph Dev-t-42]``). ``path`` (a folder or file of frozen cases) is relative to the
test's own folder; ``source`` names an import connector whose conversations are read from
``--connectors-db`` or the service (``--connectors-url``).

The conversations of the selected items are replayed concurrently (``--replay-concurrency``) on
an event loop in a background thread, starting at the first replay test, ahead of the test
bodies, which then assert on the results. Under pytest-xdist each worker replays the items it
was given; with ``-x`` no new conversation starts after a failure.

With a database or service configured, every agent call of the session is written there as a
native conversation when the session ends (on the xdist controller); a failed write is a warning.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_connectors.pytest_plugin.plugin import records_key

if TYPE_CHECKING:
    from pytest_connectors.evaluation.session import ConnectorSession
    from pytest_connectors.replay.case import ReplayCase
    from pytest_connectors.replay.compare import ReplayResult
    from pytest_connectors.replay.runner import RunOptions
    from pytest_connectors.replay.scheduler import Replayed, ReplayScheduler

MARKER_KEYS = ("source", "path", "limit", "seed", "where", "stop_on_divergence", "tools", "args")
MARKER_HELP = (
    "replay(source=None, path=None, limit=None, seed=None, where=None, stop_on_divergence=True, "
    "tools='subset', args='subset'): one test per recorded conversation (the `replay` fixture) "
    "from frozen case files at `path` or an import connector `source`"
)
DEFAULT_CONCURRENCY = 8
NO_MARKER = (
    "the replay fixture needs cases: mark the test with @pytest.mark.replay(path='cases/') or "
    "@pytest.mark.replay(source='IMPORT CONNECTOR')"
)
RECORDED = "recorded"  # the connector id part of audit-mode items run without a connector

replay_key = pytest.StashKey["ReplayState"]()
item_key = pytest.StashKey[dict[str, Any]]()
outcome_key = pytest.StashKey[str]()


class ReplayState:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.audit = bool(config.option.replay_audit or config.getini("replay_audit"))
        self.concurrency = _concurrency(config)
        self.db: str | None = config.option.connectors_db or config.getini("connectors_db") or None
        self.url: str | None = (
            config.option.connectors_url or config.getini("connectors_url") or None
        )
        self.api_key: str | None = (
            config.option.connectors_api_key or config.getini("connectors_api_key") or None
        )
        self.problems: list[str] = []
        self.cases: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.failures = 0
        self.outcomes: dict[str, str] = {}
        self.warnings: list[str] = []  # shown in the summary: a failed write never fails a run
        self.session_id = str(uuid.uuid4())
        self._scheduler: ReplayScheduler | None = None
        self._imports: Any = None

    @property
    def mixed(self) -> bool:
        return bool(self.db or self.url)

    def scheduler(self) -> ReplayScheduler:
        if self._scheduler is None:
            from pytest_connectors.replay.scheduler import ReplayScheduler

            self._scheduler = ReplayScheduler(self.concurrency)
        return self._scheduler

    def imports(self) -> Any:
        """The import facade on the configured database or service."""
        if self._imports is None:
            if not (self.url or self.db):
                raise pytest.UsageError(
                    "replay(source=...) reads imported conversations: give --connectors-db "
                    "PATH_OR_URL or --connectors-url URL (or the connectors_db / connectors_url "
                    "ini options), or replay frozen cases with replay(path=...)"
                )
            import importlib

            from pytest_connectors._support.variables import resolve

            # Through importlib: the facade is optional here, and heavy (the database layer).
            Imports = importlib.import_module("pytest_connectors.imports.facade").Imports
            if self.url:
                key = self.api_key and resolve(self.api_key, connector="--connectors-api-key")
                self._imports = Imports(url=self.url, api_key=key)
            else:
                self._imports = Imports(db=self.db)
        return self._imports

    def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler.close()
        close = getattr(self._imports, "close", None)
        if callable(close):
            close()

    # -- reports, from any xdist worker -----------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        case = getattr(report, "replay_case", None)
        if case:
            self.cases.append(case)
        calls = getattr(report, "replay_calls", None)
        if calls:
            self.calls.extend(calls)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.outcomes[report.nodeid] = report.outcome
        if report.failed:
            self.failures += 1
            maxfail = self.config.option.maxfail
            if maxfail and self.failures >= maxfail and self._scheduler is not None:
                self._scheduler.stop()  # -x / --maxfail: start no new conversation


def _concurrency(config: pytest.Config) -> int:
    raw = config.option.replay_concurrency or config.getini("replay_concurrency")
    value = str(raw or DEFAULT_CONCURRENCY).strip()
    if not value.isdigit() or int(value) < 1:
        raise pytest.UsageError(
            f"--replay-concurrency must be a whole number >= 1 (conversations replayed at once); "
            f"got {value!r}"
        )
    return int(value)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("connectors", "agent connectors (pytest-connectors)")
    group.addoption(
        "--connectors-db",
        dest="connectors_db",
        metavar="PATH_OR_URL",
        help="database of imported conversations (a SQLite path or a SQLAlchemy URL); replay "
        "reads it and native traces of this session are written to it; ini: connectors_db",
    )
    group.addoption(
        "--connectors-url",
        dest="connectors_url",
        metavar="URL",
        help="pytest-connectors service to read conversations from and write traces to; "
        "ini: connectors_url",
    )
    group.addoption(
        "--connectors-api-key",
        dest="connectors_api_key",
        metavar="KEY",
        help="API key for --connectors-url (a ${VAR} reference keeps it out of files); "
        "ini: connectors_api_key",
    )
    group.addoption(
        "--replay-concurrency",
        dest="replay_concurrency",
        metavar="N",
        help=f"replay up to N conversations at once (default {DEFAULT_CONCURRENCY}); "
        "ini: replay_concurrency",
    )
    group.addoption(
        "--replay-audit",
        dest="replay_audit",
        action="store_true",
        default=False,
        help="check replay assertions against the recorded outputs; call no agent; "
        "ini: replay_audit",
    )
    parser.addini("connectors_db", default="", help="database of imported conversations")
    parser.addini("connectors_url", default="", help="pytest-connectors service URL")
    parser.addini("connectors_api_key", default="", help="API key for connectors_url")
    parser.addini("replay_concurrency", default="", help="conversations replayed at once")
    parser.addini("replay_audit", type="bool", default=False, help="audit recorded outputs")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    state = config.stash[replay_key] = ReplayState(config)
    config.pluginmanager.register(state, "connectors-replay-state")


def pytest_report_header(config: pytest.Config) -> str | None:
    state = config.stash[replay_key]
    parts = []
    if state.audit:
        parts.append("replay: audit mode (recorded outputs, no agent called)")
    if state.mixed:
        where = state.url or state.db
        parts.append(f"native traces: written to {where} at the end of the session")
    return "\n".join(parts) or None


# -- collection ---------------------------------------------------------------------------------


def _marker_options(marker: pytest.Mark, nodeid: str) -> dict[str, Any]:
    if marker.args:
        raise pytest.UsageError(
            f"{nodeid}: @pytest.mark.replay takes keywords only ({', '.join(MARKER_KEYS)})"
        )
    unknown = sorted(set(marker.kwargs) - set(MARKER_KEYS))
    if unknown:
        raise pytest.UsageError(
            f"{nodeid}: unknown @pytest.mark.replay argument {unknown[0]!r}; "
            f"allowed: {', '.join(MARKER_KEYS)}"
        )
    options = dict(marker.kwargs)
    if (options.get("source") is None) == (options.get("path") is None):
        raise pytest.UsageError(
            f"{nodeid}: give @pytest.mark.replay exactly one of source='IMPORT CONNECTOR' "
            "or path='FOLDER_OR_FILE'"
        )
    return options


def run_options(options: dict[str, Any], stop_on_divergence: bool | None = None) -> RunOptions:
    from pytest_connectors.replay.compare import Check
    from pytest_connectors.replay.runner import RunOptions

    stop = (
        options.get("stop_on_divergence", True)
        if stop_on_divergence is None
        else stop_on_divergence
    )
    check = Check(tools=options.get("tools", "subset"), args=options.get("args", "subset"))
    return RunOptions(stop_on_divergence=bool(stop), check=check)


def _load_cases(
    metafunc: pytest.Metafunc, state: ReplayState, options: dict[str, Any]
) -> list[ReplayCase]:
    from pytest_connectors.errors import ConnectorError
    from pytest_connectors.replay.sources import cases_from_imports, cases_from_path
    from pytest_connectors.replay.where import select

    nodeid = metafunc.definition.nodeid
    try:
        if options.get("path") is not None:
            path = Path(os.fspath(options["path"]))
            if not path.is_absolute():
                path = metafunc.definition.path.parent / path
            cases = cases_from_path(path)
        else:
            cases = cases_from_imports(state.imports(), str(options["source"]))
        run_options(options)  # validates tools/args now, not in every test
        return select(cases, options.get("where"), options.get("limit"), options.get("seed"))
    except pytest.UsageError:
        raise
    except (ConnectorError, FileNotFoundError, ValueError, TypeError) as exc:
        raise pytest.UsageError(f"{nodeid}: @pytest.mark.replay: {exc}") from None


def _connector_selected(metafunc: pytest.Metafunc) -> bool:
    if metafunc.definition.get_closest_marker("connector") is not None:
        return True
    config = metafunc.config
    return bool(config.option.connectors or config.getini("connector"))


@pytest.hookimpl(trylast=True)  # after the connector is parametrized: ids read "Connector-case"
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "replay" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("replay")
    if marker is None:
        return  # the fixture fails with NO_MARKER
    state = metafunc.config.stash[replay_key]
    try:
        cases = _load_cases(metafunc, state, _marker_options(marker, metafunc.definition.nodeid))
    except pytest.UsageError as exc:
        state.problems.append(str(exc))
        return
    if state.audit and not _connector_selected(metafunc):
        metafunc.parametrize("connector_name", [RECORDED], ids=[RECORDED])
    metafunc.parametrize("replay_case", cases, ids=[case.id for case in cases])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems = config.stash[replay_key].problems
    if problems:
        raise pytest.UsageError(problems[0])


# -- scheduling ahead of the test bodies --------------------------------------------------------


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
    return [i for i in chosen if item_key in i.stash or _replay_item(i)]


def _replay_item(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "replay_case" in callspec.params


def _schedule(item: pytest.Item, sessions: ConnectorSession, state: ReplayState) -> None:
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

    def run(self, stop_on_divergence: bool | None = None) -> ReplayResult:
        """Replay the recorded user turns on a fresh thread and compare each turn.

        ``stop_on_divergence`` defaults to the marker's (True): the run stops at the first turn
        whose tool calls differ from production's (or that fails where production did not).
        """
        __tracebackhide__ = True
        options = run_options(self._options, stop_on_divergence)
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

    async def arun(self, stop_on_divergence: bool | None = None) -> ReplayResult:
        """:meth:`run` for async tests: waits without blocking their event loop."""
        import asyncio

        return await asyncio.to_thread(self.run, stop_on_divergence)

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
        for turn, _sent, result in replayed.calls:
            records.append(record_of(self._item.nodeid, self.connector_name, turn, result))


@pytest.fixture
def replay_case() -> ReplayCase:
    """The recorded conversation of this item (parametrized by @pytest.mark.replay)."""
    pytest.fail(NO_MARKER, pytrace=False)


@pytest.fixture
def replay(request: pytest.FixtureRequest, replay_case: ReplayCase, connector_name: str) -> Replay:
    """One recorded production conversation: ``replay.case``, ``replay.run()``."""
    item = request.node
    state = request.config.stash[replay_key]
    marker = item.get_closest_marker("replay")
    if marker is None:
        pytest.fail(NO_MARKER, pytrace=False)
    if not replay_case.replayable:
        pytest.skip(
            f"replay case {replay_case.id} ({replay_case.source}): {replay_case.skip_reason}"
        )
    sessions: ConnectorSession | None = None
    if not state.audit:
        sessions = request.getfixturevalue("connectors_session")
        _schedule(item, sessions, state)
    return Replay(replay_case, item, state, connector_name, dict(marker.kwargs), sessions)


# -- reports ------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "call" or (call.when == "setup" and report.outcome != "passed"):
        item.stash[outcome_key] = report.outcome
    if call.when != "teardown":
        return report
    state = item.config.stash[replay_key]
    params = getattr(item, "callspec", None)
    case = params.params.get("replay_case") if params is not None else None
    if case is not None and hasattr(case, "skip_reason"):  # not pytest's empty-set marker
        from pytest_connectors.replay.summary import case_record, junit_properties

        result = item.stash.get(item_key, {}).get("result")
        record = case_record(
            test=item.nodeid,
            connector=params.params.get("connector_name", ""),  # type: ignore[union-attr]
            case=case,
            result=result,
            outcome=item.stash.get(outcome_key, "skipped"),
        )
        report.replay_case = record  # type: ignore[attr-defined]
        report.user_properties += junit_properties(record)
        if state.mixed and result is not None and not result.audit:
            from pytest_connectors.replay.native import turns_of_result

            connector = str(params.params.get("connector_name", ""))  # type: ignore[union-attr]
            report.replay_calls = [  # type: ignore[attr-defined]
                {
                    "test": item.nodeid,
                    "connector": connector,
                    "agent": case.conversation.agent_id if case.conversation else None,
                    "turns": turns_of_result(result),
                }
            ]
    return report


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    state = config.stash[replay_key]
    if _is_worker(config):
        return
    for warning in state.warnings:
        terminalreporter.write_line(f"WARNING pytest-connectors: {warning}", yellow=True)
    if not state.cases:
        return
    from pytest_connectors.replay.summary import summarize, summary_lines

    terminalreporter.write_sep("=", "replay")
    for line in summary_lines(summarize(state.cases)):
        terminalreporter.write_line(line)


@pytest.hookimpl(trylast=True)  # after the connector report is written: the replay object joins it
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash[replay_key]
    state.close()
    if _is_worker(config):
        return
    _add_to_report(config, state)
    if state.mixed:
        _write_native(config, state)


def _add_to_report(config: pytest.Config, state: ReplayState) -> None:
    import json

    from pytest_connectors.pytest_plugin.plugin import _report_path

    path = _report_path(config)
    if path is None or not state.cases or not path.is_file():
        return
    from pytest_connectors._support.atomic import atomic_write
    from pytest_connectors.replay.summary import summarize

    document = json.loads(path.read_text(encoding="utf-8"))
    document["replay"] = summarize(state.cases)
    atomic_write(path, (json.dumps(document, indent=2) + "\n").encode())


def _write_native(config: pytest.Config, state: ReplayState) -> None:
    """Every agent call of the session, as native conversations; never fails the run."""
    from pytest_connectors.replay.native import git_revision, native_conversations

    plugin_state = config.stash.get(_connector_state_key(), None)
    records = list(getattr(plugin_state, "records", []) or [])
    conversations = native_conversations(
        records,
        state.calls,
        session_id=state.session_id,
        revision=git_revision(config.rootpath),
        outcomes=state.outcomes,
    )
    if not conversations:
        return
    try:
        state.imports().conversations.write_native(conversations)
    except Exception as exc:
        from pytest_connectors._support.secrets import Redactor

        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        state.warnings.append(
            f"{len(conversations)} native trace(s) were not written to "
            f"{state.url or state.db}: {Redactor([state.api_key or '']).scrub(first)}"
        )


def _connector_state_key() -> Any:
    from pytest_connectors.pytest_plugin.plugin import state_key

    return state_key


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(replay_key, None)
    if state is not None:
        state.close()
