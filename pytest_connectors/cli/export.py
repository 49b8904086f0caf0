"""``pytest-connectors conversations export``: conversations as frozen replay cases.

One JSON file per conversation under ``--out``, redacted before it is written: emails and common
secret shapes by default, plus any ``--redact PATTERN`` and an optional
``--redact-hook MODULE:FUNCTION`` (a function taking a Conversation and returning the one to
write). Every file or none is written. CI then replays the folder with
``@pytest.mark.replay(path=...)``, without the database.
"""

from __future__ import annotations

import argparse
import importlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_connectors._support.text import counted
from pytest_connectors.cli.main import EXIT_OK, UsageError
from pytest_connectors.registry.json_file import ConnectorStore

Action = Callable[..., argparse.ArgumentParser]


def _hook(spec: str) -> Callable[..., Any]:
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise UsageError(f"--redact-hook wants MODULE:FUNCTION, got {spec!r}")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"--redact-hook {spec}: cannot load it ({exc})") from None
    if not callable(function):
        raise UsageError(f"--redact-hook {spec} is not a function")
    return function  # type: ignore[no-any-return]


def cmd_export(store: ConnectorStore, args: argparse.Namespace) -> int:
    from pytest_connectors.cli.imports import _imports
    from pytest_connectors.replay.export import export_conversations
    from pytest_connectors.replay.redact import Redaction

    for pattern in args.redact:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"--redact {pattern!r} is not a regular expression: {exc}") from None
    redaction = Redaction(
        extra_patterns=args.redact, hook=_hook(args.redact_hook) if args.redact_hook else None
    )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the case files")
    with _imports(store, args, writes=False) as imports:
        try:
            written = export_conversations(
                imports,
                out,
                connector=args.connector,
                agent_id=args.agent,
                origin=args.origin,
                limit=args.limit,
                redaction=redaction,
            )
        except OSError as exc:
            raise UsageError(
                f"cannot write the case files to {out}: {exc.strerror or exc}; nothing was written"
            ) from None
    for path in written:
        print(path)
    print(f"Exported {counted(len(written), 'conversation')} to {out} (redacted).")
    return EXIT_OK


def _count(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {value!r}")
    return int(value)


def register(conversations: Any, action: Action) -> None:
    """Add ``export`` to the ``conversations`` command group."""
    export = action(
        conversations,
        "export",
        cmd_export,
        "write imported conversations as frozen replay cases, redacted",
        json_flag=False,
    )
    export.add_argument("--connector", metavar="NAME_OR_ID", help="only this import connector's")
    export.add_argument("--agent", metavar="ID", help="only this agent's")
    export.add_argument(
        "--origin",
        choices=("imported", "native"),
        default="imported",
        help="imported conversations (the default), or native ones (test sessions, OTLP)",
    )
    export.add_argument("--limit", type=_count, metavar="N", help="the newest N only")
    export.add_argument("--out", required=True, metavar="DIR", help="folder for the case files")
    export.add_argument(
        "--redact",
        action="append",
        default=[],
        metavar="PATTERN",
        help="also mask what this regular expression matches (repeatable); emails and common "
        "secret shapes are always masked",
    )
    export.add_argument(
        "--redact-hook",
        metavar="MODULE:FUNCTION",
        help="a function(Conversation) -> Conversation run before the patterns",
    )
