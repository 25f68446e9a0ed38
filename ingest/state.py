"""The private ledger beside archive.db: which file is which photo, and raw metadata.

archive.db is published, so it cannot hold what privacy rules scrub (real
paths, raw captions naming a private car). The ledger keeps them, so that
unchanged files are skipped without reading them and `retag` can re-decide
without touching pixels. It is never served: its name does not end in `.db`.
It is a cache of the inbox: deleting it costs one full re-read, nothing more.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

from .db import connect, connect_current
from .scan import display_path

LEDGER_TABLES: dict[str, dict[str, Any]] = {
    "files": {
        "columns": {"key": str, "path": str, "sha256": str, "size": int, "mtime_ns": int,
                    "first_seen": str, "last_seen": str},
        "pk": "key",
    },
    "records": {
        "columns": {"sha256": str, "metadata": str},
        "pk": "sha256",
    },
    "info": {"columns": {"key": str, "value": str}, "pk": "key"},
}


def ledger_path(db_path: str | Path) -> Path:
    return Path(f"{os.fspath(db_path)}.private")


def file_key(path: str) -> str:
    """Identify a file by its absolute path, however it was spelled on the command line."""
    return display_path(os.path.abspath(path))


@dataclass(frozen=True)
class KnownFile:
    path: str
    sha256: str
    size: int
    mtime_ns: int
    first_seen: str


class Ledger:
    """Files seen and raw metadata, keyed so re-runs read only what changed."""

    def __init__(self, db_path: str | Path, archive_id: str) -> None:
        self.db = connect(ledger_path(db_path))
        with self.db.atomic():
            for name, spec in LEDGER_TABLES.items():
                if not self.db.table(name).exists():
                    self.db.table(name).create(spec["columns"], pk=spec["pk"])
            self.db.table("files").create_index(["sha256"], if_not_exists=True)
            self._bind(archive_id)

    def _bind(self, archive_id: str) -> None:
        """A ledger written for another archive.db (deleted and rebuilt) is stale: forget it."""
        row = self.db.execute("select value from info where key = 'archive_id'").fetchone()
        if row and row[0] == archive_id:
            return
        for table in ("files", "records"):
            self.db.execute(f"delete from {table}")
        self.db.table("info").upsert({"key": "archive_id", "value": archive_id}, pk="key")

    def known_files(self) -> dict[str, KnownFile]:
        rows = self.db.execute("select key, path, sha256, size, mtime_ns, first_seen from files")
        return {key: KnownFile(*rest) for key, *rest in rows}

    def paths_for(self, sha256: str) -> list[tuple[str, str]]:
        """(path, first_seen) of every file holding these bytes, oldest first."""
        rows = self.db.execute(
            "select path, first_seen from files where sha256 = ? order by first_seen, path",
            [sha256],
        )
        return [tuple(row) for row in rows]

    def save_file(self, path: str, sha256: str, size: int, mtime_ns: int, now: str) -> None:
        key = file_key(path)
        old = self.db.execute("select first_seen from files where key = ?", [key]).fetchone()
        self.db.table("files").upsert(
            {"key": key, "path": display_path(path), "sha256": sha256, "size": size, "mtime_ns": mtime_ns,
             "first_seen": old[0] if old else now, "last_seen": now},
            pk="key",
        )

    def save_record(self, sha256: str, metadata: dict[str, Any]) -> None:
        self.db.table("records").upsert(
            {"sha256": sha256, "metadata": json.dumps(metadata, ensure_ascii=False)}, pk="sha256"
        )

    def record(self, sha256: str) -> dict[str, Any] | None:
        row = self.db.execute("select metadata from records where sha256 = ?", [sha256]).fetchone()
        return json.loads(row[0]) if row else None

    def records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for sha256, metadata in self.db.execute("select sha256, metadata from records"):
            yield sha256, json.loads(metadata)

    def close(self) -> None:
        self.db.close()


def archive_identity(archive: sqlite_utils.Database) -> str:
    """A random id stored in archive.db when it is created; ties the ledger to it."""
    row = archive.execute("select value from archive_info where key = 'archive_id'").fetchone()
    if row:
        return row[0]
    archive_id = uuid.uuid4().hex
    archive.table("archive_info").insert({"key": "archive_id", "value": archive_id})
    return archive_id


def open_archive(db_path: str | Path) -> tuple[sqlite_utils.Database, Ledger]:
    """archive.db in its current shape, and the ledger that belongs to it."""
    archive = connect_current(db_path)
    with archive.atomic():
        archive_id = archive_identity(archive)
    return archive, Ledger(db_path, archive_id)
