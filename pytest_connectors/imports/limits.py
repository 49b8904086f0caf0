"""What one provider may cost a worker: bytes per reply, time per request and page, pages per job.

A provider is another party's server: whatever it sends, a worker's memory stays bounded and a
job ends. The defaults fit the real APIs with room to spare; an operator whose provider needs
more raises them through the environment of the process that runs the jobs (the worker, the
service, or the CLI that syncs into a local database):

==========================================  ============  ======================================
variable                                    default       bounds
==========================================  ============  ======================================
``PYTEST_CONNECTORS_MAX_REPLY_BYTES``       16 MiB        one API answer, a LangSmith page
                                                          included (decompressed size)
``PYTEST_CONNECTORS_MAX_DOWNLOAD_BYTES``    4 GiB         one FullStory export file
                                                          (decompressed size)
``PYTEST_CONNECTORS_REQUEST_TIMEOUT``       60 s          one request, from connecting to its
                                                          last byte
``PYTEST_CONNECTORS_PAGE_TIMEOUT``          600 s         one page: its requests, retries and
                                                          pauses (an export download is a page)
``PYTEST_CONNECTORS_MAX_PAGES``             10000         pages one job follows (LangSmith
                                                          serves 100 root runs a page)
==========================================  ============  ======================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

from pytest_connectors.errors import InvalidInputError

__all__ = ["ENVIRONMENT", "ProviderLimits", "limit_name"]

MIB = 1024 * 1024
# JSON of tiny values costs up to ~25 times its size once parsed: a reply may hold one value for
# every 16 bytes it may have, so a reply of tiny objects costs about what a reply of text does.
BYTES_PER_VALUE = 16


@dataclass(frozen=True)
class ProviderLimits:
    max_reply_bytes: int = 16 * MIB
    max_download_bytes: int = 4096 * MIB
    request_timeout_s: float = 60.0
    page_timeout_s: float = 600.0
    max_pages: int = 10_000

    def __post_init__(self) -> None:
        for limit in fields(self):
            value = getattr(self, limit.name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InvalidInputError(f"provider limit {limit.name} must be above 0")

    @property
    def max_reply_values(self) -> int:
        """How many JSON values (objects, arrays, strings, numbers) one reply may hold."""
        return max(1, self.max_reply_bytes // BYTES_PER_VALUE)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ProviderLimits:
        """The defaults, with what the environment sets (``ENVIRONMENT`` names the variables)."""
        values: dict[str, int | float] = {}
        for name, (variable, kind) in ENVIRONMENT.items():
            text = environ.get(variable, "").strip()
            if not text:
                continue
            try:
                value = kind(text)
            except ValueError:
                value = 0
            if not (math.isfinite(value) and value > 0):
                whole = "a whole number" if kind is int else "a number"
                raise InvalidInputError(
                    f"{variable}={text!r} is not {whole} above 0; fix it or unset it for the "
                    "default"
                )
            values[name] = value
        return cls(**values)  # type: ignore[arg-type]


# The one place a limit's variable is named.
ENVIRONMENT: dict[str, tuple[str, type[int] | type[float]]] = {
    "max_reply_bytes": ("PYTEST_CONNECTORS_MAX_REPLY_BYTES", int),
    "max_download_bytes": ("PYTEST_CONNECTORS_MAX_DOWNLOAD_BYTES", int),
    "request_timeout_s": ("PYTEST_CONNECTORS_REQUEST_TIMEOUT", float),
    "page_timeout_s": ("PYTEST_CONNECTORS_PAGE_TIMEOUT", float),
    "max_pages": ("PYTEST_CONNECTORS_MAX_PAGES", int),
}


def limit_name(field_name: str) -> str:
    """The variable that sets a limit, for messages that tell the operator how to raise it."""
    return ENVIRONMENT[field_name][0]
