"""OpenTelemetry and Langfuse ingestion speed: the OTLP receiver and the Langfuse connector.

- receiver: ``pytest-connectors serve`` on SQLite takes OTLP/HTTP protobuf requests of 100
  five-span traces (an agent span naming the conversation, two GenAI chat spans, a tool span)
  from 4 concurrent exporters; spans per second end to end, and the request-to-stored latency:
  a request's traces (roots included) are stored when its 200 comes back, so the latency of a
  request is the time its spans took to be stored. The count stored is checked at the end.
- Langfuse: a first sync of ``count`` traces from the fake (uvicorn in its own process, seeded
  by ``langfuse_app.py``) into a fresh SQLite file, in traces per second; a re-sync of the
  unchanged window, how much faster and that it writes nothing; peak memory of a whole sync in
  a fresh process at 1,000 and at ``count`` traces.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from bench_report import Row, check, median, spread
from langfuse_app import FIRST_TRACE, SPACING

from pytest_connectors import Imports
from pytest_connectors.fakes.langfuse import PUBLIC_KEY, SECRET_KEY
from pytest_connectors.models.imports import Job, JobStatus
from pytest_connectors.servers.launch import UvicornServer
from pytest_connectors.servers.serve import ServiceServer
from pytest_connectors.storage.api_keys import create_api_key
from pytest_connectors.storage.store import Store

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
TRACES_PER_REQUEST = 100
SPANS_PER_TRACE = 5
TURNS_PER_CONVERSATION = 5
EXPORTERS = 4
SMALL = 1_000


def _checkout_first() -> dict[str, str]:
    """Children import this checkout, before any installed copy."""
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


# --- the receiver -----------------------------------------------------------------------------


def _requests(traces: int) -> list[bytes]:
    """Protobuf ExportTraceServiceRequests of ``TRACES_PER_REQUEST`` traces each."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def attributes(**values: str) -> list[KeyValue]:
        return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in values.items()]

    start = time.time_ns() - 3_600 * 10**9
    bodies = []
    for first in range(0, traces, TRACES_PER_REQUEST):
        request = ExportTraceServiceRequest()
        scope = request.resource_spans.add().scope_spans.add()
        for n in range(first, min(traces, first + TRACES_PER_REQUEST)):
            trace_id = (n + 1).to_bytes(16, "big")
            root = (n + 1) * 8
            asked = json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": f"Weather {n}?"}]}]
            )
            call = json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [
                            {
                                "type": "tool_call",
                                "id": f"c{n}",
                                "name": "get_weather",
                                "arguments": {"city": "Paris"},
                            }
                        ],
                    }
                ]
            )
            answer = json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}]}]
            )
            spans = [
                ("invoke_agent", None, {"gen_ai.operation.name": "invoke_agent",
                 "gen_ai.conversation.id": f"conv-{n // TURNS_PER_CONVERSATION}"}),
                ("chat", root, {"gen_ai.operation.name": "chat",
                 "gen_ai.input.messages": asked, "gen_ai.output.messages": call}),
                ("execute_tool", root, {"gen_ai.operation.name": "execute_tool",
                 "gen_ai.tool.name": "get_weather", "gen_ai.tool.call.id": f"c{n}",
                 "gen_ai.tool.call.result": "sunny"}),
                ("chat", root, {"gen_ai.operation.name": "chat",
                 "gen_ai.input.messages": asked, "gen_ai.output.messages": answer}),
                ("http", root + 3, {"http.method": "POST"}),
            ]  # fmt: skip
            at = start + n * 10**7
            for k, (name, parent, values) in enumerate(spans):
                span = scope.spans.add()
                span.trace_id = trace_id
                span.span_id = (root + k).to_bytes(8, "big")
                if parent is not None:
                    span.parent_span_id = parent.to_bytes(8, "big")
                span.name = name
                span.start_time_unix_nano = at + k * 10**6
                span.end_time_unix_nano = at + (k + 1) * 10**6
                span.attributes.extend(attributes(**values))
        bodies.append(request.SerializeToString())
    return bodies


async def _export(url: str, key: str, bodies: list[bytes]) -> list[float]:
    """Every body sent by ``EXPORTERS`` concurrent exporters: each request's seconds."""
    queue = list(reversed(bodies))
    latencies: list[float] = []
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"}

    async def exporter(client: httpx.AsyncClient) -> None:
        while queue:
            body = queue.pop()
            began = time.perf_counter()
            answer = await client.post(f"{url}/v1/traces", content=body, headers=headers)
            latencies.append(time.perf_counter() - began)
            if answer.status_code != 200 or answer.content:  # content: a partialSuccess
                raise RuntimeError(f"/v1/traces answered {answer.status_code}: {answer.content!r}")

    async with httpx.AsyncClient(timeout=120, trust_env=False) as client:
        await asyncio.gather(*(exporter(client) for _ in range(EXPORTERS)))
    return latencies


def _stored_turns(db: Path) -> int:
    from sqlalchemy import text

    with Store(str(db)) as store, store.read() as connection:
        total = connection.execute(text("SELECT SUM(turn_count) FROM conversations")).scalar()
    return int(total or 0)


def receiver(*, traces: int, rounds: int) -> list[Row]:
    bodies = _requests(traces)
    spans = traces * SPANS_PER_TRACE
    rates: list[float] = []
    latencies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-otlp-") as tmp:
        for round_number in range(max(1, min(rounds, 3))):
            db = Path(tmp) / f"otlp-{round_number}.db"
            with Store(str(db)) as store:
                key = create_api_key(store, tenant_id="bench", agent_id="bench-agent").key
            with ServiceServer(
                str(db), workers=0, access_log=False, env=_checkout_first()
            ) as server:
                began = time.perf_counter()
                latencies += asyncio.run(_export(server.url, key, bodies))
                rates.append(spans / (time.perf_counter() - began))
            stored = _stored_turns(db)
            if stored != traces:
                raise RuntimeError(f"{stored} turns stored of {traces} traces sent")
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    rate = median(rates)
    return [
        Row(
            f"11a. OTLP receiver: {spans:,} spans into SQLite",
            f"{rate:,.0f} spans/s",
            ">= 5,000 spans/s",
            check(rate >= 5_000),
            rate,
            "spans/s",
            f"{spread(rates, 0)}; {EXPORTERS} exporters, {TRACES_PER_REQUEST * SPANS_PER_TRACE} "
            "spans a request",
        ),
        Row(
            "11b. OTLP receiver: request-to-stored latency",
            f"p50 {p50:.0f} ms, p99 {p99:.0f} ms",
            "stated",
            "INFO",
            p99,
            "ms",
            f"{len(ordered)} requests of {TRACES_PER_REQUEST * SPANS_PER_TRACE} spans",
        ),
    ]


# --- the Langfuse connector ---------------------------------------------------------------------


def _window(count: int) -> tuple[datetime, datetime]:
    return FIRST_TRACE, FIRST_TRACE + SPACING * count


def _connector(imports: Imports, url: str) -> str:
    created = imports.connectors.create(
        {
            "agentId": "bench-agent",
            "name": "bench-langfuse",
            "category": "llm-tracing",
            "provider": "langfuse",
            "config": {"publicKey": PUBLIC_KEY, "secretKey": SECRET_KEY, "baseUrl": url},
        }
    )
    # connect queues a sync of the last days, which holds none of the synthetic traces
    imports.jobs.wait(imports.connectors.connect(created.id).job.id, timeout=600)
    return created.id


def _sync(imports: Imports, connector_id: str, count: int) -> tuple[Job, float]:
    start, end = _window(count)
    began = time.perf_counter()
    job = imports.connectors.sync(connector_id, from_=start, to=end)
    done = imports.jobs.wait(job.id, timeout=900)
    elapsed = time.perf_counter() - began
    if done.status is not JobStatus.SUCCEEDED:
        raise RuntimeError(f"sync job {done.status.value}: {done.error}")
    return done, elapsed


def _fake(count: int) -> UvicornServer:
    return UvicornServer(
        "langfuse_app:app",
        app_dir=BENCHMARKS,
        env={"BENCH_LANGFUSE_TRACES": str(count), **_checkout_first()},
        ready_path="/api/public/health",
        startup_timeout=120,
    )


def _peak_rss_mb(url: str, count: int, work: Path) -> float:
    env = {**os.environ, **_checkout_first()}
    db = work / f"memory-{count}-{time.monotonic_ns()}.db"
    output = subprocess.run(
        [sys.executable, str(Path(__file__)), "--child", url, str(count), str(db)],
        capture_output=True, text=True, env=env, check=True, timeout=900,
    ).stdout  # fmt: skip
    return float(json.loads(output.strip().splitlines()[-1])["peak_rss_mb"])


def langfuse_sync(*, count: int, rounds: int) -> list[Row]:
    rounds = max(1, min(rounds, 3))
    firsts: list[float] = []
    agains: list[float] = []
    writes = 0
    with _fake(count) as fake, tempfile.TemporaryDirectory(prefix="bench-langfuse-") as tmp:
        work = Path(tmp)
        for _ in range(rounds):
            with Imports(work / f"round-{time.monotonic_ns()}.db") as imports:
                connector_id = _connector(imports, fake.url)
                first, first_s = _sync(imports, connector_id, count)
                if first.stats.created != count:
                    raise RuntimeError(f"first sync created {first.stats.created} of {count}")
                again, again_s = _sync(imports, connector_id, count)
            firsts.append(first_s)
            agains.append(again_s)
            writes += again.stats.created + again.stats.updated + again.stats.marked_missing
        small = median([_peak_rss_mb(fake.url, SMALL, work) for _ in range(rounds)])
        large = median([_peak_rss_mb(fake.url, count, work) for _ in range(rounds)])
    rate = count / median(firsts)
    ratio = median(firsts) / median(agains)
    growth = large - small
    return [
        Row(
            f"11c. Langfuse: first sync of {count:,} traces",
            f"{rate:,.0f} traces/s",
            ">= 1,000 traces/s",
            check(rate >= 1_000),
            rate,
            "traces/s",
            f"{median(firsts):.2f} s; {spread(firsts, 2)}",
        ),
        Row(
            "11d. Langfuse: re-sync of the unchanged window",
            f"{ratio:.1f}x faster, {writes} rows written",
            ">= 3x faster, 0 rows",
            check(ratio >= 3 and writes == 0),
            ratio,
            "x",
            f"{median(agains):.2f} s; {spread(agains, 2)}",
        ),
        Row(
            f"11e. Langfuse: peak memory, {SMALL:,} -> {count:,} traces",
            f"+{growth:.1f} MB",
            "< 50 MB",
            check(growth < 50),
            growth,
            "MB",
            f"{small:.0f} MB -> {large:.0f} MB peak RSS",
        ),
    ]


def _child(url: str, count: int, db: Path) -> None:
    import resource

    with Imports(db) as imports:
        _sync(imports, _connector(imports, url), count)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_mb": peak_kb / 1024}))


if __name__ == "__main__":
    sys.path.insert(0, str(BENCHMARKS))
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
    else:
        count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
        rows = [*receiver(traces=count, rounds=1), *langfuse_sync(count=count, rounds=1)]
        for row in rows:
            print(row)
