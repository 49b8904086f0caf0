"""The job queue: a table next to the connectors, claimed with one statement.

A worker claims the oldest runnable job with a single ``UPDATE ... RETURNING`` (the candidate
picked with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer at a time). The claim
holds a lease the worker renews; a job whose lease ran out (its worker died) is claimable again
and resumes from its checkpoint. A unique index on running jobs per connector keeps two jobs of
one connector from ever running at once, whatever the timing of the workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from pytest_connectors.models.imports import Job, JobStats, JobStatus, JobTrigger, Scope
from pytest_connectors.storage.schema import import_jobs
from pytest_connectors.storage.scoping import within
from pytest_connectors.storage.signals import announce

_J = import_jobs


@dataclass(frozen=True)
class JobRecord:
    """A job as the worker sees it: the public record plus what it needs to run and resume."""

    job: Job
    tenant_id: str
    agent_id: str
    snapshot: dict[str, Any]
    checkpoint: str | None
    scan_from: datetime | None
    scan_to: datetime | None
    resumed: bool
    worker_id: str | None
    stop_requested: bool

    @property
    def id(self) -> str:
        return self.job.id


def to_job(row: Row[Any]) -> Job:
    data = row._mapping
    return Job(
        **{"from": data["window_from"]},
        id=data["id"],
        connector_id=data["connector_id"],
        trigger=JobTrigger(data["trigger"]),
        status=JobStatus(data["status"]),
        to=data["window_to"],
        attempts=data["attempts"],
        stats=JobStats.model_validate(data["stats"] or {}),
        error=data["error"],
        error_code=data["error_code"],
        created_at=data["created_at"],
        started_at=data["started_at"],
        finished_at=data["finished_at"],
    )


def to_record(row: Row[Any]) -> JobRecord:
    data = row._mapping
    return JobRecord(
        job=to_job(row),
        tenant_id=data["tenant_id"],
        agent_id=data["agent_id"],
        snapshot=dict(data["snapshot"] or {}),
        checkpoint=data["checkpoint"],
        scan_from=data["scan_from"],
        scan_to=data["scan_to"],
        resumed=bool(data["resumed"]),
        worker_id=data["worker_id"],
        stop_requested=bool(data["stop_requested"]),
    )


def insert(
    connection: Connection,
    *,
    job: Job,
    tenant_id: str,
    agent_id: str,
    snapshot: Mapping[str, Any],
) -> Job:
    connection.execute(
        _J.insert().values(
            id=job.id,
            connector_id=job.connector_id,
            tenant_id=tenant_id,
            agent_id=agent_id,
            trigger=job.trigger.value,
            status=job.status.value,
            window_from=job.from_,
            window_to=job.to,
            snapshot=dict(snapshot),
            attempts=job.attempts,
            stats=job.stats.model_dump(mode="json"),
            created_at=job.created_at,
            updated_at=job.created_at,
        )
    )
    announce(connection, job.id)
    return job


def get(connection: Connection, scope: Scope, job_id: str) -> Job | None:
    row = connection.execute(select(_J).where(_J.c.id == job_id, within(_J, scope))).first()
    return to_job(row) if row is not None else None


def get_record(connection: Connection, job_id: str) -> JobRecord | None:
    row = connection.execute(select(_J).where(_J.c.id == job_id)).first()
    return to_record(row) if row is not None else None


def queued_continuation(connection: Connection, connector_id: str) -> Job | None:
    """A queued job of the connector without an explicit window (connect, or sync from the
    watermark): asking for another one returns this one instead."""
    row = connection.execute(
        select(_J)
        .where(
            _J.c.connector_id == connector_id,
            _J.c.status == JobStatus.QUEUED.value,
            _J.c.window_from.is_(None),
            _J.c.window_to.is_(None),
        )
        .order_by(_J.c.created_at)
        .limit(1)
    ).first()
    return to_job(row) if row is not None else None


def list_for_connector(connection: Connection, scope: Scope, connector_id: str) -> list[Job]:
    rows = connection.execute(
        select(_J)
        .where(_J.c.connector_id == connector_id, within(_J, scope))
        .order_by(_J.c.created_at, _J.c.id)
    ).all()
    return [to_job(row) for row in rows]


def list_recent(connection: Connection, scope: Scope, *, limit: int) -> list[Job]:
    """The scope's newest jobs first, of every connector."""
    rows = connection.execute(
        select(_J)
        .where(within(_J, scope))
        .order_by(_J.c.created_at.desc(), _J.c.id.desc())
        .limit(limit)
    ).all()
    return [to_job(row) for row in rows]


def cancel_queued(connection: Connection, connector_id: str, now: datetime) -> int:
    result = connection.execute(
        update(_J)
        .where(_J.c.connector_id == connector_id, _J.c.status == JobStatus.QUEUED.value)
        .values(status=JobStatus.CANCELLED.value, finished_at=now, updated_at=now)
    )
    if result.rowcount:
        announce(connection, connector_id)
    return result.rowcount


def request_stop(connection: Connection, connector_id: str, now: datetime) -> int:
    result = connection.execute(
        update(_J)
        .where(_J.c.connector_id == connector_id, _J.c.status == JobStatus.RUNNING.value)
        .values(stop_requested=True, updated_at=now)
    )
    if result.rowcount:
        announce(connection, connector_id)
    return result.rowcount


def claim(
    connection: Connection,
    *,
    worker_id: str,
    now: datetime,
    lease: timedelta,
    job_id: str | None = None,
    connector_id: str | None = None,
) -> JobRecord | None:
    """Take the oldest runnable job (or ``job_id`` when it is runnable; or the oldest of
    ``connector_id``), or None.

    Runnable: queued and due, with no other job of its connector running or queued before it;
    or running with an expired lease (its worker died). Each claim counts as one attempt.
    """
    candidate = _J.alias("candidate")
    running = _J.alias("running")
    busy = exists(
        select(literal(1)).where(
            running.c.connector_id == candidate.c.connector_id,
            running.c.status == JobStatus.RUNNING.value,
        )
    )
    ahead = _J.alias("ahead")
    behind = exists(  # jobs of one connector run in the order they were queued
        select(literal(1)).where(
            ahead.c.connector_id == candidate.c.connector_id,
            ahead.c.status == JobStatus.QUEUED.value,
            or_(
                ahead.c.created_at < candidate.c.created_at,
                and_(ahead.c.created_at == candidate.c.created_at, ahead.c.id < candidate.c.id),
            ),
        )
    )
    due = or_(candidate.c.not_before.is_(None), candidate.c.not_before <= now)
    runnable = or_(
        and_(candidate.c.status == JobStatus.QUEUED.value, due, ~busy, ~behind),
        and_(candidate.c.status == JobStatus.RUNNING.value, candidate.c.lease_expires_at < now),
    )
    pick = select(candidate.c.id).where(runnable)
    if job_id is not None:
        pick = pick.where(candidate.c.id == job_id)
    if connector_id is not None:
        pick = pick.where(candidate.c.connector_id == connector_id)
    pick = pick.order_by(candidate.c.created_at, candidate.c.id).limit(1)
    pick = pick.with_for_update(skip_locked=True)
    statement = (
        update(_J)
        .where(_J.c.id == pick.scalar_subquery())
        .values(
            status=JobStatus.RUNNING.value,
            worker_id=worker_id,
            lease_expires_at=now + lease,
            attempts=_J.c.attempts + 1,
            # A job claimed again after a lost lease resumes from its checkpoint.
            resumed=_J.c.checkpoint.is_not(None),
            started_at=func.coalesce(_J.c.started_at, now),
            updated_at=now,
        )
        .returning(*_J.c)
    )
    try:
        with connection.begin_nested():
            row = connection.execute(statement).first()
    except IntegrityError:
        return None  # another worker started a job of the same connector just now
    return to_record(row) if row is not None else None


def _owned(job_id: str, worker_id: str) -> Any:
    return and_(
        _J.c.id == job_id, _J.c.worker_id == worker_id, _J.c.status == JobStatus.RUNNING.value
    )


def heartbeat(
    connection: Connection, job_id: str, worker_id: str, now: datetime, lease: timedelta
) -> bool | None:
    """Extend the lease. Returns whether a stop was requested, or None if the lease was lost."""
    row = connection.execute(
        update(_J)
        .where(_owned(job_id, worker_id))
        .values(lease_expires_at=now + lease)
        .returning(_J.c.stop_requested)
    ).first()
    return None if row is None else bool(row[0])


def save_progress(
    connection: Connection,
    job_id: str,
    worker_id: str,
    *,
    now: datetime,
    lease: timedelta,
    values: Mapping[str, Any],
) -> bool | None:
    """Store the checkpoint/stats/scan window of a running job; like :func:`heartbeat` it
    returns the stop flag, or None when this worker no longer owns the job."""
    row = connection.execute(
        update(_J)
        .where(_owned(job_id, worker_id))
        .values(**values, lease_expires_at=now + lease, updated_at=now)
        .returning(_J.c.stop_requested)
    ).first()
    return None if row is None else bool(row[0])


def finish(
    connection: Connection,
    job_id: str,
    worker_id: str,
    *,
    now: datetime,
    status: JobStatus,
    values: Mapping[str, Any] | None = None,
) -> bool:
    result = connection.execute(
        update(_J)
        .where(_owned(job_id, worker_id))
        .values(
            **(values or {}),
            status=status.value,
            worker_id=None,
            lease_expires_at=None,
            finished_at=now if status.finished else None,
            updated_at=now,
        )
    )
    if result.rowcount == 1:
        announce(connection, job_id)
    return result.rowcount == 1


def fail_unclaimed(
    connection: Connection, job_id: str, *, now: datetime, error: str, code: str
) -> None:
    """Fail a job nobody runs (its connector vanished, say)."""
    connection.execute(
        update(_J)
        .where(_J.c.id == job_id, _J.c.status.in_([JobStatus.QUEUED.value]))
        .values(
            status=JobStatus.FAILED.value,
            error=error,
            error_code=code,
            finished_at=now,
            updated_at=now,
        )
    )
    announce(connection, job_id)


def status_of(connection: Connection, job_id: str) -> str | None:
    value: str | None = connection.execute(select(_J.c.status).where(_J.c.id == job_id)).scalar()
    return value
