"""Real instrumentations, offline: what they export reaches ``serve`` and comes back as
conversations that are listed, exported and replayed.

- The example LangGraph agent under ``openinference-instrumentation-langchain``.
- An OpenAI-client app under ``opentelemetry-instrumentation-openai-v2`` (latest GenAI
  conventions, content on), calling the example OpenAI-compatible HTTP agent with a tool round.

Both run in child processes (tests/instrumented_apps.py) and export OTLP/HTTP protobuf with a
batch processor, as an agent in production does.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from agent_connectors import TOKEN_VARIABLE, http_connector, make_connector
from children import python_path
from instrumented_apps import run_child
from pytester_ini import write_ini
from service_support import ServiceProcess, child_env, client, issue_key

from pytest_connectors import ConnectorStore
from pytest_connectors.client.clients import AsyncConnectorClient
from pytest_connectors.imports.facade import Imports
from pytest_connectors.replay.case import ReplayCase
from pytest_connectors.replay.compare import ReplayResult
from pytest_connectors.replay.runner import replay_case
from pytest_connectors.replay.sources import conversations_of
from pytest_connectors.servers.launch import UvicornServer

pytest.importorskip("openinference.instrumentation.langchain")
pytest.importorskip("opentelemetry.instrumentation.openai_v2")

AGENT_TOKEN = "AGENT_TOKEN"
LANGGRAPH_THREADS = {
    "lg-weather": ["What's the weather in Paris?", "What about the weather in Tokyo?"],
    "lg-name": ["My name is Ada", "What is my name?"],
}


class Service:
    def __init__(self, server: ServiceProcess, keys: dict[str, str]) -> None:
        self.server = server
        self.keys = keys

    @property
    def endpoint(self) -> str:
        return f"{self.server.url}/v1/traces"

    def conversation(self, key: str, thread: str) -> dict[str, Any]:
        with client(self.server.url, self.keys[key]) as api:
            listed = api.get("/api/conversations", params={"origin": "native", "limit": 100})
            assert listed.status_code == 200, listed.text
            found = [c for c in listed.json()["items"] if c["threadKey"] == thread]
            assert len(found) == 1, [c["threadKey"] for c in listed.json()["items"]]
            detail = api.get(f"/api/conversations/{found[0]['id']}")
        assert detail.status_code == 200, detail.text
        conversation: dict[str, Any] = detail.json()["conversation"]
        assert conversation["turns"] == found[0]["turns"]
        return conversation


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    db = str(tmp_path_factory.mktemp("instrumented") / "service.db")
    keys = {"langgraph": issue_key(db, "acme", "langgraph"), "app": issue_key(db, "acme", "app")}
    with ServiceProcess(db, workers=0) as server:
        yield Service(server, keys)


@pytest.fixture
def http_agent(
    http_agent_server: UvicornServer, http_agent_token: str, monkeypatch: pytest.MonkeyPatch
) -> Any:
    monkeypatch.setenv(TOKEN_VARIABLE, http_agent_token)
    return make_connector(http_agent_server.url)


def replay(case: ReplayCase, connector: Any) -> ReplayResult:
    async def run() -> ReplayResult:
        async with AsyncConnectorClient() as agent_client:
            return await replay_case(case, connector, agent_client)

    return asyncio.run(run())


FROZEN_REPLAY = """
import pytest

@pytest.mark.replay(path="cases")
def test_production(replay):
    replay.run().assert_matches(tools="strict", args="exact")
"""


def test_the_openinference_langgraph_agent_is_listed_exported_and_replayed(
    service: Service,
    http_agent: Any,
    http_agent_server: UvicornServer,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_child(
        "langgraph",
        {
            "endpoint": service.endpoint,
            "key": service.keys["langgraph"],
            "threads": LANGGRAPH_THREADS,
        },
        child_env(),
    )
    weather = service.conversation("langgraph", "lg-weather")
    assert weather["origin"] == "native" and weather["agentId"] == "langgraph"
    assert not weather["pending"]
    paris, tokyo = weather["turns"]
    assert paris["userMessages"] == ["What's the weather in Paris?"]
    # Arguments and id from the agent node's AI message, the result from the tool span.
    assert paris["toolCalls"] == [
        {
            "name": "get_weather",
            "args": {"city": "Paris"},
            "id": "call_weather_1",
            "result": "Sunny, 21°C in Paris",
        }
    ]
    assert paris["answer"] == "The weather in Paris is sunny, 21°C."
    assert tokyo["toolCalls"][0]["args"] == {"city": "Tokyo"}
    assert tokyo["answer"] == "The weather in Tokyo is rainy, 18°C."
    named = service.conversation("langgraph", "lg-name")
    assert [t["answer"] for t in named["turns"]] == ["Nice to meet you, Ada.", "Your name is Ada."]

    # The CLI lists them from the service's database.
    listed = subprocess.run(
        [sys.executable, "-m", "pytest_connectors.cli", "conversations", "list", "--origin",
         "native", "--agent", "langgraph", "--db", service.server.db],
        capture_output=True, text=True, env=child_env(), timeout=60, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "lg-weather" in listed.stdout and "lg-name" in listed.stdout

    # Replayed, read through the service, against the example HTTP agent (same behaviours).
    with Imports(url=service.server.url, api_key=service.keys["langgraph"]) as imports:
        cases = [
            ReplayCase.of(c, "otlp")
            for c in conversations_of(imports, agent_id="langgraph", origin="native")
        ]
    assert sorted(c.conversation.thread_key for c in cases if c.conversation) == sorted(
        LANGGRAPH_THREADS
    )
    for case in cases:
        replay(case, http_agent).assert_matches(tools="strict", args="exact")

    # Exported as frozen cases (native ones), which pytest replays without the service.
    out = pytester.path / "cases"
    exported = subprocess.run(
        [sys.executable, "-m", "pytest_connectors.cli", "conversations", "export", "--origin",
         "native", "--agent", "langgraph", "--out", str(out), "--db", service.server.db],
        capture_output=True, text=True, env=child_env(), timeout=60, check=False,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert len(list(out.glob("*.json"))) == 2
    monkeypatch.delenv("PYTEST_CONNECTORS_FILE", raising=False)
    monkeypatch.setenv("PYTHONPATH", python_path())
    monkeypatch.setenv(AGENT_TOKEN, os.environ[TOKEN_VARIABLE])
    write_ini(pytester)
    ConnectorStore(pytester.path / "data" / "connectors.json").create(
        http_connector("HTTP Agent", http_agent_server.url, f"${{{AGENT_TOKEN}}}")
    )
    pytester.makepyfile(test_frozen=FROZEN_REPLAY)
    result = pytester.runpytest_subprocess("--connector", "HTTP Agent")
    result.assert_outcomes(passed=2)


def test_the_openai_v2_app_becomes_conversations_with_tool_calls(
    service: Service, http_agent_server: UvicornServer, http_agent_token: str
) -> None:
    run_child(
        "openai",
        {
            "endpoint": service.endpoint,
            "key": service.keys["app"],
            "agent_url": http_agent_server.url,
            "token": http_agent_token,
            "conversations": {"oa-1": ["What is the weather in Paris?", "My name is Ada"]},
        },
        child_env(),
    )
    conversation = service.conversation("app", "oa-1")
    assert conversation["metadata"].get("contentCaptured", True) is True
    weather, name = conversation["turns"]
    assert weather["userMessages"] == ["What is the weather in Paris?"]
    (call,) = weather["toolCalls"]
    assert call["name"] == "get_weather" and call["args"] == {"city": "Paris"}
    assert call["result"] == "Sunny, 21°C in Paris"  # from the tool message the app sent back
    assert weather["answer"] == "The weather in Paris is sunny, 21°C."
    # The second turn's LLM input repeats the first; only what the user said now is its own.
    assert name["userMessages"] == ["My name is Ada"]
    assert name["toolCalls"] == [] and name["answer"] == "Nice to meet you, Ada."
    assert json.dumps(conversation).count(http_agent_token) == 0
