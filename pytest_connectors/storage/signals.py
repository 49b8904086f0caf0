"""Wake-ups when a job is queued or changes state, so waiters need not poll a busy database.

On PostgreSQL every job write sends ``NOTIFY`` on one channel inside its transaction (delivered
when it commits), and one listening connection per `Store` wakes every thread of the process
that waits (workers, `jobs wait`, the service's ``?wait=``). SQLite has no such channel: there a
wait is a plain sleep of the caller's polling interval, as before.

A wake-up only says "look again": waiters re-read the job, and still poll at their interval
(a job may become runnable without a write, when its retry time or a dead worker's lease comes).
"""

from __future__ import annotations

import logging
import select
import threading
from typing import Any

from sqlalchemy import Connection, Engine, text

CHANNEL = "pytest_connectors_jobs"

log = logging.getLogger(__name__)


def announce(connection: Connection, job_id: str) -> None:
    """Tell listeners that ``job_id`` changed, once ``connection``'s transaction commits."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_notify(:channel, :job)"), {"channel": CHANNEL, "job": job_id}
        )


class JobSignals:
    """The process's ear on the job channel of one database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._changed = threading.Condition()
        self._generation = 0
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        self._listening = engine.dialect.name == "postgresql"

    def interval(self, polling: float) -> float:
        """How long to wait between looks at a job: ``polling`` without wake-ups, else a second
        (the wake-up comes first; the second only bounds a missed one)."""
        return max(polling, 1.0) if self._listening else polling

    @property
    def generation(self) -> int:
        """Read before looking at a job; pass to `wait` so a change in between is not missed."""
        with self._changed:
            return self._generation

    def wait(self, seen: int, timeout: float) -> bool:
        """Block until a job changed after ``seen`` or ``timeout`` seconds pass; True if woken."""
        if timeout <= 0:
            return False
        if not self._listening:
            self._stop.wait(timeout)
            return False
        self._start()
        with self._changed:
            return self._changed.wait_for(lambda: self._generation != seen, timeout)

    def close(self) -> None:
        self._stop.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.join(timeout=5)

    def _start(self) -> None:
        with self._changed:
            if self._listener is not None or self._stop.is_set():
                return
            ready = threading.Event()
            self._listener = threading.Thread(
                target=self._listen,
                args=(ready,),
                name="pytest-connectors-job-signals",
                daemon=True,
            )
            self._listener.start()
        ready.wait(timeout=10)  # LISTEN is in place before the first look at a job

    def _listen(self, ready: threading.Event) -> None:
        again = False
        while not self._stop.is_set():
            try:
                self._listen_once(ready, again)
            except Exception as exc:  # the database went away: waiters fall back to polling
                log.debug("job signals: %s; listening again", type(exc).__name__)
                ready.set()
                self._stop.wait(1.0)
            again = True

    def _listen_once(self, ready: threading.Event, again: bool) -> None:
        raw = self._engine.raw_connection()
        try:
            driver: Any = raw.driver_connection
            driver.autocommit = True
            driver.execute(f"LISTEN {CHANNEL}")
            ready.set()
            if again:
                self._wake()  # whatever happened while the connection was gone
            pgconn = driver.pgconn
            while not self._stop.is_set():
                readable, _, _ = select.select([pgconn.socket], [], [], 0.5)
                if not readable:
                    continue
                pgconn.consume_input()
                woken = False
                while pgconn.notifies() is not None:
                    woken = True
                if woken:
                    self._wake()
        finally:
            raw.invalidate()  # a listening session is not for the pool

    def _wake(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()
