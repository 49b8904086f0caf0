"""``conversations load-otlp``: an OpenTelemetry Collector's file exporter output (OTLP JSON,
one request per line) stored as the same native conversations the receiver writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from service_support import child_env


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
    assert loaded.returncode == 0, loaded.stderr
    assert (
        "skipped 1 span: no agent: a tenant key (or load-otlp without --agent) needs"
        in loaded.stdout
    )


def test_a_file_that_is_not_otlp_json_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceSpans": [1]}\n')
    loaded = run(
        "conversations", "load-otlp", str(bad), "--agent", "a", "--db", str(tmp_path / "c.db")
    )
    assert loaded.returncode != 0
    assert "bad.json:1: resourceSpans[0] has the wrong type" in loaded.stderr
    assert "Traceback" not in loaded.stderr
