"""Words in messages people read."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """``1 turn``, ``2 turns``: the count with its noun, singular for one."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
