"""Judge verdicts kept on disk, so a rerun on the same transcripts costs no judge call.

One small JSON file per verdict, named by the hash of everything the verdict depends on (the
judge's connector name and model, the prompts' version and text, the criterion, the transcript,
``samples`` and ``confirm``). Files are written whole and renamed into place, so concurrent
sessions and xdist workers can share a folder: a reader sees a whole verdict or none, and two
writers of one key write the same verdict.

Modes: ``on`` reads and writes, ``off`` neither, ``read`` only reads (a CI that must not grow
the cache), ``refresh`` only writes (asks the judge again and replaces what was stored).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pytest_connectors._support.atomic import atomic_write

CacheMode = Literal["on", "off", "read", "refresh"]
CACHE_MODES: tuple[CacheMode, ...] = ("on", "off", "read", "refresh")
FORMAT = 1


def cache_key(*parts: object) -> str:
    encoded = json.dumps([FORMAT, *parts], ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


class VerdictCache:
    """Verdicts by key under ``folder``; ``mode`` says whether to read, write, both or neither."""

    def __init__(self, folder: str | os.PathLike[str], mode: str = "on") -> None:
        for known in CACHE_MODES:
            if mode == known:
                self.mode: CacheMode = known
                break
        else:
            raise ValueError(f"judge cache mode must be one of {', '.join(CACHE_MODES)}")
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"<VerdictCache {self.mode} {self.folder}>"

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.mode not in ("on", "read"):
            return None
        try:
            data = json.loads(self._path(key).read_bytes())
        except (OSError, ValueError):
            return None  # missing, or not ours to read: asked again, and rewritten
        return data if isinstance(data, dict) and data.get("format") == FORMAT else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        if self.mode not in ("on", "refresh"):
            return
        data = json.dumps({"format": FORMAT, **value}, ensure_ascii=False).encode()
        # A cache that cannot be written costs the next run a call, nothing more.
        with contextlib.suppress(OSError):
            atomic_write(self._path(key), data)
