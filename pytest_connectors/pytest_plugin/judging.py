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

from pytest_connectors.pytest_plugin.roles import (
    RoleState,
    add_outcomes_to_report,
    carry_outcomes,
    during_test,
    selected_player,
    summarize,
)

if TYPE_CHECKING:
    from pytest_connectors.evaluation.judging import Judge
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


class JudgeState(RoleState["Judge"]):
    """The session's judges by connector, their cache, and every test's judgements."""

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
        from pytest_connectors.errors import JudgeError
        from pytest_connectors.evaluation.judging import NO_JUDGE, Judge
        from pytest_connectors.evaluation.verdict_cache import VerdictCache

        def build(connector: Connector) -> Judge:
            mode = self.config.option.judge_cache or self.config.getini("judge_cache")
            try:
                cache = VerdictCache(self.cache_folder(), mode)
            except ValueError as exc:
                raise pytest.UsageError(f"judge_cache: {exc}") from None
            return Judge(connector, client=session.client, cache=cache, prompts=self.prompts())

        return self.player(ref, session, build, JudgeError, NO_JUDGE)

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


def pytest_configure(config: pytest.Config) -> None:
    from pytest_connectors.evaluation.judging import JUDGES

    state = config.stash[judges_key] = JudgeState(config, JUDGES, "judge_connector", "judgements")
    config.pluginmanager.register(state, "connectors-judges")


@pytest.fixture(autouse=True)
def _connectors_judges(request: pytest.FixtureRequest) -> Iterator[None]:
    """Lets ``assert_criteria`` find the session's judges; costs nothing until one is used."""
    state = request.config.stash[judges_key]
    yield from during_test(request, state, judgements_key, state.judge)


@pytest.fixture
def judge(request: pytest.FixtureRequest, connectors_session: ConnectorSession) -> Judge:
    """The selected judge (``--judge-connector``): ``judge.check(conversation, success=[...],
    failure=[...])`` raises on a miss; ``judge.score(conversation, "criterion")`` is 0 to 1."""
    from pytest_connectors.errors import JudgeError

    state = request.config.stash[judges_key]
    return selected_player(lambda: state.judge(None, connectors_session), JudgeError)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    from pytest_connectors.errors import JudgeError

    state = item.config.stash[judges_key]
    return (yield from carry_outcomes(item, call, state, judgements_key, _properties, JudgeError))


def _properties(judgements: list[dict[str, Any]]) -> list[tuple[str, object]]:
    criteria = [c for j in judgements for c in j["criteria"]]
    verdicts = [[c["criterion"], c["ok"], round(c["score"], 2), c["reason"]] for c in criteria]
    return [
        ("judge", judgements[0]["judge"]),
        ("judge_verdicts", len(criteria)),
        ("judge_cached", sum(1 for c in criteria if c["cached"])),
        ("judge_calls", sum(j["calls"] for j in judgements)),
        ("judge_criteria", json.dumps(verdicts, ensure_ascii=False)),
    ]


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
    state = config.stash[judges_key]
    summarize(terminalreporter, state, "judges", summary_lines)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Adds every test's judgements to the session's report."""
    state = session.config.stash[judges_key]
    add_outcomes_to_report(state)
