"""Production conversations, frozen in examples/replay/, replayed against the agent under test.

Each file there is one conversation users really had with the agent (exported with
`pytest-connectors conversations export --out examples/replay`, emails and secrets redacted).
Every one becomes a test: its user turns are re-sent on a fresh thread, in order, and each turn
must call at least the tools production called, with the same arguments.
"""

from __future__ import annotations

import pytest


@pytest.mark.replay(path="replay")
def test_production_conversations_still_work(replay):
    result = replay.run()
    result.assert_matches(tools="subset", args="subset")


@pytest.mark.replay(path="replay", where={"tool": "get_weather"})
def test_weather_answers_name_the_city(replay):
    def names_the_city(candidate: str, production: str | None) -> bool:
        return production is None or production.split(" is ")[0] in candidate

    replay.run().assert_matches(answer=names_the_city)


@pytest.mark.replay(path="replay", where={"tool": "get_weather"})
def test_weather_answers_say_what_production_said(replay):
    """Judged, not compared as text: the same facts in other words pass (the ini's judge)."""
    replay.run().assert_matches(answer="judge")
