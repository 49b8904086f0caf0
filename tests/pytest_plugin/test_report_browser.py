"""The HTML report in a real browser (headless Chromium, tests/browser.py): opened from
``file://`` as a reviewer opens a CI artifact, it asks for nothing, its filters, search, sorting
and links work, a diverged replay shows its diff, and hostile conversation text runs nothing.

The page is written once per module by a real pytest run against the example HTTP agent on two
connectors: ordinary tests that pass, fail and skip, a test whose transcript is hostile, and a
replay that diverges from production.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from agent_connectors import http_connector
from browser import PageWatch
from children import python_path
from report_pages import HOSTILE_TURN, REPLAY_SUITE, diverging_case

from pytest_connectors import ConnectorStore
from pytest_connectors.evaluation.report_html import anchor
from pytest_connectors.servers.launch import UvicornServer

CONNECTORS = ("HTTP Agent", "Echo Agent")
HOSTILE = [
    "<script>alert('transcript')</script>",
    '"><img src=x onerror=alert(1)>',
    '<a href="javascript:alert(2)">click</a>',
]
SUITE = f"""
import pytest

def test_weather(conversation):
    assert conversation.send("What's the weather in Paris?").success

def test_wrong_answer(conversation):
    assert conversation.send("hello").text == "something else"

@pytest.mark.skip(reason="not today")
def test_skipped(conversation):
    pass

def test_hostile(conversation):
    for text in {HOSTILE!r}:
        conversation.send(text)
"""
INI = """
[pytest]
filterwarnings = error
"""
REPLAYED = "test_replay.py::test_case[HTTP Agent-t-diverging]"


@pytest.fixture(scope="module")
def report(
    tmp_path_factory: pytest.TempPathFactory,
    http_agent_server: UvicornServer,
    http_agent_token: str,
) -> Path:
    """The report page of one run of the suite and the replay on both connectors."""
    project = tmp_path_factory.mktemp("report-project")
    (project / "pytest.ini").write_text(INI, encoding="utf-8")
    (project / "test_suite.py").write_text(SUITE, encoding="utf-8")
    (project / "test_replay.py").write_text(REPLAY_SUITE, encoding="utf-8")
    diverging_case(project / "cases")
    store = ConnectorStore(project / "connectors.json")
    for name in CONNECTORS:
        store.create(http_connector(name, http_agent_server.url, "${AGENT_TOKEN}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        PYTHONPATH=python_path(),
        AGENT_TOKEN=http_agent_token,
        PYTEST_CONNECTORS_FILE=str(project / "connectors.json"),
    )
    selected = [arg for name in CONNECTORS for arg in ("--connector", name)]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *selected, "--connectors-html", "report.html", "-q"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert "4 failed, 4 passed, 2 skipped" in run.stdout, run.stdout[-2000:]
    return project / "report.html"


@pytest.fixture
def opened(browser_page: PageWatch, report: Path) -> PageWatch:
    browser_page.page.goto(report.as_uri())
    return browser_page


def articles_shown(watch: PageWatch) -> list[dict[str, str]]:
    """The visible tests' outcome, connector and id."""
    found: list[dict[str, str]] = watch.page.evaluate(
        """() => Array.from(document.querySelectorAll('article'))
            .filter(el => !el.hidden)
            .map(el => ({outcome: el.dataset.outcome, connector: el.dataset.connector,
                         id: el.id}))"""
    )
    return found


def test_the_page_opens_from_file_asking_for_nothing_but_itself(
    opened: PageWatch, report: Path
) -> None:
    page = opened.page
    assert page.title() == "pytest-connectors report"
    assert page.locator("#connectors tbody tr").count() == len(CONNECTORS)
    assert page.locator("#matrix").is_visible()
    assert len(articles_shown(opened)) == 10  # 4 tests and 1 replay, on 2 connectors
    page.wait_for_load_state("networkidle")
    assert opened.requests == [report.as_uri()]
    assert opened.console_errors == []
    assert opened.dialogs == []
    opened.screenshot("report-overview")


def test_filters_by_status_and_connector_and_the_text_search_narrow_the_tests(
    opened: PageWatch,
) -> None:
    page = opened.page
    page.select_option("#filter-status", "failed")
    failed = articles_shown(opened)
    assert {a["outcome"] for a in failed} == {"failed"} and len(failed) == 4
    assert page.locator("#shown").inner_text() == "4"
    page.select_option("#filter-connector", "Echo Agent")
    both = articles_shown(opened)
    assert [(a["outcome"], a["connector"]) for a in both] == [("failed", "Echo Agent")] * 2
    page.select_option("#filter-status", "")
    page.select_option("#filter-connector", "")
    page.fill("#filter-text", "WEATHER in paris")  # any case
    found = {a["id"] for a in articles_shown(opened)}
    expected = {anchor(f"test_suite.py::test_weather[{name}]") for name in CONNECTORS}
    expected |= {anchor(f"test_replay.py::test_case[{name}-t-diverging]") for name in CONNECTORS}
    assert found == expected
    page.fill("#filter-text", "")
    assert len(articles_shown(opened)) == 10


def test_a_diverged_replay_shows_its_diff_and_the_differing_tool_call(
    opened: PageWatch, report: Path
) -> None:
    page = opened.page
    target = anchor(REPLAYED)
    page.goto(f"{report.as_uri()}#{target}")
    article = page.locator(f"#{target}")
    article.locator(".replay").scroll_into_view_if_needed()
    removed = article.locator("pre.diff del").first
    assert removed.is_visible() and removed.inner_text() == "warm and"
    # Struck through and underlined, as the docs say: marks that survive printing, which drops
    # the backgrounds.
    decoration = "el => getComputedStyle(el).textDecorationLine"
    assert removed.evaluate(decoration) == "line-through"
    assert article.locator("pre.diff ins").first.evaluate(decoration) == "underline"
    differs = article.locator("pre.tool.differs")
    assert differs.count() == 1 and differs.first.is_visible()
    assert "lookup_account" in differs.first.inner_text()
    # The differing call is drawn differently from a matching one.
    background = differs.first.evaluate("el => getComputedStyle(el).backgroundColor")
    plain = article.locator("pre.tool:not(.differs)").first
    assert background != plain.evaluate("el => getComputedStyle(el).backgroundColor")
    assert article.locator("a", has_text="LangSmith trace").get_attribute("href", timeout=1000)
    opened.screenshot("report-replay-diff")
    assert opened.console_errors == [] and opened.dialogs == []


def test_hostile_transcript_text_runs_no_script_and_makes_no_request(
    opened: PageWatch, report: Path
) -> None:
    from playwright.sync_api import expect

    page = opened.page
    for name in CONNECTORS:
        article = page.locator(f"#{anchor(f'test_suite.py::test_hostile[{name}]')}")
        article.scroll_into_view_if_needed()
        for hostile in HOSTILE:  # shown as text, where a reader sees it...
            expect(article.locator("pre.user", has_text=hostile)).to_have_text(hostile)
            expect(article.locator("pre.user", has_text=hostile)).to_be_visible()
        assert article.locator("img, script, a[href^='javascript']").count() == 0  # ...only
    replayed = page.locator(f"#{anchor(REPLAYED)}")
    replayed.scroll_into_view_if_needed()
    expect(replayed.locator(".replay pre.user").last).to_have_text(HOSTILE_TURN)
    assert page.locator("body img, body a[href^='javascript']").count() == 0
    assert page.locator("script").count() == 1  # the page's own
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(200)  # an onerror handler would have fired by now
    assert opened.dialogs == []
    assert opened.console_errors == []
    assert opened.requests == [report.as_uri()]


def test_clicking_a_column_header_sorts_the_table(opened: PageWatch) -> None:
    page = opened.page
    header = page.locator("#matrix th", has_text="test")

    def first_column() -> list[str]:
        cells: list[str] = page.eval_on_selector_all(
            "#matrix tbody tr", "rows => rows.map(r => r.cells[0].textContent)"
        )
        return cells

    written = first_column()
    assert written == sorted(written)
    header.click()
    assert first_column() == sorted(written, reverse=True)
    header.click()
    assert first_column() == sorted(written)


def test_a_test_link_opens_and_scrolls_to_its_test(opened: PageWatch, report: Path) -> None:
    page = opened.page
    test = "test_suite.py::test_wrong_answer[Echo Agent]"
    target = anchor(test)
    page.locator(f'#matrix a[href="#{target}"]').click()
    assert page.evaluate("() => location.hash") == f"#{target}"
    article = page.locator(f"#{target}")
    assert article.is_visible() and article.locator("h3").inner_text().startswith(test)
    assert page.evaluate(
        "(id) => { const r = document.getElementById(id).getBoundingClientRect();"
        " return r.top >= 0 && r.top < window.innerHeight; }",
        target,
    )
    # The same link, opened from outside the page, lands on the same test.
    page.goto("about:blank")
    page.goto(f"{report.as_uri()}#{target}")
    assert page.evaluate(
        "(id) => { const r = document.getElementById(id).getBoundingClientRect();"
        " return r.top >= 0 && r.top < window.innerHeight; }",
        target,
    )
    # The filters stay on top of the tests that scroll under them.
    assert page.evaluate(
        "() => { const c = document.querySelector('.controls').getBoundingClientRect();"
        " const hit = document.elementFromPoint(c.left + c.width / 2, c.top + c.height / 2);"
        " return hit !== null && hit.closest('.controls') !== null; }"
    )
