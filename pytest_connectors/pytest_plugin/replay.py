"""pytest glue for replaying production conversations: the ``replay`` marker, fixture and options.

``@pytest.mark.replay(path=... | source=..., limit=None, seed=None, where=None,
stop_on_divergence=True, tools="subset", args="subset", redact=True)`` on a test that uses the
``replay`` fixture makes one item per conversation, its id next to the connector's
(``test_x[LangGraph Dev-t-42]``). ``path`` (a folder or file of frozen cases) is relative to the
test's own folder; ``source`` names an import connector whose conversations are read from
``--connectors-db`` or the service (``--connectors-url``), else from the database the CLI opens
by default (``$PYTEST_CONNECTORS_DB``, else ``connectors.db`` next to the connector file).
With neither, ``where={"origin": "native", ...}`` reads the native conversations there (test
sessions' and the OTLP receiver's), of ``where``'s agent and time window.

Conversations read from ``source`` are production data: what their items show (test ids,
failure messages, captured output, the call records of the JSON report, JUnit properties) is
redacted with the export's policy, unless ``redact=False`` or ``--replay-unredacted``. The agent
is still sent what production's users said.

The conversations of the selected items are replayed concurrently (``--replay-concurrency``) on
an event loop in a background thread, starting at the first replay test, ahead of the test
bodies, which then assert on the results. Under pytest-xdist each worker replays the items it
was given; with ``-x`` no new conversation starts after a failure.

With a database or service given (``--connectors-db``, ``--connectors-url``), every agent call of
the session is written there as a native conversation when the session ends (on the xdist
controller); a failed write is a warning.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_connectors.pytest_plugin.replay_run import (
    Replay,
    is_replay_item,
    replayable,
    schedule,
)
from pytest_connectors.pytest_plugin.replay_state import (
    DEFAULT_CONCURRENCY,
    ReplayState,
    item_key,
    outcome_key,
    replay_key,
    run_options,
)

if TYPE_CHECKING:
    from pytest_connectors.evaluation.session import ConnectorSession
    from pytest_connectors.replay.case import ReplayCase

MARKER_KEYS = (
    "source",
    "path",
    "limit",
    "seed",
    "where",
    "stop_on_divergence",
    "tools",
    "args",
    "redact",
)
MARKER_HELP = (
    "replay(source=None, path=None, limit=None, seed=None, where=None, stop_on_divergence=True, "
    "tools='subset', args='subset', redact=True): one test per recorded conversation (the "
    "`replay` fixture) from frozen case files at `path`, an import connector `source`, or "
    "with neither the native conversations of where={'origin': 'native', 'agent': ...}; "
    "redact=False shows a source's conversations unredacted in test ids and reports"
)
NO_MARKER = (
    "the replay fixture needs cases: mark the test with @pytest.mark.replay(path='cases/') or "
    "@pytest.mark.replay(source='IMPORT CONNECTOR')"
)
ONE_SOURCE = (
    "exactly one of source='IMPORT CONNECTOR' or path='FOLDER_OR_FILE', or neither with "
    "where={'origin': 'native', ...} for native conversations (test sessions' and the OTLP "
    "receiver's)"
)
RECORDED = "recorded"  # the connector id part of audit-mode items run without a connector


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("connectors", "agent connectors (pytest-connectors)")
    group.addoption(
        "--connectors-db",
        dest="connectors_db",
        metavar="PATH_OR_URL",
        help="database of imported conversations (a SQLite path or a SQLAlchemy URL); replay "
        "reads it and native traces of this session are written to it (without it, replay "
        "reads $PYTEST_CONNECTORS_DB, else connectors.db next to the connector file, and "
        "writes nothing); ini: connectors_db",
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
    group.addoption(
        "--replay-unredacted",
        dest="replay_unredacted",
        action="store_true",
        default=False,
        help="show conversations replayed from a database or the service unredacted in test "
        "ids, failures and reports (they are redacted by default); ini: replay_unredacted",
    )
    parser.addini("connectors_db", default="", help="database of imported conversations")
    parser.addini("connectors_url", default="", help="pytest-connectors service URL")
    parser.addini("connectors_api_key", default="", help="API key for connectors_url")
    parser.addini("replay_concurrency", default="", help="conversations replayed at once")
    parser.addini("replay_audit", type="bool", default=False, help="audit recorded outputs")
    parser.addini(
        "replay_unredacted",
        type="bool",
        default=False,
        help="show replayed production conversations unredacted in test ids and reports",
    )


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
    source, path = options.get("source"), options.get("path")
    if source is not None and path is not None:
        raise pytest.UsageError(f"{nodeid}: give @pytest.mark.replay {ONE_SOURCE}")
    if source is None and path is None and not _asks_native(options.get("where")):
        raise pytest.UsageError(f"{nodeid}: give @pytest.mark.replay {ONE_SOURCE}")
    if source is not None and _asks_native(options.get("where")):
        raise pytest.UsageError(
            f"{nodeid}: @pytest.mark.replay(source={source!r}) reads what an import connector "
            "imported, never native conversations: drop source= to replay those "
            "(where={'origin': 'native', ...})"
        )
    if not isinstance(options.get("redact", True), bool):
        raise pytest.UsageError(
            f"{nodeid}: @pytest.mark.replay(redact=...) is True or False, got {options['redact']!r}"
        )
    return options


def _asks_native(where: Any) -> bool:
    """Whether ``where`` names the native origin (a dict or a ``Where``; a function cannot)."""
    if isinstance(where, Mapping):
        return where.get("origin") == "native"
    return getattr(where, "origin", None) == "native"


def _load_cases(
    metafunc: pytest.Metafunc, state: ReplayState, options: dict[str, Any]
) -> list[ReplayCase]:
    from pytest_connectors.errors import ConnectorError
    from pytest_connectors.replay.sources import (
        cases_from_imports,
        cases_from_native,
        cases_from_path,
    )
    from pytest_connectors.replay.where import native_selection, select

    nodeid = metafunc.definition.nodeid
    try:
        if options.get("path") is not None:
            path = Path(os.fspath(options["path"]))
            if not path.is_absolute():
                path = metafunc.definition.path.parent / path
            cases = cases_from_path(path)
        else:
            redaction = state.redaction() if state.redacts(options) else None
            native = native_selection(options.get("where"))
            if native is not None:
                cases = cases_from_native(state.imports(), native, redaction=redaction)
            else:
                source = str(options["source"])
                cases = cases_from_imports(state.imports(), source, redaction=redaction)
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


# -- fixtures -------------------------------------------------------------------------------------


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
        schedule(item, sessions, state)
    return Replay(replay_case, item, state, connector_name, dict(marker.kwargs), sessions)


# -- reports ------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "call" or (call.when == "setup" and report.outcome != "passed"):
        item.stash[outcome_key] = report.outcome
    state = item.config.stash[replay_key]
    params = getattr(item, "callspec", None)
    case = params.params.get("replay_case") if params is not None else None
    if case is None or not hasattr(case, "skip_reason"):  # pytest's empty-set marker
        return report
    if call.when == "teardown":
        _add_case_record(item, report, state, case)
    marker = item.get_closest_marker("replay")
    if marker is not None and state.redacts(marker.kwargs):
        _redact_report(report, state)
    return report


def _add_case_record(
    item: pytest.Item, report: pytest.TestReport, state: ReplayState, case: ReplayCase
) -> None:
    from pytest_connectors.replay.summary import case_record, junit_properties

    connector = str(item.callspec.params.get("connector_name", ""))  # type: ignore[attr-defined]
    result = item.stash.get(item_key, {}).get("result")
    record = case_record(
        test=item.nodeid,
        connector=connector,
        case=case,
        result=result,
        outcome=item.stash.get(outcome_key, "skipped"),
    )
    marker = item.get_closest_marker("replay")
    if marker is not None and state.redacts(marker.kwargs):
        # Why a turn diverged quotes production, and the conversation is production's and the
        # agent's answers to it: masked as every other part of the report is.
        redaction = state.redaction()
        if record["diverged_because"]:
            record["diverged_because"] = redaction.text(record["diverged_because"])
        record["conversation"] = redaction.json(record["conversation"])
    report.replay_case = record  # type: ignore[attr-defined]
    report.user_properties += junit_properties(record)
    if state.mixed and result is not None and not result.audit:
        from pytest_connectors.replay.native import turns_of_result

        report.replay_calls = [  # type: ignore[attr-defined]
            {
                "test": item.nodeid,
                "connector": connector,
                "agent": case.conversation.agent_id if case.conversation else None,
                "turns": turns_of_result(result),
            }
        ]


class _Crash:
    """The one-line failure message pytest shows in its short summary and JUnit ``message``."""

    def __init__(self, path: str, lineno: int, message: str) -> None:
        self.path = path
        self.lineno = lineno
        self.message = message


class _RedactedFailure:
    """A failure's text with production content masked, shown as pytest shows any failure."""

    def __init__(self, text: str, reprcrash: _Crash | None) -> None:
        self.text = text
        self.reprcrash = reprcrash

    def toterminal(self, out: Any) -> None:
        for line in self.text.splitlines():
            out.line(line)

    def __str__(self) -> str:
        return self.text


def _redact_report(report: pytest.TestReport, state: ReplayState) -> None:
    """Mask production content in everything a report carries to terminals and CI files."""
    text = state.redaction().text
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = longrepr
        report.longrepr = (path, line, text(reason))
    elif longrepr is not None and not isinstance(longrepr, _RedactedFailure):
        crash = getattr(longrepr, "reprcrash", None)
        # Duck-typed as pytest's own reprs are read: toterminal, str, reprcrash.message.
        report.longrepr = _RedactedFailure(  # type: ignore[assignment]
            text(str(longrepr)),
            _Crash(crash.path, crash.lineno, text(crash.message)) if crash is not None else None,
        )
    report.sections = [(title, text(content)) for title, content in report.sections]
    report.user_properties = [
        (name, text(value) if isinstance(value, str) else value)
        for name, value in report.user_properties
    ]


@pytest.hookimpl(tryfirst=True)  # before pytest writes the test's location
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Say once, at the first replay test, that the conversations now replay ahead of it."""
    state = item.config.stash[replay_key]
    if state.announced or state.audit or _is_worker(item.config) or not is_replay_item(item):
        return
    state.announced = True
    reporter = item.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or item.config.get_verbosity() < 0:
        return
    count = replayable(item.session.items)
    conversations = "1 conversation" if count == 1 else f"{count} conversations"
    reporter.write_line(
        f"replay: {conversations} replayed ahead of their tests, up to "
        f"{state.concurrency} at once (-v shows each one's turns)"
    )


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


@pytest.hookimpl(trylast=True)  # the replay object joins the report the reports part writes after
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash[replay_key]
    if _is_worker(config):
        state.close()
        return
    _add_to_report(config, state)
    if state.mixed:
        _write_native(config, state)
    state.close()


def _add_to_report(config: pytest.Config, state: ReplayState) -> None:
    if not state.cases:
        return
    from pytest_connectors.pytest_plugin.report_sections import add_to_report
    from pytest_connectors.replay.summary import summarize

    add_to_report(config, "replay", summarize(state.cases))


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
