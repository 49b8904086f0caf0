"""The Langfuse connector against the Langfuse fake: sessions become conversations, generations
and tool observations become turns, through the library and the CLI, with the secret key kept."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from quiet_imports import importorskip_keeping_logging

from pytest_connectors import Imports
from pytest_connectors.cli.main import main
from pytest_connectors.fakes.langfuse import PUBLIC_KEY, SECRET_KEY, LangfuseServer, iso
from pytest_connectors.imports.conversations import derive_conversations
from pytest_connectors.imports.provider import ProviderError, Window
from pytest_connectors.imports.providers.langfuse.provider import LangfuseProvider


def _at(base: datetime, seconds: float) -> str:
    return iso(base + timedelta(seconds=seconds))


def openai_turn(
    trace_id: str, base: datetime, *, session: str | None, question: str, city: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A turn as Langfuse's OpenAI integration writes it: a generation asking for a tool, the
    tool's observation, and a generation answering with the result in its input."""
    call = {
        "id": f"call-{trace_id}",
        "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": city})},
    }
    asked = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}]
    tool_message = {"role": "tool", "tool_call_id": call["id"], "content": "18C sunny"}
    trace = {
        "id": trace_id,
        "timestamp": _at(base, 0),
        "name": "chat",
        "sessionId": session,
        "userId": "user-7",
        "input": question,
        "output": f"Sunny in {city}.",
    }
    observations = [
        {
            "id": f"{trace_id}-g1",
            "type": "GENERATION",
            "name": "OpenAI-generation",
            "startTime": _at(base, 0.1),
            "endTime": _at(base, 0.9),
            "model": "gpt-4o-mini",
            "input": asked,
            "output": {"role": "assistant", "content": None, "tool_calls": [call]},
        },
        {
            "id": f"{trace_id}-t1",
            "type": "TOOL",
            "name": "get_weather",
            "startTime": _at(base, 1.0),
            "endTime": _at(base, 1.1),
            "input": {"city": city},
            "output": "18C sunny",
        },
        {
            "id": f"{trace_id}-g2",
            "type": "GENERATION",
            "name": "OpenAI-generation",
            "startTime": _at(base, 1.2),
            "endTime": _at(base, 1.9),
            "input": [*asked, {"role": "assistant", "tool_calls": [call]}, tool_message],
            "output": {"role": "assistant", "content": f"Sunny in {city}."},
        },
    ]
    return trace, observations


def langchain_failing_turn(trace_id: str, base: datetime) -> tuple[dict[str, Any], list[Any]]:
    """A LangChain-handler turn (``type`` messages, ``name``/``args`` tool calls) whose tool
    failed (``level: ERROR``); it has no session, so it is a conversation of its own."""
    trace = {"id": trace_id, "timestamp": _at(base, 0), "name": "LangGraph", "input": None}
    observations = [
        {
            "id": f"{trace_id}-g1",
            "type": "GENERATION",
            "name": "ChatOpenAI",
            "startTime": _at(base, 0.1),
            "endTime": _at(base, 0.5),
            "input": [{"type": "human", "content": "Book a table for two"}],
            "output": {
                "type": "ai",
                "content": "",
                "tool_calls": [{"id": "c1", "name": "book", "args": {"people": 2}}],
            },
        },
        {
            "id": f"{trace_id}-t1",
            "type": "SPAN",
            "name": "book",
            "startTime": _at(base, 0.6),
            "endTime": _at(base, 0.7),
            "level": "ERROR",
            "statusMessage": "restaurant API unreachable",
        },
    ]
    return trace, observations


def seed(server: LangfuseServer) -> None:
    """A two-turn session and a failing turn without a session, within the last hour."""
    base = datetime.now(UTC) - timedelta(hours=1)
    fake = server.fake
    fake.add_trace(*openai_turn("tr-1", base, session="s-1", question="Paris?", city="Paris"))
    later = base + timedelta(minutes=1)
    fake.add_trace(*openai_turn("tr-2", later, session="s-1", question="Tokyo?", city="Tokyo"))
    fake.add_trace(*langchain_failing_turn("tr-3", base + timedelta(minutes=2)))


def create_input(server: LangfuseServer, **config: str) -> dict[str, Any]:
    return {
        "agentId": "agt_1",
        "name": "Langfuse prod",
        "category": "llm-tracing",
        "provider": "langfuse",
        "config": {
            "publicKey": PUBLIC_KEY,
            "secretKey": SECRET_KEY,
            "baseUrl": server.url,
            **config,
        },
    }


def test_sessions_become_conversations_and_observations_turns(
    langfuse_fake: LangfuseServer, tmp_path: Path
) -> None:
    seed(langfuse_fake)
    with Imports(str(tmp_path / "imports.db")) as imports:
        connector = imports.connectors.create(create_input(langfuse_fake))
        assert connector.config["secretKey"] == "****"
        assert connector.config["publicKey"] == PUBLIC_KEY
        result = imports.connectors.connect(connector.id)
        job = imports.jobs.wait(result.job.id, timeout=120)
        assert job.status.value == "succeeded", job.error
        assert (job.stats.fetched, job.stats.created) == (3, 3)
        conversations = {
            c.thread_key: c for c in imports.conversations.list(connector=connector.id).items
        }
        shown = [repr(connector), repr(job), repr(conversations)]
    assert set(conversations) == {"s-1", "tr-3"}

    paris, tokyo = conversations["s-1"].turns
    assert paris.user_messages == ["Paris?"] and tokyo.user_messages == ["Tokyo?"]
    [call] = paris.tool_calls
    assert (call.name, call.args, call.result) == ("get_weather", {"city": "Paris"}, "18C sunny")
    assert paris.answer == "Sunny in Paris." and paris.error is None
    assert tokyo.tool_calls[0].args == {"city": "Tokyo"}

    [failed] = conversations["tr-3"].turns
    assert failed.user_messages == ["Book a table for two"]
    assert [(c.name, c.args) for c in failed.tool_calls] == [("book", {"people": 2})]
    assert failed.error == "book: restaurant API unreachable"
    assert not any(SECRET_KEY in text for text in shown)


def test_cli_create_connect_wait_and_show_without_the_secret(
    langfuse_fake: LangfuseServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(langfuse_fake)
    monkeypatch.chdir(tmp_path)
    outputs: list[str] = []

    def cli(*argv: str, stdin: str = "") -> tuple[int, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            code = main([*argv, "--db", str(tmp_path / "imports.db")])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        outputs.extend([out, err])
        return code, out + err

    code, out = cli(
        "imports", "create", "--agent", "agt_1", "--name", "Langfuse prod",
        "--category", "llm-tracing", "--provider", "langfuse", "--provider-key", "-",
        "--config", f"publicKey={PUBLIC_KEY}", "--config", f"baseUrl={langfuse_fake.url}",
        "--json",
        stdin=SECRET_KEY + "\n",
    )  # fmt: skip
    assert code == 0, out
    assert json.loads(out)["config"]["secretKey"] == "****"

    code, out = cli("imports", "connect", "Langfuse prod", "--wait")
    assert code == 0, out
    assert "succeeded: 3 fetched, 3 created" in out
    code, out = cli("conversations", "list", "--connector", "Langfuse prod", "--json")
    session = next(c for c in json.loads(out)["items"] if c["threadKey"] == "s-1")
    code, out = cli("conversations", "show", session["id"])
    assert code == 0
    assert "user: Paris?" in out
    assert 'tool: get_weather({"city": "Paris"}) -> 18C sunny' in out
    assert "assistant: Sunny in Tokyo." in out

    code, out = cli("imports", "sync", "Langfuse prod", "--wait")
    assert code == 0, out
    # A new key goes where this provider keeps it: secretKey, not LangSmith's apiKey.
    code, out = cli(
        "imports", "update", "Langfuse prod", "--provider-key", "-", "--json",
        stdin=SECRET_KEY + "\n",
    )  # fmt: skip
    assert code == 0, out
    assert json.loads(out)["config"] == {
        "publicKey": PUBLIC_KEY,
        "secretKey": "****",
        "baseUrl": langfuse_fake.url,
    }
    assert not any(SECRET_KEY in text for text in outputs)


def _window() -> Window:
    now = datetime.now(UTC)
    return Window(now - timedelta(days=1), now + timedelta(minutes=1))


def _provider(server: LangfuseServer, delays: list[float], **kwargs: Any) -> LangfuseProvider:
    return LangfuseProvider(
        public_key=PUBLIC_KEY,
        secret_key=SECRET_KEY,
        base_url=server.url,
        sleep=delays.append,
        **kwargs,
    )


def test_429_is_retried_after_the_wait_langfuse_asks_for(langfuse_fake: LangfuseServer) -> None:
    seed(langfuse_fake)
    langfuse_fake.fake.fail_next("/traces", 429, retry_after="7")
    langfuse_fake.fake.fail_next("/traces/", 503)
    delays: list[float] = []
    with _provider(langfuse_fake, delays) as provider:
        fetched = [r.provider_id for page in provider.fetch(_window()) for r in page.records]
    assert fetched == ["tr-1", "tr-2", "tr-3"]
    assert delays[0] == 7.0 and len(delays) == 2
    listed = [line for line in langfuse_fake.fake.requests if line.startswith("GET /traces?")]
    assert len(listed) == 2


def test_pages_follow_total_pages_and_resume_from_a_checkpoint(
    langfuse_fake: LangfuseServer,
) -> None:
    base = datetime.now(UTC) - timedelta(hours=2)
    for n in range(130):
        langfuse_fake.fake.add_trace({"id": f"t{n:03}", "timestamp": _at(base, n), "output": "ok"})
    window = _window()
    with _provider(langfuse_fake, []) as provider:
        pages = list(provider.fetch(window))
        assert [len(p.records) for p in pages] == [100, 30]
        resumed = list(provider.fetch(window, resume_from=pages[0].checkpoint))
    assert [r.provider_id for r in resumed[0].records] == [f"t{n:03}" for n in range(100, 130)]


def test_a_bad_trace_is_skipped_and_counted(langfuse_fake: LangfuseServer, tmp_path: Path) -> None:
    seed(langfuse_fake)
    langfuse_fake.fake.raw_traces += [{"id": "no-time"}, "not a trace"]
    with Imports(str(tmp_path / "imports.db")) as imports:
        connector = imports.connectors.create(create_input(langfuse_fake))
        job = imports.jobs.wait(imports.connectors.connect(connector.id).job.id, timeout=120)
    assert job.status.value == "succeeded", job.error
    assert job.stats.created == 3
    assert job.stats.skipped == {"no_start_time": 1, "not_an_object": 1}


def test_rejected_keys_fail_at_once_without_showing_the_secret(
    langfuse_fake: LangfuseServer,
) -> None:
    wrong = "sk-lf-wrong-0000000000000000"
    with (
        LangfuseProvider(
            public_key=PUBLIC_KEY, secret_key=wrong, base_url=langfuse_fake.url
        ) as provider,
        pytest.raises(ProviderError) as caught,
    ):
        list(provider.fetch(_window()))
    assert caught.value.code == "auth_failed" and not caught.value.transient
    assert wrong not in str(caught.value) and wrong not in repr(provider)


def test_the_langfuse_sdk_reaches_the_fake_with_its_basic_auth(
    langfuse_fake: LangfuseServer,
) -> None:
    """The SDK 5.x API client lists neither traces nor v1 observations (only cursor-based v2
    ones), so what it can check is the host, the path prefix and the auth the fake expects."""
    api = importorskip_keeping_logging("langfuse.api")
    with httpx.Client(timeout=30) as http:
        client = api.LangfuseAPI(
            base_url=langfuse_fake.url, username=PUBLIC_KEY, password=SECRET_KEY, httpx_client=http
        )
        assert client.health.health().status == "OK"
    assert langfuse_fake.fake.requests == ["GET /health?"]


def test_a_trace_whose_observations_are_still_open_stays_pending_until_they_land(
    langfuse_fake: LangfuseServer,
) -> None:
    base = datetime.now(UTC) - timedelta(minutes=30)
    trace, observations = openai_turn("tr-late", base, session="s-9", question="Rome?", city="Rome")
    answering = observations.pop()
    langfuse_fake.fake.add_trace(trace, [*observations, {**answering, "endTime": None}])
    with _provider(langfuse_fake, []) as provider:
        [first] = [r for page in provider.fetch(_window()) for r in page.records]
        langfuse_fake.fake.observations["tr-late"].pop()
        langfuse_fake.fake.add_observation("tr-late", answering)
        [again] = [r for page in provider.fetch(_window()) for r in page.records]
    assert first.pending and not again.pending
    turn = derive_conversations([again.payload])[0].turns[0]
    assert turn.answer == "Sunny in Rome." and not turn.pending


def _stored_rows(db: Path) -> list[tuple[Any, ...]]:
    """Every imported trace and conversation row as stored, write times included."""
    with sqlite3.connect(db) as connection:
        traces = connection.execute(
            "SELECT provider_id, updated_at, content_hash FROM imported_traces ORDER BY 1"
        ).fetchall()
        conversations = connection.execute(
            "SELECT id, updated_at FROM conversations ORDER BY 1"
        ).fetchall()
    return [*traces, *conversations]


def _details_read(server: LangfuseServer) -> set[str]:
    return {
        line.split("?")[0].removeprefix("GET /traces/")
        for line in server.fake.requests
        if line.startswith("GET /traces/")
    }


def test_a_resync_of_an_unchanged_window_reads_no_trace_again_and_writes_nothing(
    langfuse_fake: LangfuseServer, tmp_path: Path
) -> None:
    seed(langfuse_fake)
    db = tmp_path / "imports.db"
    window = _window()
    with Imports(str(db)) as imports:
        connector = imports.connectors.create(create_input(langfuse_fake))
        first = imports.jobs.wait(imports.connectors.connect(connector.id).job.id, timeout=120)
        assert first.status.value == "succeeded", first.error
        assert _details_read(langfuse_fake) == {"tr-1", "tr-2", "tr-3"}
        stored = _stored_rows(db)
        langfuse_fake.fake.requests.clear()
        again = imports.connectors.sync(connector.id, from_=window.start, to=window.end)
        again = imports.jobs.wait(again.id, timeout=120)
        assert again.status.value == "succeeded", again.error
        assert len(imports.conversations.list(connector=connector.id).items) == 2
    assert _details_read(langfuse_fake) == set()
    assert any(line.startswith("GET /traces?") for line in langfuse_fake.fake.requests)
    assert (again.stats.created, again.stats.updated, again.stats.marked_missing) == (0, 0, 0)
    assert again.stats.unchanged == 3
    assert _stored_rows(db) == stored


def test_a_resync_reads_again_the_traces_updated_since_and_those_still_pending(
    langfuse_fake: LangfuseServer, tmp_path: Path
) -> None:
    seed(langfuse_fake)
    base = datetime.now(UTC) - timedelta(minutes=30)
    trace, observations = openai_turn("tr-open", base, session="s-9", question="Rome?", city="Rome")
    answering = observations.pop()
    langfuse_fake.fake.add_trace(trace, [*observations, {**answering, "endTime": None}])
    window = _window()
    with Imports(str(tmp_path / "imports.db")) as imports:
        connector = imports.connectors.create(create_input(langfuse_fake))
        first = imports.jobs.wait(imports.connectors.connect(connector.id).job.id, timeout=120)
        assert first.status.value == "succeeded", first.error
        late = {
            "id": "tr-2-late",
            "type": "SPAN",
            "name": "rate",
            "startTime": _at(base, 5),
            "endTime": _at(base, 6),
            "level": "ERROR",
            "statusMessage": "rating service down",
        }
        langfuse_fake.fake.add_observation("tr-2", late)
        langfuse_fake.fake.requests.clear()
        again = imports.connectors.sync(connector.id, from_=window.start, to=window.end)
        again = imports.jobs.wait(again.id, timeout=120)
        [conversation] = [
            c
            for c in imports.conversations.list(connector=connector.id).items
            if c.thread_key == "s-1"
        ]
    assert again.status.value == "succeeded", again.error
    # tr-2 gained an observation; tr-open is stored pending, so it is read whatever its listing
    assert _details_read(langfuse_fake) == {"tr-2", "tr-open"}
    assert again.stats.updated == 1 and again.stats.unchanged == 3
    assert conversation.turns[1].error == "rate: rating service down"
