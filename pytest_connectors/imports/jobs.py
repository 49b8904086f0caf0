"""Queueing sync jobs and waiting for them: the part of the job life cycle callers see."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime

from pytest_connectors.errors import JobNotFoundError, JobTimeoutError
from pytest_connectors.imports.config import job_snapshot
from pytest_connectors.imports.reach import LOCAL, Reach
from pytest_connectors.models.connector import utc_now
from pytest_connectors.models.imports import ImportConnector, Job, JobStatus, JobTrigger, Scope
from pytest_connectors.storage import jobs as job_rows
from pytest_connectors.storage.store import Connection, Store

# How often a waiting caller looks at the job when a worker elsewhere runs it.
POLL_INTERVAL = 0.2


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def enqueue(
    connection: Connection,
    connector: ImportConnector,
    trigger: JobTrigger,
    *,
    from_: datetime | None = None,
    to: datetime | None = None,
    reach: Reach = LOCAL,
) -> Job:
    """Queue a sync of ``connector`` inside the caller's transaction; the job runs within
    ``reach``, whichever worker takes it.

    Without a window, a job already queued for the connector without one is returned instead of
    a second (connecting twice, or syncing while a connect is queued, queues one job).
    """
    if from_ is None and to is None:
        existing = job_rows.queued_continuation(connection, connector.id)
        if existing is not None:
            return existing
    job = Job.model_validate(
        {
            "id": new_id("job"),
            "connector_id": connector.id,
            "trigger": trigger,
            "status": JobStatus.QUEUED,
            "from": from_,
            "to": to,
            "created_at": utc_now(),
        }
    )
    return job_rows.insert(
        connection,
        job=job,
        tenant_id=connector.tenant_id,
        agent_id=connector.agent_id,
        snapshot=job_snapshot(connector, reach.snapshot()),
    )


def wait(
    store: Store,
    scope: Scope,
    job_id: str,
    *,
    timeout: float | None = None,
    run_here: Callable[[str, float | None], object] | None = None,
) -> Job:
    """The job once it has finished; :class:`JobTimeoutError` if ``timeout`` seconds pass first.

    ``run_here(job_id, seconds_left)`` runs queued jobs in this process (the embedded default:
    nothing else has to run), and takes over a job whose worker's lease ran out; a job a live
    worker elsewhere holds is polled.
    """
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    signals = store.job_signals
    while True:
        seen = signals.generation
        with store.read() as connection:
            job = job_rows.get(connection, scope, job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        if job.status.finished:
            return job
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise JobTimeoutError(job.id, job.status.value, timeout or 0)
        # A running job is claimable here too once its worker's lease has run out (it died).
        if run_here is not None and run_here(job_id, left):
            continue
        pause = signals.interval(POLL_INTERVAL)
        signals.wait(seen, pause if left is None else max(0.0, min(pause, left)))
