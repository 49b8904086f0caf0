"""Benchmarks of pytest-connectors against real local agents: ``python benchmarks/run.py``.

It starts its own servers on free loopback ports and stops them at the end, on errors and on
Ctrl-C or SIGTERM: the example HTTP agent under uvicorn, ``langgraph dev`` on the example graph
(measurement 2 only), ``delay_app.py`` (measurements 6, 8 and 10) and the example model
server as a judge (measurement 10). It runs every measurement several times and prints one row
per figure with its target and PASS / MISS (INFO: no target was set):

1. call overhead, HTTP: ``ConnectorClient().invoke`` and ``invoke_connector`` vs raw ``httpx``
2. call overhead, LangGraph: ``ConnectorClient().invoke`` vs raw ``langgraph_sdk`` ``runs.wait``
3. plugin cost per test: ``conversation`` fixture vs hand-written ``httpx`` tests, and a suite
   that uses no connector with the plugin loaded vs ``-p no:connectors``
4. start-up: ``pytest --co`` in a venv with our base install vs one with just pytest,
   pytest-asyncio and httpx; and with the plugin loaded vs ``-p no:connectors``
5. scale: three-turn conversation tests serial and with ``-n 4``; controller memory
6. latency truth: ``latency_ms`` against a stopwatch around raw ``httpx``, on a server that
   holds each reply for an exact delay
7. import sync: a first sync of many runs from the LangSmith fake, a re-sync, memory, and a
   first sync of one long thread
8. replay: recorded conversations replayed concurrently against ``delay_app.py``
9. the connectors service: req/s and p50/p99 of ``GET /api/connectors/{id}`` and
   ``GET /api/connectors`` with 32 concurrent clients, on SQLite and PostgreSQL; and the
   browser UI's conversation page, signed in, on SQLite
10. judges: measurement 8's replay with every turn judged pairwise (``answer="judge"``) by the
    example model server held to 200 ms a verdict, cold and fully cached
11. OpenTelemetry and Langfuse: spans/s of the service's OTLP receiver on SQLite with its
    request-to-stored latency; a first sync of many traces from the Langfuse fake (own
    process), a re-sync, memory
12. HTML report: 10,000 tests x 3 calls written (size, time), ``report merge`` of 8 shards,
    first paint and a filter in headless Chromium (``bench_html.py``)

Figures are medians, and every comparison is measured side by side in the same run, because
these machines are shared and noisy: compare ratios, not absolute times across runs.

Expected duration on a 2-core machine: about 4 to 5 minutes (``--repeat 5``, the default;
the time grows with it); ``--quick`` about 45 s (small counts, one round: a smoke test of the
harness whose figures are not to be trusted). ``--json`` prints the rows as JSON only;
``--json-file PATH`` writes them there besides the table. To add a measurement, write a
function taking the `Bench` context and returning rows, and list it in ``MEASUREMENTS``.
Exit status: 0 when every measurement ran (whether or not its target holds), 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import secrets
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import bench_calls
import bench_html
import bench_imports
import bench_judges
import bench_otlp
import bench_replay
import bench_service
import bench_suites
from bench_report import Row, error_row, table

from pytest_connectors import Connector, ConnectorStore
from pytest_connectors.servers.launch import LangGraphDevServer, UvicornServer

BENCHMARKS = Path(__file__).resolve().parent
EXAMPLES = BENCHMARKS.parent / "examples"
HTTP_CONNECTOR = "HTTP Agent"
LANGGRAPH_CONNECTOR = "LangGraph Dev"
DELAY_CONNECTOR = "Exact Delay"
DELAY_PATH = "/chat"
CHAT_PATH = "/v1/chat/completions"


@dataclass(frozen=True, slots=True)
class Plan:
    """How much of everything to do: ``full`` for figures, ``quick`` for the test suite."""

    rounds: int
    http_calls: int
    langgraph_calls: int
    plugin_tests: int
    plugin_rounds: int
    startup_runs: int
    scale_tests: int
    scale_small: int
    scale_rounds: int
    delays: dict[int, int]
    warm_up: bool

    @classmethod
    def full(cls, repeat: int) -> Plan:
        return cls(
            rounds=repeat,
            http_calls=1000,
            langgraph_calls=4 * repeat,
            plugin_tests=500,
            plugin_rounds=2 * repeat,  # whole-run timings of ~1 s: the noisiest figures
            startup_runs=2 * repeat + 1,
            scale_tests=2000,
            scale_small=200,
            scale_rounds=max(1, (repeat + 1) // 2),
            delays={10: 10 * repeat, 100: 4 * repeat, 1000: repeat},
            warm_up=True,
        )

    @classmethod
    def quick(cls, repeat: int) -> Plan:
        return cls(
            rounds=repeat,
            http_calls=50,
            langgraph_calls=3 * repeat,
            plugin_tests=50,
            plugin_rounds=repeat,
            startup_runs=2 * repeat + 1,
            scale_tests=50,
            scale_small=10,
            scale_rounds=repeat,
            delays={10: 5 * repeat, 100: 2 * repeat, 1000: repeat},
            warm_up=False,
        )


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: servers and suites are cleaned up


def child_env(work: Path, url: str, token: str) -> dict[str, str]:
    """The suites' environment: no pytest settings leaking in from whoever runs us.

    Byte code goes to a private cache so generated and package modules compile once (after the
    warm-up runs) without writing into the source tree.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PYTHONPYCACHEPREFIX=str(work / "pycache"),
        HTTP_AGENT_URL=url,
        HTTP_AGENT_TOKEN=token,
    )
    return env


def http_agent(token: str) -> UvicornServer:
    return UvicornServer(
        "app:app",
        app_dir=EXAMPLES / "http_agent",
        env={"HTTP_AGENT_TOKEN": token, "UVICORN_ACCESS_LOG": "false"},
    )


@contextlib.contextmanager
def langgraph_connector(store: ConnectorStore) -> Iterator[Connector]:
    with LangGraphDevServer(EXAMPLES / "langgraph_agent") as server:
        yield store.create(
            {
                "name": LANGGRAPH_CONNECTOR,
                "type": "langgraph",
                "baseUrl": server.url,
                "config": {"assistantId": "agent"},
            }
        )


@contextlib.contextmanager
def exact_delay_connector(
    store: ConnectorStore, name: str = DELAY_CONNECTOR
) -> Iterator[Connector]:
    app = UvicornServer("delay_app:app", app_dir=BENCHMARKS, env={"UVICORN_ACCESS_LOG": "false"})
    with app as server:
        yield store.create(
            {
                "name": name,
                "type": "http",
                "baseUrl": server.url,
                "config": {"path": DELAY_PATH},
            }
        )


@dataclass(frozen=True, slots=True)
class Bench:
    """What every measurement may use: the plan, a work folder, the HTTP agent and its file."""

    plan: Plan
    work: Path
    http: Connector
    agent_url: str
    token: str
    connectors_file: Path
    store: ConnectorStore
    runner: bench_suites.Runner
    env: dict[str, str]


def http_overhead(b: Bench) -> list[Row]:
    return bench_calls.http_overhead(
        b.http,
        b.connectors_file,
        b.agent_url + CHAT_PATH,
        b.token,
        calls=b.plan.http_calls,
        rounds=b.plan.rounds,
    )


def langgraph_overhead(b: Bench) -> list[Row]:
    with langgraph_connector(b.store) as connector:
        return [bench_calls.langgraph_overhead(connector, calls=b.plan.langgraph_calls)]


def plugin_cost(b: Bench) -> list[Row]:
    return bench_suites.plugin_cost(
        b.work / "plugin",
        b.runner,
        tests=b.plan.plugin_tests,
        rounds=b.plan.plugin_rounds,
        warm_up=b.plan.warm_up,
    )


def startup(b: Bench) -> list[Row]:
    runs = b.plan.startup_runs
    return [
        bench_suites.startup_vs_minimal(b.work / "venvs", b.env, runs=runs),
        bench_suites.startup(b.work / "startup", b.runner, runs=runs),
    ]


def scale(b: Bench) -> list[Row]:
    return bench_suites.scale(
        b.work / "scale",
        b.runner,
        tests=b.plan.scale_tests,
        small=b.plan.scale_small,
        rounds=b.plan.scale_rounds,
    )


def latency_truth(b: Bench) -> list[Row]:
    with exact_delay_connector(b.store) as connector:
        url = connector.base_url + DELAY_PATH
        return bench_calls.latency_truth(connector, url, b.plan.delays)


def import_sync(b: Bench) -> list[Row]:
    full = b.plan.warm_up
    rows = bench_imports.imports_sync(count=10_000 if full else 1_000, rounds=b.plan.rounds)
    return rows + bench_imports.long_thread(count=8_050 if full else 500, rounds=b.plan.rounds)


def otlp_and_langfuse(b: Bench) -> list[Row]:
    full = b.plan.warm_up
    rows = bench_otlp.receiver(traces=4_000 if full else 400, rounds=b.plan.rounds)
    return rows + bench_otlp.langfuse_sync(count=10_000 if full else 1_000, rounds=b.plan.rounds)


def replay(b: Bench) -> list[Row]:
    return bench_replay.replay(
        b.work / "replay",
        b.runner,
        b.connectors_file,
        exact_delay_connector(b.store, "Replay Delay"),
        b.plan.scale_small,
        b.plan.scale_rounds,
        b.plan.warm_up,
    )


def judges(b: Bench) -> list[Row]:
    return bench_judges.judges(
        b.work / "judges",
        b.runner,
        b.store,
        EXAMPLES,
        exact_delay_connector(b.store, "Judged Delay"),
        b.plan.scale_small,
        b.plan.scale_rounds,
        b.plan.warm_up,
    )


def service(b: Bench) -> list[Row]:
    # 32 clients x this many requests per round and route; quick: a smoke run of the harness.
    per_client = 60 if b.plan.warm_up else 5
    return bench_service.service_load(per_client=per_client, rounds=min(b.plan.rounds, 3))


def html_report(b: Bench) -> list[Row]:
    return bench_html.html_report(10_000 if b.plan.warm_up else 500, b.plan.rounds)


# Every measurement, in order: (name, function). Add yours with one line.
MEASUREMENTS: list[tuple[str, Callable[[Bench], list[Row]]]] = [
    ("1. HTTP call overhead", http_overhead),
    ("2. LangGraph call overhead", langgraph_overhead),
    ("3. Plugin cost per test", plugin_cost),
    ("4. Start-up", startup),
    ("5. Scale", scale),
    ("6. Latency truth", latency_truth),
    ("7. Import sync", import_sync),
    ("8. Replay", replay),
    ("9. Service", service),
    ("10. Judges", judges),
    ("11. OpenTelemetry and Langfuse", otlp_and_langfuse),
    ("12. HTML report", html_report),
]


def measure(name: str, rows: list[Row], work: Callable[[], list[Row]]) -> None:
    """Run one measurement; a failure becomes an ERROR row instead of ending the run."""
    progress(name)
    start = time.perf_counter()
    try:
        rows.extend(work())
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        rows.append(error_row(name, exc))
    progress(f"{name}: {time.perf_counter() - start:.0f} s")


def run(plan: Plan, only: set[str] | None = None) -> list[Row]:
    rows: list[Row] = []
    token = secrets.token_urlsafe(24)
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-connectors-")))
        progress("starting the HTTP agent")
        server = stack.enter_context(http_agent(token))
        # The connector file, as a user writes it: secrets by reference, resolved per call.
        os.environ["HTTP_AGENT_URL"], os.environ["HTTP_AGENT_TOKEN"] = server.url, token
        connectors_file = work / "connectors.json"
        store = ConnectorStore(connectors_file)
        http = store.create(
            {
                "name": HTTP_CONNECTOR,
                "type": "http",
                "baseUrl": "${HTTP_AGENT_URL}",
                "authType": "bearer",
                "authValue": "${HTTP_AGENT_TOKEN}",
                "config": {"method": "POST", "path": CHAT_PATH},
            }
        )
        env = child_env(work, server.url, token)
        runner = bench_suites.Runner(env, connectors_file, HTTP_CONNECTOR)
        progress("warming the byte-code cache of the pytest runs")
        runner.warm_up(work / "warm-up")
        bench = Bench(plan, work, http, server.url, token, connectors_file, store, runner, env)
        for name, function in MEASUREMENTS:
            if only is None or name.split(".")[0] in only:
                measure(name, rows, functools.partial(function, bench))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark pytest-connectors against agent servers it starts on loopback."
    )
    parser.add_argument("--quick", action="store_true", help="small counts, one round (~45 s)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON only")
    parser.add_argument(
        "--json-file", type=Path, metavar="PATH", help="also write the results as JSON to PATH"
    )
    parser.add_argument(
        "--repeat", type=int, metavar="N", help="rounds per measurement (default 5; quick 1)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="N",
        help="run only these measurements, by number (e.g. --only 7 9)",
    )
    args = parser.parse_args(argv)
    known = {name.split(".")[0] for name, _ in MEASUREMENTS}
    only = set(args.only) if args.only else None
    if only is not None and not only <= known:
        parser.error(f"--only takes measurement numbers {', '.join(sorted(known, key=int))}")
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 5)
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    plan = Plan.quick(repeat) if args.quick else Plan.full(repeat)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    start = time.perf_counter()
    try:
        rows = run(plan, only)
    except KeyboardInterrupt:
        progress("interrupted; the servers and runs it started are stopped")
        return 130
    duration = time.perf_counter() - start
    mode = "quick" if args.quick else "full"
    document = {
        "version": 1,
        "mode": mode,
        "repeat": repeat,
        "duration_s": round(duration, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "rows": [row.as_json() for row in rows],
    }
    if args.json_file is not None:
        args.json_file.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(
            f"pytest-connectors benchmarks ({mode}, repeat {repeat}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, {duration:.0f} s)\n"
        )
        print(table(rows))
    return 1 if any(row.status == "ERROR" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
