"""What the replay plugin keeps for a run: its settings, the scheduler, and the figures gathered
from reports (on the xdist controller, from every worker)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from pytest_connectors.replay.redact import Redaction
    from pytest_connectors.replay.runner import RunOptions
    from pytest_connectors.replay.scheduler import ReplayScheduler

DEFAULT_CONCURRENCY = 8

replay_key = pytest.StashKey["ReplayState"]()
item_key = pytest.StashKey[dict[str, Any]]()  # per item: the options it was scheduled with, result
outcome_key = pytest.StashKey[str]()


class ReplayState:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.audit = bool(config.option.replay_audit or config.getini("replay_audit"))
        self.unredacted = bool(
            config.option.replay_unredacted or config.getini("replay_unredacted")
        )
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
        self.announced = False  # the line saying the replays started ahead of their tests
        self.session_id = str(uuid.uuid4())
        self._scheduler: ReplayScheduler | None = None
        self._imports: Any = None
        self._redaction: Redaction | None = None

    @property
    def mixed(self) -> bool:
        return bool(self.db or self.url)

    def redacts(self, marker_options: Mapping[str, Any]) -> bool:
        """Whether a replay shows its conversations redacted: cases read from a database or
        the service are production data on their way into CI logs and reports; frozen files
        were redacted when they were exported."""
        if marker_options.get("path") is not None or self.unredacted:
            return False
        return bool(marker_options.get("redact", True))

    def redaction(self) -> Redaction:
        if self._redaction is None:
            from pytest_connectors.replay.redact import Redaction

            self._redaction = Redaction()
        return self._redaction

    def scheduler(self) -> ReplayScheduler:
        if self._scheduler is None:
            from pytest_connectors.replay.scheduler import ReplayScheduler

            self._scheduler = ReplayScheduler(self.concurrency)
        return self._scheduler

    def imports(self) -> Any:
        """The import facade on the configured database or service, else on the database the
        CLI opens by default (``$PYTEST_CONNECTORS_DB``, else ``connectors.db`` next to the
        connector file)."""
        if self._imports is None:
            import importlib

            from pytest_connectors._support.variables import resolve

            # Through importlib: the facade is optional here, and heavy (the database layer).
            Imports = importlib.import_module("pytest_connectors.imports.facade").Imports
            if self.url:
                key = self.api_key and resolve(self.api_key, connector="--connectors-api-key")
                self._imports = Imports(url=self.url, api_key=key)
            else:
                self._imports = Imports(db=self.db or self._default_db())
        return self._imports

    def _default_db(self) -> str:
        from pytest_connectors._support.paths import default_database
        from pytest_connectors.pytest_plugin.state import connectors_file

        db = default_database(connectors_file(self.config))
        if "://" not in db and not Path(db).is_file():  # never create an empty one here
            raise pytest.UsageError(
                f"replay(source=...) and replay(where={{'origin': 'native'}}) read "
                f"conversations from {db} (the default: "
                "$PYTEST_CONNECTORS_DB, else connectors.db next to the connector file), which "
                "does not exist: import some first (pytest-connectors imports connect NAME), "
                "give --connectors-db PATH_OR_URL or --connectors-url URL (or the connectors_db "
                "/ connectors_url ini options), or replay frozen cases with replay(path=...)"
            )
        return db

    def close(self) -> None:
        """Stop the ahead-of-time runs and let go of the facade; `imports()` opens it again."""
        if self._scheduler is not None:
            self._scheduler.close()
        imports, self._imports = self._imports, None
        close = getattr(imports, "close", None)
        if callable(close):
            close()

    # -- reports, from any xdist worker -----------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        case = getattr(report, "replay_case", None)
        if case:
            self.cases.append(case)
            self._show_progress(case)
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

    def _show_progress(self, case: dict[str, Any]) -> None:
        """With -v, a line under the test: the turns it replayed, where it diverged."""
        from pytest_connectors.replay.summary import progress_line

        if self.config.get_verbosity() < 1 or hasattr(self.config, "workerinput"):
            return
        line = progress_line(case)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if line is not None and reporter is not None:
            reporter.ensure_newline()
            reporter.write(f"    {line}")
            reporter.currentfspath = -2  # the next output starts a new line, as xdist's lines do


def _concurrency(config: pytest.Config) -> int:
    raw = config.option.replay_concurrency or config.getini("replay_concurrency")
    value = str(raw or DEFAULT_CONCURRENCY).strip()
    if not value.isdigit() or int(value) < 1:
        raise pytest.UsageError(
            f"--replay-concurrency must be a whole number >= 1 (conversations replayed at once); "
            f"got {value!r}"
        )
    return int(value)


def run_options(
    options: dict[str, Any],
    stop_on_divergence: bool | None = None,
    tools: Mapping[str, Callable[..., Any]] | None = None,
) -> RunOptions:
    from pytest_connectors.replay.compare import Check
    from pytest_connectors.replay.runner import RunOptions

    stop = (
        options.get("stop_on_divergence", True)
        if stop_on_divergence is None
        else stop_on_divergence
    )
    check = Check(tools=options.get("tools", "subset"), args=options.get("args", "subset"))
    return RunOptions(
        stop_on_divergence=bool(stop), check=check, tools=tuple(sorted((tools or {}).items()))
    )
