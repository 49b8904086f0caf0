"""The sync workers a service process runs in threads while it serves.

Each is an ordinary :class:`~pytest_connectors.imports.worker.Worker` claiming jobs from the
shared database, so in-process workers, ``pytest-connectors worker`` processes and other
service replicas divide the queue between them and each job runs once. A job still running when
the process ends keeps its checkpoint; once its lease runs out the next claim, by whichever
worker, resumes it from there.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from pytest_connectors.imports.reach import Reach
from pytest_connectors.imports.worker import Worker
from pytest_connectors.storage.store import Store

log = logging.getLogger("pytest_connectors.service")

# How long a stopping service waits for its workers before leaving the rest to the lease.
STOP_TIMEOUT_S = 10.0


class WorkerPool:
    def __init__(
        self,
        store: Store,
        count: int,
        *,
        reach: Reach,
        lease: timedelta = timedelta(seconds=30),
        poll_interval: float = 0.5,
    ) -> None:
        self.store = store
        self.reach = reach
        self.count = count
        self.lease = lease
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._stop.clear()
        for number in range(self.count):
            worker = Worker(self.store, lease=self.lease, reach=self.reach)
            thread = threading.Thread(
                target=self._run, args=(worker,), name=f"sync-worker-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _run(self, worker: Worker) -> None:
        while not self._stop.is_set():
            try:
                worker.run(stop=self._stop, poll_interval=self.poll_interval)
            except Exception as exc:  # the database went away for a moment: keep serving
                log.warning("sync worker %s: %s; retrying", worker.worker_id, type(exc).__name__)
                self._stop.wait(self.poll_interval)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
