"""state.py: the private ledger beside archive.db."""

from __future__ import annotations

import os
from pathlib import Path

from ingest.state import file_key, ledger_path, open_archive
from tests.conftest import rows


def test_ledger_lives_beside_the_archive_and_is_not_a_db_file(tmp_path: Path) -> None:
    assert ledger_path(tmp_path / "archive.db") == tmp_path / "archive.db.private"
    assert not ledger_path("archive.db").name.endswith((".db", ".sqlite", ".sqlite3"))


def test_a_file_is_known_however_its_path_was_spelled(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert file_key("inbox/a.jpg") == file_key(str(tmp_path / "inbox/a.jpg")) == file_key("./inbox/../inbox/a.jpg")


def test_a_ledger_from_another_archive_is_forgotten(tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    archive, ledger = open_archive(db)
    with ledger.db.atomic():
        ledger.save_file("a.jpg", "ab" * 32, 10, 1, "2025-01-01T00:00:00Z")
    archive.close()
    ledger.close()
    for part in tmp_path.glob("archive.db*"):
        if not part.name.endswith(".private"):
            part.unlink()  # archive.db deleted, ledger left behind
    archive, ledger = open_archive(db)
    assert ledger.known_files() == {}
    archive.close()
    ledger.close()


def test_same_archive_keeps_its_ledger(tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    archive, ledger = open_archive(db)
    with ledger.db.atomic():
        ledger.save_file("a.jpg", "ab" * 32, 10, 1, "2025-01-01T00:00:00Z")
    archive.close()
    ledger.close()
    archive, ledger = open_archive(db)
    (known,) = ledger.known_files().values()
    assert (known.sha256, known.size, known.mtime_ns) == ("ab" * 32, 10, 1)
    archive.close()
    ledger.close()


def test_ingest_keeps_real_paths_only_in_the_ledger(tmp_path: Path, photo, run_cli) -> None:
    photo("inbox/rene-hey/IMG_1.JPG", 1)
    run_cli("ingest", tmp_path / "inbox", "--db", tmp_path / "archive.db")
    (row,) = rows(tmp_path / "archive.db.private", "select path, key from files")
    assert row == {"path": str(tmp_path / "inbox/rene-hey/IMG_1.JPG"),
                   "key": os.path.abspath(tmp_path / "inbox/rene-hey/IMG_1.JPG")}
    tables = {r["name"] for r in rows(tmp_path / "archive.db", "select name from sqlite_master where type='table'")}
    assert not {"files", "records"} & tables
