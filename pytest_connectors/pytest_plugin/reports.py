"""Latency budgets, per-test properties, the terminal summary and the JSON report.

Every call a test makes is recorded on its item and attached to the teardown report; the
session figures are built only from reports, so a pytest-xdist run aggregates on the controller
exactly what a serial run sees.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path

import pytest

from pytest_connectors.pytest_plugin.selection import latency_budget
from pytest_connectors.pytest_plugin.state import is_worker, records_key, state_key

passed_key = pytest.StashKey[bool]()
# The JSON Schema of the --connectors-report file, shipped with the package.
REPORT_SCHEMA = Path(__file__).with_name("report.schema.json")


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
    if call.when == "call":
        item.stash[passed_key] = report.passed
    if call.when == "teardown" and records:
        report.connector_calls = records  # type: ignore[attr-defined]
    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    state = config.stash[state_key]
    if is_worker(config) or not state.records:
        return
    from pytest_connectors.evaluation.latency import summary_lines

    terminalreporter.write_sep("=", "connectors")
    # Said, as the replay section's p50 is over its replayed turns alone.
    terminalreporter.write_line(
        "every agent call of the session (replayed turns included), per connector:"
    )
    for line in summary_lines(state.records):
        terminalreporter.write_line(line)
    path = report_path(config)
    if path is not None:
        terminalreporter.write_line(f"connector report: {path}")


def report_path(config: pytest.Config) -> Path | None:
    cli = config.option.connectors_report
    if cli:
        return Path(config.invocation_params.dir, cli)
    ini = config.getini("connectors_report")
    return Path(config.rootpath, ini) if ini else None


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    path = report_path(config)
    if path is None or is_worker(config):
        return
    from pytest_connectors._support.atomic import atomic_write
    from pytest_connectors.evaluation.latency import report_document

    document = report_document(config.stash[state_key].records)
    atomic_write(path, (json.dumps(document, indent=2) + "\n").encode())
