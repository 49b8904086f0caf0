"""The README and the connector pages are executed: their commands, snippets and sample output
must stay true."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from documentation import block, blocks, text

from pytest_connectors import ToolCall, assert_tool_calls
from pytest_connectors.models.connector import LaunchConfig
from pytest_connectors.registry.json_file import ConnectorStore, parse_connectors
from pytest_connectors.servers.launch import LangGraphDevServer, UvicornServer

ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_the_readme_test_command() -> None:
    quickstart = blocks("bash", "pip install", page="README.md")
    commands = [line.split("&&", 1)[1].strip() for b in quickstart for line in b.splitlines()]
    assert commands[0] == 'pytest examples --connector "LangGraph Dev"'
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_pytest = [line.strip() for line in ci.splitlines() if line.strip().startswith("pytest")]
    assert ci_pytest == [commands[1]]
    assert 'pip install --quiet -e ".[dev]"' in ci


def _write_langgraph_connector(path: Path, url: str) -> None:
    ConnectorStore(path).create(
        {
            "name": "LangGraph Dev",
            "type": "langgraph",
            "baseUrl": url,
            "config": {"assistantId": "agent"},
        }
    )


def test_the_test_snippet_passes(
    pytester: pytest.Pytester, langgraph_server: LangGraphDevServer
) -> None:
    _write_langgraph_connector(pytester.path / "data" / "connectors.json", langgraph_server.url)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_snippet=block("python", "def test_remembers_the_users_name"))
    result = pytester.runpytest("--connector", "LangGraph Dev", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_library_snippet_runs(tmp_path: Path, langgraph_server: LangGraphDevServer) -> None:
    connectors = tmp_path / "connectors.json"
    _write_langgraph_connector(connectors, langgraph_server.url)
    snippet = block("python", "result = invoke_connector(")
    env = {**os.environ, "PYTEST_CONNECTORS_FILE": str(connectors)}
    run = subprocess.run(
        [sys.executable, "-c", snippet], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert "The weather in Paris is sunny, 21°C." in run.stdout
    assert "get_weather {'city': 'Paris'}" in run.stdout


def test_the_cli_snippet_runs(
    tmp_path: Path, http_agent_server: UvicornServer, http_agent_token: str
) -> None:
    script = block("bash", 'pytest-connectors create --name "Support bot"')
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "SUPPORT_BOT_URL": http_agent_server.url,
        "SUPPORT_BOT_TOKEN": http_agent_token,
    }
    env.pop("PYTEST_CONNECTORS_FILE", None)
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "OK  Support bot answered" in run.stdout
    assert "Your name is Ada." in run.stdout
    assert http_agent_token not in run.stdout + run.stderr
    assert "${SUPPORT_BOT_TOKEN}" in run.stdout  # the list shows references as written


def test_the_connector_file_sample_loads(tmp_path: Path) -> None:
    sample = block("json", '"assistantId"')
    (connector,) = parse_connectors(sample.encode(), tmp_path / "sample.json")
    assert connector.name == "LangGraph Dev"
    assert json.loads(sample)[0]["config"]["launch"] == "../langgraph_agent"


def test_the_tool_call_diff_sample_is_what_the_helper_prints() -> None:
    sample = block("text", "tool calls do not match (match='strict'").rstrip("\n")
    actual = [ToolCall(name="get_weather", args={"city": "Paris"})]
    with pytest.raises(AssertionError) as failure:
        assert_tool_calls(actual, [{"name": "get_weather", "args": {"city": "Rome"}}])
    assert str(failure.value) == sample


def test_the_docs_say_what_pytest_reports_when_an_agent_cannot_start() -> None:
    """tests/test_plugin_fixtures.py shows the tests error at setup: the docs must agree."""
    section = text("docs/connectors.md").split("## Launched servers", 1)[1].split("\n## ", 1)[0]
    sentence = " ".join(section.split())
    assert "If it cannot start, the tests that need it are reported as errors" in sentence
    assert "agent-logs/<connector>.log" in sentence


def test_the_launch_sample_is_the_example_http_agents() -> None:
    sample = json.loads("{" + block("json", '"command"') + "}")["launch"]
    LaunchConfig.model_validate(sample)
    examples = json.loads((ROOT / "examples" / "data" / "connectors.json").read_text())
    (http,) = [c for c in examples if c["name"] == "HTTP Agent"]
    assert {**http["config"]["launch"], "timeout": 60000, "reuseExisting": True} == sample


def test_the_prepare_hook_snippet_runs(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    http_agent_server: UvicornServer,
    http_agent_token: str,
) -> None:
    monkeypatch.setenv("SANDBOX_URL", http_agent_server.url)
    monkeypatch.setenv("BOT_TOKEN", http_agent_token)
    ConnectorStore(pytester.path / "data" / "connectors.json").create(
        {
            "name": "Staging bot",
            "type": "http",
            "baseUrl": "http://127.0.0.1:9",
            "authType": "bearer",
            "authValue": "${BOT_TOKEN}",
            "config": {"path": "/v1/chat/completions"},
        }
    )
    snippet = block("python", "def pytest_connectors_prepare")
    pytester.makeconftest(
        "import os\n\ndef start_my_sandbox():\n    return os.environ['SANDBOX_URL']\n\n" + snippet
    )
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        "def test_it(conversation):\n    assert conversation.send('hi').text == 'You said: hi'\n"
    )
    result = pytester.runpytest("--connector", "Staging bot", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_library_import_list_imports() -> None:
    names: dict[str, object] = {}
    exec(block("python", "from pytest_connectors import (\n    create_connector"), names)
    assert callable(names["atest_connector"])


def test_the_simulated_user_snippet_is_the_examples_own() -> None:
    """The README's simulated-user test is run by the example suite, line for line."""
    snippet = blocks("python", "conversation.simulate(")[0]
    example = (ROOT / "examples" / "test_simulated_users.py").read_text(encoding="utf-8")
    body = snippet.split("def test_a_simulated_user_reaches_its_goal(conversation):\n")[1]
    for line in body.split("\n\n\n")[0].splitlines():
        if "assert_criteria(simulation" in line:
            continue  # the README shortens the criteria
        assert line in example, line
    marked = '@pytest.mark.scenario(path="scenarios")\ndef test_scenarios(conversation, scenario):'
    assert marked in snippet
    assert marked in example
