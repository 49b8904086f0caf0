"""`GET /api/jobs/{id}` shows how far a running sync is through its window: the service's worker
imports 400 runs from the LangSmith fake in slow pages while the job is polled."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service_support import ServiceProcess, client, issue_key

from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer, seed_runs

RUNS = 400  # four pages of the provider's 100
PROJECT = "progress-api"
START = datetime(2026, 1, 1, tzinfo=UTC)  # the window is given: nothing here depends on today
DEADLINE_S = 90.0  # proves only that the job ends, not how fast


def test_a_running_job_shows_how_far_through_its_window_it_is(
    langsmith_fake: LangSmithServer, tmp_path: Path
) -> None:
    fake = langsmith_fake.fake
    seed_runs(fake, RUNS, project=PROJECT, start=START, spacing=timedelta(minutes=1))
    db = str(tmp_path / "service.db")
    key = issue_key(db, "acme", "a1")
    with ServiceProcess(db, workers=1) as server, client(server.url, key) as api:
        made = api.post(
            "/api/connectors",
            json={
                "name": "LangSmith prod",
                "category": "llm-tracing",
                "provider": "langsmith",
                "config": {"apiKey": API_KEY, "projectName": PROJECT, "apiUrl": langsmith_fake.url},
            },
        )
        assert made.status_code == 201, made.text
        connector = made.json()["id"]
        connecting = api.post(f"/api/connectors/{connector}/connect").json()["job"]["id"]
        connected = api.get(f"/api/jobs/{connecting}", params={"wait": 30}).json()
        assert connected["status"] == "succeeded", connected
        fake.slow_next("/runs/query", 0.5, times=RUNS // 100 + 1)
        window = {"from": START.isoformat(), "to": (START + timedelta(minutes=RUNS)).isoformat()}
        job_id = api.post(f"/api/connectors/{connector}/sync", json=window).json()["id"]
        seen: list[tuple[str, float | None]] = []
        deadline = time.monotonic() + DEADLINE_S
        while True:
            job = api.get(f"/api/jobs/{job_id}").json()
            seen.append((job["status"], job["stats"].get("progress")))
            if job["status"] not in ("queued", "running"):
                break
            assert time.monotonic() < deadline, seen
            time.sleep(0.1)
        schema = api.get("/api/openapi.json").json()["components"]["schemas"]["JobStats"]

    assert job["status"] == "succeeded" and job["stats"]["progress"] == 1.0, job
    running = [value for status, value in seen if status == "running" and value is not None]
    assert any(0 < value < 1 for value in running), seen
    assert running == sorted(running), seen  # it never goes back
    assert {"type": "number", "minimum": 0.0, "maximum": 1.0} in schema["properties"]["progress"][
        "anyOf"
    ]
