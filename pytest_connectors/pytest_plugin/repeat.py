"""Repeated runs: ``@pytest.mark.repeat(n, min_pass_rate=...)`` and ``--connectors-repeat N``.

The marker (closest wins) or the option (for every test that uses a connector) makes n tests,
``test_x[run1of5]`` ... ``test_x[run5of5]``: each run has its own node id, so it starts from fresh
threads, and runs spread over xdist workers. The test passes when its pass rate reaches
``min_pass_rate`` (default 1: every run). Of a test's failing runs, as many as the threshold
tolerates are reported as xfailed ("tolerated by its pass rate"); any beyond stay failures, so the
session fails exactly when a pass rate is missed. The count is kept where every report arrives
(the xdist controller), so which runs are tolerated depends on arrival order, never how many.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_connectors.pytest_plugin.report_sections import add_to_report
from pytest_connectors.pytest_plugin.state import CONNECTOR_FIXTURES, is_worker, state_key

if TYPE_CHECKING:
    from pytest_connectors.evaluation.pass_rate import PassRate

RUN_FIXTURE = "connectors_run"
repeat_key = pytest.StashKey["RepeatState"]()
MARKER = (
    "repeat(n, min_pass_rate=1.0): run this test n times, each from fresh threads; it passes "
    "when at least min_pass_rate of its runs pass"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("connectors")
    group.addoption(
        "--connectors-repeat",
        dest="connectors_repeat",
        metavar="N",
        help="run every connector test N times (a repeat marker wins); ini: connectors_repeat",
    )
    parser.addini("connectors_repeat", default="", help="run every connector test N times")


def _whole(value: object, where: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if isinstance(value, bool) or number < 1:
        raise pytest.UsageError(f"{where}: give a whole number of runs >= 1; got {value!r}")
    return number


def _plan(metafunc: pytest.Metafunc, default: int) -> tuple[int, float] | None:
    marker = metafunc.definition.get_closest_marker("repeat")
    if marker is None:
        uses_connector = CONNECTOR_FIXTURES.intersection(metafunc.fixturenames)
        return (default, 1.0) if default > 1 and uses_connector else None
    where = f"{metafunc.definition.nodeid}: @pytest.mark.repeat"
    values = {**dict(zip(("n", "min_pass_rate"), marker.args, strict=False)), **marker.kwargs}
    unknown = sorted(set(values) - {"n", "min_pass_rate"})
    rate = values.get("min_pass_rate", 1.0)
    if unknown or "n" not in values or len(marker.args) > 2:
        raise pytest.UsageError(f"{where}: use repeat(n, min_pass_rate=0.8); got {values!r}")
    if isinstance(values["n"], bool) or not isinstance(values["n"], int):
        raise pytest.UsageError(f"{where}: n must be a whole number >= 1; got {values['n']!r}")
    runs = _whole(values["n"], where)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise pytest.UsageError(f"{where}: min_pass_rate must be from 0 to 1; got {rate!r}")
    return runs, float(rate)


class RepeatState:
    """Every repeated test's runs, counted as their reports arrive."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        raw = config.option.connectors_repeat or config.getini("connectors_repeat") or 1
        self.default = _whole(raw, "--connectors-repeat")
        self.rates: dict[str, PassRate] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        run = getattr(report, "connector_run", None)
        if run is None or is_worker(self.config):
            return
        from pytest_connectors.evaluation.pass_rate import PassRate

        rate = self.rates.get(run["group"])
        if rate is None:
            rate = self.rates[run["group"]] = PassRate(
                run["group"], run["runs"], run["min_pass_rate"]
            )
        if report.when == "call" and report.passed:
            rate.passed += 1
        elif report.failed and report.when != "teardown":
            rate.failed += 1
            if report.when == "call" and rate.failed <= rate.allowed_failures:
                report.outcome = "skipped"
                report.wasxfail = (
                    f"run {run['run']} of {run['runs']} failed, tolerated by its pass rate "
                    f"(min_pass_rate={run['min_pass_rate']:g} allows {rate.allowed_failures})"
                )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    state = config.stash[repeat_key] = RepeatState(config)
    config.pluginmanager.register(state, "connectors-repeat-runs")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    try:
        plan = _plan(metafunc, metafunc.config.stash[repeat_key].default)
    except pytest.UsageError as exc:
        # Raised here it would be a collection error; collection_modifyitems reports it instead.
        metafunc.config.stash[state_key].problems.append(str(exc))
        return
    if plan is None or plan[0] < 2:
        return
    runs, rate = plan
    metafunc.fixturenames.append(RUN_FIXTURE)
    metafunc.parametrize(
        RUN_FIXTURE,
        [(index, runs, rate) for index in range(1, runs + 1)],
        indirect=True,
        ids=[f"run{index}of{runs}" for index in range(1, runs + 1)],
    )


@pytest.fixture
def connectors_run(request: pytest.FixtureRequest) -> tuple[int, int] | None:
    """``(run, runs)`` of a repeated test (run counts from 1), None when it is not repeated."""
    param = getattr(request, "param", None)
    return None if param is None else (param[0], param[1])


def _group(nodeid: str, index: int, runs: int) -> str:
    """The test's node id without its run: what the runs of one test share."""
    token = f"run{index}of{runs}"
    for old, new in ((f"-{token}]", "]"), (f"[{token}-", "["), (f"-{token}-", "-")):
        if old in nodeid:
            return nodeid.replace(old, new)
    return nodeid.replace(f"[{token}]", "")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    callspec = getattr(item, "callspec", None)
    param: Any = callspec.params.get(RUN_FIXTURE) if callspec is not None else None
    if param is not None and call.when == "teardown":
        item.user_properties.append(("repeat_run", f"{param[0]}/{param[1]}"))
    report = yield
    if param is not None:
        index, runs, rate = param
        report.connector_run = {  # type: ignore[attr-defined]
            "group": _group(item.nodeid, index, runs),
            "run": index,
            "runs": runs,
            "min_pass_rate": rate,
        }
    return report


def summary_lines(rates: list[PassRate]) -> list[str]:
    return [rate.line() for rate in rates]


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    rates = list(config.stash[repeat_key].rates.values())
    if is_worker(config) or not rates:
        return
    terminalreporter.write_sep("=", "pass rates")
    for line in summary_lines(rates):
        terminalreporter.write_line(line)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    rates = session.config.stash[repeat_key].rates.values()
    if rates:
        add_to_report(session.config, "pass_rates", [rate.as_dict() for rate in rates])
