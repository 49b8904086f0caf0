"""Import sync speed: LangSmith fake (own process) -> provider -> sync engine -> SQLite.

Four figures, the first three side by side in one run:

- first sync of ``count`` root runs (a fresh database), end to end, in traces per second;
- a re-sync of the same, unchanged window: how much faster it is, and that it writes no row;
- peak memory of a whole sync in a fresh process, at 1,000 and at ``count`` traces: pages are
  streamed, so the growth between the two must stay small;
- first sync of one long thread (8,050 traces by default, over 81 pages): each page extends
  the thread's conversation rather than deriving it again, so the rate must hold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_report import Row, check, median, spread

from pytest_connectors import Imports
from pytest_connectors.fakes.langsmith import API_KEY, LangSmithProcess
from pytest_connectors.models.imports import Job, JobStatus

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent

PROJECT = "bench"
# The fake's synthetic runs: from this moment on, 10 ms apart.
FIRST_RUN = datetime(2026, 1, 1, tzinfo=UTC)
SPACING = timedelta(milliseconds=10)
SMALL = 1_000


def _window(count: int) -> tuple[datetime, datetime]:
    return FIRST_RUN, FIRST_RUN + SPACING * count


def _sync(imports: Imports, connector_id: str, count: int) -> tuple[Job, float]:
    start, end = _window(count)
    began = time.perf_counter()
    job = imports.connectors.sync(connector_id, from_=start, to=end)
    done = imports.jobs.wait(job.id, timeout=600)
    elapsed = time.perf_counter() - began
    if done.status is not JobStatus.SUCCEEDED:
        raise RuntimeError(f"sync job {done.status.value}: {done.error}")
    return done, elapsed


def _connector(imports: Imports, url: str) -> str:
    created = imports.connectors.create(
        {
            "agentId": "bench-agent",
            "name": "bench",
            "category": "llm-tracing",
            "provider": "langsmith",
            "config": {"apiKey": "${BENCH_LANGSMITH_KEY}", "projectName": PROJECT, "apiUrl": url},
        }
    )
    # connect queues a sync of the last days, which holds none of the synthetic runs
    imports.jobs.wait(imports.connectors.connect(created.id).job.id, timeout=600)
    return created.id


def long_thread(*, count: int, rounds: int) -> list[Row]:
    """First syncs of one thread of ``count`` traces into fresh SQLite files."""
    os.environ["BENCH_LANGSMITH_KEY"] = API_KEY
    seconds: list[float] = []
    with (
        LangSmithProcess(count, project=PROJECT, turns_per_thread=count) as fake,
        tempfile.TemporaryDirectory(prefix="bench-long-thread-") as tmp,
    ):
        for _ in range(max(1, min(rounds, 3))):
            with Imports(Path(tmp) / f"long-{time.monotonic_ns()}.db") as imports:
                connector_id = _connector(imports, fake.url)
                job, elapsed = _sync(imports, connector_id, count)
                (conversation,) = imports.conversations.list(connector=connector_id).items
            if job.stats.created != count or len(conversation.turns) != count:
                raise RuntimeError(
                    f"the sync stored {job.stats.created} traces and "
                    f"{len(conversation.turns)} turns of {count}"
                )
            seconds.append(elapsed)
    rate = count / median(seconds)
    return [
        Row(
            f"7d. Import: first sync of one thread of {count:,} traces",
            f"{rate:,.0f} traces/s",
            ">= 1,000 traces/s",
            check(rate >= 1_000),
            rate,
            "traces/s",
            f"{median(seconds):.2f} s; {spread(seconds, 2)}",
        )
    ]


def one_round(url: str, count: int, work: Path) -> tuple[float, float, Job]:
    """First sync and re-sync of ``count`` runs into a fresh SQLite file: their seconds."""
    db = work / f"round-{time.monotonic_ns()}.db"
    with Imports(db) as imports:
        connector_id = _connector(imports, url)
        first, first_s = _sync(imports, connector_id, count)
        if first.stats.created != count:
            raise RuntimeError(f"first sync created {first.stats.created} of {count} traces")
        again, again_s = _sync(imports, connector_id, count)
    return first_s, again_s, again


def _peak_rss_mb(url: str, count: int, work: Path) -> float:
    """A whole sync of ``count`` traces in a fresh process: its peak resident memory."""
    env = {**os.environ, "BENCH_LANGSMITH_KEY": API_KEY}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    db = work / f"memory-{count}-{time.monotonic_ns()}.db"
    output = subprocess.run(
        [sys.executable, str(Path(__file__)), "--child", url, str(count), str(db)],
        capture_output=True, text=True, env=env, check=True, timeout=900,
    ).stdout  # fmt: skip
    return float(json.loads(output.strip().splitlines()[-1])["peak_rss_mb"])


def imports_sync(*, count: int, rounds: int) -> list[Row]:
    os.environ["BENCH_LANGSMITH_KEY"] = API_KEY
    rounds = max(1, min(rounds, 3))  # ~10 s a round at the target rate
    firsts: list[float] = []
    agains: list[float] = []
    writes = 0
    with (
        LangSmithProcess(count, project=PROJECT) as fake,
        tempfile.TemporaryDirectory(prefix="bench-imports-") as tmp,
    ):
        work = Path(tmp)
        for _ in range(rounds):
            first_s, again_s, again = one_round(fake.url, count, work)
            firsts.append(first_s)
            agains.append(again_s)
            writes += again.stats.created + again.stats.updated + again.stats.marked_missing
        small = median([_peak_rss_mb(fake.url, SMALL, work) for _ in range(rounds)])
        large = median([_peak_rss_mb(fake.url, count, work) for _ in range(rounds)])
    rate = count / median(firsts)
    ratio = median(firsts) / median(agains)
    growth = large - small
    return [
        Row(
            f"7a. Import: first sync of {count:,} traces",
            f"{rate:,.0f} traces/s",
            ">= 1,000 traces/s",
            check(rate >= 1_000),
            rate,
            "traces/s",
            f"{median(firsts):.2f} s; {spread(firsts, 2)}",
        ),
        Row(
            "7b. Import: re-sync of the unchanged window",
            f"{ratio:.1f}x faster, {writes} rows written",
            ">= 3x faster, 0 rows",
            check(ratio >= 3 and writes == 0),
            ratio,
            "x",
            f"{median(agains):.2f} s; {spread(agains, 2)}",
        ),
        Row(
            f"7c. Import: peak memory, {SMALL:,} -> {count:,} traces",
            f"+{growth:.1f} MB",
            "< 50 MB",
            check(growth < 50),
            growth,
            "MB",
            f"{small:.0f} MB -> {large:.0f} MB peak RSS",
        ),
    ]


def _child(url: str, count: int, db: Path) -> None:
    import resource

    with Imports(db) as imports:
        connector_id = _connector(imports, url)
        _sync(imports, connector_id, count)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_mb": peak_kb / 1024}))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
    else:
        count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
        for row in [*imports_sync(count=count, rounds=1), *long_thread(count=8_050, rounds=1)]:
            print(row)
