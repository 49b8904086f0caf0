"""Frozen cases from the database: the conversations an import brought in, redacted, as files.

Redaction runs on each conversation and its linked sessions before its file is written; a file
is written whole or not at all (:func:`pytest_connectors._support.atomic.atomic_write`).
"""

from __future__ import annotations

from pathlib import Path

from pytest_connectors.imports.facade import Imports
from pytest_connectors.replay.frozen import write_case
from pytest_connectors.replay.redact import Redaction
from pytest_connectors.replay.sources import conversations_of, linked_sessions


def export_conversations(
    imports: Imports,
    out: Path,
    *,
    connector: str | None = None,
    agent_id: str | None = None,
    limit: int | None = None,
    redaction: Redaction | None = None,
) -> list[Path]:
    """Write the newest ``limit`` imported conversations (all by default) under ``out``."""
    redaction = redaction or Redaction()
    written = []
    for conversation in conversations_of(
        imports, connector=connector, agent_id=agent_id, limit=limit
    ):
        sessions = [redaction.session(s) for s in linked_sessions(imports, conversation)]
        written.append(write_case(out, redaction.conversation(conversation), sessions))
    return written
