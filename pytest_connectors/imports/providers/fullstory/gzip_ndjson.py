"""Decode a gzip file of newline-delimited JSON as it streams in, in bounded memory.

Plain NDJSON is read too: a storage host may serve the file with ``Content-Encoding: gzip`` and
something on the way may have decoded it already.

Each line is a record of its own: a line that is not a JSON object, is longer than the line
limit, is nested too deep to parse or holds text no database can store is skipped and counted
in ``skipped`` by reason, and the rest of the file is read. Only the file itself (not gzip, cut
short, corrupt, larger than its limit) fails.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator
from typing import Any

MAX_LINE_BYTES = 16 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_OUTPUT_CHUNK = 256 * 1024  # decompressed a bounded piece at a time: a gzip bomb fills nothing
_BLANK = re.compile(rb"\s*")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


class MalformedExportError(ValueError):
    """The bytes are not gzip, or the gzip is cut short or corrupt."""


class ExportTooLargeError(ValueError):
    """The file decompresses to more than the decoder's ``max_bytes``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the export decompresses to more than {limit} bytes")
        self.limit = limit


class GzipNdjsonDecoder:
    """``feed`` compressed chunks and get the JSON objects they complete; then ``close``.

    Several gzip members one after another read as one stream. Only the current, unfinished
    line is ever held, so memory does not grow with the size of the file.
    """

    def __init__(
        self, *, max_line_bytes: int = MAX_LINE_BYTES, max_bytes: int | None = None
    ) -> None:
        """``max_bytes`` bounds the decompressed size of the whole file (None: no bound)."""
        self._inflate = _new_member()
        self._in_member = False  # bytes of the current member have been read, its end not yet
        self._pending = bytearray()
        self._discarding = False  # inside a line already longer than the limit
        self._head = b""  # the first bytes, until they tell gzip from plain NDJSON
        self._gzip: bool | None = None
        self._max_line = max_line_bytes
        self._max_bytes = max_bytes
        self._size = 0
        self.skipped: dict[str, int] = {}

    def feed(self, chunk: bytes) -> Iterator[dict[str, Any]]:
        if self._gzip is None:
            self._head += chunk
            start = self._head.lstrip()[:1]
            if len(self._head) < 2 or not start:
                return
            chunk, self._head = self._head, b""
            if chunk.startswith(_GZIP_MAGIC):
                self._gzip = True
            elif start == b"{":
                self._gzip = False
            else:
                raise MalformedExportError("the download is neither gzip data nor NDJSON")
        if not self._gzip:
            yield from self._lines(chunk)
            return
        data, draining = chunk, False
        while data or draining:
            self._in_member = True
            try:
                text = self._inflate.decompress(data, _OUTPUT_CHUNK)
            except zlib.error as exc:
                raise MalformedExportError(f"the gzip data is corrupt ({exc})") from None
            yield from self._lines(text)
            data = self._inflate.unconsumed_tail
            draining = len(text) == _OUTPUT_CHUNK  # more may wait inside for the same input
            if self._inflate.eof:  # end of one member; another may follow
                data, draining = self._inflate.unused_data, False
                self._inflate = _new_member()
                self._in_member = False

    def close(self) -> Iterator[dict[str, Any]]:
        if self._gzip is None:
            raise MalformedExportError("the download is empty, not gzip data")
        if self._in_member:
            raise MalformedExportError("the gzip data ends before its end marker (cut short)")
        if self._discarding:
            self._skip("line_too_long")
        elif self._pending.strip():
            record = self._parse(bytes(self._pending))
            if record is not None:
                yield record
        self._pending.clear()

    def _lines(self, text: bytes) -> Iterator[dict[str, Any]]:
        self._size += len(text)
        if self._max_bytes is not None and self._size > self._max_bytes:
            raise ExportTooLargeError(self._max_bytes)
        start = 0
        while True:
            if not self._pending and not self._discarding:  # blank lines, at the speed of re
                start = _BLANK.match(text, start).end()  # type: ignore[union-attr]
            end = text.find(b"\n", start)
            piece = text[start:] if end < 0 else text[start:end]
            if not self._discarding:
                self._pending += piece
                if len(self._pending) > self._max_line:
                    self._pending.clear()
                    self._discarding = True
            if end < 0:
                return
            start = end + 1
            if self._discarding:
                self._discarding = False
                self._skip("line_too_long")
                continue
            line = bytes(self._pending)
            self._pending.clear()
            if line.strip():
                record = self._parse(line)
                if record is not None:
                    yield record

    def _parse(self, line: bytes) -> dict[str, Any] | None:
        record, problem = _read_line(line)
        if problem is not None:
            self._skip(problem)
        return record

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _read_line(line: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The line's object, or why it cannot be read."""
    try:
        value = json.loads(line)
    except RecursionError:
        return None, "nested_too_deep"
    except ValueError:
        return None, "not_json"
    if not isinstance(value, dict):
        return None, "not_an_object"
    if _SURROGATE_ESCAPE.search(line):  # a lone surrogate can only come from an escape
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            return None, "invalid_text"
    return value, None


def _new_member() -> Any:
    return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # expects a gzip header and trailer
