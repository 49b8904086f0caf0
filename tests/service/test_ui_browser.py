"""The pages in a real browser (Debian's Chromium through Playwright): sign in, create an import
connector pointed at the LangSmith fake, watch its first import's progress bar move, read a
conversation it imported, and see a form posted from another origin refused."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from browser import PageWatch
from service_support import ServiceProcess, issue_key
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer, seed_runs
from pytest_connectors.fakes.threaded import ThreadedServer
from pytest_connectors.imports.sync import LOOKBACK
from pytest_connectors.service.ui.pages import PAGE_SIZE

PROJECT = "ui-browser"
RUNS = 400  # four pages of the provider's 100
DEADLINE_S = 90.0  # proves only that the job ends, not how fast


def _attacker(target: str, token: str) -> ThreadedServer:
    """Another origin on loopback whose page posts a form to the service at once; it even
    knows a valid CSRF token, so only the origin check stands in its way."""
    page = f"""<!DOCTYPE html><html><body>
<form id="f" method="post" action="{target}"><input type="hidden" name="csrf" value="{token}">
</form><script>document.getElementById("f").submit();</script></body></html>"""

    async def serve(_request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    return ThreadedServer(Starlette(routes=[Route("/", serve)]), "attacker page")


def _progress(watch: PageWatch) -> dict[str, Any]:
    state: dict[str, Any] = watch.page.evaluate(
        """() => {
            const bar = document.getElementById("job-progress");
            return {
                value: bar.hasAttribute("value") || bar.value > 0 ? bar.value : null,
                percent: document.getElementById("job-percent").textContent,
                status: document.getElementById("job-status").textContent,
                fetched: document.getElementById("job-fetched").textContent,
            };
        }"""
    )
    return state


def test_sign_in_watch_a_sync_read_a_conversation_and_refuse_a_cross_site_post(
    browser_page: PageWatch, langsmith_fake: LangSmithServer, tmp_path: Path
) -> None:
    # Spread over the days a first import reads (LOOKBACK), so each page moves the bar on.
    began = datetime.now(UTC) - LOOKBACK + timedelta(hours=1)
    spacing = (LOOKBACK - timedelta(hours=2)) / RUNS
    seed_runs(langsmith_fake.fake, RUNS, project=PROJECT, start=began, spacing=spacing)
    db = str(tmp_path / "service.db")
    key = issue_key(db, "acme", "a1")
    page = browser_page.page
    with ServiceProcess(db, workers=1) as server:
        page.goto(server.url + "/")
        assert page.url.endswith("/ui/sign-in")
        page.fill("input[name=key]", key)
        page.click("button[type=submit]")
        page.wait_for_url("**/ui/connectors")
        assert key not in page.content()

        page.click("summary:has-text('langsmith')")
        form = page.locator("details[open] form")
        form.locator("input[name=name]").fill("LangSmith prod")
        form.locator("input[name='config.apiKey']").fill(API_KEY)
        form.locator("input[name='config.projectName']").fill(PROJECT)
        form.locator("input[name='config.apiUrl']").fill(langsmith_fake.url)
        form.locator("button[type=submit]").click()
        page.wait_for_url("**/ui/connectors/imp_*")
        connector_page = page.url
        assert API_KEY not in page.content()

        # Each page of runs takes a while, so the bar is seen at work before it is full.
        langsmith_fake.fake.slow_next("/runs/query", 0.7, times=RUNS // 100 + 2)
        page.click("#connect")
        page.wait_for_url("**/ui/jobs/job_*")
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + DEADLINE_S
        while True:
            state = _progress(browser_page)
            if not seen or state != seen[-1]:
                seen.append(state)
                partway = [s for s in seen if s["value"] is not None and 0 < s["value"] < 100]
                if partway == [state]:  # the first moment the bar is part full
                    browser_page.screenshot("ui-job-running")
            if state["status"] in ("succeeded", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, seen
            page.wait_for_timeout(100)
        assert seen[-1]["status"] == "succeeded", seen
        assert seen[-1]["value"] == 100 and seen[-1]["fetched"] == str(RUNS)
        fetched_counts = {s["fetched"] for s in seen}
        assert len(fetched_counts) >= 2, seen  # the counts moved while the page watched
        assert any(s["value"] != 100 for s in seen), seen  # and the bar was not full at first
        # While the job ran, the bar showed how far through its window it was.
        values = [s["value"] for s in seen if s["status"] == "running"]
        assert any(v is not None and 0 < v < 100 for v in values), seen
        measured = [v for v in values if v is not None]
        assert measured == sorted(measured), seen  # it never went back
        assert all(s["percent"] == f"{s['value']}%" for s in seen if s["value"] is not None), seen
        browser_page.screenshot("ui-job")

        page.click("#job-done a")
        page.wait_for_url("**/ui/conversations?connector=*")
        rows = page.locator("#conversations tbody tr")
        assert rows.count() == PAGE_SIZE  # of RUNS // 2 threads, newest first
        first_page = rows.first.inner_text()
        page.click("#next-page")
        page.wait_for_url("**/ui/conversations?*cursor=*")
        assert rows.count() == PAGE_SIZE and rows.first.inner_text() != first_page
        page.locator("#conversations tbody tr a").first.click()
        page.wait_for_url("**/ui/conversations/*")
        turns = page.locator(".turn")
        assert turns.count() == 2
        assert "What's the weather in city" in turns.first.locator("pre.user").inner_text()
        assert "get_weather" in turns.first.locator("pre.tool").inner_text()
        assert "It is sunny in" in turns.first.locator("pre.assistant").inner_text()
        browser_page.screenshot("ui-conversation")

        page.goto(server.url + "/ui/connectors")
        assert "connected" in page.locator("#connectors").inner_text()
        browser_page.screenshot("ui-connectors")
        assert browser_page.console_errors == []
        assert browser_page.dialogs == []

        token = page.locator("input[name=csrf]").first.get_attribute("value")
        assert token
        with _attacker(connector_page + "/disconnect", token) as attacker:
            page.goto(attacker.url + "/")
            page.wait_for_load_state()
            page.wait_for_url(connector_page + "/disconnect")
            assert "not sent from this site" in page.content()
        page.goto(connector_page)
        assert "connected" in page.locator("#connector").inner_text()
        assert page.locator("#disconnect").count() == 1  # still connected: nothing changed
