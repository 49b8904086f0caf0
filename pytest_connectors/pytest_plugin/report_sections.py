"""Sections other parts add to the session's report, which the reports part then renders."""

from __future__ import annotations

import pytest

from pytest_connectors.pytest_plugin.state import is_worker, state_key


def add_to_report(config: pytest.Config, key: str, value: object) -> None:
    """Sets ``key`` in the session's in-memory report; call it from ``pytest_sessionfinish``.

    The JSON and HTML reports are written from it once every part has added its section, so no
    part reads back a file another wrote.
    """
    if is_worker(config):
        return
    config.stash[state_key].sections[key] = value
