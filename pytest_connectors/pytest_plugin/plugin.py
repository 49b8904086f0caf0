"""pytest glue: options, markers, fixtures and reports; the work is done by the library.

This is the entry point pytest loads; it registers the hook specifications and the parts, one
concern each. Importing them loads nothing heavy: a suite that uses no connector fixture never
reads the connector file, opens a socket or starts a thread. To add a part, add its module name
to ``PARTS``.

- ``options``: command-line options, ini keys, markers, the header line
- ``selection``: which connectors each test runs against; marker validation
- ``fixtures``: ``connector_name``, ``connector``, ``invoke_connector``, ``conversation``,
  ``connectors_session``
- ``reports``: latency budgets, JUnit properties, the terminal summary, the JSON report
- ``replay``: production conversations replayed as tests
- ``judging``: judges (``--judge-connector``, the ``judge`` fixture, cached verdicts)
- ``simulation``: simulated users (``--simulator-connector``, ``@pytest.mark.scenario``)
- ``repeat``: repeated runs and their pass rates (``@pytest.mark.repeat``)
- ``hookspecs``: ``pytest_connectors_prepare``, for projects that start agents their own way
"""

from __future__ import annotations

import importlib

import pytest

from pytest_connectors.pytest_plugin.reports import report_path
from pytest_connectors.pytest_plugin.state import records_key, state_key

__all__ = ["PARTS", "records_key", "report_path", "state_key"]

_report_path = report_path  # the name replay.py imports

PARTS = ("options", "selection", "fixtures", "reports", "replay", "judging", "simulation", "repeat")


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_connectors.pytest_plugin import hookspecs

    pluginmanager.add_hookspecs(hookspecs)
    for part in PARTS:
        module = importlib.import_module(f"pytest_connectors.pytest_plugin.{part}")
        pluginmanager.register(module, f"connectors-{part}")
