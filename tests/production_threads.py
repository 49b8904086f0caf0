"""Production conversations with chosen thread keys and texts, imported into a real database.

Each thread becomes LangGraph-shaped root runs in the LangSmith fake (one run per turn, dated
relative to now, so a first sync's look-back always covers them), and a real sync job brings
them into SQLite through an import connector, as `imports connect` would.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer
from pytest_connectors.imports.facade import Imports
from pytest_connectors.models.imports import JobStatus

PROJECT = "support-prod"
IMPORT_CONNECTOR = "LangSmith prod"

# thread key -> the turns: (what the user said, what production answered)
Threads = Mapping[str, Sequence[tuple[str, str]]]


def root_runs(threads: Threads, *, began: datetime | None = None) -> list[dict[str, Any]]:
    start = began or datetime.now(UTC) - timedelta(hours=1)
    runs = []
    for position, (thread, turns) in enumerate(threads.items()):
        state: list[dict[str, Any]] = []
        for index, (said, answer) in enumerate(turns):
            at = start + timedelta(seconds=10 * position + index)
            run_id = str(uuid.uuid4())
            state = [
                *state,
                {"type": "human", "content": said, "id": f"h-{run_id}"},
                {"type": "ai", "content": answer, "id": f"a-{run_id}"},
            ]
            runs.append(
                {
                    "id": run_id,
                    "name": "LangGraph",
                    "run_type": "chain",
                    "start_time": at,
                    "end_time": at + timedelta(milliseconds=300),
                    "inputs": {"messages": [{"role": "user", "content": said}]},
                    "outputs": {"messages": state},
                    "extra": {"metadata": {"thread_id": thread}},
                    "tags": [],
                    "trace_id": run_id,
                }
            )
    return runs


def import_threads(db: Path, langsmith: LangSmithServer, threads: Threads) -> Path:
    """``threads`` imported into the SQLite database ``db`` by the import connector
    :data:`IMPORT_CONNECTOR` of agent ``support-bot``."""
    langsmith.fake.add_runs(root_runs(threads), project=PROJECT)
    with Imports(db=db) as imports:
        connector = imports.connectors.create(
            {
                "agentId": "support-bot",
                "name": IMPORT_CONNECTOR,
                "category": "llm-tracing",
                "provider": "langsmith",
                "config": {"apiKey": API_KEY, "projectName": PROJECT, "apiUrl": langsmith.url},
            }
        )
        job = imports.connectors.connect(connector.id).job
        assert imports.jobs.wait(job.id, timeout=120).status is JobStatus.SUCCEEDED
        listed = imports.conversations.list(limit=500).items
        assert sorted(c.thread_key for c in listed) == sorted(threads)
    return db
