"""The HTML report at scale: 10,000 tests x 3 calls written, its size, ``report merge`` of 8
shards, and (with Chromium) the page's first paint and a filter.

The documents are built in memory, shaped as a real session's: three connectors, one tool call
with its result and a short answer per call, one test in ten failed with a message. Run alone with
``python benchmarks/bench_html.py [TESTS]``, or as measurement 12 of ``benchmarks/run.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench_report import Row, check, error_row, median, spread, table

from pytest_connectors.evaluation.latency import report_document
from pytest_connectors.evaluation.report_html import render_html
from pytest_connectors.evaluation.report_merge import merge_reports

NAME = "12. HTML report: "
CONNECTORS = ("HTTP Agent", "LangGraph Dev", "Echo Agent")
MAX_BYTES = 10_000_000
MAX_WRITE_S = 2.0
MAX_MERGE_S = 1.0
MAX_BROWSER_S = 1.0
# What the tool returned, as a record keeps it: a short API response.
WEATHER = '{"city": "Paris", "condition": "sunny", "temperature_c": 21, "humidity": 0.4}'


def session_document(tests: int, calls_per_test: int = 3) -> dict[str, Any]:
    """A JSON report document of ``tests`` tests spread over three connectors."""
    records: list[Any] = []
    outcomes = []
    for index in range(tests):
        connector = CONNECTORS[index % len(CONNECTORS)]
        test = f"tests/test_support.py::test_case_{index // len(CONNECTORS)}[{connector}]"
        failed = index % 10 == 0
        for turn in range(1, calls_per_test + 1):
            records.append(
                {
                    "test": test,
                    "connector": connector,
                    "turn": turn,
                    "latency_ms": 50.0 + (index * 7 + turn * 13) % 900,
                    "success": True,
                    "error": None,
                    "tools": ["get_weather"],
                    "attempts": 1,
                    "user": [f"What's the weather in Paris on day {turn}?"],
                    "answer": f"The weather in Paris is sunny, {18 + turn}°C.",
                    "tool_calls": [
                        {"name": "get_weather", "args": {"city": "Paris"}, "result": WEATHER}
                    ],
                }
            )
        outcomes.append(
            {
                "test": test,
                "connector": connector,
                "outcome": "failed" if failed else "passed",
                "message": "AssertionError: assert 'sunny' in 'rainy'" if failed else None,
                "duration_ms": 120.0,
            }
        )
    document = report_document(records)
    document["tests"] = outcomes
    document["environment"] = {
        "when": "2026-01-01T00:00:00+00:00",
        "git_commit": "0" * 40,
        "git_branch": "main",
        "pytest_args": ["--connector", "HTTP Agent"],
        "connectors": [{"name": name, "url": None} for name in CONNECTORS],
    }
    return document


def write_page(document: dict[str, Any], target: Path) -> float:
    start = time.perf_counter()
    target.write_bytes(render_html(document).encode())
    return time.perf_counter() - start


def html_size_and_time(tests: int, rounds: int, work: Path) -> tuple[list[Row], Path]:
    document = session_document(tests)
    target = work / "report.html"
    seconds = [write_page(document, target) for _ in range(rounds)]
    tracemalloc.start()
    write_page(document, target)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    size = target.stat().st_size
    label = f"{tests:,} tests x 3 calls"
    return [
        Row(
            f"{NAME}size, {label}",
            f"{size / 1e6:.2f} MB",
            "<= 10 MB",
            check(size <= MAX_BYTES),
            size / 1e6,
            "MB",
            f"{size / tests:.0f} bytes a test",
        ),
        Row(
            f"{NAME}written, {label}",
            f"{median(seconds):.2f} s",
            "<= 2 s",
            check(median(seconds) <= MAX_WRITE_S),
            median(seconds),
            "s",
            f"{spread(seconds, 2)}; peak Python memory while rendering {peak / 1e6:.0f} MB",
        ),
    ], target


def merge_time(calls: int, shards: int, rounds: int, folder: Path) -> list[Row]:
    """``report merge`` of ``shards`` JSON reports of ``calls`` calls each, read from disk."""
    paths = []
    for shard in range(shards):
        document = session_document(calls // 3)
        for entry in document["tests"] + document["calls"]:
            entry["test"] = f"shard{shard}/{entry['test']}"
        path = folder / f"shard-{shard}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        paths.append(path)
    merging, whole = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        documents = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
        read = time.perf_counter()
        merged = merge_reports(documents)
        merging.append(time.perf_counter() - read)
        (folder / "merged.json").write_text(json.dumps(merged), encoding="utf-8")
        whole.append(time.perf_counter() - start)
    size = sum(p.stat().st_size for p in paths)
    label = f"{shards} shards of {calls:,} calls"
    return [
        Row(
            f"{NAME}report merge, {label}",
            f"{median(merging):.2f} s",
            "<= 1 s",
            check(median(merging) <= MAX_MERGE_S),
            median(merging),
            "s",
            f"{spread(merging, 2)}; the merge and every figure recomputed from the calls",
        ),
        Row(
            f"{NAME}report merge with JSON read and write, {label}",
            f"{median(whole):.2f} s",
            "-",
            "INFO",
            median(whole),
            "s",
            f"{spread(whole, 2)}; {size / 1e6:.0f} MB of shards (transcripts included) parsed",
        ),
    ]


def browser_times(page_path: Path, rounds: int) -> list[Row]:
    """First paint and a status filter of the page in headless Chromium (skipped without it)."""
    import shutil

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        executable = None
    if executable is None:
        return [Row(f"{NAME}in Chromium", "skipped", "-", "INFO", detail="no Chromium")]
    paints, filters = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for _ in range(rounds):
                page = browser.new_page()
                page.goto(page_path.as_uri(), wait_until="load")
                paint = page.wait_for_function(
                    "() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime",
                    timeout=10_000,
                )
                paints.append(float(paint.json_value()) / 1000)
                filters.append(
                    page.evaluate(
                        """() => {
                          const start = performance.now();
                          const select = document.getElementById('filter-status');
                          select.value = 'failed';
                          select.dispatchEvent(new Event('change'));
                          document.body.getBoundingClientRect();
                          return (performance.now() - start) / 1000;
                        }"""
                    )
                )
                page.close()
        finally:
            browser.close()
    return [
        Row(
            f"{NAME}first paint in Chromium",
            f"{median(paints):.2f} s",
            "<= 1 s",
            check(median(paints) <= MAX_BROWSER_S),
            median(paints),
            "s",
            spread(paints, 2),
        ),
        Row(
            f"{NAME}status filter in Chromium",
            f"{median(filters):.2f} s",
            "<= 1 s",
            check(median(filters) <= MAX_BROWSER_S),
            median(filters),
            "s",
            f"{spread(filters, 2)}; filter applied and laid out",
        ),
    ]


def html_report(tests: int = 10_000, rounds: int = 3) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-html-") as folder:
        work = Path(folder)
        try:
            written, page = html_size_and_time(tests, rounds, work)
            rows += written
        except Exception as exc:
            return [error_row(f"{NAME}written", exc)]
        try:
            rows += merge_time(tests, 8, rounds, work)
        except Exception as exc:
            rows.append(error_row(f"{NAME}report merge", exc))
        try:
            rows += browser_times(page, rounds)
        except Exception as exc:
            rows.append(error_row(f"{NAME}in Chromium", exc))
    return rows


if __name__ == "__main__":
    print(table(html_report(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)))
