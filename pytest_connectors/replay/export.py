"""Frozen cases from the database: the conversations an import brought in, redacted, as files.

Redaction runs on each conversation and its linked sessions before its file is written. Each
file is named after the thread key as redacted plus a short hash of the conversation id, so
names never collide, stay bounded, and the same conversation lands in the same file on every
export. The files are written into a staging folder and moved into place only once every one of
them is written: an export that fails leaves ``out`` as it was.
"""

from __future__ import annotations

from pathlib import Path

from pytest_connectors._support.atomic import staged_folder
from pytest_connectors.imports.backend import Origin
from pytest_connectors.imports.facade import Imports
from pytest_connectors.replay.case import case_file_name
from pytest_connectors.replay.frozen import write_case
from pytest_connectors.replay.redact import Redaction
from pytest_connectors.replay.sources import conversations_of, linked_sessions


def export_conversations(
    imports: Imports,
    out: Path,
    *,
    connector: str | None = None,
    agent_id: str | None = None,
    origin: Origin = "imported",
    limit: int | None = None,
    redaction: Redaction | None = None,
) -> list[Path]:
    """Write the newest ``limit`` conversations of ``origin`` (all by default) under ``out``."""
    redaction = redaction or Redaction()
    names: dict[str, str] = {}  # file name -> conversation id
    with staged_folder(out) as staging:
        for conversation in conversations_of(
            imports, connector=connector, agent_id=agent_id, origin=origin, limit=limit
        ):
            redacted = redaction.conversation(conversation)
            # The id before redaction: ids that redact alike must still name two files.
            name = case_file_name(redacted.thread_key, conversation.id)
            if names.get(name) == conversation.id:
                continue  # listed twice: a page moved while it was read
            if name in names:  # 48 bits of hash and the same key: never seen, never silent
                raise ValueError(f"two conversations would be written to {name}")
            names[name] = conversation.id
            sessions = [redaction.session(s) for s in linked_sessions(imports, conversation)]
            write_case(staging, redacted, sessions, name=name)
    return [out / name for name in names]
