"""Sections other parts add to the ``--connectors-report`` JSON once the reports part wrote it."""

from __future__ import annotations

import json

import pytest

from pytest_connectors.pytest_plugin.reports import report_path
from pytest_connectors.pytest_plugin.state import is_worker


def add_to_report(config: pytest.Config, key: str, value: object) -> None:
    """Sets ``key`` in the JSON report (when one is written), atomically; call it trylast."""
    path = report_path(config)
    if path is None or is_worker(config) or not path.is_file():
        return
    from pytest_connectors._support.atomic import atomic_write

    document = json.loads(path.read_text(encoding="utf-8"))
    document[key] = value
    atomic_write(path, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode())
