"""OTLP JSON files, as an OpenTelemetry Collector's file exporter writes them (one
``ExportTraceServiceRequest`` per line), loaded into the same conversations as the receiver's.

A file is read line by line, so its size is not held in memory; a file holding one document
over several lines (pretty-printed) is read whole, within the receiver's decoded-body limit.
Nothing is stored unless every line of every file can be read.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_connectors.errors import InvalidInputError
from pytest_connectors.imports.otlp.receiver import Receiver, ReceiverBusy, ReceiverLimits
from pytest_connectors.models.imports import Scope
from pytest_connectors.storage.store import Store
from pytest_connectors.wire.otlp import Decoded, MalformedRequest, decode_json_document


@dataclass
class LoadReport:
    files: int = 0
    spans: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


def _documents(path: Path, limit: int) -> Iterator[tuple[int, Any]]:
    with path.open("rb") as lines:
        first = lines.readline(limit + 1)
        lines.seek(0)
        if first.strip().startswith(b"{") and not first.rstrip().endswith(b"}"):
            text = lines.read(limit + 1)
            if len(text) > limit:
                raise InvalidInputError(f"{path}: a document over {limit} bytes")
            yield 1, _parse(text, path, 1)
            return
        for number, line in enumerate(iter(lambda: lines.readline(limit + 1), b""), 1):
            if len(line) > limit:
                raise InvalidInputError(f"{path}:{number}: a line over {limit} bytes")
            if line.strip():
                yield number, _parse(line, path, number)


def _parse(text: bytes, path: Path, number: int) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidInputError(
            f"{path}:{number}: not JSON; give OTLP JSON, as the Collector's file exporter writes"
        ) from None


def _decoded(path: Path, limit: int) -> Iterator[Decoded]:
    for number, document in _documents(path, limit):
        try:
            yield decode_json_document(document)
        except MalformedRequest as exc:
            raise InvalidInputError(f"{path}:{number}: {exc}") from None


def load_files(
    store: Store, paths: Iterable[Path], scope: Scope, limits: ReceiverLimits | None = None
) -> LoadReport:
    """Every span of ``paths`` for ``scope`` (an agent, or a tenant whose resources name their
    agent), stored as conversations when the last file is read.

    Every line of every file is read and decoded once before anything is stored (and again to
    store it, so memory holds one line, not the files): an unreadable line stores nothing.
    """
    paths = list(paths)
    limits = limits or ReceiverLimits()
    for path in paths:
        for _decoded_document in _decoded(path, limits.max_decoded_bytes):
            pass
    # Traces stay open until the end: a file's spans are in no time order.
    limits = replace(limits, trace_idle_seconds=math.inf)
    receiver = Receiver(store, limits)
    report = LoadReport()
    try:
        for path in paths:
            for decoded in _decoded(path, limits.max_decoded_bytes):
                try:
                    receipt = receiver.receive(decoded, scope)
                except ReceiverBusy:  # store what is held (later spans join it), and go on
                    receiver.close_idle(everything=True)
                    receipt = receiver.receive(decoded, scope)
                report.spans += (
                    len(decoded.spans) - receipt.rejected + sum(decoded.rejected.values())
                )
                report.rejected.update(receipt.reasons)
            report.files += 1
    finally:
        receiver.stop()
    return report
