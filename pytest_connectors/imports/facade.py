"""``Imports``: the one object to manage import connectors, their jobs and what they import.

    imports = Imports()                       # data/connectors.db next to the connector file
    connector = imports.connectors.create({...})
    result = imports.connectors.connect(connector.id)
    job = imports.jobs.wait(result.job.id)    # runs the job here if no worker has taken it
    for conversation in imports.conversations.list(connector=connector.id).items: ...

The same surface works on any :class:`~pytest_connectors.imports.backend.Backend`.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pytest_connectors._support.paths import ENV_API_KEY
from pytest_connectors._support.times import as_utc
from pytest_connectors.errors import InvalidInputError
from pytest_connectors.imports.backend import (
    MAX_SEARCH_TEXT,
    Backend,
    ConnectResult,
    ConversationDetail,
    ConversationList,
    ConversationQuery,
    Origin,
)
from pytest_connectors.imports.config import CreateImportConnectorInput, UpdateImportConnectorInput
from pytest_connectors.models.imports import (
    ImportConnector,
    Job,
    RecordedConversation,
    Scope,
    UserSession,
)


class Connectors:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def list(self, agent_id: str | None = None) -> list[ImportConnector]:
        return self._backend.list_connectors(agent_id)

    def get(self, id: str) -> ImportConnector:
        return self._backend.get_connector(id)

    def create(self, input: CreateImportConnectorInput | Mapping[str, Any]) -> ImportConnector:
        """Store a connector; the provider is not contacted."""
        return self._backend.create_connector(input)

    def update(
        self, id: str, input: UpdateImportConnectorInput | Mapping[str, Any]
    ) -> ImportConnector:
        """Partial merge of name and config; never changes the status or queues a job."""
        return self._backend.update_connector(id, input)

    def connect(self, id: str, config: Mapping[str, Any] | None = None) -> ConnectResult:
        """Mark connected and queue a sync, in one transaction (a queued one is reused)."""
        return self._backend.connect(id, config)

    def disconnect(self, id: str) -> ImportConnector:
        """Cancel queued jobs, stop a running one after its page; the imported data stays."""
        return self._backend.disconnect(id)

    def sync(
        self, id: str, from_: datetime | str | None = None, to: datetime | str | None = None
    ) -> Job:
        """Backfill and reconcile ``[from_, to)``; without a window, continue from the last sync."""
        return self._backend.sync(id, from_, to)

    def delete(self, id: str) -> None:
        """Remove the connector, its jobs and the data it imported; nothing else."""
        self._backend.delete_connector(id)


class Jobs:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def get(self, id: str) -> Job:
        return self._backend.get_job(id)

    def wait(self, id: str, timeout: float | None = None) -> Job:
        """The finished job (check its ``status``), or JobTimeoutError naming its state."""
        return self._backend.wait_job(id, timeout)


class Conversations:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def list(
        self,
        connector: str | None = None,
        agent_id: str | None = None,
        origin: Origin | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        text: str | None = None,
    ) -> ConversationList:
        """Newest first. ``since``/``until``: started at or after / before (ISO text or
        datetimes, UTC without a zone); ``text``: found in the thread key, a message, a tool
        call, an answer or metadata (case-insensitive). Checked here, so the database and the
        service refuse the same values with the same words."""
        start, end = as_utc(since, "since"), as_utc(until, "until")
        if start is not None and end is not None and start >= end:
            raise InvalidInputError(
                f"since ({start.isoformat()}) must be before until ({end.isoformat()})"
            )
        if text is not None and len(text) > MAX_SEARCH_TEXT:
            raise InvalidInputError(
                f"text: at most {MAX_SEARCH_TEXT} characters to search for; got {len(text)}"
            )
        return self._backend.list_conversations(
            ConversationQuery(connector, agent_id, origin, limit, cursor, start, end, text or None)
        )

    def get(self, id: str, agent_id: str | None = None) -> ConversationDetail:
        """``id`` may also be the conversation's thread key; one that several conversations
        share raises :class:`InvalidInputError` naming them. Native ids are their agent's own:
        a key that reaches two agents holding ``id`` gives ``agent_id`` to say which."""
        return self._backend.get_conversation(id, agent_id=agent_id)

    def write_native(
        self, conversations: Sequence[RecordedConversation]
    ) -> builtins.list[RecordedConversation]:
        return self._backend.write_native(conversations)


class Sessions:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def list(self, connector: str | None = None) -> list[UserSession]:
        return self._backend.list_sessions(connector=connector)


class Imports:
    """Import connectors on the local database (``db``: path or URL), on a connectors service
    (``url`` and ``api_key``, the key defaulting to ``$PYTEST_CONNECTORS_API_KEY``), or on
    ``backend``."""

    def __init__(
        self,
        db: str | os.PathLike[str] | None = None,
        *,
        backend: Backend | None = None,
        scope: Scope | None = None,
        project_dir: Path | None = None,
        url: str | None = None,
        api_key: str | None = None,
    ) -> None:
        if url is not None and (db is not None or backend is not None or scope is not None):
            raise InvalidInputError(
                "give either a database or a service URL: with url= the service's API key "
                "decides the scope"
            )
        if backend is None and url is not None:
            from pytest_connectors.imports.remote import RemoteBackend

            backend = RemoteBackend(url, api_key or os.environ.get(ENV_API_KEY, ""))
        if backend is None:
            from pytest_connectors.imports.local import LocalBackend

            backend = LocalBackend(db, scope=scope, project_dir=project_dir)
        self.backend = backend
        self.connectors = Connectors(backend)
        self.jobs = Jobs(backend)
        self.conversations = Conversations(backend)
        self.sessions = Sessions(backend)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Imports:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
