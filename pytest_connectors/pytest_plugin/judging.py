"""Judges in pytest: selection, the ``judge`` fixture, cached verdicts, and their reports.

The judge connector comes, closest first, from ``judge=`` on the call, ``--judge-connector``,
the ``judge_connector`` ini value, then ``$PYTEST_CONNECTORS_JUDGE``. It is made ready by the
session like any connector (``config.launch``, the prepare hook) and called through the
session's client, apart from the agent's calls: judge calls never count toward latency figures
or budgets. A judge that gives no verdict makes the test *error*, not fail.

Verdicts are cached under pytest's cache directory (``--judge-cache-dir`` elsewhere);
``--judge-cache on|off|read|refresh`` says how. Each test's judgements travel with its teardown
report, so the summary under xdist counts what a serial run counts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_connectors.pytest_plugin.report_sections import add_to_report
from pytest_connectors.pytest_plugin.state import is_worker

if TYPE_CHECKING:
    from pytest_connectors.evaluation.judging import Judge, Judgement
    from pytest_connectors.evaluation.session import ConnectorSession
    from pytest_connectors.models.connector import Connector

judgements_key = pytest.StashKey[list[dict[str, Any]]]()
judges_key = pytest.StashKey["JudgeState"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("connectors")
    group.addoption(
        "--judge-connector",
        dest="judge_connector",
        metavar="NAME",
        help="connector that judges criteria (default: $PYTEST_CONNECTORS_JUDGE); "
        "ini: judge_connector",
    )
    group.addoption(
        "--judge-cache",
        dest="judge_cache",
        choices=("on", "off", "read", "refresh"),
        help="judge verdict cache: on (default), off, read (never write), refresh (never "
        "read); ini: judge_cache",
    )
    group.addoption(
        "--judge-cache-dir",
        dest="judge_cache_dir",
        metavar="PATH",
        help="folder of cached verdicts (default: under pytest's cache dir); ini: judge_cache_dir",
    )
    parser.addini("judge_connector", default="", help="connector that judges criteria")
    parser.addini("judge_cache", default="on", help="judge cache mode: on, off, read, refresh")
    parser.addini("judge_cache_dir", default="", help="cached verdicts folder, relative to rootdir")
    parser.addini("judge_prompts", default="", help="JSON file of judge prompts and their version")


class JudgeState:
    """The session's judges by connector, their cache, and every test's judgements."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.judgements: list[dict[str, Any]] = []
        self._judges: dict[object, tuple[object, Judge]] = {}

    @property
    def selected(self) -> str | None:
        from pytest_connectors.evaluation.judging import judge_env

        config = self.config
        return config.option.judge_connector or config.getini("judge_connector") or judge_env()

    def cache_folder(self) -> Path:
        config = self.config
        if config.option.judge_cache_dir:
            return Path(config.invocation_params.dir, config.option.judge_cache_dir)
        if config.getini("judge_cache_dir"):
            return Path(config.rootpath, config.getini("judge_cache_dir"))
        try:
            cache_dir = str(config.getini("cache_dir"))
        except ValueError:  # the cache provider is disabled: its default place still
            cache_dir = ".pytest_cache"
        base = Path(config.rootpath, os.path.expandvars(cache_dir))
        return base / "d" / "pytest-connectors" / "judge"

    def judge(self, ref: Connector | str | None, session: ConnectorSession) -> Judge:
        from pytest_connectors.errors import ConnectorError, JudgeError
        from pytest_connectors.evaluation.judging import NO_JUDGE, Judge
        from pytest_connectors.evaluation.verdict_cache import VerdictCache

        wanted = ref if ref is not None else self.selected
        if wanted is None:
            raise JudgeError("(none)", NO_JUDGE)
        key = wanted if isinstance(wanted, str) else id(wanted)
        found = self._judges.get(key)
        if found is not None and found[0] is wanted:
            return found[1]
        try:
            connector = session.connector(wanted) if isinstance(wanted, str) else wanted
        except ConnectorError as exc:
            raise JudgeError(str(wanted), str(exc)) from None
        mode = self.config.option.judge_cache or self.config.getini("judge_cache")
        try:
            cache = VerdictCache(self.cache_folder(), mode)
        except ValueError as exc:
            raise pytest.UsageError(f"judge_cache: {exc}") from None
        judge = Judge(connector, client=session.client, cache=cache, prompts=self.prompts())
        self._judges[key] = (wanted, judge)
        return judge

    def prompts(self) -> Any:
        from pytest_connectors.evaluation.prompts import Prompts

        name = self.config.getini("judge_prompts")
        if not name:
            return Prompts()
        path = Path(self.config.rootpath, name)
        try:
            return Prompts.from_mapping(json.loads(path.read_text(encoding="utf-8")), str(path))
        except (OSError, ValueError, TypeError) as exc:
            raise pytest.UsageError(f"judge_prompts: {exc}") from None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        found = getattr(report, "connector_judgements", None)
        if found:
            self.judgements.extend(found)


def pytest_configure(config: pytest.Config) -> None:
    state = config.stash[judges_key] = JudgeState(config)
    config.pluginmanager.register(state, "connectors-judges")


@pytest.fixture(autouse=True)
def _connectors_judges(request: pytest.FixtureRequest) -> Iterator[None]:
    """Lets ``assert_criteria`` find the session's judges; costs nothing until one is used."""
    from pytest_connectors.evaluation.judging import judges_from

    state = request.config.stash[judges_key]
    judgements = request.node.stash.setdefault(judgements_key, [])

    def provider(ref: Connector | str | None) -> Judge:
        return state.judge(ref, request.getfixturevalue("connectors_session"))

    def observe(judgement: Judgement) -> None:
        judgements.append({"test": request.node.nodeid, **judgement.as_dict()})

    with judges_from(provider, observe):
        yield


@pytest.fixture
def judge(request: pytest.FixtureRequest, connectors_session: ConnectorSession) -> Judge:
    """The selected judge (``--judge-connector``): ``judge.check(conversation, success=[...],
    failure=[...])`` raises on a miss; ``judge.score(conversation, "criterion")`` is 0 to 1."""
    from pytest_connectors.errors import JudgeError

    try:
        return request.config.stash[judges_key].judge(None, connectors_session)
    except JudgeError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    judgements = item.stash.get(judgements_key, [])
    if call.when == "teardown" and judgements:
        criteria = [c for j in judgements for c in j["criteria"]]
        item.user_properties += [
            ("judge", judgements[0]["judge"]),
            ("judge_verdicts", len(criteria)),
            ("judge_cached", sum(1 for c in criteria if c["cached"])),
            ("judge_calls", sum(j["calls"] for j in judgements)),
            (
                "judge_criteria",
                json.dumps(
                    [
                        [c["criterion"], c["ok"], round(c["score"], 2), c["reason"]]
                        for c in criteria
                    ],
                    ensure_ascii=False,
                ),
            ),
        ]
    report = yield
    if call.when == "teardown" and judgements:
        report.connector_judgements = judgements  # type: ignore[attr-defined]
    if call.when == "call" and call.excinfo is not None:
        from pytest_connectors.errors import JudgeError

        if isinstance(call.excinfo.value, JudgeError):
            report.when = "setup"  # an error of the test's tools, not a failure of the agent
    return report


def summary_lines(judgements: list[dict[str, Any]]) -> list[str]:
    criteria = [c for j in judgements for c in j["criteria"]]
    cached = sum(1 for c in criteria if c["cached"])
    calls = sum(j["calls"] for j in judgements)
    seconds = sum(j["latency_ms"] for j in judgements) / 1000
    tokens = [j["total_tokens"] for j in judgements if j["total_tokens"] is not None]
    cost = f"{calls} call{'s' if calls != 1 else ''}, "
    cost += f"{sum(tokens)} tokens, " if tokens else "tokens unknown, "
    lines = [
        f"judge: {len(criteria)} verdicts ({cached} cached, {len(criteria) - cached} asked); "
        f"the misses cost {cost}{seconds:.1f} s"
    ]
    for judgement in judgements:
        for c in judgement["criteria"]:
            if not c["ok"]:
                lines.append(
                    f"  {judgement['test']}: {c['kind']} criterion {c['criterion']!r} "
                    f"{'met' if c['met'] else 'not met'}: {c['reason']}"
                )
    return lines


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    judgements = config.stash[judges_key].judgements
    if is_worker(config) or not judgements:
        return
    terminalreporter.write_sep("=", "judges")
    for line in summary_lines(judgements):
        terminalreporter.write_line(line)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Adds every test's judgements to the session's report."""
    judgements = session.config.stash[judges_key].judgements
    if judgements:
        add_to_report(session.config, "judgements", judgements)
