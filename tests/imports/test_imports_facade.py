"""The ``Imports`` facade on the local database: the import-connector contract, in Python."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from scripted_provider import DERIVATION, ScriptedProvider, run, session
from sqlalchemy import select

from pytest_connectors import Imports
from pytest_connectors.errors import (
    ConversationNotFoundError,
    DuplicateImportConnectorError,
    ImportConnectorNotFoundError,
    InvalidInputError,
    JobNotFoundError,
    JobTimeoutError,
    OutOfScopeError,
)
from pytest_connectors.imports.local import LocalBackend
from pytest_connectors.models.imports import (
    ConnectorStatus,
    ImportConnector,
    JobStatus,
    RecordedConversation,
    RecordedTurn,
    Scope,
)
from pytest_connectors.storage.schema import import_jobs
from pytest_connectors.storage.store import Store

SECRET = "lsv2_pt_literal_secret_value"
WINDOW = {"from_": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"}


class Providers:
    """One scripted provider per connector name, handed to the in-process worker."""

    def __init__(self) -> None:
        self.by_name: dict[str, ScriptedProvider] = {}

    def __call__(self, connector: ImportConnector) -> ScriptedProvider:
        return self.by_name.setdefault(connector.name, ScriptedProvider())


@pytest.fixture
def providers() -> Providers:
    return Providers()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store(db_url) as opened:
        yield opened


def facade(store: Store, providers: Providers, scope: Scope | None = None) -> Imports:
    backend = LocalBackend(
        store=store, scope=scope, provider_factory=providers, derivation=DERIVATION
    )
    return Imports(backend=backend)


@pytest.fixture
def imports(store: Store, providers: Providers) -> Imports:
    return facade(store, providers)


def langsmith(name: str = "LangSmith prod", agent: str = "agt_1", **config: Any) -> dict[str, Any]:
    return {
        "agentId": agent,
        "name": name,
        "category": "llm-tracing",
        "provider": "langsmith",
        "config": {"apiKey": SECRET, "projectName": "support-prod", **config},
    }


def test_create_masks_the_key_and_contacts_nobody(imports: Imports, providers: Providers) -> None:
    created = imports.connectors.create(langsmith())
    assert created.status is ConnectorStatus.DISCONNECTED
    assert created.config == {"apiKey": "****", "projectName": "support-prod"}
    assert SECRET not in repr(created) + created.model_dump_json()
    assert imports.connectors.get(created.id) == created
    assert imports.connectors.get("LangSmith prod") == created
    assert providers.by_name == {}
    referenced = imports.connectors.create(langsmith("by ref", apiKey="${LANGSMITH_API_KEY}"))
    assert referenced.config["apiKey"] == "${LANGSMITH_API_KEY}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"provider": "fullstory"}, "does not belong to category 'llm-tracing'"),
        ({"category": "crm"}, "category"),
        ({"config": {"apiKey": "k", "projectId": "p"}}, "projectId is not a langsmith setting"),
        ({"config": {"apiKey": "k", "apiUrl": "ftp://x"}}, "apiUrl must start with http"),
        ({"config": {"apiKey": "k", "orgId": "o-1"}}, "orgId is not a langsmith setting"),
        (
            {"category": "session-data", "provider": "fullstory", "config": {"orgId": " "}},
            "config.orgId must be a non-empty string",
        ),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_is_refused_with_what_to_fix(
    imports: Imports, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        imports.connectors.create({**langsmith(), **change})
    assert SECRET not in str(caught.value)
    assert imports.connectors.list() == []


def test_names_are_unique_per_agent(imports: Imports) -> None:
    imports.connectors.create(langsmith())
    imports.connectors.create(langsmith(agent="agt_2"))
    with pytest.raises(DuplicateImportConnectorError):
        imports.connectors.create(langsmith())
    other = imports.connectors.create(langsmith("second"))
    with pytest.raises(DuplicateImportConnectorError):
        imports.connectors.update(other.id, {"name": "LangSmith prod"})
    assert [c.agent_id for c in imports.connectors.list("agt_2")] == ["agt_2"]


def test_update_merges_without_reconnecting_and_queued_jobs_keep_their_config(
    imports: Imports, store: Store
) -> None:
    created = imports.connectors.create(langsmith())
    job = imports.connectors.connect(created.id).job
    updated = imports.connectors.update(
        created.id, {"name": "LangSmith production", "config": {"projectName": "support-v2"}}
    )
    assert updated.status is ConnectorStatus.CONNECTED
    assert updated.config == {"apiKey": "****", "projectName": "support-v2"}
    assert imports.jobs.get(job.id).status is JobStatus.QUEUED
    with store.read() as connection:
        rows = connection.execute(select(import_jobs)).all()
    assert len(rows) == 1  # update queued nothing
    snapshot = rows[0]._mapping["snapshot"]
    assert snapshot["config"] == {"projectName": "support-prod"}  # as queued, and no key
    assert SECRET not in str([dict(r._mapping) for r in rows])


def test_update_uses_the_one_config_merge(imports: Imports) -> None:
    """Same rule as connector updates: a key replaces, None removes, the rest stays; keys are
    stored and refused as written (no renaming to connector field names)."""
    created = imports.connectors.create(langsmith())
    added = imports.connectors.update(created.id, {"config": {"workspaceId": "ws-1"}})
    assert added.config == {"apiKey": "****", "projectName": "support-prod", "workspaceId": "ws-1"}
    removed = imports.connectors.update(created.id, {"config": {"workspaceId": None}})
    assert removed.config == {"apiKey": "****", "projectName": "support-prod"}
    with pytest.raises(InvalidInputError, match=r"config\.retryBackoffMs is not a langsmith"):
        imports.connectors.update(created.id, {"config": {"retryBackoffMs": "5"}})


def test_connect_marks_connected_and_queues_one_job(imports: Imports) -> None:
    created = imports.connectors.create(langsmith())
    first = imports.connectors.connect(created.id)
    again = imports.connectors.connect(created.id)
    assert first.connector.status is ConnectorStatus.CONNECTED
    assert first.job.status is JobStatus.QUEUED and first.job.trigger.value == "connect"
    assert again.job.id == first.job.id
    assert imports.connectors.sync(created.id).id == first.job.id  # no window: same job
    assert imports.connectors.sync(created.id, **WINDOW).id != first.job.id


def test_connect_with_config_and_missing_settings(imports: Imports) -> None:
    created = imports.connectors.create({**langsmith(), "config": {"apiKey": SECRET}})
    with pytest.raises(InvalidInputError, match="has no projectName"):
        imports.connectors.connect(created.id)
    assert imports.connectors.get(created.id).status is ConnectorStatus.DISCONNECTED
    result = imports.connectors.connect(created.id, {"projectName": "p"})
    assert result.connector.config["projectName"] == "p"


def test_sync_needs_a_connected_connector_and_a_sane_window(imports: Imports) -> None:
    created = imports.connectors.create(langsmith())
    with pytest.raises(InvalidInputError, match="disconnected; connect it first"):
        imports.connectors.sync(created.id)
    imports.connectors.connect(created.id)
    with pytest.raises(InvalidInputError, match="from must be before to"):
        imports.connectors.sync(created.id, from_=WINDOW["to"], to=WINDOW["from_"])
    with pytest.raises(InvalidInputError, match="not an ISO 8601 time"):
        imports.connectors.sync(created.id, from_="yesterday")
    job = imports.connectors.sync(created.id, **WINDOW)
    assert job.from_ is not None and job.from_.isoformat() == "2026-03-01T00:00:00+00:00"


def test_disconnect_cancels_queued_jobs_and_keeps_data(
    imports: Imports, providers: Providers
) -> None:
    created = imports.connectors.create(langsmith())
    providers(created).records = [run(1, thread="t1")]
    imports.connectors.connect(created.id)
    done = imports.jobs.wait(imports.connectors.sync(created.id, **WINDOW).id)
    assert done.status is JobStatus.SUCCEEDED
    queued = imports.connectors.sync(created.id, **WINDOW)
    disconnected = imports.connectors.disconnect(created.id)
    assert disconnected.status is ConnectorStatus.DISCONNECTED
    assert imports.jobs.get(queued.id).status is JobStatus.CANCELLED
    assert len(imports.conversations.list(connector=created.id).items) == 1


def test_wait_runs_the_job_here_and_conversations_come_back(
    imports: Imports, providers: Providers
) -> None:
    created = imports.connectors.create(langsmith())
    providers(created).records = [run(1, thread="t1"), run(2, thread="t1"), run(3)]
    imports.connectors.connect(created.id)
    job = imports.connectors.sync(created.id, **WINDOW)
    done = imports.jobs.wait(job.id, timeout=60)
    assert done.status is JobStatus.SUCCEEDED
    assert done.stats.fetched == 3 and done.stats.created == 3
    listed = imports.conversations.list(connector="LangSmith prod")
    threads = sorted((c.thread_key, [t.user_messages for t in c.turns]) for c in listed.items)
    assert threads == [("run-00003", [["q3"]]), ("t1", [["q1"], ["q2"]])]
    detail = imports.conversations.get(listed.items[0].id)
    assert detail.conversation.connector_id == created.id
    with pytest.raises(ConversationNotFoundError):
        imports.conversations.get("cnv_nope")


def test_conversations_page_with_a_cursor(imports: Imports, providers: Providers) -> None:
    created = imports.connectors.create(langsmith())
    providers(created).records = [run(n) for n in range(7)]
    imports.connectors.connect(created.id)
    imports.jobs.wait(imports.connectors.sync(created.id, **WINDOW).id)
    seen: list[str] = []
    cursor = None
    while True:
        page = imports.conversations.list(limit=3, cursor=cursor)
        seen += [c.thread_key for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"run-{n:05d}" for n in reversed(range(7))]
    with pytest.raises(InvalidInputError, match="cursor"):
        imports.conversations.list(cursor="garbage!")


def test_wait_timeout_names_the_job_and_its_state(imports: Imports, store: Store) -> None:
    created = imports.connectors.create(langsmith())
    job = imports.connectors.connect(created.id).job
    idle = Imports(backend=_NoRunBackend(store))
    with pytest.raises(JobTimeoutError, match=f"job {job.id} is still queued after 0.3 s"):
        idle.jobs.wait(job.id, timeout=0.3)
    with pytest.raises(JobNotFoundError):
        imports.jobs.wait("job_missing", timeout=1)


class _NoRunBackend(LocalBackend):
    """A backend whose waits only poll: as if a remote worker were expected to run the job."""

    def __init__(self, store: Store) -> None:
        super().__init__(store=store)

    def _run_here(self, job_id: str, seconds: float | None) -> bool:
        return False


def test_delete_removes_only_that_connectors_data(imports: Imports, providers: Providers) -> None:
    keep, drop = (
        imports.connectors.create(langsmith("keep")),
        imports.connectors.create(langsmith("drop")),
    )
    providers(keep).records = [run(1)]
    providers(drop).records = [run(2)]
    for item in (keep, drop):
        imports.connectors.connect(item.id)
        imports.jobs.wait(imports.connectors.sync(item.id, **WINDOW).id)
    job = imports.connectors.sync(drop.id, **WINDOW)
    imports.connectors.delete(drop.id)
    assert [c.name for c in imports.connectors.list()] == ["keep"]
    assert [c.connector_id for c in imports.conversations.list().items] == [keep.id]
    with pytest.raises(JobNotFoundError):
        imports.jobs.get(job.id)
    with pytest.raises(ImportConnectorNotFoundError):
        imports.connectors.delete(drop.id)


def test_scoped_facades_see_only_their_agent_or_tenant(store: Store, providers: Providers) -> None:
    owner = facade(store, providers)
    mine = owner.connectors.create(langsmith(agent="agt_1"))
    theirs = owner.connectors.create(langsmith(agent="agt_2"))
    foreign = owner.connectors.create({**langsmith(agent="agt_1"), "tenantId": "t2"})
    agent = facade(store, providers, Scope(tenant_id="default", agent_id="agt_1"))
    tenant = facade(store, providers, Scope(tenant_id="default"))
    assert [c.id for c in agent.connectors.list()] == [mine.id]
    assert {c.id for c in tenant.connectors.list()} == {mine.id, theirs.id}
    for hidden in (theirs.id, foreign.id):
        with pytest.raises(ImportConnectorNotFoundError):
            agent.connectors.get(hidden)
        with pytest.raises(ImportConnectorNotFoundError):
            agent.connectors.connect(hidden)
        with pytest.raises(ImportConnectorNotFoundError):
            agent.connectors.delete(hidden)
    with pytest.raises(ImportConnectorNotFoundError):
        tenant.connectors.update(foreign.id, {"name": "x"})
    with pytest.raises(OutOfScopeError):
        agent.connectors.create(langsmith("new", agent="agt_2"))
    job = owner.connectors.connect(theirs.id).job
    with pytest.raises(JobNotFoundError):
        agent.jobs.get(job.id)
    assert tenant.jobs.get(job.id).id == job.id
    created = tenant.connectors.create(langsmith("by tenant", agent="agt_3"))
    assert created.tenant_id == "default"


def test_native_conversations_live_next_to_imported_ones(imports: Imports) -> None:
    native = RecordedConversation(
        id="native-1",
        agent_id="agt_1",
        thread_key="test-run-1",
        turns=[RecordedTurn(index=0, user_messages=["hi"], answer="hello")],
    )
    written = imports.conversations.write_native([native])
    assert written[0].origin == "native"
    listed = imports.conversations.list(origin="native")
    assert [(c.id, c.turns[0].answer) for c in listed.items] == [("native-1", "hello")]
    assert imports.conversations.list(origin="imported").items == []
    with pytest.raises(InvalidInputError, match="has no agentId"):
        imports.conversations.write_native([native.model_copy(update={"agent_id": None})])


def test_sessions_are_listed_and_linked(imports: Imports, providers: Providers) -> None:
    traces = imports.connectors.create(langsmith())
    sessions = imports.connectors.create(
        {
            "agentId": "agt_1",
            "name": "FullStory prod",
            "category": "session-data",
            "provider": "fullstory",
            "config": {"apiKey": "fs-key-123"},
        }
    )
    url = "https://app.fullstory.com/ui/o/session/u1:5"
    providers(traces).records = [run(1, thread="t1", session_url=url)]
    providers(sessions).records = [session("u1", 5), session("u2", 6)]
    providers(sessions).kind = "session"
    for item in (traces, sessions):
        imports.connectors.connect(item.id)
        assert imports.jobs.wait(imports.connectors.sync(item.id, **WINDOW).id).status is (
            JobStatus.SUCCEEDED
        )
    assert sorted(s.id for s in imports.sessions.list(connector="FullStory prod")) == [
        "u1:5",
        "u2:6",
    ]
    conversation = imports.conversations.list(connector=traces.id).items[0]
    detail = imports.conversations.get(conversation.id)
    assert [(s.method, s.session.id) for s in detail.sessions] == [("metadata", "u1:5")]


def test_waiting_runs_jobs_of_that_connector_only(imports: Imports, providers: Providers) -> None:
    mine, other = (
        imports.connectors.create(langsmith("mine")),
        imports.connectors.create(langsmith("other")),
    )
    ahead = imports.connectors.connect(mine.id).job
    waited = imports.connectors.sync(mine.id, **WINDOW)
    unrelated = imports.connectors.connect(other.id).job
    assert imports.jobs.wait(waited.id, timeout=60).status is JobStatus.SUCCEEDED
    assert imports.jobs.get(ahead.id).status is JobStatus.SUCCEEDED  # it had to go first
    assert imports.jobs.get(unrelated.id).status is JobStatus.QUEUED
