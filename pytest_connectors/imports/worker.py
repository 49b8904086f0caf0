"""The worker: claims sync jobs one at a time and runs them, holding a lease with heartbeats.

Several workers (threads, processes or machines) may share one database; each job runs once.
A worker that dies leaves its job ``running`` with a lease that runs out; the next claim takes it
over and resumes from its last checkpoint. Transient provider failures are retried with
exponential backoff; permanent ones fail the job at once with the provider's error code.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import closing
from datetime import timedelta
from typing import Any

from pytest_connectors._support.secrets import Redactor
from pytest_connectors.client.retry import RetryPolicy
from pytest_connectors.errors import ConnectorError, InvalidInputError, MissingVariableError
from pytest_connectors.imports.limits import ProviderLimits
from pytest_connectors.imports.provider import (
    Derivation,
    Provider,
    ProviderError,
    ProviderSpec,
    retry_log,
)
from pytest_connectors.imports.providers import (
    destination,
    provider_for,
    resolved_values,
    spec_of,
)
from pytest_connectors.imports.reach import LOCAL, Reach
from pytest_connectors.imports.sync import (
    LeaseLost,
    RunState,
    SyncOutcome,
    SyncRun,
    derivation_of,
)
from pytest_connectors.models.connector import utc_now
from pytest_connectors.models.imports import ImportConnector, Job, JobStats, JobStatus, Scope
from pytest_connectors.storage import connectors as connector_rows
from pytest_connectors.storage import jobs as job_rows
from pytest_connectors.storage.jobs import JobRecord
from pytest_connectors.storage.store import Store

log = logging.getLogger(__name__)

ProviderFactory = Callable[[ImportConnector], Provider]
ProgressCallback = Callable[[str, JobStats], None]


# A job whose provider failed transiently is queued again after 1, 2, 4, ... s (at most 60 s),
# up to 5 attempts in all.
JOB_RETRY = RetryPolicy(retries=4, first_delay_s=1.0, max_delay_s=60.0, jitter=False)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        store: Store,
        *,
        worker_id: str | None = None,
        lease: timedelta = timedelta(seconds=30),
        provider_factory: ProviderFactory | None = None,
        derivation: Derivation | None = None,
        retry: RetryPolicy | None = None,
        environ: Mapping[str, str] | None = None,
        on_progress: ProgressCallback | None = None,
        reach: Reach = LOCAL,
        limits: ProviderLimits | None = None,
    ) -> None:
        """``reach``: the rules of the process running the jobs, narrowing each job's own.
        ``limits`` bound what a provider may cost (default: from this process's environment,
        see `ProviderLimits`)."""
        self.store = store
        self.worker_id = worker_id or default_worker_id()
        self.lease = lease
        self.environ = environ
        self.reach = reach
        self.limits = limits or ProviderLimits.from_environ(os.environ)
        self.provider_factory = provider_factory
        self._derivation = derivation
        self.retry = retry or JOB_RETRY
        self.on_progress = on_progress

    def _derivation_for(self, spec: ProviderSpec) -> Derivation:
        """The worker's own (tests give one), else the provider's, else the default."""
        if self._derivation is not None:
            return self._derivation
        return derivation_of(spec)

    # -- claiming --------------------------------------------------------------------------

    def claim(
        self, job_id: str | None = None, *, connector_id: str | None = None
    ) -> JobRecord | None:
        with self.store.begin() as connection:
            return job_rows.claim(
                connection,
                worker_id=self.worker_id,
                now=utc_now(),
                lease=self.lease,
                job_id=job_id,
                connector_id=connector_id,
            )

    def run_once(
        self,
        job_id: str | None = None,
        *,
        connector_id: str | None = None,
        seconds: float | None = None,
    ) -> Job | None:
        """Claim one runnable job (``job_id``, or one of ``connector_id``, if given) and run it;
        None if there was none.

        With ``seconds``, a run that takes longer stops after the current page and goes back
        to the queue, checkpoint kept, for the next claim.
        """
        record = self.claim(job_id, connector_id=connector_id)
        if record is None:
            return None
        self.execute(record, seconds=seconds)
        with self.store.read() as connection:
            return job_rows.get(connection, Scope.owner(), record.id)

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        once: bool = False,
        poll_interval: float = 1.0,
    ) -> int:
        """Run jobs until ``stop`` is set (``once``: until none is runnable); return how many."""
        stop = stop or threading.Event()
        signals = self.store.job_signals
        done = 0
        while not stop.is_set():
            seen = signals.generation
            if self.run_once() is not None:
                done += 1
                continue
            if once:
                break
            # Woken by a queued job on PostgreSQL; the interval still bounds how late a retry
            # comes due or a dead worker's job is taken over. Stop is seen within a second.
            deadline = time.monotonic() + poll_interval
            while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                if signals.wait(seen, min(left, 1.0)):
                    break
        return done

    # -- running one job -------------------------------------------------------------------

    def execute(self, record: JobRecord, *, seconds: float | None = None) -> None:
        state = RunState()
        if seconds is not None:
            state.deadline = utc_now() + timedelta(seconds=seconds)
        with self.store.read() as connection:
            connector = connector_rows.get(connection, Scope.owner(), record.job.connector_id)
        if connector is None:
            self._finish(record, JobStatus.FAILED, "connector_deleted", "the connector is gone")
            return
        if record.job.attempts > self.retry.attempts:
            last = record.job.error or "no error recorded (the worker running it stopped)"
            self._fail(
                record,
                connector,
                "too_many_attempts",
                f"gave up after {self.retry.attempts} attempts; last error: {last}",
            )
            return
        # The job runs with the config it was queued with, but the connector's current key and
        # the destination that key was given for: the two always travel together.
        try:
            spec = spec_of(connector.provider)
        except InvalidInputError as exc:  # its plugin uninstalled or broken since
            self._fail(record, connector, "provider_unavailable", str(exc))
            return
        travelling = (*spec.secret_keys, *spec.url_keys)
        config = {k: v for k, v in record.snapshot.get("config", {}).items() if k not in travelling}
        config |= {k: connector.config[k] for k in travelling if k in connector.config}
        job_connector = connector.model_copy(update={"config": config})
        reach = Reach.from_snapshot(record.snapshot.get("reach")).narrowed(self.reach)
        environ = reach.environ(self.environ)
        redactor = Redactor()
        heartbeat = _Heartbeat(self, record.id, state)
        try:
            reach.check_variables(config)
            for key in spec.url_keys:
                reach.check_destination(destination(job_connector, key, environ), key)
            redactor = Redactor(resolved_values(job_connector, environ))
            provider = self._provider(job_connector, environ, reach)
            heartbeat.start()
            with closing(provider):
                run = SyncRun(
                    store=self.store,
                    record=record,
                    connector=job_connector,
                    provider=provider,
                    worker_id=self.worker_id,
                    lease=self.lease,
                    derivation=self._derivation_for(spec),
                    state=state,
                    on_progress=self._progress_of(record.id),
                    time_ordered=spec.time_ordered,
                )
                outcome = run.run()
        except LeaseLost:
            log.warning("job %s: lease lost to another worker; leaving it", record.id)
            return
        except ProviderError as exc:
            message = redactor.scrub(str(exc))
            if exc.transient and record.job.attempts < self.retry.attempts:
                self._retry_later(record, exc.code, message)
            else:
                self._fail(record, connector, exc.code, message)
            return
        except MissingVariableError as exc:
            self._fail(record, connector, "missing_variable", reach.missing_variable(exc))
            return
        except ConnectorError as exc:
            self._fail(record, connector, "invalid_config", redactor.scrub(str(exc)))
            return
        except Exception as exc:
            log.exception("job %s failed unexpectedly", record.id)
            message = redactor.scrub(f"{type(exc).__name__}: {exc}".splitlines()[0])
            self._fail(record, connector, "internal_error", message)
            return
        finally:
            heartbeat.stop()
        if outcome is SyncOutcome.STOPPED:
            self._finish(
                record,
                JobStatus.CANCELLED,
                "stopped",
                "stopped: disconnected",
                stats=run.stats,
            )
        elif outcome is SyncOutcome.PAUSED:
            self._finish(
                record,
                JobStatus.QUEUED,
                None,
                None,
                stats=run.stats,
                extra={"attempts": max(0, record.job.attempts - 1)},
            )

    def _provider(
        self, connector: ImportConnector, environ: Mapping[str, str] | None, reach: Reach
    ) -> Provider:
        if self.provider_factory is not None:
            return self.provider_factory(connector)
        return provider_for(
            connector, environ=environ, transport=reach.transport(), limits=self.limits
        )

    def _progress_of(self, job_id: str) -> Callable[[JobStats], None] | None:
        callback = self.on_progress
        if callback is None:
            return None
        return lambda stats: callback(job_id, stats)

    def _retry_later(self, record: JobRecord, code: str, message: str) -> None:
        delay = self.retry.delay_s(record.job.attempts)
        retry_log.info(
            "job %s: attempt %d of %d failed (%s); it runs again in %.0f s",
            record.id,
            record.job.attempts,
            self.retry.attempts,
            message,
            delay,
        )
        self._finish(
            record,
            JobStatus.QUEUED,
            code,
            f"attempt {record.job.attempts} failed: {message}",
            extra={"not_before": utc_now() + timedelta(seconds=delay)},
        )

    def _fail(self, record: JobRecord, connector: ImportConnector, code: str, message: str) -> None:
        now = utc_now()
        with self.store.begin() as connection:
            job_rows.finish(
                connection,
                record.id,
                self.worker_id,
                now=now,
                status=JobStatus.FAILED,
                values={"error": message, "error_code": code},
            )
            connector_rows.update_fields(
                connection, Scope.owner(), connector.id, {"last_error": message}
            )

    def _finish(
        self,
        record: JobRecord,
        status: JobStatus,
        code: str | None,
        message: str | None,
        *,
        stats: JobStats | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        values: dict[str, Any] = {"error": message, "error_code": code, **(extra or {})}
        if stats is not None:
            values["stats"] = stats.model_dump(mode="json")
        with self.store.begin() as connection:
            job_rows.finish(
                connection, record.id, self.worker_id, now=utc_now(), status=status, values=values
            )


class _Heartbeat:
    """Renews the lease while a job runs, and carries back a stop request or a lost lease."""

    def __init__(self, worker: Worker, job_id: str, state: RunState) -> None:
        self.worker = worker
        self.job_id = job_id
        self.state = state
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._beat, name=f"heartbeat-{self.job_id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        interval = self.worker.lease.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                with self.worker.store.begin() as connection:
                    stop = job_rows.heartbeat(
                        connection,
                        self.job_id,
                        self.worker.worker_id,
                        utc_now(),
                        self.worker.lease,
                    )
            except Exception:  # the database is briefly unreachable: try again next beat
                log.warning("job %s: heartbeat failed", self.job_id, exc_info=True)
                continue
            if stop is None:
                self.state.lease_lost = True
                return
            if stop:
                self.state.stop_requested = True
