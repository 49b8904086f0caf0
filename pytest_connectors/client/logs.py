"""Keeps resolved secrets out of httpx's and httpcore's own log records.

httpx logs every request's URL at INFO (and httpcore its connections at DEBUG), so a secret in
a connector's URL (``?key=${KEY}``) would reach the terminal, log files and JUnit reports. A
filter on those loggers rewrites any record that holds a secret of a connector this process has
called. It is installed by the first call, not on import, and costs nothing while those loggers
are silent (a filter runs only for records that are emitted).
"""

from __future__ import annotations

import logging

from pytest_connectors._support.secrets import Redactor

LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
_KEEP = 256  # redactors remembered; the oldest are forgotten first


class SecretLogFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__("pytest_connectors.secrets")
        self._redactors: dict[int, Redactor] = {}
        self._installed = False

    def watch(self, redactor: Redactor) -> None:
        """Scrub this redactor's secrets from the HTTP libraries' log records from now on."""
        if not redactor:
            return
        if not self._installed:
            for name in LOGGERS:
                logging.getLogger(name).addFilter(self)
            self._installed = True
        if len(self._redactors) >= _KEEP:
            self._redactors.pop(next(iter(self._redactors)))
        self._redactors[id(redactor)] = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redactors = list(self._redactors.values())
        if not redactors:
            return True
        message = record.getMessage()
        scrubbed = message
        for redactor in redactors:
            scrubbed = redactor.scrub(scrubbed)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


secret_log_filter = SecretLogFilter()
