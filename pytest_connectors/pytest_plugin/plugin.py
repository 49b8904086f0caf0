"""pytest glue: options, markers, fixtures and reports; the work is done by the library.

Connector selection, closest first: ``@pytest.mark.connector(...)``, then ``--connector``, then
the ``connector`` ini value. Importing this module loads nothing heavy; a suite that uses no
connector fixture never reads the connector file, opens a socket or starts a thread.

Every call a test makes is recorded on its item and attached to the teardown report; the
session figures are built only from reports, so a pytest-xdist run aggregates on the controller
exactly what a serial run sees.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_connectors.evaluation.conversation import BoundInvoker, Conversation, OnResult
    from pytest_connectors.evaluation.latency import CallRecord
    from pytest_connectors.evaluation.session import ConnectorSession
    from pytest_connectors.models.connector import Connector, ConnectorInvokeResult

CONNECTOR_FIXTURES = frozenset({"connector_name", "connector", "invoke_connector", "conversation"})
NO_CONNECTOR = (
    "this test needs a connector, but none is selected: run pytest with --connector NAME, "
    "set `connector = NAME` in the [pytest] ini options, or mark the test with "
    "@pytest.mark.connector(NAME)"
)

pytest_plugins = ["pytest_connectors.pytest_plugin.replay"]  # replaying production conversations

records_key = pytest.StashKey[list["CallRecord"]]()
state_key = pytest.StashKey["PluginState"]()


class PluginState:
    """Per-run settings and the records gathered from reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.file = _connectors_file(config)
        selected = config.option.connectors or config.getini("connector")
        self.selected: list[str] = list(dict.fromkeys(selected))
        self.records: list[CallRecord] = []
        self.problems: list[str] = []
        self._known: list[str] | None = None

    def known(self) -> list[str]:
        if self._known is None:
            from pytest_connectors.registry.json_file import ConnectorStore

            try:
                self._known = ConnectorStore(self.file).names()
            except Exception as exc:  # ConnectorFileError: already one actionable line
                raise pytest.UsageError(str(exc)) from None
        return self._known

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Gather the calls each test's teardown report carries (from any xdist worker)."""
        calls = getattr(report, "connector_calls", None)
        if calls:
            self.records.extend(calls)

    def check_names(self, names: list[str], where: str) -> None:
        known = self.known()
        unknown = [n for n in names if n not in known]
        if unknown:
            listed = ", ".join(repr(n) for n in known) or f"none (the file {self.file} is empty)"
            raise pytest.UsageError(
                f"unknown connector {unknown[0]!r} in {where}; known connectors: {listed}"
            )


def _connectors_file(config: pytest.Config) -> Path:
    from pytest_connectors._support.paths import resolve_path

    cli = config.option.connectors_file
    if cli:
        return resolve_path(cli, project_dir=Path(config.invocation_params.dir))
    ini = config.getini("connectors_file")
    base = config.inipath.parent if config.inipath else config.rootpath
    return resolve_path(ini or None, project_dir=base if ini else config.rootpath)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("connectors", "agent connectors (pytest-connectors)")
    group.addoption(
        "--connector",
        action="append",
        dest="connectors",
        metavar="NAME",
        help="run connector tests against this connector (repeat to compare several); "
        "ini: connector",
    )
    group.addoption(
        "--connectors-file",
        dest="connectors_file",
        metavar="PATH",
        help="connector file (default: $PYTEST_CONNECTORS_FILE, else <rootdir>/data/"
        "connectors.json); ini: connectors_file",
    )
    group.addoption(
        "--connectors-report",
        dest="connectors_report",
        metavar="PATH",
        help="write every agent call and the latency summary as JSON; ini: connectors_report",
    )
    parser.addini("connector", type="linelist", default=[], help="default connector name(s)")
    parser.addini("connectors_file", default="", help="connector file, relative to the ini file")
    parser.addini("connectors_report", default="", help="JSON report path, relative to rootdir")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "connector(*names): run this test against these connectors only (overrides --connector)",
    )
    config.addinivalue_line(
        "markers",
        "latency(max_ms=None, p95_ms=None): fail the test when one agent call takes longer than "
        "max_ms, or the p95 of its calls exceeds p95_ms",
    )
    state = config.stash[state_key] = PluginState(config)
    config.pluginmanager.register(state, "connectors-state")
    if config.option.connectors:
        state.check_names(config.option.connectors, "--connector")


def pytest_report_header(config: pytest.Config) -> str | None:
    state = config.stash[state_key]
    if not state.selected:
        return None
    return f"connectors: {', '.join(state.selected)} (file: {state.file})"


def _parametrized_by_user(metafunc: pytest.Metafunc) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        argnames = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        if isinstance(argnames, str):
            argnames = [name.strip() for name in argnames.split(",")]
        if "connector_name" in argnames:
            return True
    return False


def _names_for(metafunc: pytest.Metafunc, state: PluginState) -> list[str]:
    marker = metafunc.definition.get_closest_marker("connector")
    if marker is None:
        if state.selected and not metafunc.config.option.connectors:
            state.check_names(state.selected, "the `connector` ini option")
        return state.selected
    names = list(marker.args)
    if not names or not all(isinstance(n, str) and n for n in names) or marker.kwargs:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: use @pytest.mark.connector('NAME', ...) with one "
            f"or more connector names; got args={marker.args!r} kwargs={marker.kwargs!r}"
        )
    state.check_names(names, f"@pytest.mark.connector of {metafunc.definition.nodeid}")
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not CONNECTOR_FIXTURES.intersection(metafunc.fixturenames):
        return
    if _parametrized_by_user(metafunc):
        return
    state = metafunc.config.stash[state_key]
    try:
        names = _names_for(metafunc, state)
    except pytest.UsageError as exc:
        # Raised here it would be a collection error; collection_modifyitems reports it instead.
        state.problems.append(str(exc))
        return
    unique = list(dict.fromkeys(names))  # naming a connector twice still runs it once
    if unique:
        metafunc.parametrize("connector_name", unique, ids=unique)


def _budget(item: pytest.Item) -> tuple[float | None, float | None] | None:
    marker = item.get_closest_marker("latency")
    if marker is None:
        return None
    allowed = {"max_ms", "p95_ms"}
    values = {**dict(zip(("max_ms", "p95_ms"), marker.args, strict=False)), **marker.kwargs}
    bad = [
        key
        for key, value in values.items()
        if key not in allowed
        or isinstance(value, bool)
        or not isinstance(value, int | float)
        or value <= 0
    ]
    if bad or not values:
        raise pytest.UsageError(
            f"{item.nodeid}: use @pytest.mark.latency(max_ms=..., p95_ms=...) with positive "
            f"numbers of milliseconds; got {marker.args!r} {marker.kwargs!r}"
        )
    return values.get("max_ms"), values.get("p95_ms")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Bad markers and unknown names are usage errors, reported before anything runs."""
    problems = config.stash[state_key].problems
    if problems:
        raise pytest.UsageError(problems[0])
    for item in items:
        _budget(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    result = yield
    budget = _budget(item)
    records = item.stash.get(records_key, [])
    if budget is not None and records:
        from pytest_connectors.evaluation.latency import over_budget

        problems = over_budget(records, *budget)
        if problems:
            pytest.fail(
                "latency budget exceeded:\n" + "\n".join(f"  {p}" for p in problems),
                pytrace=False,
            )
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    records = item.stash.get(records_key, [])
    if call.when == "teardown" and records:
        from pytest_connectors.evaluation.latency import percentile

        latencies = [r["latency_ms"] for r in records]
        item.user_properties += [
            ("connector", records[0]["connector"]),
            ("connector_calls", len(records)),
            ("connector_errors", sum(1 for r in records if not r["success"])),
            ("latency_p50_ms", f"{percentile(latencies, 50):.1f}"),
            ("latency_max_ms", f"{max(latencies):.1f}"),
        ]
    report = yield
    if call.when == "teardown" and records:
        report.connector_calls = records  # type: ignore[attr-defined]
    return report


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    state = config.stash[state_key]
    if _is_worker(config) or not state.records:
        return
    from pytest_connectors.evaluation.latency import summarize

    terminalreporter.write_sep("=", "connectors")
    for name, s in summarize(state.records).items():
        terminalreporter.write_line(
            f"{name}: {s['calls']} calls, {s['errors']} errors, p50 {s['p50_ms']:.1f} ms, "
            f"p95 {s['p95_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, max {s['max_ms']:.1f} ms"
        )
        for slow in s["slowest"]:
            terminalreporter.write_line(
                f"  {slow['latency_ms']:9.1f} ms  {slow['test']} (turn {slow['turn']})"
            )
    report_path = _report_path(config)
    if report_path is not None:
        terminalreporter.write_line(f"connector report: {report_path}")


def _report_path(config: pytest.Config) -> Path | None:
    cli = config.option.connectors_report
    if cli:
        return Path(config.invocation_params.dir, cli)
    ini = config.getini("connectors_report")
    return Path(config.rootpath, ini) if ini else None


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    path = _report_path(config)
    if path is None or _is_worker(config):
        return
    from pytest_connectors._support.atomic import atomic_write
    from pytest_connectors.evaluation.latency import report_document

    document = report_document(config.stash[state_key].records)
    atomic_write(path, (json.dumps(document, indent=2) + "\n").encode())


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def connectors_session(pytestconfig: pytest.Config) -> Iterator[ConnectorSession]:
    """The session's connector file, shared client, and any agent server it launched."""
    from pytest_connectors.evaluation.session import ConnectorSession

    session = ConnectorSession(pytestconfig.stash[state_key].file)
    yield session
    session.close()


@pytest.fixture
def connector_name() -> str:
    """The selected connector's name (tests run once per selected connector)."""
    pytest.fail(NO_CONNECTOR, pytrace=False)


@pytest.fixture
def connector(connector_name: str, connectors_session: ConnectorSession) -> Connector:
    """The selected connector, its agent started first when it is a managed one."""
    from pytest_connectors.errors import ConnectorError

    try:
        return connectors_session.connector(connector_name)
    except ConnectorError as exc:
        pytest.fail(str(exc), pytrace=False)


def _recorder(item: pytest.Item, connector: str) -> OnResult:
    from pytest_connectors.evaluation.latency import record_of

    records = item.stash.setdefault(records_key, [])

    def record(result: ConnectorInvokeResult) -> None:
        records.append(record_of(item.nodeid, connector, len(records) + 1, result))

    return record


@pytest.fixture
def invoke_connector(
    connector: Connector, connectors_session: ConnectorSession, request: pytest.FixtureRequest
) -> BoundInvoker:
    """Send messages to the selected connector: ``invoke_connector("hi")``, or
    ``await invoke_connector.ainvoke("hi")`` in async tests; returns the result."""
    from pytest_connectors.evaluation.conversation import BoundInvoker

    return BoundInvoker(
        connector,
        client=connectors_session.client,
        on_result=_recorder(request.node, connector.name),
    )


@pytest.fixture
def conversation(
    connector: Connector, connectors_session: ConnectorSession, request: pytest.FixtureRequest
) -> Conversation:
    """A multi-turn conversation with the selected connector (one LangGraph thread per test):
    ``conversation.send("hi")``, or ``await conversation.asend("hi")`` in async tests."""
    from pytest_connectors.evaluation.conversation import Conversation

    return Conversation(
        connector,
        run_id=f"{request.node.nodeid}#{uuid.uuid4()}",
        client=connectors_session.client,
        on_result=_recorder(request.node, connector.name),
    )
