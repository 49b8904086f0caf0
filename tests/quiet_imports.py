"""Importing an SDK without letting it reconfigure the process's logging.

``langfuse`` sets httpx's logger to WARNING and gives it a handler of its own when imported.
Tests that read httpx's log lines (secrets masked in them) run later in the same worker, so
an SDK's import leaves every logger that existed before it as it found it.
"""

from __future__ import annotations

import logging
from types import ModuleType

import pytest


def importorskip_keeping_logging(name: str) -> ModuleType:
    loggers = [logging.getLogger()] + [
        found
        for found in logging.Logger.manager.loggerDict.values()
        if isinstance(found, logging.Logger)
    ]
    before = [(found, found.level, list(found.handlers), found.disabled) for found in loggers]
    try:
        return pytest.importorskip(name)
    finally:
        for found, level, handlers, disabled in before:
            found.setLevel(level)
            found.handlers[:] = handlers
            found.disabled = disabled
