"""The connector fixtures against real agents (langgraph dev and the example HTTP agent).

Each test writes a user's project with pytester (an ini file and data/connectors.json pointing
at the session's servers), runs pytest on it and checks what a user would see. LangGraph runs
take about a second each, so the HTTP agent is used wherever the connector type does not matter.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from children import python_path
from pytester_ini import write_ini

from pytest_connectors import ConnectorStore
from pytest_connectors.servers.launch import LangGraphDevServer, UvicornServer


def connectors_path(pytester: pytest.Pytester) -> Path:
    return pytester.path / "data" / "connectors.json"


@pytest.fixture(autouse=True)
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_CONNECTORS_FILE", raising=False)
    write_ini(pytester)


@pytest.fixture
def http_agent(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    http_agent_server: UvicornServer,
    http_agent_token: str,
) -> str:
    """An "HTTP Agent" connector whose bearer token comes from ${AGENT_TOKEN}."""
    monkeypatch.setenv("AGENT_TOKEN", http_agent_token)
    ConnectorStore(connectors_path(pytester)).create(
        {
            "name": "HTTP Agent",
            "type": "http",
            "baseUrl": http_agent_server.url,
            "authType": "bearer",
            "authValue": "${AGENT_TOKEN}",
            "config": {"method": "POST", "path": "/v1/chat/completions", "timeout": 10_000},
        }
    )
    return "HTTP Agent"


@pytest.fixture
def langgraph_agent(pytester: pytest.Pytester, langgraph_server: LangGraphDevServer) -> str:
    ConnectorStore(connectors_path(pytester)).create(
        {
            "name": "LangGraph Dev",
            "type": "langgraph",
            "baseUrl": langgraph_server.url,
            "config": {"assistantId": "agent"},
        }
    )
    return "LangGraph Dev"


# --- conversations -------------------------------------------------------------------------


def test_langgraph_conversation_transcript_tools_thread_and_memory(
    pytester: pytest.Pytester, langgraph_agent: str
) -> None:
    threads = pytester.path / "threads.txt"
    pytester.makepyfile(
        f"""
        from pytest_connectors import ConnectorInvokeResult

        THREADS = {str(threads)!r}

        def remember(thread_id):
            with open(THREADS, "a") as f:
                f.write(thread_id + "\\n")

        def test_weather_turn(conversation):
            reply = conversation.send("What's the weather in Paris?")
            assert isinstance(reply, ConnectorInvokeResult)
            assert reply.success
            assert reply.text == "The weather in Paris is sunny, 21°C."
            roles = [m.role for m in conversation.messages]
            assert roles == ["user", "assistant", "tool", "assistant"]
            user, call, tool, answer = conversation.messages
            assert user.text == "What's the weather in Paris?"
            assert call.tool_calls[0].name == "get_weather"
            assert tool.tool_call_id == call.tool_calls[0].id
            assert tool.text == "Sunny, 21°C in Paris"
            assert answer.text == reply.text
            assert [(c.name, c.args) for c in conversation.tool_calls] == [
                ("get_weather", {{"city": "Paris"}})
            ]
            assert conversation.thread_id and reply.thread_id == conversation.thread_id
            assert len(conversation.latencies_ms) == 1 and conversation.latencies_ms[0] > 0
            remember(conversation.thread_id)

        def test_memory(conversation):
            conversation.send("My name is Ada")
            second = conversation.send("What is my name?")
            assert second.text == "Your name is Ada."
            assert [m.text for m in conversation.messages] == [
                "My name is Ada", "Nice to meet you, Ada.", "What is my name?", "Your name is Ada."
            ]
            assert {{r.thread_id for r in conversation.results}} == {{conversation.thread_id}}
            assert len(conversation.latencies_ms) == 2
            assert conversation.tool_calls == []
            remember(conversation.thread_id)
        """
    )
    result = pytester.runpytest("--connector", langgraph_agent, "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*::test_weather_turn?LangGraph Dev? PASSED*", "*::test_memory?LangGraph Dev? PASSED*"]
    )
    first, second = threads.read_text().split()
    assert first != second  # one thread per test


def test_http_conversation_sends_the_whole_history(
    pytester: pytest.Pytester, http_agent: str
) -> None:
    pytester.makepyfile(
        """
        def test_memory(conversation):
            assert conversation.send("hello").text == "You said: hello"
            conversation.send("My name is Ada")
            assert conversation.send("What is my name?").text == "Your name is Ada."
            # The agent counts what it was sent: the whole transcript, every turn.
            assert conversation.send("how many messages?").text == "This thread holds 7 messages."
            assert [m.role for m in conversation.messages] == ["user", "assistant"] * 4
            assert conversation.thread_id is None
            assert len(conversation.latencies_ms) == 4

        def test_tool_call_turn(conversation):
            reply = conversation.send("What's the weather in Tokyo?")
            assert reply.success
            assert [m.role for m in conversation.messages] == ["user", "assistant"]
            assert [(c.name, c.args) for c in conversation.tool_calls] == [
                ("get_weather", {"city": "Tokyo"})
            ]
            assert conversation.last is reply
        """
    )
    result = pytester.runpytest("--connector", http_agent)
    result.assert_outcomes(passed=2)


# --- failed calls --------------------------------------------------------------------------


def test_a_failed_langgraph_call_fails_the_test_with_the_agents_error(
    pytester: pytest.Pytester, langgraph_agent: str
) -> None:
    pytester.makepyfile(
        """
        def test_fails(conversation):
            conversation.send("please fail")
        """
    )
    result = pytester.runpytest("--connector", langgraph_agent)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*connector 'LangGraph Dev' failed on turn 1 ('please fail'): "
            "RuntimeError: the agent failed on purpose",
            "*pass check=False to send() to inspect failures instead",
        ]
    )


def test_a_failed_http_call_fails_the_test_naming_turn_and_connector(
    pytester: pytest.Pytester, http_agent: str
) -> None:
    pytester.makepyfile(
        """
        from pytest_connectors import ConnectorCallFailed

        def test_fails_on_turn_two(conversation):
            conversation.send("hello")
            conversation.send("please fail")

        def test_check_false_returns_the_failure(conversation):
            reply = conversation.send("please fail", check=False)
            assert not reply.success
            assert reply.error == "HTTP 500: the agent failed on purpose"
            assert reply.status_code == 500
            assert conversation.send("hello again").text == "You said: hello again"

        def test_the_failure_is_an_assertion_error(conversation):
            try:
                conversation.send("please fail")
            except AssertionError as exc:
                assert isinstance(exc, ConnectorCallFailed)
                assert exc.connector == "HTTP Agent" and exc.turn == 1
                assert not exc.result.success
            else:
                raise AssertionError("send() did not raise")
        """
    )
    result = pytester.runpytest("--connector", http_agent)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "_*test_fails_on_turn_two?HTTP Agent? _*",
            "*connector 'HTTP Agent' failed on turn 2 ('please fail'): "
            "HTTP 500: the agent failed on purpose",
        ]
    )
    result.stdout.fnmatch_lines(["*latency * ms, 1 attempt(s)"])


# --- invoke_connector ----------------------------------------------------------------------


INVOKE_SUITE = """
import uuid

from pytest_connectors import Message
from pytest_connectors.wire.langgraph import thread_id_for

def test_text(invoke_connector):
    reply = invoke_connector("hi")
    assert reply.success and reply.text == "You said: hi"

def test_list_of_messages(invoke_connector):
    reply = invoke_connector(
        [
            {"role": "user", "content": "My name is Ada"},
            Message(role="assistant", content="Nice to meet you, Ada."),
            {"role": "user", "content": "What is my name?"},
        ]
    )
    assert reply.text == "Your name is Ada."

def test_failure_is_returned_not_raised(invoke_connector):
    reply = invoke_connector("please fail")
    assert not reply.success
    assert "failed on purpose" in reply.error
"""


def test_invoke_connector_on_the_http_agent(pytester: pytest.Pytester, http_agent: str) -> None:
    pytester.makepyfile(INVOKE_SUITE)
    pytester.runpytest("--connector", http_agent).assert_outcomes(passed=3)


def test_invoke_connector_run_id_keeps_a_langgraph_thread_of_its_own(
    pytester: pytest.Pytester, langgraph_agent: str
) -> None:
    pytester.makepyfile(
        """
        from pytest_connectors.wire.langgraph import thread_id_for

        def test_run_id(invoke_connector):
            invoke_connector("My name is Ada", run_id="my-run")
            question = [{"role": "user", "content": "What is my name?"}]
            reply = invoke_connector(question, run_id="my-run")
            assert reply.text == "Your name is Ada."
            # Not the library's thread for "my-run": that one belongs to whoever names it.
            assert reply.thread_id != thread_id_for("my-run")
        """
    )
    pytester.runpytest("--connector", langgraph_agent).assert_outcomes(passed=1)


FIXED_RUN_ID_SUITE = """
import pytest

@pytest.mark.parametrize("n", [1, 2])
def test_fixed_run_id(invoke_connector, n):
    invoke_connector("My name is Ada", run_id="ticket-42")
    reply = invoke_connector("how many messages", run_id="ticket-42")
    assert reply.text == "This thread holds 3 messages."
"""


def test_a_fixed_run_id_passes_again_against_the_same_server(
    pytester: pytest.Pytester, langgraph_agent: str
) -> None:
    """Two tests share the run id, and the suite runs twice against one long-lived server."""
    pytester.makepyfile(FIXED_RUN_ID_SUITE)
    pytester.runpytest("--connector", langgraph_agent).assert_outcomes(passed=2)
    pytester.runpytest("--connector", langgraph_agent).assert_outcomes(passed=2)


def test_tests_sharing_a_run_id_pass_under_xdist(
    pytester: pytest.Pytester, langgraph_agent: str
) -> None:
    pytester.makepyfile(FIXED_RUN_ID_SUITE)
    result = pytester.runpytest_subprocess("--connector", langgraph_agent, "-n", "2")
    result.assert_outcomes(passed=2)


def test_thread_id_reaches_a_given_thread_across_tests(
    pytester: pytest.Pytester, langgraph_agent: str
) -> None:
    shared = f"shared-{uuid.uuid4()}"
    pytester.makepyfile(
        f"""
        import pytest
        from pytest_connectors.wire.langgraph import thread_id_for

        def test_a_writes(invoke_connector):
            reply = invoke_connector("My name is Ada", thread_id={shared!r})
            assert reply.thread_id == thread_id_for({shared!r})

        def test_b_reads(invoke_connector):
            reply = invoke_connector("What is my name?", thread_id={shared!r})
            assert reply.text == "Your name is Ada."

        def test_not_both(invoke_connector):
            with pytest.raises(TypeError, match="not both"):
                invoke_connector("hi", run_id="a", thread_id="b")
        """
    )
    pytester.runpytest("--connector", langgraph_agent, "-p", "no:randomly").assert_outcomes(
        passed=3
    )


# --- async tests ---------------------------------------------------------------------------


def test_async_tests_await_conversation_and_invoker(
    pytester: pytest.Pytester, http_agent: str, langgraph_agent: str
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_asend(conversation):
            await conversation.asend("My name is Ada")
            reply = await conversation.asend("What is my name?")
            assert reply.text == "Your name is Ada."
            assert len(conversation.messages) == 4
            assert len(conversation.latencies_ms) == 2

        @pytest.mark.asyncio
        async def test_ainvoke(invoke_connector):
            reply = await invoke_connector.ainvoke("hi")
            assert reply.text == "You said: hi"

        @pytest.mark.asyncio
        async def test_asend_failure_fails(conversation):
            await conversation.asend("please fail")
        """
    )
    result = pytester.runpytest("--connector", http_agent, "--connector", langgraph_agent, "-v")
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*::test_asend?HTTP Agent? PASSED*",
            "*::test_asend?LangGraph Dev? PASSED*",
            "*::test_ainvoke?HTTP Agent? PASSED*",
            "*::test_ainvoke?LangGraph Dev? PASSED*",
            "*connector 'LangGraph Dev' failed on turn 1 ('please fail'): RuntimeError: *",
            "*connector 'HTTP Agent' failed on turn 1 ('please fail'): HTTP 500: *",
        ]
    )


# --- latency budgets -----------------------------------------------------------------------


def test_latency_max_ms_fails_the_test_listing_every_slow_call(
    pytester: pytest.Pytester, http_agent: str
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.latency(max_ms=150)
        def test_too_slow(conversation):
            conversation.send("sleep 400")
            conversation.send("hello")
            conversation.send("sleep 300")

        @pytest.mark.latency(max_ms=60_000)
        def test_generous_budget(conversation):
            conversation.send("sleep 50")

        @pytest.mark.latency(max_ms=150)
        def test_invoker_too_slow(invoke_connector):
            invoke_connector("sleep 300")
        """
    )
    result = pytester.runpytest("--connector", http_agent, "-rA")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*latency budget exceeded:",
            "  turn 1 on 'HTTP Agent': * ms > max_ms 150",
            "  turn 3 on 'HTTP Agent': * ms > max_ms 150",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*latency budget exceeded:", "  turn 1 on 'HTTP Agent': * ms > max_ms 150"]
    )
    result.stdout.no_fnmatch_line("*turn 2 on 'HTTP Agent'*")
    # Only the failure reports: with CI set, pytest repeats whole messages in the summary.
    failures = "\n".join(result.outlines).split("short test summary info")[0]
    over = [
        float(line.split(": ")[1].split(" ms")[0])
        for line in failures.splitlines()
        if line.startswith("  turn ") and "> max_ms 150" in line
    ]
    assert len(over) == 3 and min(over) >= 300
    result.stdout.fnmatch_lines(
        [
            "FAILED *::test_too_slow?HTTP Agent?*",
            "FAILED *::test_invoker_too_slow?HTTP Agent?*",
        ]
    )


def test_latency_p95_ms(pytester: pytest.Pytester, http_agent: str) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.latency(p95_ms=150)
        def test_p95_over(conversation):
            conversation.send("hello")
            conversation.send("sleep 300")

        @pytest.mark.latency(p95_ms=60_000)
        def test_p95_within(conversation):
            conversation.send("sleep 20")
            conversation.send("hello")
        """
    )
    result = pytester.runpytest("--connector", http_agent)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*latency budget exceeded:",
            "  p95 on 'HTTP Agent': * ms > p95_ms 150 over 2 calls (over budget: turn 2 * ms)",
        ]
    )


# --- connector problems --------------------------------------------------------------------


def test_an_unset_variable_fails_the_call_naming_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, http_agent: str
) -> None:
    monkeypatch.delenv("AGENT_TOKEN")
    pytester.makepyfile(
        """
        def test_send(conversation):
            conversation.send("hello")
        """
    )
    result = pytester.runpytest("--connector", http_agent)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*connector 'HTTP Agent' refers to ${AGENT_TOKEN}, but the environment variable "
            "AGENT_TOKEN is not set; export it and retry"
        ]
    )


def test_a_launch_folder_without_langgraph_json_fails_the_connector_fixture(
    pytester: pytest.Pytester,
) -> None:
    pytester.mkdir("not_an_agent")
    ConnectorStore(connectors_path(pytester)).create(
        {
            "name": "Managed",
            "type": "langgraph",
            "baseUrl": "http://127.0.0.1:9",
            "config": {"assistantId": "agent", "launch": "../not_an_agent"},
        }
    )
    pytester.makepyfile("def test_it(connector): pass")
    result = pytester.runpytest("--connector", "Managed")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*connector 'Managed': config.launch points at *not_an_agent, which holds no "
            "langgraph.json"
        ]
    )


def test_a_managed_server_that_cannot_start_is_tried_once_per_session(
    pytester: pytest.Pytester,
) -> None:
    """Like a failing session fixture: later tests fail at once with the same error."""
    attempts = pytester.path / "attempts.txt"
    agent = pytester.mkdir("broken_agent")
    (agent / "langgraph.json").write_text(
        '{"dependencies": ["."], "graphs": {"agent": "./agent.py:graph"}}'
    )
    (agent / "agent.py").write_text(
        f"with open({str(attempts)!r}, 'a') as f:\n"
        "    f.write('start\\n')\n"
        "raise RuntimeError('this agent cannot load')\n"
    )
    ConnectorStore(connectors_path(pytester)).create(
        {
            "name": "Managed",
            "type": "langgraph",
            "baseUrl": "http://127.0.0.1:9",
            "config": {"assistantId": "agent", "launch": "../broken_agent"},
        }
    )
    pytester.makepyfile("def test_a(connector): pass\ndef test_b(connector): pass")
    result = pytester.runpytest("--connector", "Managed")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*langgraph dev did not start*", "*this agent cannot load*"])
    assert attempts.read_text().splitlines() == ["start"]


def test_an_agent_that_cannot_start_errors_its_tests_and_keeps_its_log(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tests never ran: errors at setup, as for any fixture that failed; the message
    points to the whole log, which can still be opened after the session."""
    boot = "import sys; print('loading the model failed: weights.bin is missing'); sys.exit(3)"
    ConnectorStore(connectors_path(pytester)).create(
        {
            "name": "Broken Agent",
            "type": "http",
            "baseUrl": "http://127.0.0.1:9",
            "config": {
                "path": "/v1/chat/completions",
                "launch": {"command": ["{python}", "-c", boot, "{port}"]},
            },
        }
    )
    pytester.makepyfile("def test_a(conversation): pass\ndef test_b(invoke_connector): pass")
    monkeypatch.setenv("PYTHONPATH", python_path())
    result = pytester.runpytest_subprocess("--connector", "Broken Agent")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_a*",
            "the agent of connector 'Broken Agent' did not start: the process exited with code 3*",
            "last log lines (the whole log: *agent-logs?Broken-Agent.log):",
            "loading the model failed: weights.bin is missing",
        ]
    )
    (log,) = re.findall(r"the whole log: (.+?)\):", result.stdout.str())[:1]
    assert "loading the model failed" in Path(log).read_text()


# --- pytest_connectors_prepare -------------------------------------------------------------


def test_a_project_prepares_a_connector_its_own_way_with_the_hook(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    http_agent_server: UvicornServer,
    http_agent_token: str,
) -> None:
    monkeypatch.setenv("AGENT_TOKEN", http_agent_token)
    monkeypatch.setenv("REAL_AGENT_URL", http_agent_server.url)
    store = ConnectorStore(connectors_path(pytester))
    for name in ("Hooked", "Refused"):
        store.create(
            {
                "name": name,
                "type": "http",
                "baseUrl": "http://127.0.0.1:9",  # nothing listens: the hook points it elsewhere
                "authType": "bearer",
                "authValue": "${AGENT_TOKEN}",
                "config": {"path": "/v1/chat/completions"},
            }
        )
    pytester.makeconftest(
        """
        import os

        from pytest_connectors import ConnectorError

        CALLS = []

        def pytest_connectors_prepare(connector, session, config):
            CALLS.append(connector.name)
            if connector.name == "Refused":
                raise ConnectorError("the lab is closed today")
            return connector.model_copy(update={"base_url": os.environ["REAL_AGENT_URL"]})

        def pytest_sessionfinish(session):
            print("prepared:", CALLS)
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", [1, 2])
        def test_hooked(conversation, n):
            assert conversation.send("hello").text == "You said: hello"

        @pytest.mark.connector("Refused")
        def test_refused(connector):
            pass
        """
    )
    result = pytester.runpytest("--connector", "Hooked", "-s")
    result.assert_outcomes(passed=2, errors=1)
    assert "prepared: ['Hooked', 'Refused']" in result.stdout.str()  # once per connector
    result.stdout.fnmatch_lines(["*ERROR at setup of test_refused*", "the lab is closed today"])
    result.stdout.no_fnmatch_line("During handling*")
