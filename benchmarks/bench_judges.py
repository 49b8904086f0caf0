"""10. Judges: measurement 8's replay, each turn's answer judged pairwise by a 200 ms judge.

The suite is measurement 8's frozen three-turn conversations against the same 200 ms agent,
with ``assert_matches(answer="judge")``: one judge call per turn, so a conversation costs six
200 ms calls (three turns, three verdicts). The judge is the example model server
(``examples/model_server``, ``rules-judge``) under uvicorn with ``MODEL_SERVER_DELAY_MS=200``.
Side by side in each round, all with ``--replay-concurrency 16``:

- judged, cold: ``--judge-cache refresh`` (every verdict asked, and stored);
- judged, cached: ``--judge-cache on`` on those stored verdicts (the judge must see no call);
- unjudged: the same cases with ``assert_matches()``;
- a one-test suite: pytest's start-up, which the ideal leaves out.

Rows: the cold run minus start-up against the ideal conversations x 6 x 0.2 s / 16 (ratio shown;
target 1.5x), and what a cached verdict adds per judged check: (cached - unjudged) / checks.
Every case must pass, or the run counts as an error.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
from bench_replay import CONCURRENCY, DELAY_MS, TOLERANCE, TURNS, write_empty_suite, write_suite
from bench_report import Row, check, median, spread
from bench_suites import Runner

from pytest_connectors import Connector, ConnectorStore
from pytest_connectors.servers.launch import UvicornServer

JUDGE_CONNECTOR = "Bench Judge"
JUDGE_MODEL = "rules-judge"
CALLS_PER_TURN = 2  # the agent's answer, then the judge's verdict on it
CACHED_TARGET_MS = 1.0
JUDGED_TEST = """\
import pytest


@pytest.mark.replay(path="cases")
def test_replay_judged(replay):
    replay.run().assert_matches(answer="judge")
"""


def model_server(examples: Path) -> UvicornServer:
    return UvicornServer(
        "app:app",
        app_dir=examples / "model_server",
        env={"MODEL_SERVER_DELAY_MS": str(DELAY_MS), "UVICORN_ACCESS_LOG": "false"},
    )


def _judge_calls(url: str) -> int:
    calls: int = httpx.get(f"{url}/calls", timeout=30).json()["calls"]
    return calls


def judges(
    root: Path,
    runner: Runner,
    store: ConnectorStore,
    examples: Path,
    delay_connector: contextlib.AbstractContextManager[Connector],
    conversations: int,
    rounds: int,
    warm_up: bool = True,
) -> list[Row]:
    judged = write_suite(root / "judged", conversations)
    (judged / "test_replay.py").write_text(JUDGED_TEST)
    unjudged = write_suite(root / "unjudged", conversations)
    empty = write_empty_suite(root / "empty")
    cache = root / "verdicts"
    checks = conversations * TURNS
    ideal = checks * CALLS_PER_TURN * DELAY_MS / 1000 / CONCURRENCY
    with model_server(examples) as server, delay_connector as agent:
        store.create(
            {
                "name": JUDGE_CONNECTOR,
                "type": "http",
                "baseUrl": server.url,
                "config": {
                    "path": "/v1/chat/completions",
                    "body": {"model": JUDGE_MODEL, "temperature": 0, "seed": 7},
                },
            }
        )
        base = [
            "--connector",
            agent.name,
            f"--connectors-file={store.path}",
            "--replay-concurrency",
            str(CONCURRENCY),
        ]
        judge = ["--judge-connector", JUDGE_CONNECTOR, f"--judge-cache-dir={cache}"]
        if warm_up:  # compiles the modules and warms the disk; the judged runs cost 2 min each
            runner.run(unjudged, *base)
            runner.run(empty, *base)
        walls: dict[str, list[float]] = {"cold": [], "cached": [], "unjudged": [], "empty": []}
        for _ in range(rounds):
            before = _judge_calls(server.url)
            walls["cold"].append(runner.run(judged, *base, *judge, "--judge-cache", "refresh"))
            asked = _judge_calls(server.url) - before
            if asked != checks:
                raise RuntimeError(f"the cold run asked the judge {asked} times, not {checks}")
            walls["cached"].append(runner.run(judged, *base, *judge, "--judge-cache", "on"))
            if _judge_calls(server.url) != before + asked:
                raise RuntimeError("the cached run asked the judge: its verdicts were not cached")
            walls["unjudged"].append(runner.run(unjudged, *base))
            walls["empty"].append(runner.run(empty, *base))
    cold = [c - e for c, e in zip(walls["cold"], walls["empty"], strict=True)]
    figure = median(cold)
    per_check = [
        (c - u) * 1000 / checks for c, u in zip(walls["cached"], walls["unjudged"], strict=True)
    ]
    added = median(per_check)
    return [
        Row(
            "10. Judges, cold, pairwise per turn",
            f"{figure:.2f} s = {figure / ideal:.2f}x ideal {ideal:.2f} s",
            f"<= {TOLERANCE:g}x ({TOLERANCE * ideal:.2f} s)",
            check(figure <= TOLERANCE * ideal),
            value=round(figure / ideal, 3),
            unit="x ideal",
            detail=f"{conversations} conversations x {TURNS} turns, a {DELAY_MS} ms agent and a "
            f"{DELAY_MS} ms judge, {' '.join(base[-2:])}, --judge-cache refresh: ideal "
            f"{conversations} x {TURNS * CALLS_PER_TURN} x {DELAY_MS / 1000:g} s / {CONCURRENCY}"
            f" = {ideal:.2f} s; whole run {median(walls['cold']):.2f} s minus a one-test suite "
            f"{median(walls['empty']):.2f} s; the same replay unjudged "
            f"{median(walls['unjudged']) - median(walls['empty']):.2f} s; {checks} judge calls; "
            f"median of {rounds}; {spread(cold, 2)}",
        ),
        Row(
            "10. Judges, cached re-run: added per judged check",
            f"{added:.3f} ms",
            f"<= {CACHED_TARGET_MS:g} ms",
            check(added <= CACHED_TARGET_MS),
            value=round(added, 4),
            unit="ms",
            detail=f"--judge-cache on, every verdict cached (no judge call): whole run "
            f"{median(walls['cached']):.2f} s vs the same replay unjudged "
            f"{median(walls['unjudged']):.2f} s, over {checks} checks; median of {rounds}; "
            f"{spread(per_check, 3)}",
        ),
    ]
