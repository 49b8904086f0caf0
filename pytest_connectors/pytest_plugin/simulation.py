"""Simulated users in pytest: selection, the ``scenario`` marker, and their reports.

The simulator connector comes, closest first, from ``simulator=`` on the call,
``--simulator-connector``, the ``simulator_connector`` ini value, then
``$PYTEST_CONNECTORS_SIMULATOR``. It is made ready by the session like any connector and called
through the session's client, apart from the agent's calls (no latency figure or budget counts
them). ``@pytest.mark.scenario(path=...)`` makes one test per scenario and persona of a file or
folder (relative to the test file), passed as the ``scenario`` argument. A simulator that gives
no next message makes the test *error*, not fail.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_connectors.pytest_plugin.judging import judges_key
from pytest_connectors.pytest_plugin.roles import (
    RoleState,
    add_outcomes_to_report,
    carry_outcomes,
    during_test,
    selected_player,
    summarize,
)
from pytest_connectors.pytest_plugin.state import state_key

if TYPE_CHECKING:
    from pytest_connectors.evaluation.scenarios import ScenarioCase
    from pytest_connectors.evaluation.session import ConnectorSession
    from pytest_connectors.evaluation.simulation import Simulator
    from pytest_connectors.models.connector import Connector

simulations_key = pytest.StashKey[list[dict[str, Any]]]()
simulators_key = pytest.StashKey["SimulatorState"]()

MARKER = (
    "scenario(path): one test per scenario and persona in this JSON/YAML file or folder "
    "(relative to the test file), given to the test as its `scenario` argument"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("connectors")
    group.addoption(
        "--simulator-connector",
        dest="simulator_connector",
        metavar="NAME",
        help="connector that plays the user in simulated conversations (default: "
        "$PYTEST_CONNECTORS_SIMULATOR); ini: simulator_connector",
    )
    parser.addini("simulator_connector", default="", help="connector that plays the user")


class SimulatorState(RoleState["Simulator"]):
    """The session's simulators by connector, and every test's simulations."""

    def simulator(self, ref: Connector | str | None, session: ConnectorSession) -> Simulator:
        from pytest_connectors.errors import SimulatorError
        from pytest_connectors.evaluation.simulation import NO_SIMULATOR, Simulator

        def build(connector: Connector) -> Simulator:
            prompts = self.config.stash[judges_key].prompts()  # judge_prompts may set `simulator`
            return Simulator(connector, client=session.client, prompts=prompts)

        return self.player(ref, session, build, SimulatorError, NO_SIMULATOR)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    from pytest_connectors.evaluation.simulation import SIMULATORS

    state = SimulatorState(config, SIMULATORS, "simulator_connector", "simulations")
    config.stash[simulators_key] = state
    config.pluginmanager.register(state, "connectors-simulators")


def _cases(metafunc: pytest.Metafunc, marker: pytest.Mark) -> list[ScenarioCase]:
    from pytest_connectors.errors import ConnectorError
    from pytest_connectors.evaluation.scenarios import load_scenarios

    where = metafunc.definition.nodeid
    path = marker.kwargs.get("path", marker.args[0] if marker.args else None)
    if not isinstance(path, str | Path) or len(marker.args) + len(marker.kwargs) != 1:
        raise pytest.UsageError(
            f"{where}: use @pytest.mark.scenario(path='scenarios/') with one file or folder; "
            f"got args={marker.args!r} kwargs={marker.kwargs!r}"
        )
    if "scenario" not in metafunc.fixturenames:
        raise pytest.UsageError(f"{where}: a test marked scenario(...) takes a `scenario` argument")
    try:
        scenarios = load_scenarios(Path(metafunc.definition.path).parent / path)
    except ConnectorError as exc:
        raise pytest.UsageError(f"{where}: @pytest.mark.scenario: {exc}") from None
    return [case for scenario in scenarios for case in scenario.cases()]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("scenario")
    if marker is None:
        return
    try:
        cases = _cases(metafunc, marker)
    except pytest.UsageError as exc:
        # Raised here it would be a collection error; collection_modifyitems reports it instead.
        metafunc.config.stash[state_key].problems.append(str(exc))
        return
    metafunc.parametrize("scenario", cases, ids=[case.id for case in cases])


@pytest.fixture
def scenario() -> ScenarioCase:
    """One scenario and persona, given to tests marked ``@pytest.mark.scenario(path=...)``."""
    pytest.fail("the `scenario` argument comes from @pytest.mark.scenario(path=...)", pytrace=False)


@pytest.fixture(autouse=True)
def _connectors_simulators(request: pytest.FixtureRequest) -> Iterator[None]:
    """Lets ``conversation.simulate`` find the session's simulators; costs nothing unused."""
    state = request.config.stash[simulators_key]
    yield from during_test(request, state, simulations_key, state.simulator)


@pytest.fixture
def simulator(request: pytest.FixtureRequest, connectors_session: ConnectorSession) -> Simulator:
    """The selected simulated user (``--simulator-connector``)."""
    from pytest_connectors.errors import SimulatorError

    state = request.config.stash[simulators_key]
    return selected_player(lambda: state.simulator(None, connectors_session), SimulatorError)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    from pytest_connectors.errors import SimulatorError

    state = item.config.stash[simulators_key]
    return (
        yield from carry_outcomes(item, call, state, simulations_key, _properties, SimulatorError)
    )


def _properties(simulations: list[dict[str, Any]]) -> list[tuple[str, object]]:
    return [
        ("simulator", simulations[0]["simulator"]),
        ("simulated_turns", sum(s["turns"] for s in simulations)),
        ("simulation_ended", ",".join(s["ended"] for s in simulations)),
    ]


def summary_lines(simulations: list[dict[str, Any]]) -> list[str]:
    endings = {"goal_reached": 0, "abandoned": 0, "max_turns": 0, "until": 0}
    for simulation in simulations:
        endings[simulation["ended"]] += 1
    calls = sum(s["calls"] for s in simulations)
    seconds = sum(s["latency_ms"] for s in simulations) / 1000
    tokens = [s["total_tokens"] for s in simulations if s["total_tokens"] is not None]
    count = len(simulations)
    return [
        f"simulated users: {count} conversation{'s' if count != 1 else ''} "
        f"({endings['goal_reached']} goal reached, {endings['abandoned']} abandoned, "
        f"{endings['max_turns']} at max_turns, {endings['until']} stopped by until), "
        f"{sum(s['turns'] for s in simulations)} user turns; the simulator cost {calls} "
        f"call{'s' if calls != 1 else ''}, "
        + (f"{sum(tokens)} tokens, " if tokens else "tokens unknown, ")
        + f"{seconds:.1f} s"
    ]


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    state = config.stash[simulators_key]
    summarize(terminalreporter, state, "simulated users", summary_lines)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash[simulators_key]
    add_outcomes_to_report(state)
