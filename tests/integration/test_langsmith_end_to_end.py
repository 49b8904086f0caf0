"""End to end on authentic data: a real LangGraph agent under `langgraph dev`, traced by the real
LangSmith tracer into the fake, read back by the provider and derived into a conversation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fakes.fixtures import TRACED_PROJECT
from traced_agent import send_turns, wait_for_finished_roots

from pytest_connectors import Imports
from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer
from pytest_connectors.imports.conversations import derive_conversations
from pytest_connectors.imports.provider import Window
from pytest_connectors.imports.providers.langsmith.provider import LangSmithProvider
from pytest_connectors.models.imports import JobStatus
from pytest_connectors.servers.launch import LangGraphDevServer


def test_a_traced_langgraph_thread_comes_back_as_its_conversation(
    traced_langgraph_server: LangGraphDevServer, langsmith_fake: LangSmithServer
) -> None:
    began = datetime.now(UTC) - timedelta(minutes=1)
    thread_id = str(uuid.uuid4())
    send_turns(
        traced_langgraph_server,
        thread_id,
        ["What's the weather in Paris?", "And what is the weather in Tokyo?"],
    )
    failed_thread = str(uuid.uuid4())
    send_turns(traced_langgraph_server, failed_thread, ["Please fail now."], failing=True)
    roots = wait_for_finished_roots(langsmith_fake, 3)

    window = Window(began, datetime.now(UTC) + timedelta(minutes=1))
    with LangSmithProvider(
        api_key=API_KEY, project_name=TRACED_PROJECT, api_url=langsmith_fake.url
    ) as provider:
        fetched = [record for page in provider.fetch(window) for record in page.records]
    assert sorted(r.provider_id for r in fetched) == sorted(r["id"] for r in roots)
    assert not any(r.pending for r in fetched)

    conversations = {c.id: c for c in derive_conversations(r.payload for r in fetched)}
    assert set(conversations) == {thread_id, failed_thread}
    (failed,) = conversations[failed_thread].turns
    assert failed.user_messages == ["Please fail now."]
    assert failed.error is not None and "the agent failed on purpose" in failed.error
    assert failed.answer is None and failed.tool_calls == []

    conversation = conversations[thread_id]  # grouped by the thread_id the server traced
    assert conversation.metadata["graph_id"] == "agent"
    paris, tokyo = conversation.turns
    assert paris.user_messages == ["What's the weather in Paris?"]
    assert [(c.name, c.args, c.result) for c in paris.tool_calls] == [
        ("get_weather", {"city": "Paris"}, "Sunny, 21°C in Paris")
    ]
    assert paris.answer == "The weather in Paris is sunny, 21°C."
    # The second root's outputs hold the whole thread; only its own tool call belongs to it.
    assert tokyo.user_messages == ["And what is the weather in Tokyo?"]
    assert [(c.name, c.args, c.result) for c in tokyo.tool_calls] == [
        ("get_weather", {"city": "Tokyo"}, "Rainy, 18°C in Tokyo")
    ]
    assert tokyo.answer == "The weather in Tokyo is rainy, 18°C."
    for turn in (paris, tokyo):
        assert turn.error is None and turn.pending is False
        assert turn.latency_ms is not None and turn.latency_ms > 0
    assert paris.started_at is not None and tokyo.started_at is not None
    assert paris.started_at < tokyo.started_at


def test_connect_and_wait_imports_the_traced_thread_into_the_database(
    traced_langgraph_server: LangGraphDevServer,
    langsmith_fake: LangSmithServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    thread_id = str(uuid.uuid4())
    send_turns(traced_langgraph_server, thread_id, ["What's the weather in London?", "Thanks!"])
    wait_for_finished_roots(langsmith_fake, 2)
    monkeypatch.setenv("E2E_LANGSMITH_KEY", API_KEY)

    with Imports(tmp_path / "connectors.db") as imports:
        connector = imports.connectors.create(
            {
                "agentId": "weather-agent",
                "name": "LangSmith traced",
                "category": "llm-tracing",
                "provider": "langsmith",
                "config": {
                    "apiKey": "${E2E_LANGSMITH_KEY}",
                    "projectName": TRACED_PROJECT,
                    "apiUrl": langsmith_fake.url + "/api/v1",
                },
            }
        )
        job = imports.jobs.wait(imports.connectors.connect(connector.id).job.id, timeout=120)
        assert job.status is JobStatus.SUCCEEDED, job.error
        assert job.stats.fetched == 2 and job.stats.created == 2
        (conversation,) = imports.conversations.list(connector=connector.id).items

    assert conversation.thread_key == thread_id
    london, thanks = conversation.turns
    assert london.user_messages == ["What's the weather in London?"]
    assert [(c.name, c.args, c.result) for c in london.tool_calls] == [
        ("get_weather", {"city": "London"}, "Cloudy, 15°C in London")
    ]
    assert london.answer == "The weather in London is cloudy, 15°C."
    assert (thanks.user_messages, thanks.tool_calls, thanks.answer) == (
        ["Thanks!"],
        [],
        "You said: Thanks!",
    )
    for written in (p for p in tmp_path.rglob("*") if p.is_file()):  # the database, its WAL
        assert API_KEY.encode() not in written.read_bytes()
