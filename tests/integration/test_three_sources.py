"""One behavioural suite over three sources of the same production conversation: LangSmith (its
fake, through an import connector), OpenTelemetry (OTLP into the service's receiver) and
Langfuse (its fake, through an import connector), all on one running service.

Whatever the source, the conversation is listed and visible through the API with the same
turns, filtered by agent, origin, connector and replay's ``where``, exported as a case file and
replayed against the example HTTP agent. Mixed mode: the native (OTLP) conversation and the two
imported ones share the agent and the thread key, and each selection gets only its own. The
native one is also replayed by ``@pytest.mark.replay(where={"origin": "native", ...})`` in a
pytest run reading the service, and one reading its database.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from agent_connectors import TOKEN_VARIABLE, http_connector, make_connector
from children import python_path
from documentation import block
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from pytester_ini import write_ini
from service_support import ServiceProcess, client, issue_key

from pytest_connectors import ConnectorStore
from pytest_connectors.client.clients import AsyncConnectorClient
from pytest_connectors.fakes.langfuse import PUBLIC_KEY, SECRET_KEY, LangfuseServer, iso
from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer
from pytest_connectors.imports.facade import Imports
from pytest_connectors.models.imports import JobStatus, RecordedConversation
from pytest_connectors.replay.case import ReplayCase
from pytest_connectors.replay.compare import ReplayResult
from pytest_connectors.replay.export import export_conversations
from pytest_connectors.replay.frozen import read_case
from pytest_connectors.replay.runner import replay_case
from pytest_connectors.replay.where import Where
from pytest_connectors.servers.launch import UvicornServer

AGENT = "support-bot"
THREAD = "t-weather"
PROJECT = "support-prod"
# The conversation every source holds: (user, tool call or None, answer) per turn.
CITY = "Paris"
FORECAST = "Sunny, 21°C in Paris"
TURNS = [
    ("What's the weather in Paris?", ("get_weather", {"city": CITY}, FORECAST)),
    ("My name is Ada", None),
]
ANSWERS = ["The weather in Paris is sunny, 21°C.", "Nice to meet you, Ada."]
SOURCES = ["langsmith", "otlp", "langfuse"]
SELECTION: dict[str, dict[str, Any]] = {
    "langsmith": {"connector": "LangSmith prod"},
    "langfuse": {"connector": "Langfuse prod"},
    "otlp": {"origin": "native"},
}


def expected_turns() -> list[tuple[list[str], list[tuple[str, Any, Any]], str]]:
    return [
        ([said], [call] if call else [], answer)
        for (said, call), answer in zip(TURNS, ANSWERS, strict=True)
    ]


def turns_of(conversation: RecordedConversation) -> list[Any]:
    return [
        (t.user_messages, [(c.name, c.args, c.result) for c in t.tool_calls], t.answer)
        for t in conversation.turns
    ]


# --- the conversation, written into each source ---------------------------------------------


def langsmith_runs(began: datetime) -> list[dict[str, Any]]:
    """LangGraph-shaped root runs, one a turn, the thread's state growing."""
    runs, state = [], []
    for index, ((said, call), answer) in enumerate(zip(TURNS, ANSWERS, strict=True)):
        at = began + timedelta(seconds=10 * index)
        run_id = f"00000000-0000-4000-8000-00000000000{index}"
        added: list[dict[str, Any]] = [{"type": "human", "content": said, "id": f"h{index}"}]
        if call:
            name, args, result = call
            added += [
                {
                    "type": "ai",
                    "content": "",
                    "id": f"c{index}",
                    "tool_calls": [{"name": name, "args": args, "id": "call_1"}],
                },
                {"type": "tool", "content": result, "tool_call_id": "call_1", "name": name},
            ]
        added.append({"type": "ai", "content": answer, "id": f"a{index}"})
        state = [*state, *added]
        runs.append(
            {
                "id": run_id,
                "name": "LangGraph",
                "run_type": "chain",
                "start_time": at,
                "end_time": at + timedelta(milliseconds=300),
                "inputs": {"messages": [{"role": "user", "content": said}]},
                "outputs": {"messages": state},
                "extra": {"metadata": {"thread_id": THREAD}},
                "tags": [],
                "trace_id": run_id,
            }
        )
    return runs


def langfuse_traces(fake: Any, began: datetime) -> None:
    """Traces of one session as Langfuse's OpenAI integration writes them."""
    for index, ((said, call), answer) in enumerate(zip(TURNS, ANSWERS, strict=True)):
        at = began + timedelta(seconds=10 * index)
        asked: list[dict[str, Any]] = [{"role": "user", "content": said}]
        steps: list[dict[str, Any]] = []  # type, name, input, output, in start order
        if call:
            name, args, result = call
            openai_call = {
                "id": "call_1",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            asking = {"role": "assistant", "content": None, "tool_calls": [openai_call]}
            steps += [
                {"type": "GENERATION", "name": "chat", "input": asked, "output": asking},
                {"type": "TOOL", "name": name, "input": args, "output": result},
            ]
            asked = [
                *asked,
                {"role": "assistant", "tool_calls": [openai_call]},
                {"role": "tool", "tool_call_id": "call_1", "content": result},
            ]
        answering = {"role": "assistant", "content": answer}
        steps.append({"type": "GENERATION", "name": "chat", "input": asked, "output": answering})
        trace_id = f"lf-{index}"
        fake.add_trace(
            {
                "id": trace_id,
                "timestamp": iso(at),
                "name": "chat",
                "sessionId": THREAD,
                "input": said,
                "output": answer,
            },
            [
                {
                    "id": f"{trace_id}-{n}",
                    "startTime": iso(at + timedelta(milliseconds=100 * n)),
                    "endTime": iso(at + timedelta(milliseconds=100 * n + 50)),
                    **step,
                }
                for n, step in enumerate(steps)
            ],
        )


def genai(role: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": role, "parts": list(parts)}


def send_otlp(endpoint: str, key: str) -> None:
    """The conversation as an agent on the OTel GenAI conventions exports it."""
    provider = TracerProvider(resource=Resource.create({"service.name": AGENT}))
    provider.add_span_processor(
        SimpleSpanProcessor(
            OTLPSpanExporter(
                endpoint=endpoint, headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
        )
    )
    tracer = provider.get_tracer("three-sources")
    for (said, call), answer in zip(TURNS, ANSWERS, strict=True):
        with tracer.start_as_current_span("invoke_agent support-bot") as agent:
            agent.set_attribute("gen_ai.operation.name", "invoke_agent")
            agent.set_attribute("gen_ai.conversation.id", THREAD)
            asked = [genai("user", {"type": "text", "content": said})]
            if call:
                name, args, result = call
                asking = genai(
                    "assistant",
                    {"type": "tool_call", "id": "call_1", "name": name, "arguments": args},
                )
                with tracer.start_as_current_span("chat example") as chat:
                    chat.set_attribute("gen_ai.operation.name", "chat")
                    chat.set_attribute("gen_ai.input.messages", json.dumps(asked))
                    chat.set_attribute("gen_ai.output.messages", json.dumps([asking]))
                with tracer.start_as_current_span(f"execute_tool {name}") as tool:
                    tool.set_attribute("gen_ai.operation.name", "execute_tool")
                    tool.set_attribute("gen_ai.tool.name", name)
                    tool.set_attribute("gen_ai.tool.call.id", "call_1")
                    tool.set_attribute("gen_ai.tool.call.result", result)
                answered = {"type": "tool_call_response", "id": "call_1", "response": result}
                asked = [*asked, asking, genai("tool", answered)]
            with tracer.start_as_current_span("chat example") as chat:
                chat.set_attribute("gen_ai.operation.name", "chat")
                chat.set_attribute("gen_ai.input.messages", json.dumps(asked))
                chat.set_attribute(
                    "gen_ai.output.messages",
                    json.dumps([genai("assistant", {"type": "text", "content": answer})]),
                )
    provider.shutdown()


# --- one service holding all three ----------------------------------------------------------


@dataclass
class Sources:
    server: ServiceProcess
    key: str

    def imports(self) -> Imports:
        return Imports(url=self.server.url, api_key=self.key)

    def conversation(self, source: str) -> RecordedConversation:
        with self.imports() as imports:
            items = imports.conversations.list(agent_id=AGENT, **SELECTION[source]).items
        [found] = [c for c in items if c.thread_key == THREAD]
        return found


def sync(imports: Imports, body: dict[str, Any]) -> None:
    connector = imports.connectors.create(body)
    job = imports.jobs.wait(imports.connectors.connect(connector.id).job.id, timeout=120)
    assert job.status is JobStatus.SUCCEEDED, job.error


@pytest.fixture(scope="module")
def sources(
    tmp_path_factory: pytest.TempPathFactory,
    langsmith_server: LangSmithServer,
    langfuse_server: LangfuseServer,
) -> Iterator[Sources]:
    db = str(tmp_path_factory.mktemp("three-sources") / "service.db")
    key = issue_key(db, "acme", AGENT)
    began = datetime.now(UTC) - timedelta(hours=1)
    langsmith_server.fake.reset()
    langsmith_server.fake.add_runs(langsmith_runs(began), project=PROJECT)
    langfuse_server.fake.reset()
    langfuse_traces(langfuse_server.fake, began)
    with ServiceProcess(db, env={"PYTEST_CONNECTORS_OTLP_TRACE_IDLE": "1"}) as server:
        found = Sources(server, key)
        with found.imports() as imports:
            sync(
                imports,
                {
                    "name": "LangSmith prod",
                    "category": "llm-tracing",
                    "provider": "langsmith",
                    "config": {
                        "apiKey": API_KEY,
                        "projectName": PROJECT,
                        "apiUrl": langsmith_server.url,
                    },
                },
            )
            sync(
                imports,
                {
                    "name": "Langfuse prod",
                    "category": "llm-tracing",
                    "provider": "langfuse",
                    "config": {
                        "publicKey": PUBLIC_KEY,
                        "secretKey": SECRET_KEY,
                        "baseUrl": langfuse_server.url,
                    },
                },
            )
        send_otlp(f"{server.url}/v1/traces", key)
        yield found


@pytest.fixture
def http_agent(
    http_agent_server: UvicornServer, http_agent_token: str, monkeypatch: pytest.MonkeyPatch
) -> Any:
    monkeypatch.setenv(TOKEN_VARIABLE, http_agent_token)
    return make_connector(http_agent_server.url)


@pytest.mark.parametrize("source", SOURCES)
def test_listed_and_visible_through_the_api_with_the_same_turns(
    sources: Sources, source: str
) -> None:
    conversation = sources.conversation(source)
    assert conversation.agent_id == AGENT
    assert conversation.origin == ("native" if source == "otlp" else "imported")
    assert not conversation.pending
    assert turns_of(conversation) == expected_turns()
    with client(sources.server.url, sources.key) as api:
        detail = api.get(f"/api/conversations/{conversation.id}")
    assert detail.status_code == 200, detail.text
    assert detail.json()["conversation"]["threadKey"] == THREAD


@pytest.mark.parametrize("source", SOURCES)
def test_filtered_by_where_as_replay_selects(sources: Sources, source: str) -> None:
    case = ReplayCase.of(sources.conversation(source), source)
    assert Where.of({"tool": "get_weather", "agent": AGENT, "min_turns": 2})(case)
    assert not Where.of({"error": True})(case)
    assert not Where.of({"tool": "refund_order"})(case)


@pytest.mark.parametrize("source", SOURCES)
def test_exported_and_replayed_against_the_agent(
    sources: Sources, source: str, http_agent: Any, tmp_path: Path
) -> None:
    selection = SELECTION[source]
    with sources.imports() as imports:
        [written] = export_conversations(
            imports,
            tmp_path,
            connector=selection.get("connector"),
            agent_id=AGENT,
            origin=selection.get("origin", "imported"),
        )
    case = read_case(written)
    assert case.conversation is not None
    assert turns_of(case.conversation) == expected_turns()

    async def run() -> ReplayResult:
        async with AsyncConnectorClient() as agent_client:
            return await replay_case(case, http_agent, agent_client)

    asyncio.run(run()).assert_matches(tools="strict", args="exact")


def test_mixed_mode_native_and_imported_side_by_side(sources: Sources) -> None:
    with sources.imports() as imports:
        everything = imports.conversations.list(agent_id=AGENT).items
        native = imports.conversations.list(agent_id=AGENT, origin="native").items
        imported = imports.conversations.list(agent_id=AGENT, origin="imported").items
    assert sorted(c.origin for c in everything) == ["imported", "imported", "native"]
    assert {c.thread_key for c in everything} == {THREAD}
    assert len({c.id for c in everything}) == 3
    assert [c.metadata.get("source") for c in native] == ["otlp"]
    assert {c.connector_id for c in imported} == {
        sources.conversation("langsmith").connector_id,
        sources.conversation("langfuse").connector_id,
    }


NATIVE_REPLAY = f"""
import pytest

@pytest.mark.replay(where={{"origin": "native", "agent": {AGENT!r}}})
def test_native(replay):
    replay.run().assert_matches(tools="strict", args="exact")
"""


@pytest.fixture
def replay_project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    http_agent_server: UvicornServer,
    http_agent_token: str,
) -> pytest.Pytester:
    """A user's project whose connector "HTTP Agent" is the example HTTP agent."""
    monkeypatch.delenv("PYTEST_CONNECTORS_FILE", raising=False)
    monkeypatch.setenv("PYTHONPATH", python_path())
    monkeypatch.setenv("AGENT_TOKEN", http_agent_token)
    write_ini(pytester)
    ConnectorStore(pytester.path / "data" / "connectors.json").create(
        http_connector("HTTP Agent", http_agent_server.url, "${AGENT_TOKEN}")
    )
    documented = block("python", "def test_instrumented_production")  # docs/replay.md
    pytester.makepyfile(test_prod=NATIVE_REPLAY + "\n\n" + documented)
    return pytester


def database_copy(sources: Sources, folder: Path) -> str:
    """The service's database as it is now: the replaying session writes its own native
    traces back, which the other tests of this module must not see."""
    copy = folder / "copy.db"
    with sqlite3.connect(sources.server.db) as live, sqlite3.connect(copy) as snapshot:
        live.backup(snapshot)
    return str(copy)


@pytest.mark.parametrize("read_from", ["service", "database"])
def test_the_otlp_conversation_is_replayed_by_the_marker(
    sources: Sources,
    replay_project: pytest.Pytester,
    read_from: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = database_copy(sources, tmp_path)
    expected = [
        f"test_prod.py::test_native[[]HTTP Agent-{THREAD}[]] PASSED*",
        f"test_prod.py::test_instrumented_production[[]HTTP Agent-{THREAD}[]] PASSED*",
    ]
    if read_from == "database":
        result = replay_project.runpytest_subprocess(
            "-v", "--connector", "HTTP Agent", f"--connectors-db={db}"
        )
    else:
        monkeypatch.setenv("SERVICE_KEY", sources.key)
        with ServiceProcess(db) as copy:
            result = replay_project.runpytest_subprocess(
                "-v",
                "--connector",
                "HTTP Agent",
                f"--connectors-url={copy.url}",
                "--connectors-api-key=${SERVICE_KEY}",
            )
    result.stdout.fnmatch_lines(expected, consecutive=False)
    result.assert_outcomes(passed=2)

    # The session wrote its own calls back as native conversations of the same agent: a
    # later run of `test_native` replays them too, the documented test only what the receiver got.
    with Imports(db=db) as imports:
        native = imports.conversations.list(agent_id=AGENT, origin="native").items
    assert sorted(c.metadata.get("source", "pytest") for c in native) == [
        "otlp",
        "pytest",
        "pytest",
    ]
    collected = replay_project.runpytest_subprocess(
        "--co", "-q", "--connector", "HTTP Agent", f"--connectors-db={db}"
    )
    ids = [line for line in collected.stdout.lines if line.startswith("test_prod.py::")]
    assert sum(i.startswith("test_prod.py::test_native[") for i in ids) == 3
    assert ids.count(f"test_prod.py::test_instrumented_production[HTTP Agent-{THREAD}]") == 1
    assert sum(i.startswith("test_prod.py::test_instrumented_production[") for i in ids) == 1
