"""``conversations list --since --until --text``: the service API's filters in a shell, on the
database and on a running service alike, with one-line errors for values that mean nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from service_support import ServiceProcess, child_env, issue_key

from pytest_connectors.imports.facade import Imports
from pytest_connectors.models.imports import RecordedConversation, RecordedTurn, Scope

AGENT = "support-bot"
NOW = datetime.now(UTC).replace(microsecond=0)
# thread key -> (hours ago it started, what the user said)
THREADS = {
    "t-old": (30, "Where is my refund?"),
    "t-mid": (10, "What's the weather in Paris?"),
    "t-new": (1, "Refund order 42 please"),
}


def iso(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("filters") / "connectors.db")
    conversations = [
        RecordedConversation(
            id=f"c-{key}",
            agent_id=AGENT,
            thread_key=key,
            origin="native",
            started_at=NOW - timedelta(hours=hours),
            turns=[RecordedTurn(index=0, user_messages=[said], answer="ok")],
        )
        for key, (hours, said) in THREADS.items()
    ]
    with Imports(path, scope=Scope(tenant_id="acme", agent_id=AGENT)) as imports:
        imports.conversations.write_native(conversations)
    return path


@pytest.fixture(scope="module")
def service(db: str) -> Iterator[tuple[str, str]]:
    key = issue_key(db, "acme", AGENT)
    with ServiceProcess(db) as server:
        yield server.url, key


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_connectors.cli", "conversations", "list", *argv],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=False,
    )


@pytest.fixture(params=["database", "service"])
def target(request: pytest.FixtureRequest, db: str) -> list[str]:
    """The flags that point the command at the database or at the service on it."""
    if request.param == "database":
        return ["--db", db]
    url, key = request.getfixturevalue("service")
    return ["--url", url, "--api-key", key]


def listed(target: list[str], *filters: str) -> list[str]:
    done = run(*target, *filters, "--json")
    assert done.returncode == 0, done.stderr
    return sorted(c["threadKey"] for c in json.loads(done.stdout)["items"])


def test_the_window_takes_conversations_started_within_it(target: list[str]) -> None:
    assert listed(target, "--since", iso(12)) == ["t-mid", "t-new"]
    assert listed(target, "--until", iso(12)) == ["t-old"]
    assert listed(target, "--since", iso(40), "--until", iso(5)) == ["t-mid", "t-old"]


def test_text_is_found_in_what_was_said_whatever_its_case(target: list[str]) -> None:
    assert listed(target, "--text", "REFUND") == ["t-new", "t-old"]
    assert listed(target, "--text", "refund", "--since", iso(12)) == ["t-new"]
    assert listed(target, "--text", "nowhere said") == []


@pytest.mark.parametrize(
    ("filters", "said"),
    [
        (["--since", "yesterday"], "since: 'yesterday' is not an ISO 8601 time"),
        (["--until", "2026-13-01"], "until: '2026-13-01' is not an ISO 8601 time"),
        (["--since", "2026-03-02", "--until", "2026-03-01"], "must be before until"),
        (["--text", "x" * 201], "text: at most 200 characters"),
    ],
)
def test_bad_values_are_one_line_errors(target: list[str], filters: list[str], said: str) -> None:
    done = run(*target, *filters)
    assert done.returncode == 2
    assert said in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
