"""conftest.py of the generated suites (copied there): a hand-written client, and a probe.

The probe makes the controller (never an xdist worker) write its own peak RSS and CPU time
(``RUSAGE_SELF``: that process alone, without its workers) and how many agent calls reached it
on test reports, to the file named by ``$BENCH_PROBE_FILE``.
"""

from __future__ import annotations

import json
import os
import resource
from collections.abc import Iterator

import httpx
import pytest

_calls = 0


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """What a careful hand-written suite does: one client for the session, auth preset."""
    headers = {"Authorization": f"Bearer {os.environ['HTTP_AGENT_TOKEN']}"}
    with httpx.Client(base_url=os.environ["HTTP_AGENT_URL"], headers=headers) as client:
        yield client


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _calls
    _calls += len(getattr(report, "connector_calls", None) or ())


def pytest_unconfigure(config: pytest.Config) -> None:
    out = os.environ.get("BENCH_PROBE_FILE")
    if out and not hasattr(config, "workerinput"):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        probe = {
            "peak_rss_kb": usage.ru_maxrss,  # kilobytes on Linux
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "calls": _calls,
        }
        with open(out, "w") as f:
            json.dump(probe, f)
