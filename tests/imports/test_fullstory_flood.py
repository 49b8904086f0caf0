"""A FullStory export of many sessions is imported whole, in memory that does not grow with it.

Each sync runs in a process of its own (its peak resident memory is the figure), against the
FullStory fake on loopback, into a real SQLite file. The fake makes the sessions while the export
is downloaded, each session's events spread over the whole file: a reader that kept sessions
until they end would hold all of them at once (300k sessions took 2 GB that way).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pytest_connectors.fakes.fullstory import API_KEY, FullStoryServer

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 1, 1, tzinfo=UTC)
SPACING = timedelta(seconds=1)
SMALL = 500
LARGE = 40_000
# Growth of the peak from SMALL to LARGE sessions. Holding every session until the end of the
# export grew by about 7 KB a session (some 270 MB here); a spooled export grows by its buffers.
MAX_GROWTH_MB = 60


def sync_in_a_process(
    fullstory: FullStoryServer, sessions: int, db: Path, scratch: Path
) -> dict[str, object]:
    """Sync the flood's window in a fresh process; its job stats and peak RSS."""
    env = {**os.environ, "FLOOD_FULLSTORY_KEY": API_KEY, "TMPDIR": str(scratch)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    end = START + SPACING * sessions + timedelta(hours=1)
    command = [sys.executable, __file__, fullstory.url, str(db), START.isoformat(), end.isoformat()]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def stored_sessions(db: Path) -> tuple[int, int]:
    """How many sessions the database holds, and how many distinct ids."""
    with sqlite3.connect(db) as connection:
        count, distinct = connection.execute(
            "SELECT count(*), count(DISTINCT provider_id) FROM user_sessions"
        ).fetchone()
    return int(count), int(distinct)


def test_a_flood_of_sessions_is_stored_whole_in_flat_memory(
    fullstory_fake: FullStoryServer, tmp_path: Path
) -> None:
    peaks = {}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for sessions in (SMALL, LARGE):
        fullstory_fake.fake.reset()
        fullstory_fake.fake.add_session_flood(sessions, start=START, spacing=SPACING)
        db = tmp_path / f"flood-{sessions}.db"

        result = sync_in_a_process(fullstory_fake, sessions, db, scratch)

        assert result["status"] == "succeeded", result
        assert result["fetched"] == result["created"] == sessions, result
        assert stored_sessions(db) == (sessions, sessions)
        peaks[sessions] = float(str(result["peak_rss_mb"]))
    growth = peaks[LARGE] - peaks[SMALL]
    assert growth < MAX_GROWTH_MB, f"peak RSS {peaks[SMALL]:.0f} -> {peaks[LARGE]:.0f} MB"
    assert not list(scratch.iterdir()), "a scratch file was left behind"


def _child(url: str, db: str, start: str, end: str) -> None:
    """Create a FullStory connector, sync the window, print the job and the peak RSS."""
    import resource

    from pytest_connectors import Imports

    with Imports(db) as imports:
        connector = imports.connectors.create(
            {
                "agentId": "shop",
                "name": "FullStory flood",
                "category": "session-data",
                "provider": "fullstory",
                "config": {"apiKey": "${FLOOD_FULLSTORY_KEY}", "apiUrl": url},
            }
        )
        imports.jobs.wait(imports.connectors.connect(connector.id).job.id, timeout=120)
        job = imports.connectors.sync(connector.id, from_=start, to=end)
        done = imports.jobs.wait(job.id, timeout=240)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stats = done.stats
    print(
        json.dumps(
            {
                "status": done.status.value,
                "error": done.error,
                "fetched": stats.fetched,
                "created": stats.created,
                "peak_rss_mb": peak_kib / 1024,
            }
        )
    )


if __name__ == "__main__":
    _child(*sys.argv[1:5])
