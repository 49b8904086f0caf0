"""The server's access log (one line per request) without query strings.

A client may put its key in the query string: the service refuses it (keys go in headers), but
uvicorn would still write the request line in full. The filter masks the query of every line.
"""

from __future__ import annotations

import logging

from pytest_connectors._support.secrets import mask_query

ACCESS_LOGGER = "uvicorn.access"


class MaskQueryStrings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn logs (client, method, target, http version, status) as the record's arguments.
        args = record.args
        if isinstance(args, tuple) and len(args) > 2 and isinstance(args[2], str):
            record.args = (*args[:2], mask_query(args[2]), *args[3:])
        return True


def mask_access_log(logger: logging.Logger | None = None) -> None:
    """Install the filter once on uvicorn's access logger (the app may be created many times)."""
    logger = logger or logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, MaskQueryStrings) for f in logger.filters):
        logger.addFilter(MaskQueryStrings())
