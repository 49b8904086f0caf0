"""The HTML report (--connectors-html) and the comparison with a baseline run
(--connectors-baseline): what a reviewer reads, that hostile conversation text stays text, that
the page asks for nothing outside itself, and that secrets stay out of it.

Against the example HTTP agent, which answers "You said: <text>": whatever a test sends comes
back in the transcript.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from agent_connectors import http_connector
from children import python_path
from pytester_ini import write_ini
from report_pages import HOSTILE_TURN, REPLAY_SUITE, TRACE_URL, Page, diverging_case

from pytest_connectors import ConnectorStore
from pytest_connectors.evaluation.comparison import (
    LATENCY_MIN_MS,
    LATENCY_RATIO,
    RANK_TEST_ALPHA,
    RANK_TEST_MIN_CALLS,
    compare,
    mann_whitney_p,
)
from pytest_connectors.evaluation.latency import MAX_TOOL_RESULT, record_of
from pytest_connectors.evaluation.report_html import anchor, render_html
from pytest_connectors.models.connector import ConnectorInvokeResult, Message, ToolCall
from pytest_connectors.pytest_plugin.reports import REPORT_SCHEMA
from pytest_connectors.servers.launch import UvicornServer

BOTH = ("--connector", "HTTP Agent", "--connector", "Echo Agent")


@pytest.fixture(autouse=True)
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_CONNECTORS_FILE", raising=False)
    write_ini(pytester)


@pytest.fixture
def agents(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    http_agent_server: UvicornServer,
    http_agent_token: str,
) -> ConnectorStore:
    monkeypatch.setenv("AGENT_TOKEN", http_agent_token)
    store = ConnectorStore(pytester.path / "data" / "connectors.json")
    for name in ("HTTP Agent", "Echo Agent"):
        store.create(http_connector(name, http_agent_server.url, "${AGENT_TOKEN}"))
    return store


SUITE = """
import pytest

def test_weather(conversation):
    assert conversation.send("What's the weather in Paris?").success

def test_wrong_answer(conversation):
    assert conversation.send("hello").text == "something else"

@pytest.mark.skip(reason="not today")
def test_skipped(conversation):
    pass
"""


def test_html_report_shows_connectors_matrix_transcripts_and_failures(
    pytester: pytest.Pytester, agents: ConnectorStore
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest(*BOTH, "--connectors-html", "out/report.html")
    result.assert_outcomes(passed=2, failed=2, skipped=2)
    assert any(line.startswith("connector HTML report: ") for line in result.outlines)
    page = Page((pytester.path / "out" / "report.html").read_text(encoding="utf-8"))

    for connector in ("HTTP Agent", "Echo Agent"):
        for test, outcome in (
            ("test_weather", "passed"),
            ("test_wrong_answer", "failed"),
            ("test_skipped", "skipped"),
        ):
            article = page.by_id(anchor(f"test_suite.py::{test}[{connector}]"))
            assert article["data-outcome"] == outcome
            assert article["data-connector"] == connector
    text = page.text
    assert "What's the weather in Paris?" in text  # the user's turn...
    assert "You said: hello" in text  # ...the agent's answer...
    assert "get_weather" in text and '{"city": "Paris"}' in text  # ...its tool call...
    assert "AssertionError" in text and "not today" in text  # ...failures and skip reasons
    page.by_id("matrix")  # two connectors: side by side
    assert len(page.tags("svg")) == 2 and page.tags("rect")  # a histogram per connector
    assert "HTTP Agent" in text and "Echo Agent" in text
    # Every link stays in the page, and every anchor it links to exists.
    ids = {attrs.get("id") for _, attrs in page.elements}
    hrefs = [attrs["href"] for attrs in page.tags("a")]
    assert hrefs and all(h and h.startswith("#") and h[1:] in ids for h in hrefs)


def test_the_html_path_can_come_from_the_ini(
    pytester: pytest.Pytester, agents: ConnectorStore
) -> None:
    write_ini(pytester, "connectors_html = reports/connectors.html")
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("--connector", "HTTP Agent").assert_outcomes(passed=1, failed=1, skipped=1)
    assert (pytester.path / "reports" / "connectors.html").is_file()


HOSTILE = [
    "<script>alert('transcript')</script>",
    '"><img src=x onerror=alert(1)>',
    '<a href="javascript:alert(2)">click</a>',
    "<link rel=stylesheet href=https://evil.example/x.css>",
]


def test_hostile_transcript_text_is_shown_as_text_and_the_page_fetches_nothing(
    pytester: pytest.Pytester, agents: ConnectorStore
) -> None:
    sends = "\n".join(f"    conversation.send({text!r})" for text in HOSTILE)
    pytester.makepyfile(
        test_hostile=f"""
def test_hostile(conversation):
{sends}
    assert False, '''<script>alert("failure")</script>'''
"""
    )
    result = pytester.runpytest("--connector", "HTTP Agent", "--connectors-html", "r.html")
    result.assert_outcomes(failed=1)
    html = (pytester.path / "r.html").read_text(encoding="utf-8")
    page = Page(html)
    # The one script is the page's own; no hostile element became an element.
    assert len(page.tags("script")) == 1 and page.tags("script")[0] == {}
    assert not page.tags("img") and not page.tags("link")
    assert not [attrs for _, attrs in page.elements if any(k.startswith("on") for k in attrs)]
    hrefs = [attrs.get("href") or "" for attrs in page.tags("a")]
    assert all(href.startswith("#") for href in hrefs), hrefs
    for text in HOSTILE:  # each shown back as the text it was
        assert text in page.text
    assert '<script>alert("failure")</script>' in page.text
    # No resource outside the page: nothing to load, and a policy that forbids loading.
    for _, attrs in page.elements:
        for name in ("src", "href", "action", "srcset", "data"):
            assert not (attrs.get(name) or "").lower().startswith(("http:", "https:", "//"))
    policy = next(a["content"] for a in page.tags("meta") if a.get("http-equiv"))
    assert policy is not None and policy.startswith("default-src 'none';")
    assert "unsafe-inline" not in policy


LITERAL_SECRET = "literal-secret-Hn4vB9tRc1"
URL_PASSWORD = "url-password-Pq7Ws2"


def test_no_secret_reaches_the_html_report(
    pytester: pytest.Pytester,
    agents: ConnectorStore,
    http_agent_server: UvicornServer,
    http_agent_token: str,
) -> None:
    agents.create(http_connector("Literal Agent", http_agent_server.url, LITERAL_SECRET))
    user_url = http_agent_server.url.replace("http://", f"http://reporter:{URL_PASSWORD}@")
    agents.create(http_connector("Userinfo Agent", user_url, "${AGENT_TOKEN}"))
    pytester.makepyfile(
        test_secrets="""
        def test_hello(conversation, connector):
            print(repr(connector))
            assert conversation.send("hello").success
        """
    )
    result = pytester.runpytest(
        *BOTH,
        "--connector",
        "Literal Agent",
        "--connector",
        "Userinfo Agent",
        "--connectors-html",
        "r.html",
        "--connectors-report",
        "r.json",
    )
    result.assert_outcomes(passed=2, failed=2)  # a literal secret, userinfo: refused
    html = (pytester.path / "r.html").read_text(encoding="utf-8")
    assert "HTTP 401" in html and "reporter:****@" in html
    for secret in (http_agent_token, LITERAL_SECRET, URL_PASSWORD):
        assert secret not in html
        assert secret not in (pytester.path / "r.json").read_text(encoding="utf-8")


# --- comparison with a baseline --------------------------------------------------------------

BEFORE = """
def test_stays(conversation):
    assert conversation.send("hello").success

def test_breaks(conversation):
    assert conversation.send("hello").success

def test_gets_fixed(conversation):
    assert conversation.send("hello").text == "nope"

def test_goes_away(conversation):
    conversation.send("hello")
"""

AFTER = """
def test_stays(conversation):
    assert conversation.send("hello").success

def test_breaks(conversation):
    assert conversation.send("hello").text == "nope"

def test_gets_fixed(conversation):
    assert conversation.send("hello").success

def test_arrives(conversation):
    conversation.send("hello")
"""


def test_a_baseline_run_shows_regressions_fixes_new_and_removed_tests_first(
    pytester: pytest.Pytester, agents: ConnectorStore
) -> None:
    pytester.makepyfile(test_suite=BEFORE)
    args = ("--connector", "HTTP Agent")
    pytester.runpytest(*args, "--connectors-report", "main.json").assert_outcomes(
        passed=3, failed=1
    )
    pytester.makepyfile(test_suite=AFTER)
    result = pytester.runpytest(
        *args,
        "--connectors-baseline",
        "main.json",
        "--connectors-report",
        "branch.json",
        "--connectors-html",
        "branch.html",
    )
    result.assert_outcomes(passed=3, failed=1)
    node = "test_suite.py::{}[HTTP Agent]"
    document = json.loads((pytester.path / "branch.json").read_text())
    jsonschema.validate(document, json.loads(REPORT_SCHEMA.read_text()))
    comparison = document["comparison"]
    assert [r["test"] for r in comparison["regressions"]] == [node.format("test_breaks")]
    assert comparison["regressions"][0]["after"] == "failed"
    assert "AssertionError" in comparison["regressions"][0]["message"]
    assert [r["test"] for r in comparison["fixes"]] == [node.format("test_gets_fixed")]
    assert comparison["new"] == [node.format("test_arrives")]
    assert comparison["removed"] == [node.format("test_goes_away")]
    assert comparison["baseline_tests"] == 4
    # First in the summary: before the connectors section.
    lines = result.outlines
    compared = next(i for i, line in enumerate(lines) if "compared with the baseline" in line)
    connectors = next(i for i, line in enumerate(lines) if line.strip("= ") == "connectors")
    assert compared < connectors
    assert lines[compared + 1].startswith("against a baseline of 4 tests: 1 regressed, 1 fixed")
    assert f"  REGRESSED  {node.format('test_breaks')} (passed -> failed)" in lines
    # And at the top of the page.
    page = Page((pytester.path / "branch.html").read_text(encoding="utf-8"))
    ids = [attrs["id"] for _, attrs in page.elements if attrs.get("id")]
    assert ids[0] == "comparison"
    regression_rows = [a for a in page.tags("tr") if a.get("class") == "regression"]
    assert len(regression_rows) == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such report file"),
        ("{not json", "not a JSON report"),
        ('{"version": 1, "connectors": {}, "calls": []}', "not a version 2 connectors report"),
        ('{"version": 2, "connectors": {}, "calls": []}', "has no per-test outcomes"),
    ],
)
def test_an_unusable_baseline_is_one_line_before_any_test_runs(
    pytester: pytest.Pytester, content: str | None, expected: str
) -> None:
    if content is not None:
        (pytester.path / "base.json").write_text(content)
    pytester.makepyfile(test_plain="def test_plain(): pass")
    result = pytester.runpytest("--connectors-baseline", "base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: --connectors-baseline: ")
    assert expected in errors[0] and "Traceback" not in "\n".join(result.errlines)


def test_the_baseline_can_come_from_the_ini(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain(): pass")
    pytester.runpytest("--connectors-report", "main.json").assert_outcomes(passed=1)
    write_ini(pytester, "connectors_baseline = main.json")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "against a baseline of 1 test: 0 regressed, 0 fixed, 0 new, 0 removed, " in (
        result.stdout.str()
    )


def _report(outcome: str, *latencies: float) -> dict[str, Any]:
    calls = [
        {"test": "t", "connector": "a", "turn": i, "latency_ms": ms}
        for i, ms in enumerate(latencies)
    ]
    return {"tests": [{"test": "t", "outcome": outcome, "message": None}], "calls": calls}


@pytest.mark.parametrize(
    ("before", "after", "flagged"),
    [
        (10.0, 10.0 * LATENCY_RATIO * 4, False),  # 4x slower, but only a few ms: noise
        (1000.0, 1000.0 + LATENCY_MIN_MS * 2, False),  # 200 ms slower, but 1.2x: noise
        (200.0, 200.0 * LATENCY_RATIO + LATENCY_MIN_MS, True),  # both: a change
        (600.0, 200.0, True),  # faster counts too
    ],
)
def test_latency_changes_are_flagged_beyond_both_thresholds_only(
    before: float, after: float, flagged: bool
) -> None:
    comparison = compare(_report("passed", before, before), _report("passed", after, after))
    assert bool(comparison["latency"]) is flagged
    if flagged:
        assert comparison["latency"][0]["before_p50_ms"] == before


def test_the_comparison_reads_a_report_written_to_disk(tmp_path: Path) -> None:
    """A baseline is a file from another run: only its JSON matters."""
    path = tmp_path / "base.json"
    test = {"test": "t", "connector": None, "outcome": "passed", "message": None}
    path.write_text(
        json.dumps(
            {"version": 2, "connectors": {}, "calls": [], "tests": [{**test, "duration_ms": 1}]}
        )
    )
    from pytest_connectors.evaluation.comparison import load_report

    comparison = compare(load_report(path), _report("failed", 5.0))
    assert [r["test"] for r in comparison["regressions"]] == ["t"]


def test_without_jinja2_the_html_option_is_one_line_before_any_test_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "jinja2.py").write_text("raise ImportError('No module named jinja2')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(shadow), python_path()]))
    pytester.makepyfile(test_plain="def test_plain(): pass")
    result = pytester.runpytest_subprocess("--connectors-html", "r.html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert errors == [
        "ERROR: the HTML report needs Jinja2: pip install 'pytest-connectors[report]'"
    ]
    assert not (pytester.path / "r.html").exists()


def test_under_xdist_the_page_shows_what_a_serial_run_shows(
    pytester: pytest.Pytester, agents: ConnectorStore
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pages = {}
    for name, workers in (("serial", ()), ("xdist", ("-p", "xdist", "-n", "2"))):
        result = pytester.runpytest(*BOTH, *workers, "--connectors-html", f"{name}.html")
        result.assert_outcomes(passed=2, failed=2, skipped=2)
        page = Page((pytester.path / f"{name}.html").read_text(encoding="utf-8"))
        pages[name] = sorted(
            (a["id"], a["data-outcome"], a["data-connector"]) for a in page.tags("article")
        )
    assert len(pages["serial"]) == 6 and pages["xdist"] == pages["serial"]


API_KEY = "sk-report-api-key-Vb3Nq8"


def test_secrets_in_the_command_line_are_masked_in_both_reports(
    pytester: pytest.Pytester, agents: ConnectorStore
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest(
        "--connector",
        "HTTP Agent",
        "--connectors-api-key",
        API_KEY,
        f"--connectors-url=http://reporter:{URL_PASSWORD}@127.0.0.1:9",
        "--connectors-html",
        "r.html",
        "--connectors-report",
        "r.json",
    )
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    args = json.loads((pytester.path / "r.json").read_text())["environment"]["pytest_args"]
    assert args[:4] == ["--connector", "HTTP Agent", "--connectors-api-key", "****"]
    assert args[4] == "--connectors-url=http://reporter:****@127.0.0.1:9"
    html = (pytester.path / "r.html").read_text(encoding="utf-8")
    assert "--connectors-api-key ****" in html
    for secret in (API_KEY, URL_PASSWORD):
        assert secret not in html


def test_command_line_masking_covers_options_urls_and_ini_overrides() -> None:
    from pytest_connectors._support.secrets import mask_arguments

    assert mask_arguments(
        ["-o", "judge_token=abc", "--api-key", "k", "--x", "http://u:p@h/?token=t&a=1", "-v"]
    ) == [
        "-o",
        "judge_token=****",
        "--api-key",
        "****",
        "--x",
        "http://u:****@h/?token=****&a=1",
        "-v",
    ]


def test_a_report_path_that_is_a_folder_is_one_line_before_any_test_runs(
    pytester: pytest.Pytester,
) -> None:
    (pytester.path / "reports").mkdir()
    pytester.makepyfile(test_plain="def test_plain(): pass")
    result = pytester.runpytest("--connectors-html", "reports")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1 and errors[0].endswith("reports is a folder; give the path of a file")


def test_an_unwritable_report_is_one_line_and_the_run_keeps_its_outcome(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", python_path())  # a child pytest, as CI runs it
    (pytester.path / "blocker").write_text("a file where a folder should be")
    pytester.makepyfile(test_plain="def test_plain(): pass")
    result = pytester.runpytest_subprocess(
        "--connectors-html", "blocker/r.html", "--connectors-report", "r.json"
    )
    assert result.ret == pytest.ExitCode.OK
    [line] = [line for line in result.outlines if "not written" in line]
    assert line.startswith(
        f"connector report not written: {pytester.path / 'blocker' / 'r.html'}: "
    )
    # Only what was written is announced, the JSON report even when no agent was called.
    assert f"connector report: {pytester.path / 'r.json'}" in result.outlines
    assert not [line for line in result.outlines if "HTML report:" in line]
    # A report is for others too (a CI artifact): readable by them, as the umask allows.
    umask = os.umask(0o022)
    os.umask(umask)
    assert (pytester.path / "r.json").stat().st_mode & 0o777 == 0o644 & ~umask
    assert "INTERNALERROR" not in "\n".join(result.outlines + result.errlines)


def test_a_diverged_replay_shows_both_sides_turn_by_turn_with_the_differences_marked(
    pytester: pytest.Pytester, agents: ConnectorStore
) -> None:
    diverging_case(pytester.path / "cases")
    pytester.makepyfile(test_replay=REPLAY_SUITE)
    result = pytester.runpytest(
        "--connector",
        "HTTP Agent",
        "--connectors-html",
        "report.html",
        "--connectors-report",
        "report.json",
    )
    result.assert_outcomes(failed=1)
    document = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, json.loads(REPORT_SCHEMA.read_text(encoding="utf-8")))
    [conversation] = document["replay"]["conversations"]
    assert conversation["diverged_at"] == 2
    assert conversation["links"] == [{"label": "LangSmith trace", "url": TRACE_URL}]
    first, second = conversation["turns"]
    assert first["production"]["answer"] == "The weather in Paris is warm and sunny, 21°C."
    assert first["candidate"]["answer"] == "The weather in Paris is sunny, 21°C."
    assert second["production"]["tool_calls"] == [
        {"name": "lookup_account", "args": {"id": 7}, "result": "found"}
    ]
    assert second["candidate"]["tool_calls"] == []
    # What the tools returned: production's as recorded, the candidate's as its call got it.
    weather = [{"name": "get_weather", "args": {"city": "Paris"}, "result": "Sunny, 21°C in Paris"}]
    assert first["production"]["tool_calls"] == first["candidate"]["tool_calls"] == weather
    assert document["calls"][0]["tool_calls"] == weather

    html_text = (pytester.path / "report.html").read_text(encoding="utf-8")
    # Under each call: on both sides of the replay, then in the test's transcript.
    weather_result = "Sunny, 21°C in Paris"
    assert _texts_in(html_text, "samp") == [weather_result] * 2 + ["found", weather_result]
    page = Page(html_text)
    test = "test_replay.py::test_case[HTTP Agent-t-diverging]"
    page.by_id(anchor(test))
    # Production's answer beside the candidate's, and the words that changed marked.
    assert "The weather in Paris is warm and sunny, 21°C." in page.text
    assert "warm and" in [t.strip() for t in _texts_in(html_text, "del")]
    assert "lookup_account" in "".join(_texts_in(html_text, "pre", 'class="tool differs"'))
    assert "get_weather" not in "".join(_texts_in(html_text, "pre", 'class="tool differs"'))
    # The LangSmith trace is linked; the javascript: link and the hostile turn stay text.
    assert {"href": TRACE_URL, "rel": "noopener noreferrer", "target": "_blank"} in page.tags("a")
    assert not [a for a in page.tags("a") if "javascript" in (a.get("href") or "")]
    assert HOSTILE_TURN in page.text
    assert not [attrs for attrs in page.tags("img")]
    assert len(page.tags("script")) == 1


def _texts_in(html_text: str, tag: str, attributes: str = "") -> list[str]:
    """The texts of the elements ``<tag attributes>`` (no nesting in them)."""
    import re

    opening = f"<{tag} {attributes}>" if attributes else f"<{tag}>"
    return re.findall(re.escape(opening) + r"(.*?)</" + tag + ">", html_text, re.S)


def _calls(*latencies: float) -> dict[str, Any]:
    return _report("passed", *latencies)


def test_a_rank_test_decides_when_both_sides_have_enough_calls() -> None:
    """Eight calls a side: every call counts, not only the p50 (method rank_test)."""
    assert RANK_TEST_MIN_CALLS == 8
    # The p50 jumped 4x by 300 ms, but the calls are the same mix: no change.
    mixed_before = _calls(*[100.0] * 4, *[400.0] * 4)
    mixed_after = _calls(*[100.0] * 3, *[400.0] * 5)
    assert compare(mixed_before, mixed_after)["latency"] == []
    # A consistent shift of every call by 200 ms (1.2x) is a change both thresholds would need.
    steady = _calls(*(1000.0 + i for i in range(10)))
    shifted = _calls(*(1200.0 + i for i in range(10)))
    [change] = compare(steady, shifted)["latency"]
    assert change["method"] == "rank_test" and change["p_value"] < RANK_TEST_ALPHA
    assert (change["before_p50_ms"], change["after_p50_ms"]) == (1004.0, 1204.0)
    # A real but tiny shift (2.0 to 2.6 ms, neither 1.5x nor 100 ms) is not news.
    tiny = [2.0 + i / 100 for i in range(10)], [2.6 + i / 100 for i in range(10)]
    assert mann_whitney_p(*tiny) < RANK_TEST_ALPHA  # real: the rank test alone would flag it
    assert compare(_calls(*tiny[0]), _calls(*tiny[1]))["latency"] == []
    # Seven calls on one side: the thresholds decide, and say so.
    few = _calls(*(1200.0 + i for i in range(7)))
    assert compare(steady, few)["latency"] == []
    [slow] = compare(_calls(*[200.0] * 7), _calls(*[500.0] * 9))["latency"]
    assert slow["method"] == "thresholds" and slow["p_value"] is None


def test_the_rank_test_matches_the_textbook_normal_approximation() -> None:
    # No overlap, 8 a side: U = 0, mean 32, sd sqrt(8*8*17/12), z = (32 - 0.5) / sd.
    p_value = mann_whitney_p([float(i) for i in range(1, 9)], [float(i) for i in range(9, 17)])
    assert p_value == pytest.approx(math.erfc(31.5 / math.sqrt(64 * 17 / 12) / math.sqrt(2)))
    assert p_value == pytest.approx(0.00094, abs=0.00002)
    # Ties get their average rank (R = 2 x 1.5 + 2 x 4.5, U = 2) and shrink the variance (runs
    # of 2, 4 and 2: 72 / 56); all equal is no evidence at all.
    tied = mann_whitney_p([1.0, 1.0, 2.0, 2.0], [2.0, 2.0, 3.0, 3.0])
    assert tied == pytest.approx(
        math.erfc((6 - 0.5) / math.sqrt(4 * 4 / 12 * (9 - 72 / 56)) / math.sqrt(2))
    )
    assert mann_whitney_p([5.0] * 9, [5.0] * 9) == 1.0
    assert mann_whitney_p([1.0, 2.0, 3.0] * 3, [3.0, 1.0, 2.0] * 3) == 1.0


def test_a_hostile_report_file_cannot_add_links_or_attributes_to_the_page() -> None:
    """``report html`` renders files from anywhere: their links and outcomes are checked too."""
    side = {"answer": "a", "tool_calls": [], "error": None, "latency_ms": 1.0}
    links = [
        {"label": "LangSmith trace", "url": "javascript:alert(1)"},
        {"label": "FullStory session", "url": "data:text/html,<script>x</script>"},
        {"label": "FullStory session", "url": "https://app.fullstory.com/ui/o/s"},
    ]
    turn = {"turn": 1, "user": ["hi"], "production": side, "candidate": side}
    conversation = {"test": "t", "case": "c", "source": "s", "diverged_at": None}
    document = {
        "version": 2,
        "connectors": {},
        "calls": [],
        "tests": [{"test": "t", "outcome": "failed onmouseover=alert(1)", "message": None}],
        "replay": {
            "diverged": [],
            "conversations": [{**conversation, "links": links, "turns": [turn]}],
        },
    }
    page = Page(render_html(document))
    hrefs = [a["href"] for a in page.tags("a")]
    assert [h for h in hrefs if h and not h.startswith("#")] == ["https://app.fullstory.com/ui/o/s"]
    assert not [attrs for _, attrs in page.elements if "onmouseover" in attrs]
    assert page.tags("article")[0]["data-outcome"] == "unknown"


def test_a_report_file_that_was_never_masked_is_masked_on_the_page() -> None:
    """``report html`` renders files from anywhere (by hand, by another tool): the page masks
    by the one policy itself."""
    secrets = ("PW-url", "sk-argument", "sk-cli", "tok-query", "pw-replay", "tok-link")
    side = {
        "answer": "a",
        "tool_calls": [{"name": "login", "args": {"password": "pw-replay"}}],
        "error": None,
        "latency_ms": 1.0,
    }
    link = {"label": "LangSmith trace", "url": "https://smith.example/r?token=tok-link"}
    document = {
        "version": 2,
        "connectors": {},
        "calls": [
            {
                "test": "t",
                "connector": "Agent",
                "turn": 1,
                "latency_ms": 1.0,
                "success": True,
                "error": None,
                "tools": ["pay"],
                "attempts": 1,
                "tool_calls": [{"name": "pay", "args": {"api_key": "sk-argument"}}],
            }
        ],
        "tests": [{"test": "t", "outcome": "failed", "message": "GET https://u:PW-url@h/ failed"}],
        "environment": {
            "pytest_args": ["--api-key", "sk-cli"],
            "connectors": [{"name": "Agent", "url": "https://u:PW-url@h/?token=tok-query"}],
        },
        "replay": {
            "diverged": [],
            "conversations": [
                {
                    "test": "t",
                    "case": "c",
                    "source": "s",
                    "diverged_at": None,
                    "links": [link],
                    "turns": [{"turn": 1, "user": ["hi"], "production": side, "candidate": side}],
                }
            ],
        },
    }
    page = render_html(document)
    assert [secret for secret in secrets if secret in page] == []
    assert "pay" in page and "login" in page and "smith.example" in page


def test_tool_results_are_recorded_masked_cut_and_paired_with_their_calls() -> None:
    api = '{"status": "ok", "api_key": "sk-live-1", "next": "https://u:pw-1@api.example/x"}'
    result = ConnectorInvokeResult(
        success=True,
        latency_ms=5.0,
        messages=[
            Message(
                role="assistant",
                tool_calls=[
                    ToolCall(id="a", name="fetch", args={}),
                    ToolCall(id="b", name="search", args={"q": "x"}),
                ],
            ),
            Message(role="tool", tool_call_id="b", content="x" * 5000),  # answered out of order
            Message(role="tool", tool_call_id="a", content=api),
        ],
    )
    fetch, search = record_of("t", "Agent", 1, result)["tool_calls"]
    assert "sk-live-1" not in fetch["result"] and "pw-1" not in fetch["result"]
    assert json.loads(fetch["result"])["status"] == "ok"
    assert len(search["result"]) == MAX_TOOL_RESULT and search["result"].endswith("...")
    # No result came back: no result key (the schema's optional field).
    alone = ConnectorInvokeResult(
        success=True,
        latency_ms=1.0,
        messages=[Message(role="assistant", tool_calls=[ToolCall(name="f", args={})])],
    )
    assert record_of("t", "Agent", 1, alone)["tool_calls"] == [{"name": "f", "args": {}}]
