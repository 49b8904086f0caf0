"""Command-line options, ini keys, markers and the header line."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pytest_connectors.pytest_plugin.state import PluginState, state_key


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
    group.addoption(
        "--connectors-html",
        dest="connectors_html",
        metavar="PATH",
        help="write the report as one self-contained HTML page; ini: connectors_html",
    )
    group.addoption(
        "--connectors-baseline",
        dest="connectors_baseline",
        metavar="PATH",
        help="compare this run with the JSON report of an earlier one (regressions, fixes, "
        "new and removed tests, latency changes); ini: connectors_baseline",
    )
    parser.addini("connector", type="linelist", default=[], help="default connector name(s)")
    parser.addini("connectors_file", default="", help="connector file, relative to the ini file")
    parser.addini("connectors_report", default="", help="JSON report path, relative to rootdir")
    parser.addini("connectors_html", default="", help="HTML report path, relative to rootdir")
    parser.addini(
        "connectors_baseline", default="", help="baseline JSON report path, relative to rootdir"
    )


# pytest-asyncio (a dependency) warns in every run of a project that leaves this unset.
ASYNCIO_LOOP_SCOPE = "asyncio_default_fixture_loop_scope"


def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """Give pytest-asyncio's fixture loop scope the default it announces ("function"), so a
    project that installs this plugin sees no deprecation warning; a value in the project's
    configuration or ``-o`` still wins. Called for installed plugins once all are loaded."""
    if early_config.pluginmanager.hasplugin("asyncio"):
        parser.addini(
            ASYNCIO_LOOP_SCOPE,
            type="string",
            default="function",
            help="default scope of the asyncio event loop used to execute async fixtures "
            "(pytest-connectors makes it function)",
        )


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
    """Under pytest-xdist the workers collect, so the controller names the selection here;
    otherwise the line comes after collection, with every connector the tests will use."""
    state = config.stash[state_key]
    if not state.selected or not config.pluginmanager.hasplugin("dsession"):
        return None
    return f"connectors: {', '.join(state.selected)} (file: {state.file})"


def pytest_report_collectionfinish(
    config: pytest.Config, items: Sequence[pytest.Item]
) -> str | None:
    """The connectors the collected tests run against: the selection, and any that a
    ``@pytest.mark.connector`` adds, each with its number of tests."""
    if config.get_verbosity() < 0 or getattr(config.option, "no_header", False):
        return None
    state = config.stash[state_key]
    tests = dict.fromkeys(state.selected, 0)
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("connector_name") if callspec is not None else None
        if isinstance(name, str):
            tests[name] = tests.get(name, 0) + 1
    if not tests:
        return None
    try:
        known = set(state.known())
    except pytest.UsageError:  # an unreadable file: already reported where it matters
        known = set(tests)
    used = [f"{name} ({_tests(count)})" for name, count in tests.items() if name in known]
    return f"connectors: {', '.join(used)} (file: {state.file})" if used else None


def _tests(count: int) -> str:
    return "no tests" if count == 0 else "1 test" if count == 1 else f"{count} tests"
