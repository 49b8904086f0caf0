"""The ``pytest-connectors`` command, run as a user runs it: a separate process."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from children import python_path

from pytest_connectors.registry.json_file import ConnectorStore

REFERENCE_FILE = Path(__file__).parents[1] / "data" / "reference_connectors.json"
SECRET = "sk-live-SECRET-123"
# The launch object as docs/connectors.md shows it (section "Launched servers").
README_LAUNCH = json.dumps(
    {
        "command": "{python} -m uvicorn app:app --host 127.0.0.1 --port {port}",
        "cwd": "../http_agent",
        "env": {"HTTP_AGENT_TOKEN": "example-agent-token"},
        "ready": "/healthz",
        "timeout": 60000,
        "reuseExisting": True,
    }
)


def cli_environ() -> dict[str, str]:
    """The caller's environment for a CLI child: this checkout first, no connector file set."""
    environ = {k: v for k, v in os.environ.items() if k != "PYTEST_CONNECTORS_FILE"}
    return {**environ, "PYTHONPATH": python_path()}


def run(
    *args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_connectors.cli", *args],
        cwd=cwd,
        input=stdin if stdin is not None else "",
        env={**cli_environ(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert (result.returncode, result.stderr) == (0, ""), result.stdout
    return result.stdout


def records(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "connectors.json"


@pytest.fixture
def filled(path: Path) -> Path:
    """A file with a literal secret on one connector and a reference on the other."""
    store = ConnectorStore(path)
    store.create(
        {
            "name": "prod",
            "type": "http",
            "baseUrl": "https://api.example.com",
            "authType": "bearer",
            "authValue": SECRET,
            "config": {"method": "POST", "path": "/v1/chat"},
        }
    )
    store.create(
        {
            "name": "graph",
            "type": "langgraph",
            "baseUrl": "http://localhost:2024",
            "authType": "api-key",
            "authValue": "${LANGSMITH_API_KEY}",
            "config": {"assistantId": "agent"},
        }
    )
    return path


def test_types_lists_both_types(tmp_path: Path) -> None:
    text = ok(run("types", cwd=tmp_path))
    as_json = json.loads(ok(run("types", "--json", cwd=tmp_path)))

    assert "Generic HTTP/REST API connector" in text
    assert "LangGraph Dev API connector for langgraph-backed agents" in text
    assert as_json == {
        "http": "Generic HTTP/REST API connector",
        "langgraph": "LangGraph Dev API connector for langgraph-backed agents",
    }


def test_create_http_with_every_flag(path: Path, tmp_path: Path) -> None:
    out = ok(
        run(
            "create",
            "--file",
            str(path),
            "--name",
            "prod",
            "--type",
            "http",
            "--base-url",
            "https://api.example.com",
            "--auth-type",
            "bearer",
            "--auth-value",
            "${API_TOKEN}",
            "--method",
            "put",
            "--path",
            "/v1/chat",
            "--header",
            "X-Tenant=acme",
            "--header",
            "X-Query=a=b",
            "--timeout-ms",
            "30000",
            "--retries",
            "2",
            "--response-path",
            "choices.0.message.content",
            "--body",
            '{"model": "gpt-4o-mini", "temperature": 0}',
            "--launch",
            README_LAUNCH,
            "--json",
            cwd=tmp_path,
        )
    )

    shown = json.loads(out)
    [record] = records(path)
    assert shown == record
    assert {k: v for k, v in record.items() if k not in {"id", "createdAt", "updatedAt"}} == {
        "name": "prod",
        "type": "http",
        "baseUrl": "https://api.example.com",
        "authType": "bearer",
        "authValue": "${API_TOKEN}",
        "config": {
            "method": "PUT",
            "path": "/v1/chat",
            "headers": {"X-Tenant": "acme", "X-Query": "a=b"},
            "timeout": 30000,
            "retries": 2,
            "responsePath": "choices.0.message.content",
            "body": {"model": "gpt-4o-mini", "temperature": 0},
            "launch": json.loads(README_LAUNCH),
        },
    }


def test_launch_takes_a_folder_for_langgraph_and_body_is_replaced_whole(
    path: Path, tmp_path: Path
) -> None:
    graph = ["--type", "langgraph", "--base-url", "http://127.0.0.1:2024", "--assistant-id", "a"]
    ok(
        run(
            "create",
            "--file",
            str(path),
            "--name",
            "g",
            *graph,
            "--launch",
            "../agent",
            cwd=tmp_path,
        )
    )
    http = ["--type", "http", "--base-url", "http://127.0.0.1:8000", "--body", '{"a": 1, "b": 2}']
    ok(run("create", "--file", str(path), "--name", "h", *http, cwd=tmp_path))
    ok(run("update", "h", "--file", str(path), "--body", '{"c": 3}', cwd=tmp_path))

    graph_record, http_record = records(path)
    assert graph_record["config"]["launch"] == "../agent"  # the shorthand, kept as written
    assert http_record["config"]["body"] == {"c": 3}


def test_create_langgraph_with_assistant_id(path: Path, tmp_path: Path) -> None:
    out = ok(
        run(
            "create",
            "--file",
            str(path),
            "--name",
            "graph",
            "--type",
            "langgraph",
            "--base-url",
            "http://localhost:2024",
            "--assistant-id",
            "agent",
            "--auth-type",
            "api-key",
            "--auth-value",
            SECRET,
            cwd=tmp_path,
        )
    )

    [record] = records(path)
    assert out == f"Created connector 'graph' ({record['id']}) in {path}\n"
    assert record["config"] == {"assistantId": "agent"}
    assert record["authValue"] == SECRET


def test_auth_value_dash_reads_stdin(path: Path, tmp_path: Path) -> None:
    ok(
        run(
            "create",
            "--file",
            str(path),
            "--name",
            "prod",
            "--type",
            "http",
            "--base-url",
            "https://api.example.com",
            "--auth-type",
            "bearer",
            "--auth-value",
            "-",
            cwd=tmp_path,
            stdin=SECRET + "\n",
        )
    )

    assert records(path)[0]["authValue"] == SECRET


def test_list_text_and_json(filled: Path, tmp_path: Path) -> None:
    text = ok(run("list", "--file", str(filled), cwd=tmp_path))
    as_json = json.loads(ok(run("list", "--json", "--file", str(filled), cwd=tmp_path)))

    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "BASE", "URL", "TARGET", "AUTH", "ID"]
    assert [line.split()[0] for line in lines[1:]] == ["prod", "graph"]
    assert "assistant agent" in text
    assert [r["name"] for r in as_json] == ["prod", "graph"]
    assert [r["id"] for r in as_json] == [r["id"] for r in records(filled)]


def test_list_of_a_missing_file_says_how_to_add_one(path: Path, tmp_path: Path) -> None:
    text = ok(run("list", "--file", str(path), cwd=tmp_path))
    as_json = json.loads(ok(run("list", "--json", "--file", str(path), cwd=tmp_path)))

    assert str(path) in text
    assert "pytest-connectors create" in text
    assert as_json == []
    assert not path.exists()


def test_get_by_name_and_by_id(filled: Path, tmp_path: Path) -> None:
    graph = records(filled)[1]

    by_name = ok(run("get", "graph", "--file", str(filled), cwd=tmp_path))
    by_id = json.loads(ok(run("get", graph["id"], "--json", "--file", str(filled), cwd=tmp_path)))

    assert by_id == graph  # a ${VAR} reference is no secret: shown as written
    assert "name:" in by_name
    assert graph["id"] in by_name
    assert "http://localhost:2024" in by_name
    assert "${LANGSMITH_API_KEY}" in by_name


def test_update_by_name_changes_only_what_is_given(filled: Path, tmp_path: Path) -> None:
    before = records(filled)
    ok(run("update", "prod", "--file", str(filled), "--header", "X-A=1", cwd=tmp_path))

    shown = json.loads(
        ok(
            run(
                "update",
                before[0]["id"],
                "--file",
                str(filled),
                "--json",
                "--name",
                "production",
                "--base-url",
                "https://new.example.com",
                "--method",
                "PATCH",
                "--header",
                "X-B=2",
                "--timeout-ms",
                "1500",
                cwd=tmp_path,
            )
        )
    )

    after = records(filled)
    assert after[1] == before[1]
    assert after[0]["authValue"] == SECRET
    assert shown == {**after[0], "authValue": "****"}
    assert (after[0]["name"], after[0]["baseUrl"]) == ("production", "https://new.example.com")
    assert after[0]["config"] == {
        "method": "PATCH",
        "path": "/v1/chat",
        "headers": {"X-A": "1", "X-B": "2"},
        "timeout": 1500,
    }


def test_update_keeps_keys_this_package_does_not_know(tmp_path: Path) -> None:
    path = tmp_path / "connectors.json"
    shutil.copyfile(REFERENCE_FILE, path)
    before = records(path)

    out = ok(run("update", "Support Agent", "--file", str(path), "--retries", "3", cwd=tmp_path))

    after = records(path)
    assert out.startswith("Updated connector 'Support Agent'")
    assert after[1] == before[1]
    assert after[0]["config"] == {"assistantId": "support-agent", "streaming": True, "retries": 3}
    assert (after[0]["description"], after[0]["tags"]) == (
        before[0]["description"],
        before[0]["tags"],
    )


def test_delete_by_name_and_by_id(filled: Path, tmp_path: Path) -> None:
    prod, graph = records(filled)

    out = ok(run("delete", "prod", "--file", str(filled), cwd=tmp_path))
    ok(run("delete", graph["id"], "--file", str(filled), cwd=tmp_path))

    assert out == f"Deleted connector 'prod' ({prod['id']})\n"
    assert records(filled) == []


def test_the_environment_variable_names_the_file_when_file_is_absent(
    filled: Path, tmp_path: Path
) -> None:
    env = {"PYTEST_CONNECTORS_FILE": str(filled)}

    listed = json.loads(ok(run("list", "--json", cwd=tmp_path, env=env)))

    assert [r["name"] for r in listed] == ["prod", "graph"]
    assert not (tmp_path / "data").exists()


def test_without_file_or_variable_the_current_directory_is_used(tmp_path: Path) -> None:
    ok(
        run(
            "create",
            "--name",
            "prod",
            "--type",
            "http",
            "--base-url",
            "https://api.example.com",
            cwd=tmp_path,
        )
    )

    assert [r["name"] for r in records(tmp_path / "data" / "connectors.json")] == ["prod"]


# -- errors: exit code 2, one line on stderr, no traceback, file untouched -------------------------

ERRORS = {
    "bad-flag": (["list", "--bogus"], "--bogus"),
    "bad-flag-value": (
        ["create", "--name", "x", "--type", "grpc", "--base-url", "http://x"],
        "grpc",
    ),
    "unknown-connector": (["get", "nobody"], "'nobody'"),
    "unknown-on-update": (["update", "nobody", "--retries", "1"], "'nobody'"),
    "unknown-on-delete": (["delete", "nobody"], "'nobody'"),
    "duplicate-on-create": (
        ["create", "--name", "prod", "--type", "http", "--base-url", "https://x.example.com"],
        "'prod'",
    ),
    "duplicate-on-rename": (["update", "graph", "--name", "prod"], "'prod'"),
    "invalid-base-url": (
        ["create", "--name", "new", "--type", "http", "--base-url", "ftp://x.example.com"],
        "--base-url",
    ),
    "langgraph-without-assistant-id": (
        ["create", "--name", "new", "--type", "langgraph", "--base-url", "http://localhost:2024"],
        "assistantId",
    ),
    "nothing-to-update": (["update", "prod"], "nothing to change"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_usage_errors_exit_2_with_one_line(case: str, filled: Path, tmp_path: Path) -> None:
    args, expected = ERRORS[case]
    before = filled.read_bytes()

    result = run(*args, "--file", str(filled), cwd=tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stderr.startswith("pytest-connectors")
    assert expected in result.stderr
    assert filled.read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["get", "prod"],
        ["create", "--name", "new", "--type", "http", "--base-url", "https://x.example.com"],
        ["update", "prod", "--retries", "1"],
        ["delete", "prod"],
    ],
    ids=lambda args: args[0],
)
def test_a_corrupt_file_exits_2_and_is_not_changed(args: list[str], tmp_path: Path) -> None:
    path = tmp_path / "connectors.json"
    path.write_text('[\n  {"name": "prod", "authValue": "sk-live-SECRET-123",}\n]\n')
    before = path.read_bytes()

    result = run(*args, "--file", str(path), cwd=tmp_path)

    assert (result.returncode, result.stdout) == (2, "")
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr
    assert "line 2" in result.stderr
    assert SECRET not in result.stderr
    assert path.read_bytes() == before


# -- the auth value never shows ------------------------------------------------------------------

NEW = ["--name", "new", "--type", "http", "--base-url", "https://x.example.com"]
SECRET_AUTH = ["--auth-type", "bearer", "--auth-value", SECRET]
COMMANDS = {
    "list": ["list"],
    "list --json": ["list", "--json"],
    "get": ["get", "prod"],
    "get --json": ["get", "prod", "--json"],
    "create": ["create", *NEW, *SECRET_AUTH],
    "create --json": ["create", *NEW, *SECRET_AUTH, "--json"],
    "update": ["update", "graph", *SECRET_AUTH],
    "update --json": ["update", "graph", *SECRET_AUTH, "--json"],
    "delete": ["delete", "prod"],
    "error: duplicate": ["create", *NEW[:1], "prod", *NEW[2:], *SECRET_AUTH],
    "error: base url": ["create", *NEW[:4], "--base-url", "ftp://x", *SECRET_AUTH],
    "error: no assistant": ["create", *NEW[:2], "--type", "langgraph", *NEW[4:], *SECRET_AUTH],
    "error: rename": ["update", "graph", "--name", "prod", *SECRET_AUTH],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_no_output_shows_a_literal_auth_value(command: str, filled: Path, tmp_path: Path) -> None:
    result = run(*COMMANDS[command], "--file", str(filled), cwd=tmp_path)

    assert result.returncode == (2 if command.startswith("error") else 0), result.stderr
    assert SECRET not in result.stdout + result.stderr
    if command.startswith(("list", "get")):
        assert "****" in result.stdout
    if command.startswith("list"):
        assert "${LANGSMITH_API_KEY}" in result.stdout


# -- every user mistake is one line and exit 2 ----------------------------------------------------

HTTP_NEW = ["create", "--name", "new", "--type", "http", "--base-url", "https://x.example.com"]
GRAPH_NEW = ["create", "--name", "new", "--type", "langgraph", "--base-url", "http://127.0.0.1:9"]
MISTAKES = {
    "timeout-huge": ([*HTTP_NEW, "--timeout-ms", "1e308"], "--timeout-ms"),
    "timeout-inf": ([*HTTP_NEW, "--timeout-ms", "inf"], "--timeout-ms"),
    "timeout-nan": ([*HTTP_NEW, "--timeout-ms", "nan"], "--timeout-ms"),
    "timeout-words": ([*HTTP_NEW, "--timeout-ms", "soon"], "--timeout-ms"),
    "retries-too-many": ([*HTTP_NEW, "--retries", "99"], "config.retries (--retries)"),
    "url-without-host": ([*HTTP_NEW[:-1], "http://"], "baseUrl (--base-url): has no host"),
    "url-only-port": ([*HTTP_NEW[:-1], "http://:8080/x"], "has no host"),
    "url-with-spaces": ([*HTTP_NEW[:-1], "http://a b.example.com"], "spaces"),
    "blank-name": (["create", "--name", "  ", *HTTP_NEW[3:]], "name (--name): must not be blank"),
    "name-with-newline": (["create", "--name", "a\nb", *HTTP_NEW[3:]], "control characters"),
    "name-with-escape": (["create", "--name", "a\x1b[31m", *HTTP_NEW[3:]], "control characters"),
    "rename-blank": (["update", "prod", "--name", ""], "--name"),
    "assistant-id-on-http": ([*HTTP_NEW, "--assistant-id", "agent"], "only langgraph"),
    "path-on-langgraph": ([*GRAPH_NEW, "--assistant-id", "a", "--path", "/x"], "only http"),
    "method-on-langgraph-update": (["update", "graph", "--method", "PUT"], "'graph'"),
    "response-path-on-langgraph": (["update", "graph", "--response-path", "a.b"], "langgraph"),
    "header-bad-name": ([*HTTP_NEW, "--header", "X Bad=1"], "not a valid header name"),
    "header-newline": ([*HTTP_NEW, "--header", "X-A=1\r\nX-B: 2"], "control character"),
    "retries-words": ([*HTTP_NEW, "--retries", "some"], "invalid int value"),
    "duplicate-name": (["create", "--name", "prod", *HTTP_NEW[3:]], "already exists"),
    "no-assistant-id": (GRAPH_NEW, "a langgraph connector needs"),
    "launch-folder-on-http": ([*HTTP_NEW, "--launch", "../agent"], "LangGraph shorthand"),
    "launch-without-command": ([*HTTP_NEW, "--launch", '{"cwd": "."}'], "needs a command"),
    "launch-bad-json": ([*HTTP_NEW, "--launch", '{"command": x}'], "not valid JSON"),
    "launch-bad-timeout": ([*HTTP_NEW, "--launch", '{"command": "a", "timeout": 0}'], "greater"),
    "body-not-an-object": ([*HTTP_NEW, "--body", "[1, 2]"], "expected a JSON object"),
    "body-on-langgraph": (["update", "graph", "--body", "{}"], "only http"),
}
# Every mistake names the field as in the file and the flag that sets it, as the README says.
FIELD_AND_FLAG = re.compile(
    r"pytest-connectors: error: ([a-zA-Z]+|config\.[a-zA-Z.]+) \((--[a-z-]+)\): "
)


@pytest.mark.parametrize("case", list(MISTAKES))
def test_user_mistakes_exit_2_with_one_line(case: str, filled: Path, tmp_path: Path) -> None:
    args, expected = MISTAKES[case]
    before = filled.read_bytes()

    result = run(*args, "--file", str(filled), cwd=tmp_path)

    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("pytest-connectors: error: ")
    assert expected in result.stderr
    assert filled.read_bytes() == before
    named = FIELD_AND_FLAG.match(result.stderr)
    assert named is not None, result.stderr


def test_non_utf8_bytes_in_a_flag_exit_2_with_one_line(filled: Path, tmp_path: Path) -> None:
    before = filled.read_bytes()
    args = [*HTTP_NEW[:2], b"caf\xe9", *HTTP_NEW[3:], "--file", str(filled)]

    result = subprocess.run(
        [sys.executable, "-m", "pytest_connectors.cli", *args],
        cwd=tmp_path,
        env=cli_environ(),
        capture_output=True,
        timeout=60,
    )

    stderr = result.stderr.decode("utf-8", "replace")
    assert (result.returncode, result.stdout) == (2, b""), stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert "not valid UTF-8" in stderr
    assert filled.read_bytes() == before


@pytest.mark.parametrize("kind", ["directory", "under-a-file", "deeply-nested"])
@pytest.mark.parametrize("command", [["list"], HTTP_NEW], ids=["list", "create"])
def test_a_file_that_cannot_be_used_exits_2_with_one_line(
    kind: str, command: list[str], tmp_path: Path
) -> None:
    if kind == "directory":
        target = tmp_path / "folder"
        target.mkdir()
    elif kind == "under-a-file":
        (tmp_path / "plain").write_text("x")
        target = tmp_path / "plain" / "connectors.json"
    else:
        target = tmp_path / "connectors.json"
        target.write_text("[" * 100_000 + "]" * 100_000)

    result = run(
        *command, "--file", str(tmp_path / "." / target.relative_to(tmp_path)), cwd=tmp_path
    )

    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert f"{target}: " in result.stderr  # the path, normalised


def test_field_names_read_like_the_file(filled: Path, tmp_path: Path) -> None:
    result = run("update", "prod", "--retries", "-1", "--file", str(filled), cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith("pytest-connectors: error: config.retries (--retries): ")


def test_version(tmp_path: Path) -> None:
    from pytest_connectors import __version__

    result = run("--version", cwd=tmp_path)

    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"pytest-connectors {__version__}\n",
        "",
    )


# -- the connector file under concurrent commands ------------------------------------------------


def test_parallel_header_updates_all_land(filled: Path, tmp_path: Path) -> None:
    count = 12
    environ = cli_environ()
    updates = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest_connectors.cli",
                "update",
                "graph",
                "--file",
                str(filled),
                "--header",
                f"X-Update-{i}={i}",
            ],
            cwd=tmp_path,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    outcomes = [(u.wait(120), *u.communicate()) for u in updates]

    assert [code for code, _, _ in outcomes] == [0] * count, outcomes
    graph = records(filled)[1]
    assert graph["config"] == {
        "assistantId": "agent",
        "headers": {f"X-Update-{i}": str(i) for i in range(count)},
    }


def test_a_command_waiting_on_the_lock_says_so_and_then_writes(
    filled: Path, tmp_path: Path
) -> None:
    import threading

    from pytest_connectors._support.atomic import file_lock

    release = threading.Event()
    holding = threading.Event()

    def hold() -> None:
        with file_lock(filled):
            holding.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(60)
    environ = cli_environ()
    command = ["update", "prod", "--retries", "1", "--file", str(filled)]
    update = subprocess.Popen(
        [sys.executable, "-m", "pytest_connectors.cli", *command],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert update.stderr is not None
        notice = update.stderr.readline()  # blocks until the command says it waits
        release.set()
        stdout, stderr = update.communicate(timeout=60)
    finally:
        release.set()
        holder.join()
        if update.poll() is None:
            update.kill()
            update.communicate()

    assert notice.startswith("pytest-connectors: waiting for another process"), notice
    assert f"{filled}.lock" in notice
    assert (update.returncode, stderr) == (0, "")
    assert stdout.startswith("Updated connector 'prod'")
    assert records(filled)[0]["config"]["retries"] == 1


def test_retries_help_names_what_is_retried(tmp_path: Path) -> None:
    from pytest_connectors.client.retry import RETRY_STATUSES, RetryPolicy

    help_text = " ".join(ok(run("create", "--help", cwd=tmp_path)).split())
    statuses = ", ".join(str(s) for s in sorted(RETRY_STATUSES))
    assert f"--retries RETRIES retries on connection errors and HTTP {statuses} " in help_text
    assert f"(default {RetryPolicy().retries})" in help_text
    assert "5xx" not in help_text  # a 500 is not retried
