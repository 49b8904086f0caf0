"""A deterministic LangGraph agent: no LLM, no API key, no network.

It gives the test suite a real LangGraph server whose every answer is known in advance, and it
exercises the parts a client must handle: tool-call turns, thread memory, slow runs and a graph
that raises. The last human message decides what happens (case-insensitive):

- "weather ... in Paris": calls the ``get_weather`` tool, then answers from its result.
- "my name is X" / "what is my name": remembers the name across turns of a thread.
- "fail": raises ``RuntimeError("the agent failed on purpose")``.
- "sleep N": waits N milliseconds (without blocking the server), then says so.
- "how many messages": counts the messages of the thread.
- anything else: "You said: <text>".
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

_CITY = re.compile(r"\bin\s+([A-Z][\w-]*)")
_SLEEP = re.compile(r"\bsleep\s+(\d+)\b", re.IGNORECASE)
_NAME = re.compile(r"\bmy name is\s+([^.,!?\n]+)", re.IGNORECASE)
_FORECASTS = {"London": "Cloudy, 15°C", "Tokyo": "Rainy, 18°C"}


@tool
def get_weather(city: str) -> str:
    """Return the current weather for a city."""
    return f"{_FORECASTS.get(city, 'Sunny, 21°C')} in {city}"


def _text(message: AnyMessage) -> str:
    content: Any = message.content
    if isinstance(content, str):
        return content
    parts = [p if isinstance(p, str) else str(p.get("text", "")) for p in content]
    return "".join(parts)


def _answer_from_tool(result: ToolMessage) -> AIMessage:
    forecast, _, city = _text(result).rpartition(" in ")
    return AIMessage(f"The weather in {city} is {forecast[:1].lower()}{forecast[1:]}.")


async def agent(state: MessagesState) -> dict[str, list[AnyMessage]]:
    messages = state["messages"]
    if messages and isinstance(messages[-1], ToolMessage):
        return {"messages": [_answer_from_tool(messages[-1])]}
    humans = [m for m in messages if isinstance(m, HumanMessage)]
    text = _text(humans[-1]).strip() if humans else ""
    lowered = text.lower()

    if "fail" in lowered:
        raise RuntimeError("the agent failed on purpose")
    if sleep := _SLEEP.search(text):
        milliseconds = int(sleep.group(1))
        await asyncio.sleep(milliseconds / 1000)
        reply = f"Slept {milliseconds} ms."
    elif "weather" in lowered:
        city_match = _CITY.search(text)
        city = city_match.group(1) if city_match else "London"
        call = {
            "name": "get_weather",
            "args": {"city": city},
            "id": f"call_weather_{len(messages)}",
        }
        return {"messages": [AIMessage(content="", tool_calls=[call])]}
    elif "what is my name" in lowered:
        names = [m.group(1).strip() for h in humans[:-1] if (m := _NAME.search(_text(h)))]
        reply = f"Your name is {names[-1]}." if names else "I don't know your name yet."
    elif name := _NAME.search(text):
        reply = f"Nice to meet you, {name.group(1).strip()}."
    elif "how many messages" in lowered:
        reply = f"This thread holds {len(messages)} messages."
    else:
        reply = f"You said: {text}"
    return {"messages": [AIMessage(reply)]}


builder = StateGraph(MessagesState)
builder.add_node("agent", agent)
builder.add_node("tools", ToolNode([get_weather]))
builder.add_edge(START, "agent")
builder.add_conditional_edges("agent", tools_condition)
builder.add_edge("tools", "agent")
graph = builder.compile()
