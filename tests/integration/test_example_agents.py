"""The example agents behave as documented when served for real (langgraph dev, uvicorn).

The connector tests rely on these behaviours, so they are pinned here against the raw APIs:
langgraph_sdk and plain httpx, without the package's own clients.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from pytest_connectors.servers.launch import LangGraphDevServer, UvicornServer

# --- LangGraph agent ------------------------------------------------------------------------


@pytest.fixture
def lg(langgraph_server: LangGraphDevServer) -> Iterator[SyncLangGraphClient]:
    with get_sync_client(url=langgraph_server.url, api_key=None) as client:
        yield client


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def ask(lg: SyncLangGraphClient, thread_id: str | None, text: str) -> list[dict[str, Any]]:
    """One turn; returns the thread's whole message history."""
    values = lg.runs.wait(thread_id, "agent", input=user(text))
    assert isinstance(values, dict)
    messages: list[dict[str, Any]] = values["messages"]
    return messages


def test_langgraph_echo_is_stateless_without_a_thread(lg: SyncLangGraphClient) -> None:
    messages = ask(lg, None, "hello")
    assert [(m["type"], m["content"]) for m in messages] == [
        ("human", "hello"),
        ("ai", "You said: hello"),
    ]


def test_langgraph_weather_turn_calls_the_tool(lg: SyncLangGraphClient) -> None:
    thread_id = lg.threads.create()["thread_id"]
    ask(lg, thread_id, "What's the weather in Paris?")
    state = lg.threads.get_state(thread_id)
    assert isinstance(state["values"], dict)
    human, call, result, answer = state["values"]["messages"]
    assert human["type"] == "human"
    assert call["type"] == "ai"
    [tool_call] = call["tool_calls"]
    assert tool_call["name"] == "get_weather"
    assert tool_call["args"] == {"city": "Paris"}
    assert tool_call["id"].startswith("call_")
    assert result["type"] == "tool"
    assert result["tool_call_id"] == tool_call["id"]
    assert result["content"] == "Sunny, 21°C in Paris"
    assert answer["type"] == "ai"
    assert answer["content"] == "The weather in Paris is sunny, 21°C."


def test_langgraph_remembers_within_a_thread_only(lg: SyncLangGraphClient) -> None:
    thread_id = lg.threads.create()["thread_id"]
    assert ask(lg, thread_id, "Hi, my name is Ada.")[-1]["content"] == "Nice to meet you, Ada."
    history = ask(lg, thread_id, "What is my name?")
    assert history[-1]["content"] == "Your name is Ada."
    assert ask(lg, thread_id, "how many messages?")[-1]["content"] == (
        "This thread holds 5 messages."
    )
    other = lg.threads.create()["thread_id"]
    assert ask(lg, other, "what is my name")[-1]["content"] == "I don't know your name yet."


def test_langgraph_sleep_takes_that_long(lg: SyncLangGraphClient) -> None:
    started = time.monotonic()
    assert ask(lg, None, "sleep 300")[-1]["content"] == "Slept 300 ms."
    assert time.monotonic() - started >= 0.3


def test_langgraph_failure_is_http_200_with_error_body(
    langgraph_server: LangGraphDevServer,
) -> None:
    response = httpx.post(
        f"{langgraph_server.url}/runs/wait",
        json={"assistant_id": "agent", "input": user("please fail")},
        timeout=30,
        trust_env=False,
    )
    assert response.status_code == 200
    assert response.json() == {
        "__error__": {"error": "RuntimeError", "message": "the agent failed on purpose"}
    }


# --- HTTP agent -----------------------------------------------------------------------------


@pytest.fixture
def http(http_agent_server: UvicornServer, http_agent_token: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {http_agent_token}"}
    with httpx.Client(
        base_url=http_agent_server.url, headers=headers, timeout=10, trust_env=False
    ) as client:
        yield client


def chat(http: httpx.Client, *messages: dict[str, Any]) -> dict[str, Any]:
    response = http.post("/v1/chat/completions", json={"model": "x", "messages": list(messages)})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["object"] == "chat.completion"
    [choice] = body["choices"]
    return dict(choice)


def say(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def test_http_health_needs_no_token(http_agent_server: UvicornServer) -> None:
    response = httpx.get(f"{http_agent_server.url}/healthz", trust_env=False)
    assert response.status_code == 200
    assert response.json() == {"ok": True}


def test_http_answers_the_connection_test_body(http: httpx.Client) -> None:
    body = {"message": "hello", "messages": [say("hello")]}
    response = http.post("/v1/chat/completions", json=body)
    assert response.json()["choices"][0]["message"] == {
        "role": "assistant",
        "content": "You said: hello",
    }


def test_http_weather_is_a_tool_call_then_an_answer(http: httpx.Client) -> None:
    first = chat(http, say("What's the weather in Paris?"))
    assert first["finish_reason"] == "tool_calls"
    assert first["message"]["content"] is None
    [call] = first["message"]["tool_calls"]
    assert call["id"].startswith("call_")
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}

    tool = {"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 21°C in Paris"}
    second = chat(http, say("What's the weather in Paris?"), first["message"], tool)
    assert second["finish_reason"] == "stop"
    assert second["message"]["content"] == "The weather in Paris is sunny, 21°C."


def test_http_memory_comes_from_the_history_sent(http: httpx.Client) -> None:
    greeting = chat(http, say("my name is Ada"))["message"]
    assert greeting["content"] == "Nice to meet you, Ada."
    answer = chat(http, say("my name is Ada"), greeting, say("What is my name?"))
    assert answer["message"]["content"] == "Your name is Ada."
    assert chat(http, say("what is my name"))["message"]["content"] == (
        "I don't know your name yet."
    )


def test_http_sleep_and_count(http: httpx.Client) -> None:
    started = time.monotonic()
    assert chat(http, say("sleep 200"))["message"]["content"] == "Slept 200 ms."
    assert time.monotonic() - started >= 0.2
    reply = chat(http, say("hi"), {"role": "assistant", "content": "yo"}, say("how many messages"))
    assert reply["message"]["content"] == "This thread holds 3 messages."


def test_http_failure_is_a_500(http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", json={"messages": [say("please fail")]})
    assert response.status_code == 500
    assert response.json() == {"detail": "the agent failed on purpose"}


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer wrong"}, {}])
def test_http_rejects_a_wrong_or_missing_token(
    http_agent_server: UvicornServer, http_agent_token: str, headers: dict[str, str]
) -> None:
    for path in ("/v1/chat/completions", "/shape/content"):
        response = httpx.post(
            f"{http_agent_server.url}{path}",
            json={"messages": [say("hello")]},
            headers=headers,
            trust_env=False,
        )
        assert response.status_code == 401
        assert response.json() == {"error": {"message": "invalid token"}}
        assert http_agent_token not in response.text


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"{}", b'{"messages": []}', b'{"messages": "hello"}', b'{"messages": [1]}'],
)
def test_http_rejects_a_bad_body(http: httpx.Client, body: bytes) -> None:
    response = http.post("/v1/chat/completions", content=body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


ASKED = [say("earlier"), {"role": "assistant", "content": "ok"}, say("héllo")]
SAID = "You said: héllo"


@pytest.mark.parametrize(
    ("shape", "content_type", "expected"),
    [
        ("message", "application/json", {"message": {"role": "assistant", "content": SAID}}),
        ("content", "application/json", {"content": SAID}),
        ("response", "application/json", {"response": SAID}),
        (
            "messages",
            "application/json",
            {"messages": [*ASKED, {"role": "assistant", "content": SAID}]},
        ),
        ("json-string", "application/json", SAID),
        ("nested", "application/json", {"data": {"reply": {"text": SAID}}}),
        (
            "langchain-tools",
            "application/json",
            {
                "message": {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "name": "get_weather",
                            "args": {"city": "Paris"},
                            "type": "tool_call",
                        }
                    ],
                }
            },
        ),
        ("empty", "application/json", {}),
    ],
)
def test_http_json_shapes(http: httpx.Client, shape: str, content_type: str, expected: Any) -> None:
    response = http.post(f"/shape/{shape}", json={"messages": ASKED})
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.json() == expected


def test_http_openai_shape(http: httpx.Client) -> None:
    body = http.post("/shape/openai", json={"messages": ASKED}).json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": SAID}
    assert body["choices"][0]["finish_reason"] == "stop"


def test_http_non_json_shapes(http: httpx.Client) -> None:
    text = http.post("/shape/text", json={"messages": ASKED})
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text == SAID

    html = http.post("/shape/html", json={"messages": ASKED})
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert html.text.startswith("<html>") and html.text.endswith("</html>")

    bad = http.post("/shape/bad-json", json={"messages": ASKED})
    assert bad.status_code == 200
    assert bad.headers["content-type"] == "application/json"
    assert bad.text == '{"oops":'
    with pytest.raises(json.JSONDecodeError):
        bad.json()


def test_http_unknown_shape_and_route_are_404(http: httpx.Client) -> None:
    assert http.post("/shape/nope", json={"messages": ASKED}).status_code == 404
    assert http.post("/v2/nothing", json={"messages": ASKED}).status_code == 404
