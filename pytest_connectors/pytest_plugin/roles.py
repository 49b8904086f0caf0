"""What the judge and simulated-user plugins share: picking the session's player of a model
role, letting the library find it during a test, and carrying each test's outcomes from its
worker to the summary and the report."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pytest

from pytest_connectors.pytest_plugin.report_sections import add_to_report
from pytest_connectors.pytest_plugin.state import is_worker

if TYPE_CHECKING:
    from pytest_connectors.evaluation.roles import ByConnector, Role
    from pytest_connectors.evaluation.session import ConnectorSession
    from pytest_connectors.models.connector import Connector

Player = TypeVar("Player")
Outcomes = list[dict[str, Any]]
# A player's error: the connector's name and what went wrong (JudgeError, SimulatorError).
RoleError = Callable[[str, str], Exception]


class RoleState(Generic[Player]):
    """The session's players of one role by connector, and every test's outcomes.

    ``option`` is both the command-line dest and the ini name; ``section`` names the outcomes
    in the session's report, and the teardown report brings them from the test's worker.
    """

    def __init__(
        self, config: pytest.Config, role: Role[Player, Any], option: str, section: str
    ) -> None:
        from pytest_connectors.evaluation.roles import ByConnector

        self.config = config
        self.role = role
        self.option = option
        self.outcomes: Outcomes = []
        self.section = section
        self.carried_as = f"connector_{section}"
        self._players: ByConnector[Player] = ByConnector()

    @property
    def selected(self) -> str | None:
        config = self.config
        return (
            getattr(config.option, self.option)
            or config.getini(self.option)
            or (self.role.from_env())
        )

    def player(
        self,
        ref: Connector | str | None,
        session: ConnectorSession,
        build: Callable[[Connector], Player],
        error: RoleError,
        missing: str,
    ) -> Player:
        from pytest_connectors.errors import ConnectorError

        wanted = ref if ref is not None else self.selected
        if wanted is None:
            raise error("(none)", missing)

        def made() -> Player:
            try:
                connector = session.connector(wanted) if isinstance(wanted, str) else wanted
            except ConnectorError as exc:
                raise error(str(wanted), str(exc)) from None
            return build(connector)

        return self._players.get(wanted, made)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        found = getattr(report, self.carried_as, None)
        if found:
            self.outcomes.extend(found)


def during_test(
    request: pytest.FixtureRequest,
    state: RoleState[Player],
    key: pytest.StashKey[Outcomes],
    get: Callable[[Connector | str | None, ConnectorSession], Player],
) -> Iterator[None]:
    """The body of a role's autouse fixture: the library resolves names through the session
    and every outcome is kept on the test's item."""
    outcomes = request.node.stash.setdefault(key, [])

    def provider(ref: Connector | str | None) -> Player:
        return get(ref, request.getfixturevalue("connectors_session"))

    def observe(outcome: Any) -> None:
        outcomes.append({"test": request.node.nodeid, **outcome.as_dict()})

    with state.role.provided(provider, observe):
        yield


def selected_player(get: Callable[[], Player], error: type[Exception]) -> Player:
    """The fixture's player; a role that cannot be played makes the test error in one line."""
    try:
        return get()
    except error as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


def carry_outcomes(
    item: pytest.Item,
    call: pytest.CallInfo[None],
    state: RoleState[Any],
    key: pytest.StashKey[Outcomes],
    properties: Callable[[Outcomes], list[tuple[str, object]]],
    error: type[Exception],
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A ``pytest_runtest_makereport`` wrapper's body: JUnit properties and the teardown
    report carry the test's outcomes; the role's own error counts as the test's tools failing
    (an error), not the agent (a failure)."""
    outcomes = item.stash.get(key, [])
    if call.when == "teardown" and outcomes:
        item.user_properties += properties(outcomes)
    report = yield
    if call.when == "teardown" and outcomes:
        setattr(report, state.carried_as, outcomes)
    if call.when == "call" and call.excinfo is not None and isinstance(call.excinfo.value, error):
        report.when = "setup"
    return report


def summarize(
    terminalreporter: pytest.TerminalReporter,
    state: RoleState[Any],
    title: str,
    lines: Callable[[Outcomes], list[str]],
) -> None:
    if is_worker(state.config) or not state.outcomes:
        return
    terminalreporter.write_sep("=", title)
    for line in lines(state.outcomes):
        terminalreporter.write_line(line)


def add_outcomes_to_report(state: RoleState[Any]) -> None:
    if state.outcomes:
        add_to_report(state.config, state.section, state.outcomes)
