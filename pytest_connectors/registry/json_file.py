"""The connector registry: a JSON array of connector records in one file.

Reads are lock-free (writes are atomic renames) and cached until the file changes on disk.
Every write re-reads the file under a cross-process lock, so concurrent writers never lose an
update, and a file that cannot be parsed is reported and never overwritten.
"""

from __future__ import annotations

import builtins
import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pytest_connectors._support.atomic import atomic_write, file_lock
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

__all__ = ["ENV_FILE", "ConnectorStore", "dump_connectors", "parse_connectors", "resolve_path"]


def _field_path(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "(record)"


def _validation_problem(index: int, record: Any, error: ValidationError) -> str:
    first = error.errors()[0]
    name = record.get("name") if isinstance(record, dict) else None
    label = f"record {index}" + (f" ({name!r})" if isinstance(name, str) else "")
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{label}, field {_field_path(first['loc'])!r}: {first['msg']}{more}"


def parse_connectors(data: bytes, path: Path) -> list[Connector]:
    """Parse the file's bytes, naming the exact place of the first problem."""
    if not data.strip():
        return []
    try:
        records = json.loads(data)
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
    names: set[str] = set()
    for index, connector in enumerate(connectors):
        if connector.name in names:
            raise ConnectorFileError(
                path, f"record {index}: the name {connector.name!r} is used twice"
            )
        names.add(connector.name)
    return connectors


def dump_connectors(connectors: list[Connector]) -> bytes:
    records = [c.model_dump(mode="json", by_alias=True) for c in connectors]
    return (json.dumps(records, indent=2, ensure_ascii=False) + "\n").encode()


class ConnectorStore:
    """The connectors of one file. Cheap to create; it touches the disk only when used."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = resolve_path(path)
        self._cache_key: tuple[int, int, int] | None = None
        self._cache: builtins.list[Connector] = []
        self._index: dict[str, Connector] = {}  # ids and names of the cached records

    def __repr__(self) -> str:
        return f"ConnectorStore({str(self.path)!r})"

    def _read(self) -> builtins.list[Connector]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._cache_key, self._cache, self._index = None, [], {}
            return self._cache
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if key != self._cache_key:
            self._cache = parse_connectors(self.path.read_bytes(), self.path)
            self._index = {c.name: c for c in self._cache} | {c.id: c for c in self._cache}
            self._cache_key = key
        return self._cache

    def _write(self, connectors: builtins.list[Connector]) -> None:
        atomic_write(self.path, dump_connectors(connectors))
        self._cache_key = None

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
        with file_lock(self.path):
            connectors = self._read()
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
        """Apply the fields that are set (``None`` clears an optional field)."""
        change = UpdateConnectorInput.model_validate(data)
        with file_lock(self.path):
            connectors = self._read()
            index = next((i for i, c in enumerate(connectors) if c.id == connector_id), None)
            if index is None:
                return None
            current = connectors[index]
            renamed = change.name is not None and change.name != current.name
            if renamed and any(c.name == change.name for c in connectors):
                assert change.name is not None
                raise DuplicateConnectorNameError(change.name)
            merged = current.model_dump(by_alias=False)
            for field in change.model_fields_set:
                value = getattr(change, field)
                if value is None:
                    merged.pop(field, None)
                else:
                    merged[field] = value
            merged["updated_at"] = utc_now()
            updated = Connector.model_validate(merged)
            self._write([*connectors[:index], updated, *connectors[index + 1 :]])
        return updated

    def delete(self, connector_id: str) -> bool:
        with file_lock(self.path):
            connectors = self._read()
            remaining = [c for c in connectors if c.id != connector_id]
            if len(remaining) == len(connectors):
                return False
            self._write(remaining)
        return True
