"""The plugin's per-run state, kept in ``config.stash``: selection, file, gathered records."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_connectors.evaluation.latency import CallRecord

CONNECTOR_FIXTURES = frozenset({"connector_name", "connector", "invoke_connector", "conversation"})
NO_CONNECTOR = (
    "this test needs a connector, but none is selected: run pytest with --connector NAME, "
    "set `connector = NAME` in the [pytest] ini options, or mark the test with "
    "@pytest.mark.connector(NAME)"
)

records_key = pytest.StashKey[list["CallRecord"]]()
state_key = pytest.StashKey["PluginState"]()


class PluginState:
    """Per-run settings and the records gathered from reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.file = connectors_file(config)
        selected = config.option.connectors or config.getini("connector")
        self.selected: list[str] = list(dict.fromkeys(selected))
        self.records: list[CallRecord] = []
        self.problems: list[str] = []
        # Per test node id: its outcome, connector and failure (see ``reports.test_outcome``).
        self.tests: dict[str, dict[str, Any]] = {}
        # Sections other parts add to the report (replay, judgements, pass rates, ...).
        self.sections: dict[str, object] = {}
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
        from pytest_connectors.pytest_plugin.reports import test_outcome

        test_outcome(self.tests, report)

    def check_names(self, names: list[str], where: str) -> None:
        known = self.known()
        unknown = [n for n in names if n not in known]
        if unknown:
            listed = ", ".join(repr(n) for n in known) or f"none (the file {self.file} is empty)"
            raise pytest.UsageError(
                f"unknown connector {unknown[0]!r} in {where}; known connectors: {listed}"
            )


def connectors_file(config: pytest.Config) -> Path:
    from pytest_connectors._support.paths import resolve_path

    cli = config.option.connectors_file
    if cli:
        return resolve_path(cli, project_dir=Path(config.invocation_params.dir))
    ini = config.getini("connectors_file")
    base = config.inipath.parent if config.inipath else config.rootpath
    return resolve_path(ini or None, project_dir=base if ini else config.rootpath)


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")
