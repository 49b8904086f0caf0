"""Frozen cases: one JSON file per conversation, so CI replays from the repository alone.

A file holds the conversation in the import contract's camelCase JSON, plus the linked sessions
the ``where`` filters read. Files are written atomically; a file that cannot be read becomes a
skipped case that says why, never an error that hides the other cases.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pytest_connectors._support.atomic import atomic_write
from pytest_connectors.models.imports import RecordedConversation, UserSession
from pytest_connectors.replay.case import ReplayCase, case_file_name

FORMAT = "pytest-connectors/replay-case"
VERSION = 1


def case_document(
    conversation: RecordedConversation, sessions: Iterable[UserSession] = ()
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "conversation": conversation.model_dump(mode="json", by_alias=True),
        "sessions": [s.model_dump(mode="json", by_alias=True) for s in sessions],
    }


def write_case(
    directory: Path,
    conversation: RecordedConversation,
    sessions: Iterable[UserSession] = (),
    *,
    name: str | None = None,
) -> Path:
    """Write one case file atomically; the caller redacts first.

    ``name`` defaults to :func:`~pytest_connectors.replay.case.case_file_name` of the
    conversation as given; an exporter names the file after the conversation's id before
    redaction, which redaction may have changed.
    """
    path = directory / (name or case_file_name(conversation.thread_key, conversation.id))
    text = json.dumps(case_document(conversation, sessions), indent=2, ensure_ascii=False)
    atomic_write(path, (text + "\n").encode())
    return path


def _validation_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "the document"
    return f"{where}: {first['msg']}"


def read_case(path: Path) -> ReplayCase:
    source = str(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return ReplayCase.unreadable(path.stem, source, f"cannot read {path.name}: {exc}")
    except json.JSONDecodeError as exc:
        return ReplayCase.unreadable(path.stem, source, f"{path.name} is not JSON: {exc}")
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return ReplayCase.unreadable(
            path.stem, source, f"{path.name} is not a replay case file (no format {FORMAT!r})"
        )
    if document.get("version") != VERSION:
        return ReplayCase.unreadable(
            path.stem,
            source,
            f"{path.name} has version {document.get('version')!r}; this version reads {VERSION}",
        )
    try:
        conversation = RecordedConversation.model_validate(document.get("conversation"))
        sessions = tuple(UserSession.model_validate(s) for s in document.get("sessions") or [])
    except ValidationError as exc:
        return ReplayCase.unreadable(
            path.stem, source, f"{path.name} has an unreadable shape: {_validation_problem(exc)}"
        )
    return ReplayCase.of(conversation, source, sessions)


def case_files(path: str | os.PathLike[str]) -> list[Path]:
    """The case files of a file or a folder (its ``*.json``, sorted, subfolders included)."""
    root = Path(path)
    if root.is_file():
        return [root]
    if root.is_dir():
        return sorted(p for p in root.rglob("*.json") if p.is_file())
    raise FileNotFoundError(f"no replay cases at {root}: give a case file or a folder of them")


def read_cases(path: str | os.PathLike[str]) -> list[ReplayCase]:
    return [read_case(p) for p in case_files(path)]
