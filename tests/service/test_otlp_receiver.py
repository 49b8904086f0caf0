"""The OTLP receiver: an agent instrumented with the real OpenTelemetry SDK exports its spans
with the real OTLP/HTTP exporter to ``pytest-connectors serve``, and its traces come back as
native conversations through the API and the CLI.

Spans are sent as OpenTelemetry sends them: children before their root, in several requests.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode, Tracer
from service_support import ServiceProcess, child_env, client, issue_key

IDLE_SECONDS = 1


class Service:
    def __init__(self, server: ServiceProcess, keys: dict[str, str]) -> None:
        self.server = server
        self.keys = keys

    def tracer(self, key: str, **resource: str) -> tuple[Tracer, TracerProvider]:
        provider = TracerProvider(
            resource=Resource.create({"service.name": "weather-agent", **resource})
        )
        exporter = OTLPSpanExporter(
            endpoint=f"{self.server.url}/v1/traces",
            headers={"Authorization": f"Bearer {self.keys[key]}"},
            timeout=30,
        )
        # One request per span: children reach the service before their root, as they do
        # with a batch processor whose batches close between them.
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider.get_tracer("test"), provider

    def conversations(self, key: str, **params: Any) -> list[dict[str, Any]]:
        with client(self.server.url, self.keys[key]) as api:
            answer = api.get("/api/conversations", params={"origin": "native", **params})
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def post(self, key: str, body: bytes, content_type: str, **headers: str) -> httpx.Response:
        with client(self.server.url, self.keys[key]) as api:
            return api.post(
                "/v1/traces", content=body, headers={"Content-Type": content_type, **headers}
            )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    db = str(tmp_path_factory.mktemp("otlp") / "service.db")
    keys = {
        "weather": issue_key(db, "acme", "weather"),
        "billing": issue_key(db, "acme", "billing"),
        "acme": issue_key(db, "acme"),
    }
    env = {"PYTEST_CONNECTORS_OTLP_TRACE_IDLE": str(IDLE_SECONDS)}
    with ServiceProcess(db, workers=0, env=env) as server:
        yield Service(server, keys)


def wait_for(check: Any, what: str, deadline_s: float = 30.0) -> Any:
    """``check()`` until it gives something; a generous deadline only proves nothing hangs."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not seen within {deadline_s}s")


def by_thread(items: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    return next((c for c in items if c["threadKey"] == key), None)


def genai_messages(*messages: tuple[str, list[dict[str, Any]]]) -> str:
    return json.dumps([{"role": role, "parts": parts} for role, parts in messages])


def test_genai_and_openinference_traces_become_one_conversation(service: Service) -> None:
    tracer, provider = service.tracer("weather")
    # Turn 1, OTel GenAI (v1.37 attributes); the conversation id is on the agent span only.
    with tracer.start_as_current_span("invoke_agent weather") as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        agent.set_attribute("gen_ai.conversation.id", "conv-paris")
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute(
                "gen_ai.input.messages",
                genai_messages(
                    ("system", [{"type": "text", "content": "You forecast weather."}]),
                    ("user", [{"type": "text", "content": "Weather in Paris?"}]),
                ),
            )
            chat.set_attribute(
                "gen_ai.output.messages",
                genai_messages(
                    (
                        "assistant",
                        [
                            {
                                "type": "tool_call",
                                "id": "call_1",
                                "name": "get_weather",
                                "arguments": {"city": "Paris"},
                            }
                        ],
                    )
                ),
            )
        with tracer.start_as_current_span("execute_tool get_weather") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "get_weather")
            tool.set_attribute("gen_ai.tool.call.id", "call_1")
            tool.set_attribute("gen_ai.tool.call.result", "sunny, 24C")
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute(
                "gen_ai.output.messages",
                genai_messages(("assistant", [{"type": "text", "content": "Sunny, 24C."}])),
            )
    # Turn 2, OpenInference (as openinference-instrumentation-langchain writes it).
    with tracer.start_as_current_span("LangGraph") as root:
        root.set_attribute("openinference.span.kind", "CHAIN")
        root.set_attribute("session.id", "conv-paris")
        with tracer.start_as_current_span("ChatOpenAI") as llm:
            llm.set_attribute("openinference.span.kind", "LLM")
            llm.set_attribute("llm.input_messages.0.message.role", "user")
            llm.set_attribute("llm.input_messages.0.message.content", "Weather in Paris?")
            llm.set_attribute("llm.input_messages.1.message.role", "assistant")
            llm.set_attribute("llm.input_messages.1.message.content", "Sunny, 24C.")
            llm.set_attribute("llm.input_messages.2.message.role", "user")
            llm.set_attribute("llm.input_messages.2.message.content", "And tomorrow?")
            llm.set_attribute("llm.output_messages.0.message.role", "assistant")
            llm.set_attribute("llm.output_messages.0.message.content", "Rain tomorrow.")
    provider.shutdown()

    conversation = wait_for(
        lambda: by_thread(service.conversations("weather"), "conv-paris"), "conversation"
    )
    assert conversation["origin"] == "native"
    assert conversation["agentId"] == "weather"
    assert not conversation["pending"]
    first, second = conversation["turns"]
    assert first["userMessages"] == ["Weather in Paris?"]
    assert first["toolCalls"] == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1", "result": "sunny, 24C"}
    ]
    assert first["answer"] == "Sunny, 24C."
    assert second["userMessages"] == ["And tomorrow?"]
    assert second["answer"] == "Rain tomorrow."
    assert first["traceId"] != second["traceId"]
    # Another agent of the tenant sees nothing of it.
    assert by_thread(service.conversations("billing"), "conv-paris") is None

    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_connectors.cli",
            "conversations",
            "show",
            conversation["id"],
            "--db",
            service.server.db,
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "tool: get_weather" in shown.stdout and "assistant: Rain tomorrow." in shown.stdout


def test_a_trace_without_its_root_is_stored_pending_once_idle(service: Service) -> None:
    tracer, provider = service.tracer("weather")
    with tracer.start_as_current_span("root never exported") as root:
        root_context = root
        with tracer.start_as_current_span("chat") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.conversation.id", "conv-orphan")
            chat.set_attribute(
                "gen_ai.input.messages",
                genai_messages(("user", [{"type": "text", "content": "Still there?"}])),
            )
            chat.set_status(Status(StatusCode.ERROR, "model overloaded"))
        # The root ends after the exporter is gone: only the child reaches the service.
        provider.shutdown()
    assert root_context is not None

    conversation = wait_for(
        lambda: by_thread(service.conversations("weather"), "conv-orphan"), "pending trace"
    )
    assert conversation["pending"]
    (turn,) = conversation["turns"]
    assert turn["pending"]
    assert turn["userMessages"] == ["Still there?"]
    assert turn["error"] == "chat: model overloaded"


def test_a_tenant_key_names_the_agent_by_a_resource_attribute(service: Service) -> None:
    tracer, provider = service.tracer("acme", **{"pytest_connectors.agent_id": "billing"})
    with tracer.start_as_current_span("invoke") as span:
        span.set_attribute("session.id", "conv-billing")
        span.set_attribute("input.value", "What do I owe?")
        span.set_attribute("output.value", "Nothing.")
    provider.shutdown()
    conversation = wait_for(
        lambda: by_thread(service.conversations("billing"), "conv-billing"), "billing trace"
    )
    assert conversation["turns"][0]["userMessages"] == ["What do I owe?"]
    assert conversation["turns"][0]["answer"] == "Nothing."


def otlp_json(*spans: dict[str, Any], resource: dict[str, str] | None = None) -> dict[str, Any]:
    attributes = [{"key": k, "value": {"stringValue": v}} for k, v in (resource or {}).items()]
    return {
        "resourceSpans": [
            {"resource": {"attributes": attributes}, "scopeSpans": [{"spans": list(spans)}]}
        ]
    }


def json_span(trace: str, span: str, **attributes: str) -> dict[str, Any]:
    return {
        "traceId": trace,
        "spanId": span,
        "name": "llm",
        "startTimeUnixNano": str(time.time_ns()),
        "endTimeUnixNano": str(time.time_ns()),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }


def test_openllmetry_spans_in_gzipped_json(service: Service) -> None:
    span = json_span(
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
        **{
            "traceloop.span.kind": "llm",
            "session.id": "conv-json",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "Hi there",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Hello!",
        },
    )
    body = gzip.compress(json.dumps(otlp_json(span)).encode())
    answer = service.post("weather", body, "application/json", **{"Content-Encoding": "gzip"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {}
    conversation = wait_for(
        lambda: by_thread(service.conversations("weather"), "conv-json"), "json trace"
    )
    assert conversation["turns"][0]["userMessages"] == ["Hi there"]
    assert conversation["turns"][0]["answer"] == "Hello!"


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status"),
    [
        (b"\xff\xff\xff\xff", "application/x-protobuf", {}, 400),
        (b"{not json", "application/json", {}, 400),
        (b'{"resourceSpans": {"oops": 1}}', "application/json", {}, 400),
        (
            json.dumps(
                {
                    "resourceSpans": [
                        {
                            "scopeSpans": [
                                {
                                    "spans": [
                                        {
                                            "attributes": [
                                                {"key": "a", "value": {"intValue": "twelve"}}
                                            ]
                                        }
                                    ]
                                }
                            ]
                        }
                    ]
                }
            ).encode(),
            "application/json",
            {},
            400,
        ),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", {}, 400),
        (b"not gzip", "application/json", {"Content-Encoding": "gzip"}, 400),
        (
            gzip.compress(b" " * (65 * 1024 * 1024)),
            "application/json",
            {"Content-Encoding": "gzip"},
            413,
        ),
        (b"{}", "text/plain", {}, 415),
        (b"{}", "application/json", {"Content-Encoding": "br"}, 415),
    ],
    ids=[
        "protobuf",
        "json",
        "wrong-type",
        "int-not-int",
        "deep",
        "gzip",
        "gzip-bomb",
        "media",
        "encoding",
    ],
)
def test_unreadable_requests_get_otlp_errors(
    service: Service, body: bytes, content_type: str, headers: dict[str, str], status: int
) -> None:
    answer = service.post("weather", body, content_type, **headers)
    assert answer.status_code == status, answer.text
    if content_type == "application/json":
        assert answer.json()["message"]
    health = httpx.get(f"{service.server.url}/api/health", timeout=30)
    assert health.status_code == 200


def test_spans_out_of_the_keys_reach_are_rejected_in_partial_success(service: Service) -> None:
    foreign = json_span(
        "6b8efff798038103d269b633813fc60c", "aee19b7ec3c1b174", **{"session.id": "x"}
    )
    answer = service.post(
        "weather",
        json.dumps(otlp_json(foreign, resource={"pytest_connectors.agent_id": "billing"})).encode(),
        "application/json",
    )
    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "another agent" in partial["errorMessage"]
    unnamed = json_span("7b8efff798038103d269b633813fc60c", "bee19b7ec3c1b174")
    answer = service.post("acme", json.dumps(otlp_json(unnamed)).encode(), "application/json")
    assert answer.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert "pytest_connectors.agent_id" in answer.json()["partialSuccess"]["errorMessage"]
    assert by_thread(service.conversations("billing"), "x") is None


def test_a_request_needs_a_key(service: Service) -> None:
    answer = httpx.post(
        f"{service.server.url}/v1/traces",
        content=b"",
        headers={"Content-Type": "application/x-protobuf"},
        timeout=30,
    )
    assert answer.status_code == 401


def test_a_root_that_comes_after_its_trace_went_idle_completes_the_stored_turn(
    service: Service,
) -> None:
    trace, root_id = "8b8efff798038103d269b633813fc60c", "dee19b7ec3c1b174"
    said = {
        "session.id": "conv-late",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "Still on?",
    }
    child = {**json_span(trace, "cee19b7ec3c1b174", **said), "parentSpanId": root_id}
    answer = service.post("weather", json.dumps(otlp_json(child)).encode(), "application/json")
    assert answer.status_code == 200, answer.text
    pending = wait_for(
        lambda: by_thread(service.conversations("weather"), "conv-late"), "pending turn"
    )
    assert pending["pending"]

    # The root comes after the trace went idle and was stored: it is taken, not refused.
    answer = service.post(
        "weather", json.dumps(otlp_json(json_span(trace, root_id))).encode(), "application/json"
    )
    assert answer.status_code == 200, answer.text
    assert "rejectedSpans" not in answer.json().get("partialSuccess", {}), answer.text
    whole = wait_for(
        lambda: [
            c
            for c in service.conversations("weather")
            if c["threadKey"] == "conv-late" and not c["pending"]
        ],
        "the completed turn",
    )
    (conversation,) = whole
    (turn,) = conversation["turns"]
    assert turn["userMessages"] == ["Still on?"] and not turn["pending"]
