"""The published database, archive.db: its shape as data, and the writes.

Everything here is what members may see through Datasette. Raw paths and
metadata that could hold private identifiers live in the private ledger
(`state.py`), never here.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import sqlite_utils

from .errors import ArchiveError

BUSY_TIMEOUT_MS = 30_000

# Table -> (columns in order, primary key, foreign keys). Order matters:
# referenced tables come first.
TABLES: dict[str, dict[str, Any]] = {
    "archive_info": {
        # archive_id ties the private ledger to this very file (see state.py).
        "columns": {"key": str, "value": str},
        "pk": "key",
    },
    "photographers": {
        "columns": {"id": str, "name": str, "studio": str, "handle": str, "credit": str,
                    "aliases": str},
        "pk": "id",
    },
    "events": {
        "columns": {"id": str, "name": str, "start": str, "end": str, "timezone": str,
                    "place_name": str, "latitude": float, "longitude": float,
                    "radius_km": float, "aliases": str},
        "pk": "id",
    },
    "sessions": {
        "columns": {"id": str, "event_id": str, "name": str, "start": str, "end": str},
        "pk": "id",
        "foreign_keys": [("event_id", "events", "id")],
    },
    "cars": {
        "columns": {"id": str, "vin": str, "vin_last7": str, "production_number": int,
                    "color": str, "nickname": str, "plates": str, "aliases": str},
        "pk": "id",
    },
    "photos": {
        "columns": {
            "id": int, "sha256": str, "path": str, "file_name": str, "file_size": int,
            "format": str, "width": int, "height": int, "orientation": int,
            "taken_at": str, "taken_at_local": str, "camera_make": str, "camera_model": str,
            "camera_serial": str, "lens": str, "focal_length": float, "f_number": float,
            "exposure_time": float, "iso": int, "latitude": float, "longitude": float,
            "location_rounded": int, "title": str, "caption": str, "keywords": str,
            "artist": str, "copyright": str, "photographer_id": str,
            "photographer_source": str, "event_id": str, "event_source": str,
            "session_id": str, "session_source": str, "credit": str, "event_name": str,
            "session_name": str, "car_names": str, "phash": str, "dhash": str,
            "duplicate_of": int, "thumbnail": bytes, "thumbnail_width": int,
            "thumbnail_height": int, "ingested_at": str, "updated_at": str,
            # A duplicate shows its original's photographer and credit (dedupe.py); its own are kept here.
            "own_photographer_id": str, "own_photographer_source": str, "own_credit": str,
        },
        "pk": "id",
        "foreign_keys": [
            ("photographer_id", "photographers", "id"), ("event_id", "events", "id"),
            ("session_id", "sessions", "id"), ("duplicate_of", "photos", "id"),
        ],
        "unique": ["sha256"],
        "fts": ["title", "caption", "keywords", "credit", "car_names", "event_name",
                "session_name"],
        "indexes": [["taken_at_local"], ["event_id", "session_id"], ["photographer_id"],
                    ["phash"], ["ingested_at"]],
        # The gallery, its count and its facets read originals only (plugins/photo_filters.py).
        # An index on duplicate_of would make `duplicate_of is null` look selective to the
        # planner, which has no statistics, and it would walk 97% of the table through it;
        # these partial indexes hold only originals, so the gallery's newest-first page and
        # every facet count are read in index order without sorting or touching a row.
        "partial_indexes": {
            "originals": ("duplicate_of is null", [
                ["taken_at_local"], ["event_id", "taken_at_local"], ["session_id", "taken_at_local"],
                ["photographer_id", "taken_at_local"], ["camera_model"],
            ]),
            "duplicates": ("duplicate_of is not null", [["duplicate_of"]]),
        },
        "dropped_indexes": ["idx_photos_duplicate_of"],  # superseded by the partial indexes above
    },
    "photo_files": {
        # Every path the same bytes were found under (exact duplicates are not lost).
        "columns": {"photo_id": int, "path": str, "file_name": str, "first_seen": str},
        "pk": ("photo_id", "path"),
        "foreign_keys": [("photo_id", "photos", "id")],
        "indexes": [["path"]],
    },
    "photo_cars": {
        # color: the car's colour, kept equal to cars.color by TRIGGERS, so that the colour
        # facet counts distinct photos per colour from one index instead of joining cars.
        "columns": {"photo_id": int, "car_id": str, "source": str, "confidence": float, "color": str},
        "pk": ("photo_id", "car_id"),
        "foreign_keys": [("photo_id", "photos", "id"), ("car_id", "cars", "id")],
        # The car and colour facets read only these: a car's or a colour's photos, and the
        # colours of given photos (the key's index has car_id, not color).
        "indexes": [["car_id", "photo_id"], ["color", "photo_id"], ["photo_id", "color"]],
        "dropped_indexes": ["idx_photo_cars_car_id"],  # superseded by (car_id, photo_id)
        "backfill": {"color": "update photo_cars set color = (select color from cars where cars.id = photo_cars.car_id)"},
    },
    "photo_signatures": {
        # Near-duplicate search (dedupe.py): a 64 px miniature, its centre's DCT and mean hashes,
        # and the hashes of all 31 search windows (so re-clustering reads no pixels and hashes nothing).
        "columns": {"photo_id": int, "chash": str, "cahash": str, "signature": bytes, "windows": bytes},
        "pk": "photo_id",
        "foreign_keys": [("photo_id", "photos", "id")],
    },
    "duplicate_links": {
        # Verified near-duplicate pairs (photo_id < other_id): clusters are decided from these.
        "columns": {"photo_id": int, "other_id": int, "distance": int, "unexplained": float},
        "pk": ("photo_id", "other_id"),
        "foreign_keys": [("photo_id", "photos", "id"), ("other_id", "photos", "id")],
        "indexes": [["other_id"]],
    },
    "ingest_errors": {
        "columns": {"path": str, "error": str, "ingested_at": str},
        "pk": "path",
    },
}


# Views that answer members' and the admin's questions directly.
VIEWS = {
    "event_attendance": """
        select e.id as event_id, e.name as event_name, c.id as car_id, c.nickname, c.color,
               count(distinct coalesce(p.duplicate_of, p.id)) as photos
        from photo_cars pc
        join photos p on p.id = pc.photo_id
        join events e on e.id = p.event_id
        join cars c on c.id = pc.car_id
        group by e.id, c.id
        order by e.start, e.id, c.id""",
    "cars_without_photos": """
        select c.id as car_id, c.production_number, c.vin, c.color, c.nickname, c.plates
        from cars c
        where not exists (select 1 from photo_cars pc where pc.car_id = c.id)
        order by c.id""",
    "photos_without_photographer": """
        select p.id, p.path, p.file_name, p.taken_at, p.camera_make, p.camera_model, p.camera_serial,
               p.artist, p.credit, p.event_id, p.duplicate_of
        from photos p
        where p.photographer_id is null
        order by p.camera_serial, p.path""",
}


# Triggers that keep copied values in step, whoever writes (ingest, retag, dedupe, a person).
TRIGGERS = {
    "photo_cars_color_on_tag": """
        after insert on photo_cars begin
          update photo_cars set color = (select color from cars where id = new.car_id) where rowid = new.rowid;
        end""",
    "photo_cars_color_on_new_car": """
        after insert on cars begin
          update photo_cars set color = new.color where car_id = new.id;
        end""",
    "photo_cars_color_on_car_change": """
        after update of color on cars begin
          update photo_cars set color = new.color where car_id = new.id;
        end""",
}


class Database(sqlite_utils.Database):
    """sqlite-utils' Database whose transactions take the write lock as they begin.

    A plain BEGIN reads first and asks for the write lock at the first write; if
    another program wrote meanwhile, SQLite fails at once with "database is
    locked" instead of waiting out the busy timeout. BEGIN IMMEDIATE waits.
    """

    @contextmanager
    def atomic(self) -> Iterator["Database"]:
        if self.conn.in_transaction:  # nested: sqlite-utils' savepoint
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


def connect(path: str | Path) -> Database:
    """Open (creating if needed) a database in WAL mode with a generous busy timeout."""
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        db = Database(conn)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.enable_wal()
        db.execute("PRAGMA foreign_keys = ON")
        # Deleted rows are overwritten, not left in free space: text scrubbed for privacy
        # (a car made private) must leave the file, not only the tables.
        db.execute("PRAGMA secure_delete = ON")
    except sqlite3.DatabaseError as e:
        raise ArchiveError(f"cannot open database {path}: {e}") from None
    return db


def connect_current(path: str | Path) -> sqlite_utils.Database:
    """connect, with an archive made by an older version brought up to the current shape."""
    db = connect(path)
    ensure_db_shape(db)
    return db


def ensure_db_shape(db: sqlite_utils.Database) -> None:
    """Create missing tables, columns and indexes; never drops anything.

    A plain (deferred) transaction, not Database.atomic's BEGIN IMMEDIATE: an
    archive already in shape is only read, so `serve` and `duplicates` do not
    wait behind a long write to check it.
    """
    with sqlite_utils.Database.atomic(db):
        for name, spec in TABLES.items():
            ensure_table(db, name, spec)
        for name, sql in VIEWS.items():
            db.create_view(name, sql, replace=True)  # unchanged SQL: nothing is written
        for name, body in TRIGGERS.items():
            sql = f"CREATE TRIGGER [{name}] {body.strip()}"
            old = db.execute("select sql from sqlite_master where type = 'trigger' and name = ?", [name]).fetchone()
            if old is None or old[0] != sql:
                db.execute(f"drop trigger if exists [{name}]")
                db.execute(sql)


def ensure_table(db: sqlite_utils.Database, name: str, spec: dict[str, Any]) -> None:
    table = db.table(name)
    if not table.exists():
        table.create(spec["columns"], pk=spec["pk"], foreign_keys=spec.get("foreign_keys"),
                     not_null={spec["pk"]} if isinstance(spec["pk"], str) else None)
    else:
        check_own_table(db, table, spec)
        missing = {c: t for c, t in spec["columns"].items() if c not in table.columns_dict}
        for column, column_type in missing.items():
            table.add_column(column, column_type)
            if column in spec.get("backfill", {}):
                db.execute(spec["backfill"][column])
    for column in spec.get("unique", []):
        table.create_index([column], unique=True, if_not_exists=True)
    for columns in spec.get("indexes", []):
        table.create_index(columns, if_not_exists=True)
    for label, (where, indexes) in spec.get("partial_indexes", {}).items():
        for columns in indexes:
            listed = ", ".join(f"[{c}]" for c in columns)
            db.execute(f"create index if not exists [idx_{name}_{label}_{'_'.join(columns)}] "
                       f"on [{name}] ({listed}) where {where}")
    for index in spec.get("dropped_indexes", []):
        db.execute(f"drop index if exists [{index}]")
    if spec.get("fts") and not table.detect_fts():
        # Triggers keep the index in step with every write; porter stems 'parade'/'parades'.
        table.enable_fts(spec["fts"], create_triggers=True, tokenize="porter")


def check_own_table(db: sqlite_utils.Database, table: sqlite_utils.db.Table, spec: dict[str, Any]) -> None:
    """A table of the same name but another key: --db names some other program's database."""
    expected = [spec["pk"]] if isinstance(spec["pk"], str) else list(spec["pk"])
    if table.pks != expected:
        raise ArchiveError(f"{db.conn.execute('pragma database_list').fetchone()[2]} is not a photo archive: "
                           f"its table {table.name} is keyed by {', '.join(table.pks)}, not {', '.join(expected)}")


def purge_deleted_text(db: sqlite_utils.Database) -> None:
    """Merge the full-text index so that no deleted or replaced text is left in it.

    FTS5 keeps a deleted row's words in its segments (readable through
    photos_fts_data) until they are merged: after a car is made private its
    nickname and VIN would stay there. Costs one rewrite of the index.
    """
    for name, spec in TABLES.items():
        if spec.get("fts"):  # ensure_table names the index <table>_fts
            db.execute(f"insert into [{name}_fts]([{name}_fts]) values ('optimize')")


def as_json(values: Iterable[str] | None) -> str:
    return json.dumps(list(values or []), ensure_ascii=False)


def photo_id_for_sha(db: sqlite_utils.Database, sha256: str) -> int | None:
    row = db.execute("select id from photos where sha256 = ?", [sha256]).fetchone()
    return row[0] if row else None


def save_photo(db: sqlite_utils.Database, row: dict[str, Any], replaces: int | None) -> int:
    """Insert a photo, or update it in place (same id) when `replaces` names its old row."""
    photos = db.table("photos")
    existing = photo_id_for_sha(db, row["sha256"])
    if existing is not None:
        photos.update(existing, {k: v for k, v in row.items() if k != "ingested_at"})
        return existing
    if replaces is not None:
        photos.update(replaces, row)
        return replaces
    return photos.insert(row).last_pk


def has_file(db: sqlite_utils.Database, photo_id: int, path: str) -> bool:
    row = db.execute("select 1 from photo_files where photo_id = ? and path = ?", [photo_id, path])
    return row.fetchone() is not None


def move_file(db: sqlite_utils.Database, photo_id: int, path: str, now: str) -> list[int]:
    """Record that `path` holds this photo's bytes; returns the photos it no longer holds."""
    left = [row[0] for row in db.execute(
        "select photo_id from photo_files where path = ? and photo_id != ?", [path, photo_id])]
    db.execute("delete from photo_files where path = ? and photo_id != ?", [path, photo_id])
    if not has_file(db, photo_id, path):
        db.table("photo_files").insert(
            {"photo_id": photo_id, "path": path, "file_name": Path(path).name, "first_seen": now}
        )
    return left


def save_cars(db: sqlite_utils.Database, photo_id: int, tags: list[dict[str, Any]]) -> None:
    db.execute("delete from photo_cars where photo_id = ?", [photo_id])
    db.table("photo_cars").insert_all({"photo_id": photo_id, **tag} for tag in tags)


def record_error(db: sqlite_utils.Database, path: str, error: str, now: str) -> bool:
    """One row per failing path; re-running with the same failure changes nothing (returns False)."""
    old = db.execute("select error from ingest_errors where path = ?", [path]).fetchone()
    if old and old[0] == error:
        return False
    db.table("ingest_errors").upsert({"path": path, "error": error, "ingested_at": now}, pk="path")
    return True


def clear_error(db: sqlite_utils.Database, path: str) -> None:
    db.execute("delete from ingest_errors where path = ?", [path])
