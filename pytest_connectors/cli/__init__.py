"""The ``pytest-connectors`` command."""

from pytest_connectors.cli.main import main

__all__ = ["main"]
