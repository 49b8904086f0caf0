"""Latency budgets, per-test properties, the terminal summary, the JSON and HTML reports and
the comparison with a baseline run.

Every call a test makes is recorded on its item and attached to the teardown report; the
session figures are built only from reports, so a pytest-xdist run aggregates on the controller
exactly what a serial run sees. The session's report is one document in memory: the other parts
add their sections to it (``report_sections``) and the JSON and HTML files are renderings of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_connectors.pytest_plugin.selection import latency_budget
from pytest_connectors.pytest_plugin.state import is_worker, records_key, state_key

passed_key = pytest.StashKey[bool]()
baseline_key = pytest.StashKey[dict[str, Any]]()
comparison_key = pytest.StashKey[dict[str, Any]]()
# The terminal summary's lines about the report files: (line, whether it says a write failed).
written_key = pytest.StashKey[list[tuple[str, bool]]]()
# The JSON Schema of the --connectors-report file, shipped with the package.
REPORT_SCHEMA = Path(__file__).with_name("report.schema.json")
# Report files are for others too (a CI artifact, a served page): readable, less the umask.
REPORT_MODE = 0o644


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    result = yield
    budget = latency_budget(item)
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
        from pytest_connectors.evaluation.latency import mark_expected, percentile

        # A failed call in a test that passed was expected by it (check=False and asserted).
        mark_expected(records, test_passed=item.stash.get(passed_key, False))
        latencies = [r["latency_ms"] for r in records]
        item.user_properties += [
            ("connector", records[0]["connector"]),
            ("connector_calls", len(records)),
            ("connector_errors", sum(1 for r in records if not r["success"])),
            ("latency_p50_ms", f"{percentile(latencies, 50):.1f}"),
            ("latency_max_ms", f"{max(latencies):.1f}"),
        ]
    report = yield
    callspec = getattr(item, "callspec", None)
    connector = callspec.params.get("connector_name") if callspec is not None else None
    if isinstance(connector, str):
        report.connector_name = connector  # type: ignore[attr-defined]
    if call.when == "call":
        item.stash[passed_key] = report.passed
    if call.when == "teardown" and records:
        report.connector_calls = records  # type: ignore[attr-defined]
    return report


# A failure message kept in the report: its end, where pytest puts what went wrong.
MAX_MESSAGE = 4000


def test_outcome(tests: dict[str, dict[str, Any]], report: pytest.TestReport) -> None:
    """Folds one phase's report into its test's entry: passed, failed, error or skipped."""
    entry = tests.setdefault(
        report.nodeid,
        {
            "test": report.nodeid,
            "connector": None,
            "outcome": "passed",
            "message": None,
            "duration_ms": 0.0,
        },
    )
    connector = getattr(report, "connector_name", None)
    if connector:
        entry["connector"] = connector
    entry["duration_ms"] = round(entry["duration_ms"] + report.duration * 1000, 3)
    if report.passed or entry["outcome"] in ("failed", "error"):
        return
    if report.skipped:
        entry["outcome"] = "skipped"
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else getattr(report, "wasxfail", "")
        entry["message"] = str(reason)[-MAX_MESSAGE:] or None
        return
    entry["outcome"] = "failed" if report.when == "call" else "error"
    entry["message"] = report.longreprtext[-MAX_MESSAGE:]


def pytest_configure(config: pytest.Config) -> None:
    """Reads the baseline and checks the HTML report can be written, before any test runs."""
    if is_worker(config):
        return
    for option, path in (
        ("--connectors-report", report_path(config)),
        ("--connectors-html", html_path(config)),
    ):
        if path is not None and path.is_dir():
            raise pytest.UsageError(f"{option} {path} is a folder; give the path of a file")
    if html_path(config) is not None:
        from pytest_connectors.errors import MissingDependencyError
        from pytest_connectors.evaluation.report_html import check_renderer

        try:
            check_renderer()
        except MissingDependencyError as exc:
            raise pytest.UsageError(str(exc)) from None
    baseline = baseline_path(config)
    if baseline is not None:
        from pytest_connectors.errors import ReportFileError
        from pytest_connectors.evaluation.comparison import load_report

        try:
            config.stash[baseline_key] = load_report(baseline)
        except ReportFileError as exc:
            raise pytest.UsageError(f"--connectors-baseline: {exc}") from None


def comparison(config: pytest.Config) -> dict[str, Any] | None:
    """This run aligned with the baseline, once every test ran (computed once)."""
    baseline = config.stash.get(baseline_key, None)
    if baseline is None:
        return None
    if comparison_key not in config.stash:
        from pytest_connectors.evaluation.comparison import compare

        config.stash[comparison_key] = compare(baseline, _document(config, with_comparison=False))
    return config.stash[comparison_key]


@pytest.hookimpl(tryfirst=True)  # the comparison with the baseline is what a reviewer reads first
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if is_worker(config):
        return
    compared = comparison(config)
    if compared is not None:
        from pytest_connectors.evaluation.comparison import comparison_lines

        terminalreporter.write_sep("=", "compared with the baseline")
        for line in comparison_lines(compared):
            terminalreporter.write_line(line)
    state = config.stash[state_key]
    if state.records:
        from pytest_connectors.evaluation.latency import summary_lines

        terminalreporter.write_sep("=", "connectors")
        # Said, as the replay section's p50 is over its replayed turns alone.
        terminalreporter.write_line(
            "every agent call of the session (replayed turns included), per connector:"
        )
        for line in summary_lines(state.records):
            terminalreporter.write_line(line)
    # Only the files that were written are announced; a failed write says why, on its own line.
    for line, failed in config.stash.get(written_key, []):
        terminalreporter.write_line(line, red=failed)


def _path_option(config: pytest.Config, name: str) -> Path | None:
    """A path given on the command line (relative to where pytest ran) or in the ini file
    (relative to rootdir); both are called ``name``."""
    cli = getattr(config.option, name)
    if cli:
        return Path(config.invocation_params.dir, cli)
    ini = config.getini(name)
    return Path(config.rootpath, ini) if ini else None


def report_path(config: pytest.Config) -> Path | None:
    return _path_option(config, "connectors_report")


def html_path(config: pytest.Config) -> Path | None:
    return _path_option(config, "connectors_html")


def baseline_path(config: pytest.Config) -> Path | None:
    return _path_option(config, "connectors_baseline")


def _environment(config: pytest.Config, connectors: list[str]) -> dict[str, Any]:
    """When and where the run happened, and the connectors it used (URLs masked)."""
    from pytest_connectors._support.secrets import mask_arguments, mask_url
    from pytest_connectors.models.connector import utc_now
    from pytest_connectors.replay.native import git_branch, git_revision

    state = config.stash[state_key]
    urls: dict[str, str | None] = {}
    for name in connectors:
        try:
            from pytest_connectors.registry.json_file import ConnectorStore

            found = ConnectorStore(state.file).get_by_name(name)
            url = getattr(found, "base_url", None) if found is not None else None
        except Exception:  # an unreadable file was reported where it matters
            url = None
        urls[name] = mask_url(url) if url else None
    return {
        "when": utc_now().isoformat(),
        "git_commit": git_revision(config.rootpath),
        "git_branch": git_branch(config.rootpath),
        "pytest_args": mask_arguments(str(arg) for arg in config.invocation_params.args),
        "connectors": [{"name": name, "url": url} for name, url in urls.items()],
    }


def _document(config: pytest.Config, *, with_comparison: bool = True) -> dict[str, Any]:
    """The session's report: calls and their summary, tests, environment, parts' sections."""
    from pytest_connectors.evaluation.latency import report_document

    state = config.stash[state_key]
    document = report_document(state.records)
    tests = sorted(state.tests.values(), key=lambda t: t["test"])
    connectors = sorted(
        {t["connector"] for t in tests if t["connector"]} | set(document["connectors"])
    )
    document["tests"] = tests
    document["environment"] = _environment(config, connectors)
    document.update(state.sections)
    if with_comparison:
        compared = comparison(config)
        if compared is not None:
            document["comparison"] = compared
    return document


@pytest.hookimpl(wrapper=True)  # after every part added its section to the report
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, object, object]:
    result = yield
    config = session.config
    path, html = report_path(config), html_path(config)
    if is_worker(config) or (path is None and html is None):
        return result
    from pytest_connectors._support.atomic import atomic_write

    document = _document(config)
    writes: list[tuple[str, Path, Callable[[], bytes]]] = []
    if path is not None:
        writes.append(
            (
                "connector report",
                path,
                lambda: (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode(),
            )
        )
    if html is not None:
        from pytest_connectors.evaluation.report_html import render_html

        writes.append(("connector HTML report", html, lambda: render_html(document).encode()))
    written = config.stash[written_key] = []
    for label, target, content in writes:
        try:
            atomic_write(target, content(), new_mode=REPORT_MODE)
        except OSError as exc:  # a full disk, a read-only folder: said, and the run's outcome kept
            written.append((f"connector report not written: {target}: {exc.strerror or exc}", True))
        else:
            written.append((f"{label}: {target}", False))
    return result
