"""The example agent under `langgraph dev`, traced into the LangSmith fake: turns in, roots out."""

from __future__ import annotations

import time
from typing import Any

import httpx
from fakes.fixtures import TRACED_PROJECT

from pytest_connectors.fakes.langsmith import LangSmithServer
from pytest_connectors.servers.launch import LangGraphDevServer


def send_turns(
    server: LangGraphDevServer, thread_id: str, texts: list[str], *, failing: bool = False
) -> None:
    with httpx.Client(base_url=server.url, timeout=120, trust_env=False) as client:
        client.post("/threads", json={"thread_id": thread_id}).raise_for_status()
        for text in texts:
            body = {
                "assistant_id": "agent",
                "input": {"messages": [{"role": "user", "content": text}]},
            }
            reply = client.post(f"/threads/{thread_id}/runs/wait", json=body)
            reply.raise_for_status()
            assert ("__error__" in reply.json()) is failing


def wait_for_finished_roots(fake: LangSmithServer, count: int) -> list[dict[str, Any]]:
    """The tracer posts in the background: wait until its batches have arrived."""
    deadline = time.monotonic() + 60
    while True:
        roots = fake.fake.root_runs(TRACED_PROJECT)
        if len(roots) >= count and all(r["status"] != "pending" for r in roots):
            return roots
        assert time.monotonic() < deadline, f"the tracer posted {len(roots)} of {count} roots"
        time.sleep(0.2)
