"""A canonical dump of an archive: equal dumps mean equal archives, whatever the row ids."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

VOLATILE = {"id", "ingested_at", "updated_at", "first_seen"}


def canonical_dump(db_path: Path | str) -> dict[str, Any]:
    """Every published table, ids replaced by sha256 and times left out."""
    conn = sqlite3.connect(str(db_path))
    conn.row_factory = sqlite3.Row
    try:
        sha = {row["id"]: row["sha256"] for row in conn.execute("select id, sha256 from photos")}

        def clean(row: sqlite3.Row) -> tuple:
            out = {k: row[k] for k in row.keys() if k not in VOLATILE}
            for key in ("photo_id", "duplicate_of"):
                if key in out and out[key] is not None:
                    out[key] = sha[out[key]]
            return tuple(sorted(out.items()))

        tables = ["photos", "photo_cars", "photo_files", "photographers", "events", "sessions", "cars"]
        dump = {name: sorted((clean(row) for row in conn.execute(f"select * from {name}")), key=repr)
                for name in tables}
        dump["ingest_errors"] = sorted(conn.execute("select path, error from ingest_errors").fetchall())
        return dump
    finally:
        conn.close()


def integrity_ok(db_path: Path | str) -> bool:
    conn = sqlite3.connect(str(db_path))
    try:
        return conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def half_written_photos(db_path: Path | str) -> list[str]:
    """Photos missing a part that is written with them in the same transaction."""
    conn = sqlite3.connect(str(db_path))
    try:
        return [row[0] for row in conn.execute(
            "select path from photos where sha256 is null or phash is null or thumbnail is null "
            "or id not in (select photo_id from photo_files)")]
    finally:
        conn.close()
