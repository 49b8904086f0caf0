"""Agents instrumented with real OpenTelemetry instrumentations, exporting OTLP/HTTP protobuf.

Run as a child process (``python tests/instrumented_apps.py APP JSON``): the instrumentations
patch LangChain and the OpenAI client for the whole process, which a test process must not
carry into its other tests. The tracer provider is shut down before the child exits, so every
span has been sent when it returns.

- ``langgraph``: the example LangGraph graph (examples/langgraph_agent), run in-process with a
  checkpointer, instrumented by ``openinference-instrumentation-langchain``; one graph run per
  user message, a thread per conversation.
- ``openai``: an app on the ``openai`` client instrumented by
  ``opentelemetry-instrumentation-openai-v2`` (latest GenAI conventions, content on the spans),
  calling the example OpenAI-compatible HTTP agent; it runs the tool round itself, each user
  message under an ``invoke_agent`` span that names the conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LANGGRAPH_AGENT = ROOT / "examples" / "langgraph_agent"

# The switches opentelemetry-instrumentation-openai-v2 2.4 (util-genai 1.1) reads: the latest
# conventions put the messages on the span as gen_ai.input/output.messages; "span_only" is the
# content mode of that path ("true" only applies to the legacy one).
OPENAI_ENV = {
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "span_only",
}


def _provider(endpoint: str, key: str, service: str) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPSpanExporter(
        endpoint=endpoint, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def run_langgraph(endpoint: str, key: str, threads: dict[str, list[str]]) -> None:
    from openinference.instrumentation.langchain import LangChainInstrumentor

    provider = _provider(endpoint, key, "langgraph-example")
    LangChainInstrumentor().instrument(tracer_provider=provider)
    sys.path.insert(0, str(LANGGRAPH_AGENT))
    import agent  # examples/langgraph_agent/agent.py
    from langchain_core.messages import HumanMessage
    from langgraph.checkpoint.memory import InMemorySaver

    graph = agent.builder.compile(checkpointer=InMemorySaver())

    async def converse() -> None:
        for thread, texts in threads.items():
            config = {"configurable": {"thread_id": thread}}
            for text in texts:
                # "fail" raises: the span's error status says so.
                with contextlib.suppress(RuntimeError):
                    await graph.ainvoke({"messages": [HumanMessage(text)]}, config)

    asyncio.run(converse())
    provider.shutdown()


def run_openai(
    endpoint: str, key: str, agent_url: str, token: str, conversations: dict[str, list[str]]
) -> None:
    os.environ.update(OPENAI_ENV)
    import openai
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    provider = _provider(endpoint, key, "openai-app")
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    tracer = provider.get_tracer("openai-app")
    client = openai.OpenAI(base_url=f"{agent_url}/v1", api_key=token, max_retries=0)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The current weather of a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    for conversation, texts in conversations.items():
        history: list[dict[str, Any]] = []
        for text in texts:
            with tracer.start_as_current_span("invoke_agent weather-app") as span:
                span.set_attribute("gen_ai.operation.name", "invoke_agent")
                span.set_attribute("gen_ai.conversation.id", conversation)
                history.append({"role": "user", "content": text})
                while True:
                    answer = client.chat.completions.create(
                        model="example", messages=history, tools=tools
                    ).choices[0]
                    history.append(answer.message.model_dump(exclude_none=True))
                    if not answer.message.tool_calls:
                        break
                    for call in answer.message.tool_calls:
                        city = json.loads(call.function.arguments).get("city", "?")
                        history.append(
                            {
                                "role": "tool",
                                "tool_call_id": call.id,
                                "content": f"Sunny, 21°C in {city}",
                            }
                        )
    provider.shutdown()


def run_child(app: str, options: dict[str, Any], env: dict[str, str]) -> None:
    """Run ``app`` in a child process; fails with its output when it fails."""
    done = subprocess.run(
        [sys.executable, __file__, app, json.dumps(options)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


if __name__ == "__main__":
    name, raw = sys.argv[1], json.loads(sys.argv[2])
    {"langgraph": run_langgraph, "openai": run_openai}[name](**raw)
