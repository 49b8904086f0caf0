"""How far a sync has got through its time window, for progress bars.

A sync does not know how many records its window holds, but a provider that fetches them in
time order (`ProviderSpec.time_ordered`) tells where it is: the latest record fetched so far
marks the part of the window already scanned. The fraction only grows (a page of records earlier
than the last one, or a retried attempt that scans again, never moves it back) and stays below
1.0 while the job runs: 1.0 means the window was scanned completely.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_connectors._support.times import utc
from pytest_connectors.imports.provider import FetchedRecord, Window

# The most a running job shows: a record at the window's very end does not finish the job.
RUNNING_CEILING = 0.99


def window_progress(
    before: float | None, window: Window, records: Iterable[FetchedRecord]
) -> float | None:
    """The fraction of ``window`` scanned once ``records`` (time-ordered) are fetched."""
    latest = max((utc(record.occurred_at) for record in records), default=None)
    if latest is None:
        return before
    span = (utc(window.end) - utc(window.start)).total_seconds()
    if span <= 0:
        return before
    scanned = (latest - utc(window.start)).total_seconds() / span
    reached = round(min(max(scanned, 0.0), RUNNING_CEILING), 4)
    return reached if before is None else max(before, reached)
