"""The facade's backend on a database opened here (SQLite file by default, or any URL)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pytest_connectors._support.times import as_utc
from pytest_connectors.errors import (
    ConversationNotFoundError,
    ImportConnectorNotFoundError,
    InvalidInputError,
    JobNotFoundError,
)
from pytest_connectors.imports import jobs as job_queue
from pytest_connectors.imports.backend import (
    ConnectResult,
    ConversationDetail,
    ConversationList,
    ConversationQuery,
)
from pytest_connectors.imports.config import (
    CreateImportConnectorInput,
    UpdateImportConnectorInput,
    check_complete,
    parse_create,
    parse_update,
    public,
    updated_config,
)
from pytest_connectors.imports.provider import Derivation
from pytest_connectors.imports.providers import spec_of
from pytest_connectors.imports.reach import LOCAL, Reach
from pytest_connectors.imports.sync import (
    IMPORTED_ID_PREFIX,
    derivation_of,
    refresh_links,
)
from pytest_connectors.imports.worker import ProgressCallback, ProviderFactory, Worker
from pytest_connectors.models.connector import utc_now
from pytest_connectors.models.imports import (
    ConnectorStatus,
    ImportConnector,
    Job,
    JobStatus,
    JobTrigger,
    RecordedConversation,
    Scope,
    UserSession,
)
from pytest_connectors.storage import connectors as connector_rows
from pytest_connectors.storage import conversations as conversation_rows
from pytest_connectors.storage import jobs as job_rows
from pytest_connectors.storage import records
from pytest_connectors.storage.scoping import check_may_write
from pytest_connectors.storage.store import Connection, Store

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class LocalBackend:
    def __init__(
        self,
        db: str | os.PathLike[str] | None = None,
        *,
        store: Store | None = None,
        scope: Scope | None = None,
        project_dir: Path | None = None,
        provider_factory: ProviderFactory | None = None,
        derivation: Derivation | None = None,
        environ: Mapping[str, str] | None = None,
        on_progress: ProgressCallback | None = None,
        reach: Reach = LOCAL,
    ) -> None:
        """``reach``: what the connectors' configs may make a job do (the service narrows it
        for its callers; see :mod:`pytest_connectors.imports.reach`)."""
        self._owns_store = store is None
        self.store = store if store is not None else Store(db, project_dir=project_dir)
        self.scope = scope or Scope.owner()
        self._provider_factory = provider_factory
        self._derivation = derivation
        self._environ = environ
        self._on_progress = on_progress
        self._reach = reach
        self._worker: Worker | None = None

    def close(self) -> None:
        if self._owns_store:
            self.store.close()

    # -- connectors ------------------------------------------------------------------------

    def _find(self, connection: Connection, ref: str) -> ImportConnector:
        found = connector_rows.find(connection, self.scope, ref)
        if found is None:
            raise ImportConnectorNotFoundError(ref)
        return found

    def _lock(self, connection: Connection, ref: str) -> ImportConnector:
        """The connector, its row locked until the transaction ends (PostgreSQL; SQLite's write
        transactions are serial already): a change computed from it is not based on a stale
        read, and two calls cannot both see "no job queued" and queue one each."""
        found = self._find(connection, ref)
        locked = connector_rows.get(connection, self.scope, found.id, for_update=True)
        if locked is None:  # deleted since it was found
            raise ImportConnectorNotFoundError(ref)
        return locked

    def list_connectors(self, agent_id: str | None = None) -> list[ImportConnector]:
        with self.store.read() as connection:
            found = connector_rows.list_all(connection, self.scope, agent_id=agent_id)
        return [public(c) for c in found]

    def get_connector(self, ref: str) -> ImportConnector:
        with self.store.read() as connection:
            return public(self._find(connection, ref))

    def create_connector(
        self, data: CreateImportConnectorInput | Mapping[str, Any]
    ) -> ImportConnector:
        parsed = parse_create(data)
        self._reach.check_config(parsed.config, spec_of(parsed.provider).url_keys)
        tenant = parsed.tenant_id or self.scope.tenant_id or "default"
        check_may_write(self.scope, tenant, parsed.agent_id)
        now = utc_now()
        connector = ImportConnector(
            id=job_queue.new_id("imp"),
            tenant_id=tenant,
            agent_id=parsed.agent_id,
            name=parsed.name,
            category=parsed.category,
            provider=parsed.provider,
            config=parsed.config,
            created_at=now,
            updated_at=now,
        )
        with self.store.begin() as connection:
            connector_rows.insert(connection, self.scope, connector)
        return public(connector)

    def update_connector(
        self, ref: str, data: UpdateImportConnectorInput | Mapping[str, Any]
    ) -> ImportConnector:
        change = parse_update(data)
        with self.store.begin() as connection:
            current = self._lock(connection, ref)
            values: dict[str, Any] = {"updated_at": utc_now()}
            if change.name is not None:
                values["name"] = change.name
            if change.config is not None:
                config = updated_config(current, change.config)
                self._reach.check_config(config, spec_of(current.provider).url_keys)
                values["config"] = config
            updated = connector_rows.update_fields(connection, self.scope, current.id, values)
        if updated is None:
            raise ImportConnectorNotFoundError(ref)
        return public(updated)

    def connect(self, ref: str, config: Mapping[str, Any] | None = None) -> ConnectResult:
        with self.store.begin() as connection:
            current = self._lock(connection, ref)
            merged = updated_config(current, config or {})
            self._reach.check_config(merged, spec_of(current.provider).url_keys)
            check_complete(current.model_copy(update={"config": merged}))
            connected = connector_rows.update_fields(
                connection,
                self.scope,
                current.id,
                {
                    "config": merged,
                    "status": ConnectorStatus.CONNECTED.value,
                    "updated_at": utc_now(),
                },
            )
            assert connected is not None
            job = job_queue.enqueue(connection, connected, JobTrigger.CONNECT, reach=self._reach)
        return ConnectResult(connector=public(connected), job=job)

    def disconnect(self, ref: str) -> ImportConnector:
        now = utc_now()
        with self.store.begin() as connection:
            current = self._lock(connection, ref)
            job_rows.cancel_queued(connection, current.id, now)
            job_rows.request_stop(connection, current.id, now)
            updated = connector_rows.update_fields(
                connection,
                self.scope,
                current.id,
                {"status": ConnectorStatus.DISCONNECTED.value, "updated_at": now},
            )
        assert updated is not None
        return public(updated)

    def sync(
        self,
        ref: str,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
    ) -> Job:
        start, end = as_utc(from_, "from"), as_utc(to, "to")
        if start is not None and end is not None and start >= end:
            raise InvalidInputError("from must be before to")
        with self.store.begin() as connection:
            current = self._lock(connection, ref)
            if current.status is not ConnectorStatus.CONNECTED:
                raise InvalidInputError(
                    f"import connector {current.name!r} is disconnected; connect it first"
                )
            check_complete(current)
            return job_queue.enqueue(
                connection, current, JobTrigger.SYNC, from_=start, to=end, reach=self._reach
            )

    def delete_connector(self, ref: str) -> None:
        with self.store.begin() as connection:
            current = self._lock(connection, ref)
            connector_rows.delete_with_data(connection, self.scope, current.id)

    # -- jobs ------------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job:
        with self.store.read() as connection:
            job = job_rows.get(connection, self.scope, job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        return job

    def list_jobs(self, limit: int = DEFAULT_LIMIT) -> list[Job]:
        """The newest jobs within the scope, of every connector."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}")
        with self.store.read() as connection:
            return job_rows.list_recent(connection, self.scope, limit=limit)

    def wait_job(self, job_id: str, timeout: float | None = None) -> Job:
        return job_queue.wait(
            self.store, self.scope, job_id, timeout=timeout, run_here=self._run_here
        )

    @property
    def worker(self) -> Worker:
        if self._worker is None:
            self._worker = Worker(
                self.store,
                provider_factory=self._provider_factory,
                derivation=self._derivation,
                environ=self._environ,
                on_progress=self._on_progress,
            )
        return self._worker

    def _run_here(self, job_id: str, seconds: float | None) -> bool:
        """Run the job in this process, or first a job of its connector queued ahead of it.

        Jobs of other connectors are left to whoever waits for them (or to the workers).
        """
        if self.worker.run_once(job_id, seconds=seconds) is not None:
            return True
        with self.store.read() as connection:
            job = job_rows.get(connection, self.scope, job_id)
        if job is None or job.status is not JobStatus.QUEUED:
            return False
        return self.worker.run_once(connector_id=job.connector_id, seconds=seconds) is not None

    # -- conversations and sessions ----------------------------------------------------------

    def _connector_id(self, connection: Connection, ref: str | None) -> str | None:
        return None if ref is None else self._find(connection, ref).id

    def list_conversations(self, query: ConversationQuery) -> ConversationList:
        size = DEFAULT_LIMIT if query.limit is None else query.limit
        if not 1 <= size <= MAX_LIMIT:
            raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}")
        with self.store.read() as connection:
            page = conversation_rows.list_page(
                connection,
                self.scope,
                connector_id=self._connector_id(connection, query.connector),
                agent_id=query.agent_id,
                origin=query.origin,
                limit=size,
                cursor=query.cursor,
                since=as_utc(query.since, "since"),
                until=as_utc(query.until, "until"),
                text=query.text or None,
            )
        return ConversationList(items=page.items, next_cursor=page.next_cursor)

    def get_conversation(
        self, conversation_id: str, *, agent_id: str | None = None
    ) -> ConversationDetail:
        """By id, or by the thread key the provider (or the test session) gave it."""
        with self.store.read() as connection:
            found = conversation_rows.find(
                connection, self.scope, conversation_id, agent_id=agent_id
            )
            if found is None:
                found = self._by_thread_key(connection, conversation_id, agent_id)
            links = conversation_rows.linked_sessions(connection, found)
        return ConversationDetail.of(found.conversation, links)

    def _by_thread_key(
        self, connection: Connection, thread_key: str, agent_id: str | None
    ) -> conversation_rows.StoredConversation:
        shown = 5
        matches = conversation_rows.with_thread_key(
            connection, self.scope, thread_key, limit=shown + 1, agent_id=agent_id
        )
        if not matches:
            raise ConversationNotFoundError(thread_key)
        if len(matches) == 1:
            return matches[0]
        names = {c.id: c.name for c in connector_rows.list_all(connection, self.scope)}

        def candidate(conversation: RecordedConversation) -> str:
            source = names.get(conversation.connector_id or "", conversation.origin)
            return f"{conversation.id} ({source})"

        listed = ", ".join(candidate(c.conversation) for c in matches[:shown])
        more = ", and more" if len(matches) > shown else ""
        raise InvalidInputError(
            f"thread {thread_key!r} is in several conversations: {listed}{more}; give the id"
        )

    def write_native(
        self, conversations: Sequence[RecordedConversation]
    ) -> list[RecordedConversation]:
        """Store conversations a test session produced next to the imported ones."""
        tenant = self.scope.tenant_id or "default"
        written: list[RecordedConversation] = []
        seen: set[tuple[str, str]] = set()
        for conversation in conversations:
            if not conversation.agent_id:
                raise InvalidInputError(f"conversation {conversation.id!r} has no agentId")
            if (conversation.agent_id, conversation.id) in seen:
                raise InvalidInputError(
                    f"conversation id {conversation.id!r} appears twice; give each one its own id"
                )
            if conversation.id.startswith(IMPORTED_ID_PREFIX):
                raise InvalidInputError(
                    f"conversation id {conversation.id!r}: ids starting with "
                    f"{IMPORTED_ID_PREFIX!r} are kept for imported conversations"
                )
            seen.add((conversation.agent_id, conversation.id))
            check_may_write(self.scope, tenant, conversation.agent_id)
            written.append(
                conversation.model_copy(update={"origin": "native", "connector_id": None})
            )
        now = utc_now()
        with self.store.begin() as connection:
            conversation_rows.save(connection, written, tenant_id=tenant, now=now)
        return written

    def list_sessions(self, *, connector: str | None = None) -> list[UserSession]:
        with self.store.read() as connection:
            return records.list_sessions(
                connection, self.scope, connector_id=self._connector_id(connection, connector)
            )

    def refresh_links(self, ref: str) -> int:
        """Link the sessions and conversations of a connector's agent again (after native
        writes, say)."""
        with self.store.begin() as connection:
            connector = self._find(connection, ref)
            derivation = self._derivation or derivation_of(spec_of(connector.provider))
            return refresh_links(connection, connector, derivation)
