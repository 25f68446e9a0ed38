"""One writer at a time: an advisory lock file beside the archive.

SQLite's WAL mode lets Datasette read while ingest writes, but two writers
would take turns transaction by transaction and do the same work twice. The
lock makes a second ingest (or tag, retag, watch) wait for the first and
then find its files already done. The kernel releases it when a process
dies, so a killed run never leaves the archive locked.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .errors import ArchiveError


def lock_path(db_path: str | os.PathLike[str]) -> Path:
    return Path(f"{os.fspath(db_path)}.lock")


@contextmanager
def writer_lock(db_path: str | os.PathLike[str], on_wait: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Hold the archive's writer lock; calls `on_wait` once if another writer has it."""
    path = lock_path(db_path)
    try:
        # 0664 before the umask: with umask 002 the admin and a service account in one group share it.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o664)
    except OSError as e:
        raise ArchiveError(f"cannot open the writer lock {path}: {e.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
