"""Whole-file writes that never leave a half-written file, serialized across processes, and
sets of files that land together or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

LOCK_SUFFIX = ".lock"
_TEMP_SUFFIX = ".tmp"
_POLL_S = 0.05


class LockTimeout(TimeoutError):
    """Another process held the lock for longer than the caller was willing to wait."""

    def __init__(self, lock_path: Path, waited_s: float) -> None:
        self.lock_path = lock_path
        self.waited_s = waited_s
        super().__init__(f"{lock_path} was held by another process for {waited_s:g} s")


def lock_path_of(path: Path) -> Path:
    return path.with_name(path.name + LOCK_SUFFIX)


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def file_lock(
    path: Path,
    *,
    timeout_s: float | None = None,
    notice_after_s: float = 1.0,
    on_wait: Callable[[Path], None] | None = None,
) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` for a read-modify-write of ``path``.

    A sidecar file is locked because ``os.replace`` swaps the data file's inode, and a lock on
    a replaced inode would protect nothing. The operating system releases the lock when its
    holder exits, even when killed, so a lock file left on disk never blocks anyone. While
    another process holds the lock, ``on_wait`` is called once after ``notice_after_s``; after
    ``timeout_s`` (``None``: forever) :class:`LockTimeout` is raised.
    """
    lock_path = lock_path_of(path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        start = time.monotonic()
        noticed = False
        while not _try_lock(fd):
            waited = time.monotonic() - start
            if timeout_s is not None and waited >= timeout_s:
                raise LockTimeout(lock_path, timeout_s)
            if not noticed and waited >= notice_after_s:
                noticed = True
                if on_wait is not None:
                    on_wait(lock_path)
            time.sleep(_POLL_S)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Delete temporary files a killed writer left beside ``path``.

    Call it only while holding :func:`file_lock`: every writer writes its temporary file under
    the lock, so any such file found then belongs to a writer that is gone.
    """
    removed: list[Path] = []
    prefix = _temp_prefix(path)
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(prefix) and entry.name.endswith(_TEMP_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _less_umask(mode: int) -> int:
    umask = os.umask(0o077)  # read by setting it; set back at once
    os.umask(umask)
    return mode & ~umask


def atomic_write(path: Path, data: bytes, *, new_mode: int | None = None) -> None:
    """Write to a temporary file beside ``path``, fsync it, then rename it over ``path``.

    An existing file keeps its permissions. A new one is private (0600: connector files hold
    secrets) unless ``new_mode`` is given, less the umask (reports other people read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = _less_umask(new_mode) if new_mode is not None else None
    fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=_TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    if sys.platform != "win32":
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def staged_folder(folder: Path) -> Iterator[Path]:
    """A temporary folder beside ``folder`` whose files move into ``folder`` when the block ends.

    Write the files into the folder this yields (with :func:`atomic_write`). If the block
    raises, nothing reaches ``folder``; once it returns, a new ``folder`` appears whole with one
    rename, and into an existing one each file moves with one rename, after all are written,
    replacing the file of the same name. Files already in ``folder`` are left alone.
    """
    folder = Path(os.path.abspath(folder))  # "." has no name to put beside it
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f"{_temp_prefix(folder)}{uuid.uuid4().hex}{_TEMP_SUFFIX}"
    staging.mkdir()  # the mode mkdir gives any folder, which it keeps when renamed
    try:
        yield staging
        if not folder.exists():
            os.rename(staging, folder)
        else:
            for entry in sorted(staging.iterdir()):
                target = folder / entry.name
                with contextlib.suppress(FileNotFoundError):
                    os.chmod(entry, target.stat().st_mode & 0o777)
                os.replace(entry, target)
        _fsync_folder(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
