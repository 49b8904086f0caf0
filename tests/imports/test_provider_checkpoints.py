"""One checkpoint codec for every provider: a page's state, tied to the window it scans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pytest_connectors.imports.provider import Window, decode_checkpoint, encode_checkpoint

WINDOW = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))


def test_a_checkpoint_gives_back_its_state_for_its_window() -> None:
    text = encode_checkpoint(WINDOW, project="p-1", cursor="c2", pages=3)
    assert decode_checkpoint(text, WINDOW) == {"project": "p-1", "cursor": "c2", "pages": 3}
    # The same window given without a zone is the same window.
    naive = Window(datetime(2026, 3, 1), datetime(2026, 3, 2))
    assert decode_checkpoint(text, naive) == {"project": "p-1", "cursor": "c2", "pages": 3}


def test_a_checkpoint_written_before_the_codec_was_shared_still_resumes() -> None:
    # What LangSmith jobs in flight hold in the database: they go on where they stopped.
    stored = (
        '{"v":1,"project":"p-1","cursor":"c2","start":"2026-03-01T00:00:00+00:00",'
        '"end":"2026-03-02T00:00:00+00:00","pages":3}'
    )
    assert decode_checkpoint(stored, WINDOW) == {"project": "p-1", "cursor": "c2", "pages": 3}


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "not json",
        "[1, 2]",
        encode_checkpoint(Window(WINDOW.start, WINDOW.end + timedelta(hours=1)), cursor="c"),
        encode_checkpoint(WINDOW, cursor="c").replace('"v":1', '"v":2'),
    ],
)
def test_anything_else_starts_the_scan_afresh(text: str | None) -> None:
    assert decode_checkpoint(text, WINDOW) is None
