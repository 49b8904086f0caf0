"""One behavioural suite, two backends: the facade on the local database and on the service.

``Imports(db, scope=...)`` and ``Imports(backend=RemoteBackend(url, key))`` with a key of the
same scope must answer alike: the same records, the same exceptions. The remote side is the
real service in a subprocess with no sync worker, so queued jobs stay queued and every answer is
deterministic; each test works for an agent of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from service_support import ServiceProcess, issue_key

from pytest_connectors.errors import (
    ConversationNotFoundError,
    DuplicateImportConnectorError,
    ImportConnectorNotFoundError,
    InvalidInputError,
    JobNotFoundError,
    OutOfScopeError,
    ServiceAuthError,
    ServiceError,
)
from pytest_connectors.imports.backend import ConversationQuery
from pytest_connectors.imports.facade import Imports
from pytest_connectors.imports.remote import RemoteBackend
from pytest_connectors.models.imports import (
    ConnectorStatus,
    JobStatus,
    JobTrigger,
    RecordedConversation,
    RecordedTurn,
    Scope,
)

SECRET = "ls-secret-value-123"
TENANT = "acme"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    db = str(tmp_path_factory.mktemp("remote") / "service.db")
    with ServiceProcess(db, workers=0) as server:
        yield server


@pytest.fixture(scope="module")
def local_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("local") / "local.db")


@pytest.fixture(params=["local", "remote"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def agent() -> str:
    return f"agt_{uuid.uuid4().hex[:10]}"


def _open(kind: str, agent: str | None, request: pytest.FixtureRequest) -> Imports:
    if kind == "local":
        return Imports(request.getfixturevalue("local_db"), scope=Scope(TENANT, agent))
    server: ServiceProcess = request.getfixturevalue("service")
    return Imports(url=server.url, api_key=issue_key(server.db, TENANT, agent))


@pytest.fixture
def imports(kind: str, agent: str, request: pytest.FixtureRequest) -> Iterator[Imports]:
    with _open(kind, agent, request) as opened:
        yield opened


def _langsmith(agent: str | None, name: str = "LangSmith prod") -> dict[str, object]:
    body: dict[str, object] = {
        "name": name,
        "category": "llm-tracing",
        "provider": "langsmith",
        "config": {"apiKey": SECRET, "projectName": "support-prod"},
    }
    if agent is not None:
        body["agentId"] = agent
    return body


def test_create_get_list(imports: Imports, agent: str) -> None:
    created = imports.connectors.create(_langsmith(agent))
    assert created.agent_id == agent and created.tenant_id == TENANT
    assert created.status is ConnectorStatus.DISCONNECTED
    assert created.config == {"apiKey": "****", "projectName": "support-prod"}
    assert SECRET not in created.model_dump_json()
    assert imports.connectors.get(created.id) == created
    assert imports.connectors.get("LangSmith prod") == created  # by name, within the scope
    assert imports.connectors.list() == [created]
    assert imports.connectors.list(agent_id=agent) == [created]
    assert imports.connectors.list(agent_id="someone-else") == []


def test_bad_input_raises_the_same_errors(imports: Imports, agent: str) -> None:
    imports.connectors.create(_langsmith(agent))
    with pytest.raises(DuplicateImportConnectorError) as duplicate:
        imports.connectors.create(_langsmith(agent))
    # The service names what is taken, so the remote error is the local one, fields and all.
    assert (duplicate.value.name, duplicate.value.agent_id) == ("LangSmith prod", agent)
    assert str(duplicate.value) == str(DuplicateImportConnectorError("LangSmith prod", agent))
    wrong_pair = _langsmith(agent, "x") | {"provider": "fullstory"}
    with pytest.raises(InvalidInputError, match="does not belong"):
        imports.connectors.create(wrong_pair)
    unknown_key = _langsmith(agent, "y") | {"config": {"apiKey": "k", "colour": "blue"}}
    with pytest.raises(InvalidInputError, match="colour"):
        imports.connectors.create(unknown_key)
    with pytest.raises(OutOfScopeError):
        imports.connectors.create(_langsmith("another-agent", "z"))
    with pytest.raises(ImportConnectorNotFoundError):
        imports.connectors.get("no-such-connector")


def test_update_merges_without_reconnecting(imports: Imports, agent: str) -> None:
    created = imports.connectors.create(_langsmith(agent))
    connected = imports.connectors.connect(created.id)
    updated = imports.connectors.update(
        created.id, {"name": "LangSmith production", "config": {"projectName": "support-v2"}}
    )
    assert updated.name == "LangSmith production"
    assert updated.config == {"apiKey": "****", "projectName": "support-v2"}
    assert updated.status is ConnectorStatus.CONNECTED
    # Nothing new was queued: connecting again returns the job queued before the update.
    assert imports.connectors.connect(created.id).job.id == connected.job.id
    other = imports.connectors.create(_langsmith(agent, "other"))
    with pytest.raises(DuplicateImportConnectorError) as duplicate:
        imports.connectors.update(other.id, {"name": "LangSmith production"})
    assert (duplicate.value.name, duplicate.value.agent_id) == ("LangSmith production", agent)
    with pytest.raises(ImportConnectorNotFoundError):
        imports.connectors.update("no-such-connector", {"name": "x"})


def test_connect_queues_one_job_and_sync_takes_a_window(imports: Imports, agent: str) -> None:
    created = imports.connectors.create(_langsmith(agent))
    with pytest.raises(InvalidInputError, match="connect it first"):
        imports.connectors.sync(created.id)
    result = imports.connectors.connect(created.id, config={"workspaceId": "ws-1"})
    assert result.connector.status is ConnectorStatus.CONNECTED
    assert result.connector.config["workspaceId"] == "ws-1"
    assert result.job.trigger is JobTrigger.CONNECT and result.job.status is JobStatus.QUEUED
    assert imports.jobs.get(result.job.id) == result.job
    # A sync without a window while the connect job waits is that same job.
    assert imports.connectors.sync(created.id).id == result.job.id
    start = datetime(2026, 3, 1, tzinfo=UTC)
    window = imports.connectors.sync(created.id, start, "2026-03-06T00:00:00Z")
    assert window.id != result.job.id and window.trigger is JobTrigger.SYNC
    assert (window.from_, window.to) == (start, start + timedelta(days=5))
    with pytest.raises(InvalidInputError):
        imports.connectors.sync(created.id, "2026-03-06T00:00:00Z", "2026-03-01T00:00:00Z")


def test_disconnect_cancels_queued_jobs_and_delete_removes_them(
    imports: Imports, agent: str
) -> None:
    created = imports.connectors.create(_langsmith(agent))
    job = imports.connectors.connect(created.id).job
    disconnected = imports.connectors.disconnect(created.id)
    assert disconnected.status is ConnectorStatus.DISCONNECTED
    cancelled = imports.jobs.get(job.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert imports.jobs.wait(job.id, timeout=5).status is JobStatus.CANCELLED
    imports.connectors.delete(created.id)
    with pytest.raises(ImportConnectorNotFoundError):
        imports.connectors.get(created.id)
    with pytest.raises(JobNotFoundError):
        imports.jobs.get(job.id)
    with pytest.raises(ImportConnectorNotFoundError):
        imports.connectors.delete(created.id)


def test_conversations_page_and_detail(imports: Imports, agent: str) -> None:
    base = datetime(2026, 3, 1, tzinfo=UTC)
    written = imports.conversations.write_native(
        [
            RecordedConversation(
                id=f"{agent}-c{i}",
                agent_id=agent,
                thread_key=f"thread-{i}",
                origin="native",
                started_at=base + timedelta(minutes=i),
                turns=[RecordedTurn(index=0, user_messages=[f"q{i}"], answer=f"a{i}")],
            )
            for i in range(5)
        ]
    )
    assert len(written) == 5
    first = imports.conversations.list(agent_id=agent, limit=2)
    assert [c.id for c in first.items] == [f"{agent}-c4", f"{agent}-c3"]
    assert first.next_cursor is not None
    rest = imports.conversations.list(agent_id=agent, limit=10, cursor=first.next_cursor)
    assert [c.id for c in rest.items] == [f"{agent}-c2", f"{agent}-c1", f"{agent}-c0"]
    assert rest.next_cursor is None
    detail = imports.conversations.get(f"{agent}-c1")
    assert detail.conversation.turns[0].answer == "a1" and detail.sessions == []
    with pytest.raises(ConversationNotFoundError):
        imports.conversations.get("no-such-conversation")
    with pytest.raises(InvalidInputError, match="cursor"):
        imports.conversations.list(cursor="not-a-cursor")
    # Every backend takes the one query object the facade builds.
    query = ConversationQuery(agent_id=agent, origin="native", limit=2)
    assert imports.backend.list_conversations(query) == first
    after = imports.backend.list_conversations(replace(query, cursor=first.next_cursor, limit=10))
    assert after == rest
    # The window and the text filter alike on both backends.
    window = replace(query, since=base + timedelta(minutes=1), until=base + timedelta(minutes=3))
    assert [c.id for c in imports.backend.list_conversations(window).items] == [
        f"{agent}-c2",
        f"{agent}-c1",
    ]
    searched = replace(query, text="A3", limit=10)
    assert [c.id for c in imports.backend.list_conversations(searched).items] == [f"{agent}-c3"]


def test_a_tenant_scope_reaches_every_agent_of_the_tenant(
    kind: str, agent: str, request: pytest.FixtureRequest
) -> None:
    with _open(kind, agent, request) as mine, _open(kind, None, request) as tenant:
        created = mine.connectors.create(_langsmith(agent))
        assert tenant.connectors.get(created.id) == created
        assert created in tenant.connectors.list(agent_id=agent)
        with pytest.raises(InvalidInputError):
            tenant.connectors.create(_langsmith(None))


def test_the_remote_backend_never_shows_its_key(
    service: ServiceProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = issue_key(service.db, TENANT, "a1")
    monkeypatch.setenv("PYTEST_CONNECTORS_API_KEY", key)
    with Imports(url=service.url) as remote:
        assert remote.connectors.list() == []
        assert key not in repr(remote.backend) and key not in repr(vars(remote))
    with pytest.raises(InvalidInputError, match="either a database or a service URL"):
        Imports("local.db", url=service.url)
    wrong = RemoteBackend(service.url, key[:-1] + ("x" if key[-1] != "x" else "y"))
    with pytest.raises(ServiceAuthError, match="refused the API key") as refused:
        wrong.list_connectors()
    wrong.close()
    assert key[13:-1] not in str(refused.value)
    unreachable = RemoteBackend("http://127.0.0.1:9", key, timeout=2)
    with pytest.raises(ServiceError, match="cannot reach") as down:
        unreachable.list_connectors()
    unreachable.close()
    assert key not in str(down.value)
