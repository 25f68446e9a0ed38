"""db.py: the published schema as data, ensure_db_shape, idempotent writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ingest import db as archive_db
from ingest.errors import ArchiveError
from tests.conftest import rows

SPEC_PHOTO_COLUMNS = [
    "id", "sha256", "path", "file_name", "file_size", "format", "width", "height", "orientation",
    "taken_at", "taken_at_local", "camera_make", "camera_model", "camera_serial", "lens",
    "focal_length", "f_number", "exposure_time", "iso", "latitude", "longitude", "title", "caption",
    "keywords", "artist", "copyright", "photographer_id", "event_id", "session_id", "credit", "phash",
    "duplicate_of", "thumbnail", "ingested_at",
]


def test_every_spec_table_and_column_exists(tmp_path: Path) -> None:
    db = archive_db.connect(tmp_path / "a.db")
    archive_db.ensure_db_shape(db)
    assert set(SPEC_PHOTO_COLUMNS) <= set(db["photos"].columns_dict)
    assert {"photo_id", "car_id", "source", "confidence"} <= set(db["photo_cars"].columns_dict)
    assert {"path", "error", "ingested_at"} <= set(db["ingest_errors"].columns_dict)
    for table in ("photographers", "events", "sessions", "cars"):
        assert "id" in db[table].columns_dict and db[table].pks == ["id"]
    assert db["photos"].pks == ["id"]
    assert db["photos"].detect_fts() == "photos_fts"


def test_shape_is_idempotent_and_adds_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    conn = sqlite3.connect(path)
    conn.execute("create table photos (id integer primary key, sha256 text)")  # an old archive
    conn.commit()
    conn.close()
    db = archive_db.connect(path)
    archive_db.ensure_db_shape(db)
    schema = db.execute("select sql from sqlite_master order by name").fetchall()
    archive_db.ensure_db_shape(db)
    assert db.execute("select sql from sqlite_master order by name").fetchall() == schema
    assert "thumbnail" in db["photos"].columns_dict


def test_wal_mode_and_busy_timeout(tmp_path: Path) -> None:
    db = archive_db.connect(tmp_path / "a.db")
    assert db.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert db.execute("pragma busy_timeout").fetchone()[0] == archive_db.BUSY_TIMEOUT_MS


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    path.write_text("this is a text file")
    with pytest.raises(ArchiveError) as error:
        archive_db.ensure_db_shape(archive_db.connect(path))
    assert str(error.value).startswith(f"cannot open database {path}:")


def test_record_error_is_idempotent(tmp_path: Path) -> None:
    db = archive_db.connect(tmp_path / "a.db")
    archive_db.ensure_db_shape(db)
    archive_db.record_error(db, "x.jpg", "empty file", "2025-01-01T00:00:00Z")
    archive_db.record_error(db, "x.jpg", "empty file", "2026-01-01T00:00:00Z")
    assert rows(tmp_path / "a.db", "select * from ingest_errors") == [
        {"path": "x.jpg", "error": "empty file", "ingested_at": "2025-01-01T00:00:00Z"}]
    archive_db.record_error(db, "x.jpg", "truncated", "2026-01-01T00:00:00Z")
    archive_db.clear_error(db, "y.jpg")
    assert [r["error"] for r in rows(tmp_path / "a.db", "select * from ingest_errors")] == ["truncated"]


def test_photo_cars_colour_follows_the_register(tmp_path: Path) -> None:
    """The colour facet counts photo_cars.color: every way a car's colour is written reaches it."""
    db = archive_db.connect(tmp_path / "a.db")
    archive_db.ensure_db_shape(db)
    db["cars"].insert({"id": "0042", "color": "Java Green"})
    db["photos"].insert_all([{"id": 1, "sha256": "a"}, {"id": 2, "sha256": "b"}])
    archive_db.save_cars(db, 1, [{"car_id": "0042", "source": "keyword", "confidence": 1.0}])
    colours = lambda: [r["color"] for r in rows(tmp_path / "a.db", "select color from photo_cars order by photo_id")]  # noqa: E731
    assert colours() == ["Java Green"]
    db["cars"].upsert({"id": "0042", "color": "Frozen Red"}, pk="id")  # how tagging.upsert_register writes
    archive_db.save_cars(db, 2, [{"car_id": "0042", "source": "caption", "confidence": 0.8}])
    assert colours() == ["Frozen Red", "Frozen Red"]
    db["cars"].insert({"id": "0042", "color": None}, replace=True)  # insert or replace: a new row
    assert colours() == [None, None]


def test_an_old_archive_gets_colours_and_the_gallery_indexes(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        create table cars (id text primary key, color text);
        create table photos (id integer primary key, sha256 text, duplicate_of integer);
        create table photo_cars (photo_id integer, car_id text, source text, confidence float,
                                 primary key (photo_id, car_id));
        create index idx_photos_duplicate_of on photos (duplicate_of);
        create index idx_photo_cars_car_id on photo_cars (car_id);
        insert into cars values ('0042', 'Java Green');
        insert into photos (id, sha256) values (1, 'a');
        insert into photo_cars values (1, '0042', 'keyword', 1.0);
    """)
    conn.commit()
    conn.close()
    archive_db.ensure_db_shape(archive_db.connect(path))
    assert rows(path, "select color from photo_cars") == [{"color": "Java Green"}]
    indexes = {r["name"]: r["sql"] for r in rows(path, "select name, sql from sqlite_master where type = 'index'")}
    # The superseded full indexes are gone: the planner would walk every original through them.
    assert "idx_photos_duplicate_of" not in indexes and "idx_photo_cars_car_id" not in indexes
    assert indexes["idx_photos_originals_taken_at_local"].endswith(" where duplicate_of is null")
    assert indexes["idx_photos_duplicates_duplicate_of"].endswith(" where duplicate_of is not null")
