"""The HTML report read back as a browser's parser sees it: elements, attributes and text."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path


class Page(HTMLParser):
    """Every element with its attributes, and the text under each element path."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.script_texts: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.script_texts if self._in_script else self.texts).append(data)

    def tags(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]

    def by_id(self, element_id: str) -> dict[str, str | None]:
        found = [attrs for _, attrs in self.elements if attrs.get("id") == element_id]
        assert len(found) == 1, element_id
        return found[0]

    @property
    def text(self) -> str:
        return "".join(self.texts)


def diverging_case(folder: Path) -> Path:
    """A frozen replay case the example HTTP agent diverges from: its first turn's answer is
    worded otherwise, its second turn calls no ``lookup_account`` tool. The second turn's text
    is hostile, and its metadata links a LangSmith trace and a ``javascript:`` session link."""
    turns = [
        {
            "index": 0,
            "userMessages": ["What's the weather in Paris?"],
            "toolCalls": [
                {
                    "name": "get_weather",
                    "args": {"city": "Paris"},
                    "id": "call_1",
                    "result": "Sunny, 21°C in Paris",
                }
            ],
            "answer": "The weather in Paris is warm and sunny, 21°C.",
            "latencyMs": 700.0,
        },
        {
            "index": 1,
            "userMessages": [HOSTILE_TURN],
            "toolCalls": [{"name": "lookup_account", "args": {"id": 7}, "result": "found"}],
            "answer": "Hi there",
            "latencyMs": 300.0,
        },
    ]
    case = {
        "format": "pytest-connectors/replay-case",
        "version": 1,
        "conversation": {
            "id": "c-diverging",
            "threadKey": "t-diverging",
            "origin": "imported",
            "turns": turns,
            "metadata": {
                "langsmith_trace_url": TRACE_URL,
                "fullstory_session_url": "javascript:alert('session')",
            },
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "t-diverging.json"
    path.write_text(json.dumps(case), encoding="utf-8")
    return path


HOSTILE_TURN = "<script>alert('turn')</script><img src=x onerror=alert(3)> hello"
TRACE_URL = "https://smith.langchain.com/o/acme/projects/p/prod/r/run-1"
REPLAY_SUITE = """
import pytest

@pytest.mark.replay(path="cases")
def test_case(replay):
    replay.run().assert_matches()
"""
