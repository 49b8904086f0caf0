"""``conversations load-otlp``: an OpenTelemetry Collector's file exporter output (OTLP JSON,
one request per line) stored as the same native conversations the receiver writes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from service_support import child_env

from pytest_connectors.imports.otlp.files import load_files
from pytest_connectors.imports.otlp.receiver import ReceiverLimits
from pytest_connectors.models.imports import Scope
from pytest_connectors.storage import conversations
from pytest_connectors.storage.store import Store


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_connectors.cli", *args],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=120,
        check=False,
    )


def line(span: dict[str, Any], agent: str | None = None) -> str:
    resource = (
        [{"key": "pytest_connectors.agent_id", "value": {"stringValue": agent}}] if agent else []
    )
    request = {
        "resourceSpans": [
            {
                "resource": {"attributes": resource},
                "scopeSpans": [{"scope": {"name": "x"}, "spans": [span]}],
            }
        ]
    }
    return json.dumps(request)


TRACE = "0af7651916cd43dd8448eb211c80319c"


def span(span_id: str, parent: str, **attributes: str) -> dict[str, Any]:
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": "step",
        "kind": 1,
        "startTimeUnixNano": "1767225600000000000",
        "endTimeUnixNano": "1767225601000000000",
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
        "status": {},
    }


def test_a_collector_file_becomes_a_conversation(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    child = span(
        "b7ad6b7169203331",
        "00f067aa0ba902b7",
        **{
            "openinference.span.kind": "LLM",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "Book a table",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "Booked for 8pm.",
        },
    )
    root = span("00f067aa0ba902b7", "", **{"session.id": "table-1"})
    traces = tmp_path / "traces.json"
    traces.write_text(line(child, "bookings") + "\n" + line(root, "bookings") + "\n")

    loaded = run("conversations", "load-otlp", str(traces), "--db", db)
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 2 spans from 1 file" in loaded.stdout

    listed = run("conversations", "list", "--db", db, "--origin", "native", "--json")
    (conversation,) = json.loads(listed.stdout)["items"]
    assert conversation["threadKey"] == "table-1"
    assert conversation["agentId"] == "bookings"
    (turn,) = conversation["turns"]
    assert turn["userMessages"] == ["Book a table"] and turn["answer"] == "Booked for 8pm."
    assert not turn["pending"]


def test_spans_of_no_agent_are_skipped_and_said(tmp_path: Path) -> None:
    traces = tmp_path / "traces.json"
    traces.write_text(line(span("00f067aa0ba902b7", "")) + "\n")
    loaded = run("conversations", "load-otlp", str(traces), "--db", str(tmp_path / "c.db"))
    assert loaded.returncode == 1, loaded.stderr  # nothing loaded: a script must see it
    assert (
        "skipped 1 span: no agent: a tenant key (or load-otlp without --agent) needs"
        in loaded.stdout
    )
    assert "error: nothing loaded: every span was skipped (no agent: " in loaded.stderr
    assert "Traceback" not in loaded.stderr


def native(db: Path) -> list[Any]:
    listed = run("conversations", "list", "--db", str(db), "--origin", "native", "--json")
    assert listed.returncode == 0, listed.stderr
    items: list[Any] = json.loads(listed.stdout)["items"]
    return items


def test_an_unreadable_line_in_any_file_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    good = tmp_path / "good.json"
    good.write_text(line(span("00f067aa0ba902b7", "", **{"session.id": "s-1"})) + "\n")
    second = dict(span("00f067aa0ba902b8", "", **{"session.id": "s-2"}), traceId="2" * 32)
    bad = tmp_path / "bad.json"
    bad.write_text(line(second) + "\n{oops\n")
    loaded = run("conversations", "load-otlp", str(good), str(bad), "--agent", "a", "--db", str(db))
    assert loaded.returncode == 2
    assert "bad.json:2: not JSON" in loaded.stderr and "Traceback" not in loaded.stderr
    assert native(db) == []  # neither good.json nor bad.json's first line half-loaded

    bad.write_text(line(second) + "\n")
    loaded = run("conversations", "load-otlp", str(good), str(bad), "--agent", "a", "--db", str(db))
    assert loaded.returncode == 0, loaded.stderr
    assert sorted(c["threadKey"] for c in native(db)) == ["s-1", "s-2"]


def test_an_empty_file_loads_nothing_and_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("\n")
    loaded = run(
        "conversations", "load-otlp", str(empty), "--agent", "a", "--db", str(tmp_path / "c.db")
    )
    assert loaded.returncode == 1
    assert "nothing loaded: the files hold no spans" in loaded.stderr


def test_spans_after_the_open_traces_filled_up_join_their_traces(tmp_path: Path) -> None:
    # Past the open traces' memory, load-otlp stores what it holds and goes on: the spans that
    # come after join the turns already stored, none is refused.
    first = span("b7ad6b7169203331", "00f067aa0ba902b7", **{"session.id": "s", "x": "y" * 6_000})
    other = dict(span("c7ad6b7169203331", "", **{"x": "y" * 6_000}), traceId="1" * 32)
    root = span("00f067aa0ba902b7", "")
    traces = tmp_path / "traces.json"
    traces.write_text("\n".join(line(s) for s in (first, other, root)) + "\n")
    with Store(str(tmp_path / "c.db")) as store:
        report = load_files(
            store, [traces], Scope(agent_id="a"), ReceiverLimits(max_open_bytes=10_000)
        )
        assert (report.spans, report.rejected) == (3, Counter())
        with store.read() as connection:
            page = conversations.list_page(connection, Scope(agent_id="a"), limit=10)
    merged = next(c for c in page.items if c.thread_key == "s")
    assert not merged.pending and len(merged.turns) == 1


def test_a_file_that_is_not_otlp_json_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceSpans": [1]}\n')
    loaded = run(
        "conversations", "load-otlp", str(bad), "--agent", "a", "--db", str(tmp_path / "c.db")
    )
    assert loaded.returncode != 0
    assert "bad.json:1: resourceSpans[0] has the wrong type" in loaded.stderr
    assert "Traceback" not in loaded.stderr
