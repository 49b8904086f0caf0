"""Headless Chromium for the pages' tests: Debian's browser driven by Playwright.

Playwright cannot download browsers here, so it drives the system Chromium. Where Chromium or
Playwright is missing the browser tests skip and say why, except under ``CI=true``, where a
missing browser is a failure: CI installs both (``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# Flags for a container without a display or a user namespace; no background traffic, so the
# request counts the tests take are the page's own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--metrics-recording-only",
]
# The main views as images a reviewer can open are kept in docs/screenshots/. A run refreshes
# them only when asked (CONNECTORS_TEST_SCREENSHOTS=docs/screenshots); otherwise its images go
# to the run's temporary folder, so a test run leaves the checkout as it was.
SCREENSHOTS_ENV = "CONNECTORS_TEST_SCREENSHOTS"


def chromium_executable() -> str | None:
    explicit = os.environ.get("CONNECTORS_TEST_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI installs it (.ci/run), so this is a failure here")
    pytest.skip(reason)


@dataclass
class PageWatch:
    """What a page did: every request it made and every console error or uncaught exception."""

    page: Page
    screenshots: Path
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        self.screenshots.mkdir(parents=True, exist_ok=True)
        target = self.screenshots / f"{name}.png"
        self.page.screenshot(path=str(target), full_page=False)
        return target


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install playwright)")
    executable = chromium_executable()
    if executable is None:
        _unavailable("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(
    chromium: Browser, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PageWatch]:
    """A fresh page in its own context (no shared cookies), watched for requests and errors."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    screenshots = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "screenshots"
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = PageWatch(page, screenshots)

    def on_console(message: Any) -> None:
        if message.type == "error":
            watch.console_errors.append(message.text)

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("request", lambda request: watch.requests.append(request.url))
    page.on("console", on_console)
    page.on("pageerror", lambda error: watch.console_errors.append(str(error)))
    page.on("dialog", on_dialog)
    try:
        yield watch
    finally:
        context.close()
