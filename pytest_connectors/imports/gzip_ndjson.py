"""Decode a gzip file of newline-delimited JSON as it streams in, in bounded memory.

Plain NDJSON is read too: a storage host may serve the file with ``Content-Encoding: gzip`` and
something on the way may have decoded it already.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import Any

MAX_LINE_BYTES = 16 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


class MalformedExportError(ValueError):
    """The bytes are not gzip, the gzip is cut short or corrupt, or a line is not a JSON object."""


class GzipNdjsonDecoder:
    """``feed`` compressed chunks and get the JSON objects they complete; then ``close``.

    Several gzip members one after another read as one stream. Only the current, unfinished
    line is ever held, so memory does not grow with the size of the file.
    """

    def __init__(self, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._inflate = _new_member()
        self._in_member = False  # bytes of the current member have been read, its end not yet
        self._pending = bytearray()
        self._head = b""  # the first bytes, until they tell gzip from plain NDJSON
        self._gzip: bool | None = None
        self._max_line = max_line_bytes
        self._line_no = 0

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
        data = chunk
        while data:
            self._in_member = True
            try:
                text = self._inflate.decompress(data)
            except zlib.error as exc:
                raise MalformedExportError(f"the gzip data is corrupt ({exc})") from None
            yield from self._lines(text)
            data = b""
            if self._inflate.eof:  # end of one member; another may follow
                data = self._inflate.unused_data
                self._inflate = _new_member()
                self._in_member = False

    def close(self) -> Iterator[dict[str, Any]]:
        if self._gzip is None:
            raise MalformedExportError("the download is empty, not gzip data")
        if self._in_member:
            raise MalformedExportError("the gzip data ends before its end marker (cut short)")
        if self._pending.strip():
            yield self._parse(bytes(self._pending))
        self._pending.clear()

    def _lines(self, text: bytes) -> Iterator[dict[str, Any]]:
        start = 0
        while True:
            end = text.find(b"\n", start)
            if end < 0:
                self._pending += text[start:]
                if len(self._pending) > self._max_line:
                    raise MalformedExportError(
                        f"line {self._line_no + 1} is longer than {self._max_line} bytes"
                    )
                return
            self._pending += text[start:end]
            line = bytes(self._pending)
            self._pending.clear()
            start = end + 1
            if line.strip():
                yield self._parse(line)

    def _parse(self, line: bytes) -> dict[str, Any]:
        self._line_no += 1
        try:
            value = json.loads(line)
        except ValueError:
            raise MalformedExportError(f"line {self._line_no} is not JSON") from None
        if not isinstance(value, dict):
            raise MalformedExportError(f"line {self._line_no} is not a JSON object")
        return value


def _new_member() -> Any:
    return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # expects a gzip header and trailer
