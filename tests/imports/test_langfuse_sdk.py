"""The real ``langfuse`` SDK (v5, on OpenTelemetry) writes traces to the Langfuse fake over OTLP
(``/api/public/otel/v1/traces``, Basic auth), and the connector reads them back turn by turn.
Also: a trace deleted between the list and its detail is skipped, never the page's failure."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider

from pytest_connectors import Imports
from pytest_connectors.fakes.langfuse import PUBLIC_KEY, SECRET_KEY, LangfuseServer

langfuse = pytest.importorskip("langfuse")


@pytest.fixture
def sdk(langfuse_fake: LangfuseServer) -> Iterator[Any]:
    """A Langfuse client on the fake, with a tracer provider of its own (none global)."""
    client = langfuse.Langfuse(
        public_key=PUBLIC_KEY,
        secret_key=SECRET_KEY,
        base_url=langfuse_fake.url,
        tracer_provider=TracerProvider(),
        flush_at=1000,
    )
    yield client
    client.shutdown()


def work() -> None:
    """An LLM or tool call takes time: Langfuse keeps start times to the millisecond, and
    observations started in the same one have no order."""
    time.sleep(0.005)


def weather_turn(sdk: Any, session: str, city: str) -> str:
    """One turn as an app on the SDK writes it: an agent span, an OpenAI-shaped generation
    asking for a tool, the tool, and a generation answering from its result."""
    call = {
        "id": f"call-{city}",
        "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": city})},
    }
    asked = [{"role": "user", "content": f"Weather in {city}?"}]
    with (
        sdk.start_as_current_observation(
            as_type="agent", name="weather-turn", input=f"Weather in {city}?"
        ) as root,
        langfuse.propagate_attributes(session_id=session, user_id="user-7", trace_name="chat"),
    ):
        with sdk.start_as_current_observation(
            as_type="generation", name="llm", model="gpt-4o-mini", input=asked
        ) as generation:
            work()
            generation.update(output={"role": "assistant", "content": None, "tool_calls": [call]})
        with sdk.start_as_current_observation(
            as_type="tool", name="get_weather", input={"city": city}
        ) as tool:
            work()
            tool.update(output="18C sunny")
        tool_message = {"role": "tool", "tool_call_id": call["id"], "content": "18C sunny"}
        with sdk.start_as_current_observation(
            as_type="generation",
            name="llm",
            model="gpt-4o-mini",
            input=[*asked, {"role": "assistant", "tool_calls": [call]}, tool_message],
        ) as generation:
            work()
            generation.update(output={"role": "assistant", "content": f"Sunny in {city}."})
        root.update(output=f"Sunny in {city}.")
        trace_id: str = sdk.get_current_trace_id()
    return trace_id


def failing_turn(sdk: Any) -> str:
    with sdk.start_as_current_observation(as_type="span", name="booking", input="Book a table"):
        with sdk.start_as_current_observation(as_type="tool", name="book") as tool:
            tool.update(level="ERROR", status_message="restaurant API unreachable")
        trace_id: str = sdk.get_current_trace_id()
    return trace_id


def sync(server: LangfuseServer, db: Path) -> tuple[Any, dict[str, Any]]:
    with Imports(str(db)) as imports:
        connector = imports.connectors.create(
            {
                "agentId": "agt_1",
                "name": "Langfuse prod",
                "category": "llm-tracing",
                "provider": "langfuse",
                "config": {"publicKey": PUBLIC_KEY, "secretKey": SECRET_KEY, "baseUrl": server.url},
            }
        )
        job = imports.jobs.wait(imports.connectors.connect(connector.id).job.id, timeout=120)
        listed = imports.conversations.list(connector=connector.id).items
    return job, {c.thread_key: c for c in listed}


def test_the_sdk_writes_traces_the_connector_reads_back_turn_by_turn(
    langfuse_fake: LangfuseServer, sdk: Any, tmp_path: Path
) -> None:
    paris = weather_turn(sdk, "s-sdk", "Paris")
    tokyo = weather_turn(sdk, "s-sdk", "Tokyo")
    failed = failing_turn(sdk)
    sdk.flush()
    fake = langfuse_fake.fake
    posted = [r for r in fake.requests if r.startswith("POST /otel/v1/traces")]
    assert posted, fake.requests  # the SDK's exporter, through the fake's Basic auth
    stored = fake.traces[paris]
    assert (stored["sessionId"], stored["userId"], stored["name"]) == ("s-sdk", "user-7", "chat")
    assert stored["input"] == "Weather in Paris?" and stored["output"] == "Sunny in Paris."
    kinds = sorted(o["type"] for o in fake.observations[paris])
    assert kinds == ["AGENT", "GENERATION", "GENERATION", "TOOL"]

    job, conversations = sync(langfuse_fake, tmp_path / "imports.db")
    assert job.status.value == "succeeded", job.error
    assert set(conversations) == {"s-sdk", failed}
    first, second = conversations["s-sdk"].turns
    assert (first.trace_id, second.trace_id) == (paris, tokyo)
    assert first.user_messages == ["Weather in Paris?"]
    [call] = first.tool_calls
    assert (call.name, call.args, call.result) == ("get_weather", {"city": "Paris"}, "18C sunny")
    assert first.answer == "Sunny in Paris." and second.answer == "Sunny in Tokyo."
    [broken] = conversations[failed].turns
    assert broken.error == "book: restaurant API unreachable"


def test_a_trace_deleted_after_the_list_is_skipped_not_the_page(
    langfuse_fake: LangfuseServer, tmp_path: Path
) -> None:
    fake = langfuse_fake.fake
    base = datetime.now(UTC) - timedelta(hours=1)
    for n in range(3):
        moment = (base + timedelta(minutes=n)).isoformat().replace("+00:00", "Z")
        fake.add_trace({"id": f"t-{n}", "timestamp": moment, "input": "hi", "output": "hello"})
    # Listed, then gone: the detail answers 404 as Langfuse does for a deleted trace.
    fake.fail_next("/traces/t-1", 404)
    job, conversations = sync(langfuse_fake, tmp_path / "imports.db")
    assert job.status.value == "succeeded", job.error
    assert set(conversations) == {"t-0", "t-2"}
    assert job.stats.skipped == {"deleted": 1}


def test_the_otel_endpoint_checks_keys_and_bodies_as_langfuse_does(
    langfuse_fake: LangfuseServer,
) -> None:
    url = f"{langfuse_fake.url}/api/public/otel/v1/traces"
    span = {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "b7ad6b7169203331",
        "name": "chat",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": [
            {"key": "langfuse.observation.type", "value": {"stringValue": "generation"}},
            {"key": "langfuse.observation.input", "value": {"stringValue": '"hi"'}},
        ],
    }
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    json_type = {"Content-Type": "application/json"}
    with httpx.Client(timeout=30) as http:
        refused = http.post(url, content=body, headers=json_type, auth=(PUBLIC_KEY, "sk-lf-no"))
        unreadable = http.post(
            url, content=b"\xff\xff", headers={"Content-Type": "application/x-protobuf"},
            auth=(PUBLIC_KEY, SECRET_KEY),
        )  # fmt: skip
        taken = http.post(url, content=body, headers=json_type, auth=(PUBLIC_KEY, SECRET_KEY))
    assert refused.status_code == 401 and unreadable.status_code == 400
    assert taken.status_code == 200 and taken.json() == {}
    [observation] = langfuse_fake.fake.observations["0af7651916cd43dd8448eb211c80319c"]
    assert (observation["type"], observation["input"]) == ("GENERATION", "hi")
