"""A long thread synced over many pages: each page extends its conversation instead of deriving
it again from every stored trace, and the result is the conversation derived at once.

The sync runs against the LangSmith fake on loopback into real SQLite and PostgreSQL databases.
How fast is measured by the benchmarks (``benchmarks/run.py --only 7``), never here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pytest_connectors import Imports
from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer, synthetic_runs
from pytest_connectors.imports.conversations import derive_conversations
from pytest_connectors.imports.local import LocalBackend
from pytest_connectors.imports.provider import Derivation
from pytest_connectors.imports.providers.langsmith.provider import PAGE_SIZE
from pytest_connectors.imports.sync import default_derivation
from pytest_connectors.models.imports import JobStatus, RecordedConversation
from pytest_connectors.storage import records
from pytest_connectors.storage.store import Store

PROJECT = "long-threads"
START = datetime(2026, 1, 1, tzinfo=UTC)
LONG = 4 * PAGE_SIZE + 50  # five pages of one thread


def long_thread(count: int) -> list[dict[str, Any]]:
    """One thread of ``count`` runs, some still pending, with tags and metadata that change,
    and a short thread woven in."""
    runs = synthetic_runs(count, start=START, turns_per_thread=count)
    for n, run in enumerate(runs):
        run["extra"]["metadata"]["step"] = n // 70
        run["tags"] = [f"phase-{n // 150}"]
        if n % 97 == 5:
            run["end_time"], run["outputs"], run["status"] = None, None, "pending"
    other = synthetic_runs(6, start=START + timedelta(milliseconds=5), turns_per_thread=6)
    for n, run in enumerate(other):
        run["id"] = run["trace_id"] = f"ffffffff-0000-4000-8000-{n:012d}"
        run["extra"]["metadata"]["thread_id"] = "short"
        run["start_time"] += timedelta(seconds=n)
    return runs + other


class CountingDerivation:
    """The default derivation, counting the runs it is handed to derive whole."""

    def __init__(self) -> None:
        self.derived_runs = 0
        default = default_derivation()
        self.derivation = replace(default, derive=self._derive)
        self._default = default

    def _derive(self, runs: list[dict[str, Any]]) -> list[RecordedConversation]:
        self.derived_runs += len(runs)
        return self._default.derive(runs)


@pytest.fixture
def fake(langsmith_fake: LangSmithServer) -> LangSmithServer:
    langsmith_fake.fake.add_runs(long_thread(LONG), project=PROJECT)
    return langsmith_fake


@contextlib.contextmanager
def synced(db: str, fake: LangSmithServer, derivation: Derivation) -> Iterator[Imports]:
    backend = LocalBackend(db, derivation=derivation, environ={"LONG_KEY": API_KEY})
    with Imports(backend=backend) as imports:
        connector = imports.connectors.create(
            {
                "agentId": "agent",
                "name": "long threads",
                "category": "llm-tracing",
                "provider": "langsmith",
                "config": {"apiKey": "${LONG_KEY}", "projectName": PROJECT, "apiUrl": fake.url},
            }
        )
        # connect syncs the last days, which hold none of these runs
        imports.jobs.wait(imports.connectors.connect(connector.id).job.id, timeout=120)
        job = imports.connectors.sync(connector.id, from_=START, to=START + timedelta(hours=1))
        done = imports.jobs.wait(job.id, timeout=120)
        assert done.status is JobStatus.SUCCEEDED, done.error
        assert done.stats.created == LONG + 6
        yield imports


def derived_at_once(db: str, conversation: RecordedConversation) -> RecordedConversation:
    """The conversation derived from all the stored traces of its thread in one go."""
    assert conversation.connector_id is not None
    with Store(db) as store, store.read() as connection:
        key = conversation.thread_key
        runs = records.trace_payloads(connection, conversation.connector_id, {key})[key]
    (whole,) = derive_conversations(runs)
    return whole


def comparable(conversation: RecordedConversation) -> dict[str, Any]:
    fields = {"thread_key", "started_at", "ended_at", "turns", "metadata", "tags", "pending"}
    return conversation.model_dump(include=fields)


def test_a_long_thread_synced_page_by_page_is_the_conversation_derived_at_once(
    fake: LangSmithServer, db_url: str
) -> None:
    db = db_url
    counting = CountingDerivation()
    with synced(db, fake, counting.derivation) as imports:
        conversations = imports.conversations.list(limit=10).items

    by_key = {c.thread_key: c for c in conversations}
    assert sorted(by_key) == ["short", "thread-000000"]
    long = by_key["thread-000000"]
    assert len(long.turns) == LONG and long.pending
    assert [t.index for t in long.turns] == list(range(LONG))
    assert long.tags == ["phase-0", "phase-1", "phase-2"] and long.metadata["step"] == 6
    for conversation in conversations:
        assert comparable(conversation) == comparable(derived_at_once(db, conversation))
    # Each run was derived about once: deriving the thread again on every page would have
    # handed the derivation 100 + 200 + 300 + 400 + 450 runs of it.
    assert counting.derived_runs <= LONG + 6 + PAGE_SIZE
