"""The import commands as a user types them, against the LangSmith fake and a SQLite file."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from children import python_path
from fakes.fixtures import TRACED_PROJECT, recent_thread
from provider_plugins import distribution
from traced_agent import send_turns, wait_for_finished_roots

from pytest_connectors.cli.main import main
from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer
from pytest_connectors.servers.launch import LangGraphDevServer
from pytest_connectors.storage.store import Store

ROOT = Path(__file__).resolve().parents[2]


class Cli:
    def __init__(self, db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
        self.db = db
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.outputs: list[str] = []

    def __call__(self, *argv: str, stdin: str = "") -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            code = main([*argv, "--db", str(self.db)])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        self.outputs += [out, err]
        return code, out, err

    def json(self, *argv: str) -> Any:
        code, out, err = self(*argv, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> Cli:
    monkeypatch.chdir(tmp_path)
    Store(tmp_path / "imports.db").close()  # commands that only read want a database there
    return Cli(tmp_path / "imports.db", capsys, monkeypatch)


@pytest.fixture
def thread(langsmith_fake: LangSmithServer) -> LangSmithServer:
    """The fake holding the real two-turn LangGraph thread, started an hour ago, in support-prod."""
    langsmith_fake.fake.add_runs(recent_thread(), project="support-prod")
    return langsmith_fake


def create(cli: Cli, server: LangSmithServer, *extra: str) -> dict[str, Any]:
    code, out, err = cli(
        "imports", "create", "--agent", "agt_123", "--name", "LangSmith prod",
        "--category", "llm-tracing", "--provider", "langsmith", "--provider-key", "-",
        "--config", "projectName=support-prod", "--config", f"apiUrl={server.url}",
        *extra, "--json",
        stdin=API_KEY + "\n",
    )  # fmt: skip
    assert code == 0, err
    record: dict[str, Any] = json.loads(out)
    return record


def test_create_connect_wait_and_read_the_conversation(cli: Cli, thread: LangSmithServer) -> None:
    created = create(cli, thread)
    assert created["config"]["apiKey"] == "****" and created["status"] == "disconnected"

    code, out, err = cli("imports", "connect", "LangSmith prod", "--wait")
    assert code == 0, err
    assert "succeeded: 2 fetched, 2 created" in out

    [listed] = cli.json("imports", "list", "--agent", "agt_123")
    assert listed["status"] == "connected" and listed["lastSyncedAt"]
    page = cli.json("conversations", "list", "--connector", "LangSmith prod")
    [conversation] = page["items"]
    assert conversation["threadKey"] == "t-42" and len(conversation["turns"]) == 2

    code, out, _ = cli("conversations", "show", conversation["id"])
    assert code == 0
    assert "user: What's the weather in Paris?" in out
    assert 'tool: get_weather({"city": "Paris"}) -> 18C sunny' in out
    assert "assistant: You're welcome!" in out

    code, out, _ = cli("imports", "sync", "LangSmith prod", "--wait")  # from the watermark on
    assert code == 0 and "succeeded: 0 fetched" in out
    assert not any(API_KEY in text for text in cli.outputs)


def test_conversations_list_filters_by_origin(cli: Cli, thread: LangSmithServer) -> None:
    from pytest_connectors.imports.facade import Imports
    from pytest_connectors.models.imports import RecordedConversation, RecordedTurn

    create(cli, thread)
    code, _, err = cli("imports", "connect", "LangSmith prod", "--wait")
    assert code == 0, err
    native = RecordedConversation(
        id="native-1",
        agent_id="agt_123",
        thread_key="test-run-1",
        turns=[RecordedTurn(index=0, user_messages=["hi"], answer="hello")],
    )
    with Imports(cli.db) as imports:
        imports.conversations.write_native([native])

    def listed(*origin: str) -> list[tuple[str, str]]:
        page = cli.json("conversations", "list", *origin)
        return sorted((c["threadKey"], c["origin"]) for c in page["items"])

    assert listed() == [("t-42", "imported"), ("test-run-1", "native")]
    assert listed("--origin", "native") == [("test-run-1", "native")]
    assert listed("--origin", "imported") == [("t-42", "imported")]
    code, out, _ = cli("conversations", "list", "--origin", "native")
    assert code == 0 and "test-run-1" in out and "t-42" not in out
    code, _, err = cli("conversations", "list", "--origin", "both")
    assert code == 2 and "invalid choice" in err


def test_the_provider_key_has_its_own_flag_and_the_old_spelling_still_works(
    cli: Cli, thread: LangSmithServer
) -> None:
    created = create(cli, thread)  # --provider-key
    assert created["config"]["apiKey"] == "****"
    # --api-key on create/update is the provider's key still, with a note saying what to write.
    code, out, err = cli(
        "imports", "update", "LangSmith prod", "--api-key", "-", "--json", stdin="new-key-5678\n"
    )
    assert code == 0, err
    assert "--api-key is deprecated" in err and "--provider-key" in err
    assert json.loads(out)["config"]["apiKey"] == "****" and "new-key-5678" not in out + err
    code, _, err = cli(
        "imports", "update", "LangSmith prod", "--api-key", "a-key", "--provider-key", "b-key"
    )
    assert code == 2 and "--provider-key" in err and "a-key" not in err and "b-key" not in err
    code, out, _ = cli("imports", "create", "--help")
    assert "--provider-key" in out and "--api-key" not in out


def test_a_refused_key_fails_the_job_with_exit_1(cli: Cli, thread: LangSmithServer) -> None:
    create(cli, thread)
    cli("imports", "update", "LangSmith prod", "--provider-key", "-", stdin="wrong-key-1234\n")
    code, out, err = cli("imports", "connect", "LangSmith prod", "--wait")
    assert code == 1
    assert "failed" in err and "wrong-key-1234" not in out + err
    job_id = cli.json("jobs", "get", _last_job(cli))["id"]
    code, _, err = cli("jobs", "wait", job_id)
    assert code == 1 and "failed" in err
    connector = cli.json("imports", "get", "LangSmith prod")
    assert connector["lastError"]


def _last_job(cli: Cli) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{cli.db}")
    with engine.connect() as connection:
        job_id = connection.execute(
            text("SELECT id FROM import_jobs ORDER BY created_at DESC LIMIT 1")
        ).scalar()
    engine.dispose()
    return str(job_id)


def test_queue_now_wait_later_and_backfill_a_window(cli: Cli, thread: LangSmithServer) -> None:
    create(cli, thread)
    result = cli.json("imports", "connect", "LangSmith prod")
    assert result["job"]["status"] == "queued"
    done = cli.json("jobs", "wait", result["job"]["id"], "--timeout", "120")
    assert done["status"] == "succeeded" and done["stats"]["progress"] == 1.0
    code, out, _ = cli("jobs", "get", done["id"])
    assert code == 0 and re.search(r"^progress: +100% of the window$", out, re.M), out
    day = (datetime.now(UTC) - timedelta(hours=2)).date()
    start, end = f"{day}T00:00:00", f"{day + timedelta(days=2)}T00:00:00"
    job = cli.json("imports", "sync", "LangSmith prod", "--from", f"{start}Z", "--to", f"{end}Z")
    assert (job["from"], job["to"]) == (f"{start}.000Z", f"{end}.000Z")
    assert cli.json("jobs", "wait", job["id"])["stats"]["unchanged"] == 2


def test_disconnect_and_delete(cli: Cli, thread: LangSmithServer) -> None:
    create(cli, thread)
    queued = cli.json("imports", "connect", "LangSmith prod")["job"]["id"]
    code, out, _ = cli("imports", "disconnect", "LangSmith prod")
    assert code == 0 and "imported data kept" in out
    assert cli.json("jobs", "get", queued)["status"] == "cancelled"
    code, out, _ = cli("imports", "delete", "LangSmith prod")
    assert code == 0 and "Deleted" in out
    assert cli.json("imports", "list") == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["imports", "get", "nope"], "no import connector 'nope'"),
        (["jobs", "get", "job_x"], "no job 'job_x'"),
        (["conversations", "show", "cnv_x"], "no conversation 'cnv_x'"),
        (
            ["imports", "create", "--agent", "a", "--name", "n", "--category", "session-data",
             "--provider", "langsmith"],
            "provider 'langsmith' does not belong to category 'session-data'",
        ),
        (
            ["imports", "create", "--agent", "a", "--name", "n", "--category", "llm-tracing",
             "--provider", "langsmith", "--config", "nokey"],
            "--config expects KEY=VALUE",
        ),
        (
            ["imports", "create", "--agent", "a", "--name", "n", "--provider", "nope"],
            "unknown provider 'nope'",
        ),
        (["imports", "update", "nope"], "nothing to change"),
        (["imports", "sync", "x", "--from", "yesterday"], "'yesterday' is not an ISO 8601 time"),
        (["jobs", "wait", "j", "--timeout", "-1"], "must be above 0"),
        (["imports"], "required: ACTION"),
    ],
)  # fmt: skip
def test_mistakes_are_one_line_with_exit_2(cli: Cli, argv: list[str], message: str) -> None:
    code, _, err = cli(*argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("provider", "category"), [("langfuse", "llm-tracing"), ("fullstory", "session-data")]
)
def test_create_takes_the_category_from_the_provider(
    cli: Cli, provider: str, category: str
) -> None:
    made = cli.json(
        "imports", "create", "--agent", "a", "--name", provider, "--provider", provider,
        "--provider-key", "${PROVIDER_KEY}",
    )  # fmt: skip
    assert made["provider"] == provider and made["category"] == category
    assert cli.json("imports", "get", made["id"])["category"] == category


def test_the_config_help_lists_each_providers_keys_from_its_spec(cli: Cli) -> None:
    from pytest_connectors.imports.providers import BUILT_IN, spec_of

    code, out, _ = cli("imports", "create", "--help")
    assert code == 0
    text = " ".join(out.split())
    for name in BUILT_IN:
        spec = spec_of(name)
        listed = ", ".join(f"{k} (secret)" if v.secret else k for k, v in spec.config.items())
        assert f"{name}: {listed}" in text, name
    assert "secretKey (secret)" in text  # Langfuse's, which the hand-written help left out


def test_the_config_help_lists_an_installed_plugins_keys_and_skips_a_broken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_connectors.cli.imports import config_keys_help
    from pytest_connectors.imports.providers import ProviderRegistry

    site = tmp_path / "site"
    monkeypatch.syspath_prepend(str(site))
    plugin = """
        from pytest_connectors.imports.provider import ConfigKey, ProviderSpec
        from pytest_connectors.models.imports import ImportCategory

        SPEC = ProviderSpec(
            name="acme",
            category=ImportCategory.SESSION_DATA,
            config={"token": ConfigKey(secret=True), "region": ConfigKey()},
            build=lambda settings: None,
        )
    """
    entries = distribution(
        site, "acme-traces", "acme_help_plugin", plugin, {"acme": "acme_help_plugin:SPEC"}
    )
    entries += distribution(
        site,
        "bad-traces",
        "bad_help_plugin",
        "import nowhere_at_all\n",
        {"bad": "bad_help_plugin:SPEC"},
    )
    text = config_keys_help(ProviderRegistry(lambda: entries))
    assert "acme: token (secret), region" in text and "langsmith: apiKey (secret)" in text
    assert "bad:" not in text  # its plugin says what is wrong where it is used


def test_sync_of_a_disconnected_connector_says_connect_first(
    cli: Cli, thread: LangSmithServer
) -> None:
    create(cli, thread)
    code, _, err = cli("imports", "sync", "LangSmith prod")
    assert code == 2 and "connect it first" in err


def test_a_standalone_worker_runs_the_queued_jobs(cli: Cli, thread: LangSmithServer) -> None:
    create(cli, thread)
    job = cli.json("imports", "connect", "LangSmith prod")["job"]["id"]
    env = {**os.environ, "PYTHONPATH": python_path(ROOT)}
    worker = subprocess.run(
        [sys.executable, "-m", "pytest_connectors.cli", "worker", "--once", "--db", str(cli.db)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert worker.returncode == 0, worker.stderr
    assert "ran 1 job\n" in worker.stdout
    assert API_KEY not in worker.stdout + worker.stderr
    assert cli.json("jobs", "get", job)["status"] == "succeeded"


def test_a_traced_langgraph_thread_through_connect_wait_and_show(
    cli: Cli,
    traced_langgraph_server: LangGraphDevServer,
    langsmith_fake: LangSmithServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The example agent under `langgraph dev`, traced into the fake, imported by the CLI."""
    thread_id = str(uuid.uuid4())
    send_turns(traced_langgraph_server, thread_id, ["What's the weather in Paris?", "Thanks!"])
    wait_for_finished_roots(langsmith_fake, 2)
    monkeypatch.setenv("CLI_E2E_LANGSMITH_KEY", API_KEY)
    code, _, err = cli(
        "imports", "create", "--agent", "weather-agent", "--name", "traced",
        "--category", "llm-tracing", "--provider", "langsmith",
        "--provider-key", "${CLI_E2E_LANGSMITH_KEY}", "--config", f"projectName={TRACED_PROJECT}",
        "--config", f"apiUrl={langsmith_fake.url}",
    )  # fmt: skip
    assert code == 0, err
    code, out, err = cli("imports", "connect", "traced", "--wait", "--timeout", "120")
    assert code == 0, err
    assert "2 fetched, 2 created" in out
    [conversation] = cli.json("conversations", "list", "--agent", "weather-agent")["items"]
    assert conversation["threadKey"] == thread_id
    code, out, _ = cli("conversations", "show", conversation["id"])
    assert code == 0
    lines = out.splitlines()
    assert "  user: What's the weather in Paris?" in lines
    assert '  tool: get_weather({"city": "Paris"}) -> Sunny, 21°C in Paris' in lines
    assert "  assistant: The weather in Paris is sunny, 21°C." in lines
    assert "  user: Thanks!" in lines
    assert not any(API_KEY in text for text in cli.outputs)


def _native_conversations(db: Path, count: int) -> None:
    from pytest_connectors.imports.facade import Imports
    from pytest_connectors.models.imports import RecordedConversation, RecordedTurn

    turn = RecordedTurn(index=0, user_messages=["What's the weather in Paris?"], answer="Sunny")
    with Imports(db) as imports:
        imports.conversations.write_native(
            [
                RecordedConversation(
                    id=f"native-{i}", agent_id="agt_1", thread_key=f"t-{i}", turns=[turn]
                )
                for i in range(count)
            ]
        )


@pytest.mark.parametrize(
    ("command", "read_first"),
    [
        (["conversations", "list", "--json", "--limit", "500"], True),  # blocks on a full pipe
        (["conversations", "list"], False),  # buffered until exit, then finds the pipe closed
        (["types"], False),
    ],
    ids=["json-page-like-head", "table-reader-gone-at-once", "types"],
)
def test_a_reader_that_stops_early_ends_the_command_quietly(
    tmp_path: Path, command: list[str], read_first: bool
) -> None:
    """`pytest-connectors conversations list --json | head`: no BrokenPipeError traceback."""
    db = tmp_path / "pipe.db"
    _native_conversations(db, 500 if read_first else 3)  # 500: far more JSON than a pipe holds
    environ = {**os.environ, "PYTHONPATH": python_path(ROOT), "PYTEST_CONNECTORS_DB": str(db)}
    with subprocess.Popen(
        [sys.executable, "-m", "pytest_connectors.cli", *command],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        if read_first:
            assert child.stdout.readline()  # like `head -1`
        child.stdout.close()
        stderr = child.stderr.read().decode()
        code = child.wait(timeout=120)

    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert stderr == ""
    assert code == 141


def test_show_takes_the_thread_key_and_lists_the_candidates_when_several_share_it(
    cli: Cli, thread: LangSmithServer
) -> None:
    from pytest_connectors.imports.facade import Imports
    from pytest_connectors.models.imports import RecordedConversation, RecordedTurn

    create(cli, thread)
    code, _, err = cli("imports", "connect", "LangSmith prod", "--wait")
    assert code == 0, err
    [imported] = cli.json("conversations", "list")["items"]

    code, out, err = cli("conversations", "show", "t-42")  # the THREAD column of `list`
    assert code == 0, err
    assert out.startswith(f"Conversation {imported['id']} (thread t-42, imported, 2 turns)")

    native = RecordedConversation(
        id="native-1",
        agent_id="agt_123",
        thread_key="t-42",
        turns=[RecordedTurn(index=0, user_messages=["hi"], answer="hello")],
    )
    with Imports(cli.db) as imports:
        imports.conversations.write_native([native])
    code, out, err = cli("conversations", "show", "t-42")
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1
    assert f"{imported['id']} (LangSmith prod)" in err and "native-1 (native)" in err

    code, out, err = cli("conversations", "show", "native-1")
    assert code == 0, err
    assert "(thread t-42, native, 1 turn)" in out


def test_a_wait_on_an_unreachable_provider_says_what_it_retries_and_until_when(
    cli: Cli, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    code, _, err = cli(
        "imports", "create", "--agent", "a", "--name", "down", "--category", "llm-tracing",
        "--provider", "langsmith", "--provider-key", "lsv2-key-1234567890",
        "--config", "projectName=p", "--config", f"apiUrl={closed}",
    )  # fmt: skip
    assert code == 0, err

    code, _, err = cli("imports", "connect", "down", "--wait", "--timeout", "1")

    assert code == 1
    first = err.splitlines()[0]
    assert first.startswith("pytest-connectors: LangSmith GET /sessions: ")  # what
    assert f"the connection to LangSmith at {closed} failed" in first  # why
    assert "; retry 1 of 5 in " in first  # when it gives up
    assert "after 1 s" in err.splitlines()[-1]  # --timeout ended the wait


def test_on_a_terminal_the_progress_line_ends_before_the_result(
    cli: Cli, thread: LangSmithServer
) -> None:
    """Progress and result share the terminal; each on its own line, both saying "created";
    the progress line says how far through its window the job is."""
    create(cli, thread)
    controller, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": python_path(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-m", "pytest_connectors.cli", "imports", "connect", "LangSmith prod",
         "--wait", "--timeout", "120", "--db", str(cli.db)],
        stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal, env=env,
    ) as child:  # fmt: skip
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the child closed the terminal (EIO)
                break
            if not chunk:
                break
            shown += chunk
        assert child.wait(timeout=120) == 0, shown
    os.close(controller)
    screen = shown.decode()

    progress = re.search(
        r"\x1b\[2Kjob_\w+: \d{1,2}% of the window, 2 fetched, 2 created, [^\r\n]*\r?\n", screen
    )
    assert progress is not None, screen
    assert re.search(r"\nJob job_\w+ succeeded: 2 fetched, 2 created, ", screen), screen
    assert " new," not in screen
