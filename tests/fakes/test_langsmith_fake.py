"""The LangSmith fake speaks the real dialect: the real ``langsmith`` SDK works against it.

The SDK is the oracle here, never the import path: what it writes (runs posted one by one or in
batches by its tracer) and reads (projects, run listings) must round-trip through the fake, and
what it wrote must read back through our own provider.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer
from pytest_connectors.imports.conversations import derive_conversations
from pytest_connectors.imports.provider import Window
from pytest_connectors.imports.providers.langsmith.provider import LangSmithProvider

langsmith = pytest.importorskip("langsmith")

PROJECT = "sdk-project"


@pytest.fixture(params=["", "/api/v1"], ids=["root", "api-v1"])
def client(request: pytest.FixtureRequest, langsmith_fake: LangSmithServer) -> Iterator[Any]:
    sdk = langsmith.Client(
        api_url=langsmith_fake.url + request.param, api_key=API_KEY, auto_batch_tracing=False
    )
    yield sdk
    sdk.close(timeout=30)


def list_runs(client: Any, **filters: Any) -> list[Any]:
    with warnings.catch_warnings():  # list_runs() announces its own deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        return list(client.list_runs(**filters))


def test_sdk_creates_and_reads_a_project(client: Any, langsmith_fake: LangSmithServer) -> None:
    created = client.create_project(PROJECT, description="production traffic")
    read = client.read_project(project_name=PROJECT)
    assert read.id == created.id and read.name == PROJECT
    assert str(read.id) == langsmith_fake.fake.add_project(PROJECT)  # the same project
    with pytest.raises(langsmith.utils.LangSmithNotFoundError):
        client.read_project(project_name="no-such-project")


def test_sdk_run_written_and_updated_reads_back_through_sdk_and_provider(
    client: Any, langsmith_fake: LangSmithServer
) -> None:
    client.create_project(PROJECT)
    root_id, child_id = uuid.uuid4(), uuid.uuid4()
    began = datetime.now(UTC).replace(microsecond=0)
    question = {"messages": [{"role": "user", "content": "Weather in Rome?"}]}
    client.create_run(
        "agent",
        question,
        "chain",
        id=root_id,
        project_name=PROJECT,
        start_time=began,
        extra={"metadata": {"thread_id": "thread-rome"}},
        tags=["prod"],
    )
    client.create_run(
        "get_weather",
        {"city": "Rome"},
        "tool",
        id=child_id,
        parent_run_id=root_id,
        project_name=PROJECT,
        start_time=began + timedelta(milliseconds=5),
    )
    answer = {
        "messages": [
            {"role": "user", "content": "Weather in Rome?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "Sunny"},
            {"role": "assistant", "content": "Sunny in Rome."},
        ]
    }
    client.update_run(child_id, outputs={"output": "Sunny"}, end_time=began + timedelta(seconds=1))
    client.update_run(root_id, outputs=answer, end_time=began + timedelta(seconds=2))

    runs = list_runs(client, project_name=PROJECT, is_root=True)
    assert [run.id for run in runs] == [root_id]
    (run,) = runs
    assert run.status == "success" and run.outputs == answer
    assert run.start_time.replace(tzinfo=run.start_time.tzinfo or UTC) == began
    assert run.metadata["thread_id"] == "thread-rome" and run.tags == ["prod"]
    assert {r.id for r in list_runs(client, project_name=PROJECT)} == {root_id, child_id}
    assert [r.id for r in list_runs(client, project_name=PROJECT, run_type="tool")] == [child_id]

    window = Window(began - timedelta(minutes=1), began + timedelta(minutes=1))
    with LangSmithProvider(
        api_key=API_KEY, project_name=PROJECT, api_url=langsmith_fake.url
    ) as provider:
        (record,) = [r for page in provider.fetch(window) for r in page.records]
    assert record.provider_id == str(root_id) and record.occurred_at == began
    (conversation,) = derive_conversations([record.payload])
    (turn,) = conversation.turns
    assert conversation.id == "thread-rome"
    assert turn.user_messages == ["Weather in Rome?"]
    assert [(c.name, c.args, c.result) for c in turn.tool_calls] == [
        ("get_weather", {"city": "Rome"}, "Sunny")
    ]
    assert turn.answer == "Sunny in Rome."
    assert turn.latency_ms == pytest.approx(2000.0)


def test_sdk_lists_more_than_one_page(client: Any, langsmith_fake: LangSmithServer) -> None:
    began = datetime(2026, 5, 1, tzinfo=UTC)
    for n in range(130):
        client.create_run(
            f"run-{n}",
            {"input": str(n)},
            "chain",
            project_name=PROJECT,
            start_time=began + timedelta(seconds=n),
            end_time=began + timedelta(seconds=n, milliseconds=5),
            outputs={"output": "ok"},
        )
    runs = list_runs(client, project_name=PROJECT, is_root=True)
    assert len(runs) == 130 and len({r.id for r in runs}) == 130
    pages = [r for r in langsmith_fake.fake.requests if r.path == "/runs/query"]
    assert len(pages) == 2 and pages[1].body["cursor"]


def test_the_sdk_tracer_batches_into_the_fake(langsmith_fake: LangSmithServer) -> None:
    tracer = langsmith.Client(api_url=langsmith_fake.url, api_key=API_KEY)

    @langsmith.traceable(name="agent")
    def agent(messages: list[dict[str, str]]) -> dict[str, Any]:
        return {"messages": [*messages, {"role": "assistant", "content": "hi there"}]}

    try:
        with langsmith.tracing_context(
            enabled=True, client=tracer, project_name=PROJECT, metadata={"thread_id": "t-1"}
        ):
            agent([{"role": "user", "content": "hello"}])
    finally:
        tracer.close(timeout=30)  # drains the batch, stops its thread, closes its session

    paths = [(r.method, r.path) for r in langsmith_fake.fake.requests]
    assert ("GET", "/info") in paths and ("POST", "/runs/batch") in paths
    (run,) = langsmith_fake.fake.root_runs(PROJECT)
    assert run["status"] == "success"
    (conversation,) = derive_conversations([run])
    assert conversation.id == "t-1"
    assert conversation.turns[0].user_messages == ["hello"]
    assert conversation.turns[0].answer == "hi there"


def test_the_fake_in_its_own_process_serves_its_seeded_runs() -> None:
    from pytest_connectors.fakes.langsmith import LangSmithProcess

    window = Window(datetime(2025, 12, 31, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    with (
        LangSmithProcess(150, project="bench") as process,
        LangSmithProvider(api_key=API_KEY, project_name="bench", api_url=process.url) as source,
    ):
        fetched = [r for page in source.fetch(window) for r in page.records]
    assert len(fetched) == 150 and len({r.provider_id for r in fetched}) == 150
    assert len(derive_conversations(r.payload for r in fetched)) == 75  # two turns a thread
