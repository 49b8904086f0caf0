"""The documentation as the tests read it: README.md and docs/*.md, one list of fenced blocks.

Tests that execute a snippet find it with ``block(language, containing)`` (exactly one block
anywhere in the documentation) or ``blocks(...)`` (every match, each of which the caller
checks). tests/test_docs.py reads those calls to prove every python and bash block is run by
some test, unless the line before its fence says why not: ``<!-- not-run: reason -->``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(\S.*?)\s*-->")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.M | re.S)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, counted from 1
    language: str
    body: str
    not_run: str | None  # the reason given before the fence, if any

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line} ({self.language})"


def text(page: str) -> str:
    """One page's text, by its path from the repository root (``docs/replay.md``)."""
    return (ROOT / page).read_text(encoding="utf-8")


def _blocks_of(page: Path) -> list[Block]:
    content = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(content):
        before = content[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        reason = NOT_RUN.fullmatch(before.strip())
        found.append(
            Block(
                page=page,
                line=content.count("\n", 0, match.start()) + 1,
                language=match.group(1),
                body=match.group(2),
                not_run=reason.group(1) if reason else None,
            )
        )
    return found


ALL = [block for page in PAGES for block in _blocks_of(page)]


def blocks(language: str, containing: str = "", *, page: str | None = None) -> list[str]:
    """Every block of ``language`` holding ``containing`` (on ``page`` only, if given)."""
    found = [
        b.body
        for b in ALL
        if b.language == language
        and containing in b.body
        and (page is None or b.page == ROOT / page)
    ]
    assert found, f"no {language} block containing {containing!r} in the documentation"
    return found


def block(language: str, containing: str) -> str:
    """The one block of ``language`` holding ``containing``, wherever it is documented."""
    found = blocks(language, containing)
    assert len(found) == 1, f"{len(found)} {language} blocks contain {containing!r}, not one"
    return found[0]
