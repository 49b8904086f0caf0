"""The connector registry: a JSON array of connector records in one file.

Reads are lock-free (writes are atomic renames) and cached until the file changes on disk.
Every write takes a cross-process lock on ``<file>.lock``, re-reads the file from disk, applies
its change and renames a new file into place, so concurrent writers never lose an update. A
file that cannot be parsed is reported and never overwritten.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pytest_connectors._support.atomic import (
    LockTimeout,
    atomic_write,
    file_lock,
    remove_stale_temp_files,
)
from pytest_connectors._support.paths import ENV_FILE, resolve_path
from pytest_connectors.errors import (
    ConnectorFileError,
    ConnectorNotFoundError,
    DuplicateConnectorNameError,
)
from pytest_connectors.models.connector import (
    Connector,
    CreateConnectorInput,
    UpdateConnectorInput,
    utc_now,
)
from pytest_connectors.registry.fields import field_path
from pytest_connectors.registry.merge import apply_update

__all__ = ["ENV_FILE", "ConnectorStore", "dump_connectors", "parse_connectors", "resolve_path"]

LOCK_TIMEOUT_S = 30.0
LOCK_NOTICE_S = 1.0
_log = logging.getLogger("pytest_connectors.registry")


def _validation_problem(index: int, record: Any, error: ValidationError) -> str:
    first = error.errors()[0]
    name = record.get("name") if isinstance(record, dict) else None
    label = f"record {index}" + (f" ({name!r})" if isinstance(name, str) else "")
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    message = first["msg"].removeprefix("Value error, ")
    return f"{label}, field {field_path(first['loc'])!r}: {message}{more}"


def _log_wait(lock_path: Path) -> None:
    _log.warning("waiting for %s: another process is writing the connector file", lock_path)


def parse_connectors(data: bytes, path: Path) -> list[Connector]:
    """Parse the file's bytes, naming the exact place of the first problem."""
    if not data.strip():
        return []
    try:
        records = json.loads(data)
    except RecursionError:
        raise ConnectorFileError(path, "JSON nested too deeply to read") from None
    except UnicodeDecodeError as exc:
        raise ConnectorFileError(
            path, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConnectorFileError(
            path, f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(records, list):
        raise ConnectorFileError(
            path, f"expected a JSON array of connectors, found {type(records).__name__}"
        )
    connectors = []
    for index, record in enumerate(records):
        try:
            connectors.append(Connector.model_validate(record))
        except ValidationError as exc:
            raise ConnectorFileError(path, _validation_problem(index, record, exc)) from None
        except RecursionError:
            raise ConnectorFileError(path, f"record {index} is nested too deeply") from None
    names: set[str] = set()
    ids: set[str] = set()
    for index, connector in enumerate(connectors):
        if connector.name in names:
            raise ConnectorFileError(
                path, f"record {index}: the name {connector.name!r} is used twice"
            )
        if connector.id in ids:
            raise ConnectorFileError(
                path,
                f"record {index} ({connector.name!r}): the id {connector.id!r} is used twice; "
                "give one of them a new id",
            )
        names.add(connector.name)
        ids.add(connector.id)
    return connectors


def dump_connectors(connectors: list[Connector]) -> bytes:
    records = [c.model_dump(mode="json", by_alias=True) for c in connectors]
    return (json.dumps(records, indent=2, ensure_ascii=False) + "\n").encode()


class ConnectorStore:
    """The connectors of one file. Cheap to create; it touches the disk only when used.

    A writer waits for another process's write: ``on_lock_wait(lock_path)`` is called once after
    a second (default: a logged warning), and after ``lock_timeout_s`` the write fails with
    :class:`~pytest_connectors.errors.ConnectorFileError`, the file unchanged.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        lock_timeout_s: float = LOCK_TIMEOUT_S,
        on_lock_wait: Callable[[Path], None] | None = None,
    ) -> None:
        self.path = resolve_path(path)
        self.lock_timeout_s = lock_timeout_s
        self._on_lock_wait = on_lock_wait or _log_wait
        self._cache_key: tuple[int, int, int] | None = None
        self._cache: builtins.list[Connector] = []
        self._index: dict[str, Connector] = {}  # ids and names of the cached records

    def __repr__(self) -> str:
        return f"ConnectorStore({str(self.path)!r})"

    def _read(self, *, fresh: bool = False) -> builtins.list[Connector]:
        """The file's connectors; ``fresh`` re-reads it whatever the cache holds."""
        try:
            stat = self.path.stat()
            key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if fresh or key != self._cache_key:
                data = self.path.read_bytes()
        except FileNotFoundError:
            self._cache_key, self._cache, self._index = None, [], {}
            return self._cache
        except OSError as exc:
            raise ConnectorFileError(self.path, f"cannot read it: {_reason(exc)}") from None
        if fresh or key != self._cache_key:
            self._cache_key = None  # stays unset if the new content cannot be parsed
            self._cache = parse_connectors(data, self.path)
            self._index = {c.name: c for c in self._cache} | {c.id: c for c in self._cache}
            self._cache_key = key
        return self._cache

    @contextlib.contextmanager
    def _locked(self) -> Iterator[builtins.list[Connector]]:
        """The latest connectors on disk, read under the write lock."""
        try:
            with file_lock(
                self.path,
                timeout_s=self.lock_timeout_s,
                notice_after_s=LOCK_NOTICE_S,
                on_wait=self._on_lock_wait,
            ):
                remove_stale_temp_files(self.path)
                yield self._read(fresh=True)
        except LockTimeout as exc:
            raise ConnectorFileError(
                self.path,
                f"another process held the lock {exc.lock_path} for {exc.waited_s:g} s; "
                "wait for it to finish (or stop it)",
            ) from None
        except OSError as exc:
            raise ConnectorFileError(self.path, f"cannot write it: {_reason(exc)}") from None

    def _write(self, connectors: builtins.list[Connector]) -> None:
        self._cache_key = None
        atomic_write(self.path, dump_connectors(connectors))

    def list(self) -> list[Connector]:
        return list(self._read())

    def names(self) -> builtins.list[str]:
        return [c.name for c in self._read()]

    def get(self, connector_id: str) -> Connector | None:
        return next((c for c in self._read() if c.id == connector_id), None)

    def get_by_name(self, name: str) -> Connector | None:
        return next((c for c in self._read() if c.name == name), None)

    def find(self, id_or_name: str) -> Connector:
        """The connector with this id or name, or an error listing the known names."""
        self._read()
        found = self._index.get(id_or_name)  # an id wins over a name that looks like one
        if found is None:
            raise ConnectorNotFoundError(id_or_name, self.names())
        return found

    def create(self, data: CreateConnectorInput | Mapping[str, Any]) -> Connector:
        request = CreateConnectorInput.model_validate(data)
        with self._locked() as connectors:
            if any(c.name == request.name for c in connectors):
                raise DuplicateConnectorNameError(request.name)
            now = utc_now()
            connector = Connector.model_validate(
                {
                    "id": str(uuid.uuid4()),
                    **request.model_dump(by_alias=False),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            self._write([*connectors, connector])
        return connector

    def update(
        self, connector_id: str, data: UpdateConnectorInput | Mapping[str, Any]
    ) -> Connector | None:
        """Apply the fields that are set (``None`` clears an optional field).

        ``config`` is merged into the stored one (see :mod:`pytest_connectors.registry.merge`),
        on the file as it is when the lock is held, so concurrent updates all land.
        """
        change = UpdateConnectorInput.model_validate(data)
        with self._locked() as connectors:
            index = next((i for i, c in enumerate(connectors) if c.id == connector_id), None)
            if index is None:
                return None
            current = connectors[index]
            renamed = change.name is not None and change.name != current.name
            if renamed and any(c.name == change.name for c in connectors):
                assert change.name is not None
                raise DuplicateConnectorNameError(change.name)
            updated = apply_update(current, change, utc_now())
            self._write([*connectors[:index], updated, *connectors[index + 1 :]])
        return updated

    def delete(self, connector_id: str) -> bool:
        with self._locked() as connectors:
            remaining = [c for c in connectors if c.id != connector_id]
            if len(remaining) == len(connectors):
                return False
            self._write(remaining)
        return True


def _reason(error: OSError) -> str:
    if isinstance(error, IsADirectoryError):
        return "it is a directory; give the path of a JSON file"
    if isinstance(error, NotADirectoryError | FileExistsError):
        return "a part of the path is a file, not a directory"
    return error.strerror or type(error).__name__
