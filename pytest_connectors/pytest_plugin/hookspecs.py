"""Hooks the plugin offers to projects (registered through ``pytest_addhooks``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_connectors.evaluation.session import ConnectorSession
    from pytest_connectors.models.connector import Connector


@pytest.hookspec(firstresult=True)
def pytest_connectors_prepare(
    connector: Connector, session: ConnectorSession, config: pytest.Config
) -> Connector | None:
    """Make ``connector``'s agent ready for this session, your own way.

    Called once per connector and session, before the first test that uses it. Return the
    connector to call (e.g. ``connector.model_copy(update={"base_url": url})`` for a server you
    started; stop it with ``config.add_cleanup``), or None to let the plugin do its default:
    start ``config.launch`` when the base URL does not answer (``session.launch(connector)``).
    A ``ConnectorError`` raised here makes the tests that use the connector error at setup
    (a fixture that failed: they never ran), with its message.
    """
    raise NotImplementedError  # a hook specification: pluggy never calls its body
