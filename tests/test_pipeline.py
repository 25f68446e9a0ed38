"""ingest.pipeline: an Ingest run's outcomes, the rows it writes, and what it does on re-runs."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from ingest.errors import ArchiveError
from ingest.pipeline import Ingest, Summary, batched
from ingest.register import Register
from ingest.retag import retag_all
from ingest.sample_photos import Meta
from ingest.state import open_archive
from ingest.tagging import Tagger
from tests.conftest import rows

SMALL = (320, 240)


def ingest(db: Path, *paths: Path, plans: list[int] | None = None) -> Summary:
    run = Ingest(db, Tagger(Register.empty()), workers=1)
    if plans is not None:
        run.on_plan = plans.append
    try:
        return run.run([str(p) for p in paths])
    finally:
        run.close()


def ledger(db: Path, sql: str, params: tuple = ()) -> list[dict]:
    return rows(f"{db}.private", sql, params)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- Summary and batches -----------------------------------------------------------------

def test_summary_line() -> None:
    summary = Summary(seconds=2.0, near_duplicates=1)
    for outcome, times in (("new", 2), ("updated", 1), ("unchanged", 3), ("duplicate", 1), ("skipped", 1),
                           ("failed", 1)):
        for _ in range(times):
            summary.add(outcome, "inbox/x.jpg", "why")
    assert summary.line() == ("2 new, 1 updated, 3 unchanged, 1 exact duplicates, 1 near duplicates, "
                              "1 skipped, 1 failed in 2.0s (2.0 photos/s)")


def test_summary_line_of_an_instant_run() -> None:
    assert Summary().line() == ("0 new, 0 updated, 0 unchanged, 0 exact duplicates, 0 near duplicates, "
                                "0 skipped, 0 failed in 0.0s (0.0 photos/s)")


def test_summary_keeps_the_reasons_of_skipped_and_failed_files() -> None:
    summary = Summary()
    summary.add("skipped", "inbox/clip.mp4", "unsupported file type .mp4")
    summary.add("failed", "inbox/x.jpg", "empty file (0 bytes): the copy probably failed, deliver it again")
    summary.add("unchanged", "inbox/y.jpg")
    assert summary.skipped == [("inbox/clip.mp4", "unsupported file type .mp4")]
    assert summary.failures == [("inbox/x.jpg", "empty file (0 bytes): the copy probably failed, deliver it again")]
    assert summary.counts == {"new": 0, "updated": 0, "unchanged": 1, "duplicate": 0, "skipped": 1, "failed": 1}


@pytest.mark.parametrize("outcome, changed", [
    ("new", True), ("updated", True), ("duplicate", True), ("unchanged", False), ("skipped", False),
])
def test_summary_changed(outcome: str, changed: bool) -> None:
    summary = Summary()
    summary.add(outcome, "inbox/x.jpg")
    assert summary.changed is changed


def test_batched_cuts_by_size_and_by_time() -> None:
    assert list(batched(range(5), size=2)) == [[0, 1], [2, 3], [4]]
    assert list(batched(range(3), size=64, seconds=0.0)) == [[0], [1], [2]]
    assert list(batched([], size=2)) == []


# --- runs over real files ----------------------------------------------------------------

def test_a_run_writes_photos_files_errors_and_the_ledger(tmp_path: Path, photo) -> None:
    a = photo("inbox/rene-hey/IMG_0001.JPG", 1, Meta(xmp_title="Green Mamba at the Karussell"), size=SMALL)
    b = photo("inbox/rene-hey/IMG_0002.png", 2, size=SMALL)
    notes = tmp_path / "inbox/notes.txt"
    notes.write_text("shopping list")
    broken = tmp_path / "inbox/broken.jpg"
    broken.write_text("not a photo")
    db = tmp_path / "archive.db"
    plans: list[int] = []
    summary = ingest(db, tmp_path / "inbox", plans=plans)

    assert plans == [3]  # the two photos and the broken file are read; the .txt is not
    assert summary.counts == {"new": 2, "updated": 0, "unchanged": 0, "duplicate": 0, "skipped": 1, "failed": 1}
    assert summary.skipped == [(str(notes), "unsupported file type .txt")]
    assert summary.failures == [
        (str(broken), "not an image Pillow can read: the file's contents do not match its suffix")]
    photos = rows(db, "select id, path, file_name, sha256, file_size, format, title, ingested_at from photos "
                      "order by path")
    assert [(p["path"], p["file_name"], p["sha256"], p["file_size"], p["format"], p["title"]) for p in photos] == [
        (str(a), "IMG_0001.JPG", sha(a), a.stat().st_size, "JPEG", "Green Mamba at the Karussell"),
        (str(b), "IMG_0002.png", sha(b), b.stat().st_size, "PNG", None),
    ]
    assert rows(db, "select photo_id, path, file_name, first_seen from photo_files order by path") == [
        {"photo_id": p["id"], "path": p["path"], "file_name": p["file_name"], "first_seen": p["ingested_at"]}
        for p in photos]
    assert rows(db, "select path, error from ingest_errors") == [
        {"path": str(broken), "error": "not an image Pillow can read: the file's contents do not match its suffix"}]
    # The ledger knows each photo file by size and mtime, so the next run skips it unread.
    assert ledger(db, "select path, sha256, size, mtime_ns from files order by path") == [
        {"path": str(p), "sha256": sha(p), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns}
        for p in (a, b)]
    records = {r["sha256"]: json.loads(r["metadata"]) for r in ledger(db, "select * from records")}
    assert set(records) == {sha(a), sha(b)}
    assert records[sha(a)]["title"] == "Green Mamba at the Karussell"


def test_a_re_run_reads_only_the_changed_file(tmp_path: Path, photo) -> None:
    path = photo("inbox/a.jpg", 1, size=SMALL)
    photo("inbox/b.jpg", 2, size=SMALL)
    db = tmp_path / "archive.db"
    ingest(db, tmp_path / "inbox")

    def everything() -> tuple:
        return (rows(db, "select * from photos order by id"), rows(db, "select * from photo_files order by path"),
                ledger(db, "select * from files order by key"), ledger(db, "select * from records order by sha256"))

    before = everything()
    plans: list[int] = []
    summary = ingest(db, tmp_path / "inbox", plans=plans)
    assert plans == [0]  # nothing to read
    assert summary.counts == {"new": 0, "updated": 0, "unchanged": 2, "duplicate": 0, "skipped": 0, "failed": 0}
    assert not summary.changed
    assert everything() == before

    old_sha = sha(path)
    (old,) = rows(db, "select id from photos where sha256 = ?", (old_sha,))
    photo("inbox/a.jpg", 3, Meta(xmp_title="re-exported"), size=SMALL)
    summary = ingest(db, tmp_path / "inbox", plans=plans)
    assert plans == [0, 1]
    assert summary.counts == {"new": 0, "updated": 1, "unchanged": 1, "duplicate": 0, "skipped": 0, "failed": 0}
    assert rows(db, "select id, sha256, title from photos where path = ?", (str(path),)) == [
        {"id": old["id"], "sha256": sha(path), "title": "re-exported"}]  # the same photo, updated in place
    assert rows(db, "select count(*) n from photos where sha256 = ?", (old_sha,)) == [{"n": 0}]
    assert rows(db, "select photo_id from photo_files where path = ?", (str(path),)) == [{"photo_id": old["id"]}]
    assert ledger(db, "select sha256 from files where path = ?", (str(path),)) == [{"sha256": sha(path)}]


def two_copies(tmp_path: Path, photo) -> tuple[Path, Path]:
    """The same bytes in two photographers' folders."""
    first = photo("inbox/rene-hey/IMG_0001.JPG", 1, size=SMALL)
    copy = tmp_path / "inbox/vos-photography/IMG_0001.JPG"
    copy.parent.mkdir()
    shutil.copy(first, copy)
    return first, copy


def test_the_same_bytes_under_two_paths_are_one_photo_with_two_files(tmp_path: Path, photo) -> None:
    first, copy = two_copies(tmp_path, photo)
    db = tmp_path / "archive.db"
    summary = ingest(db, tmp_path / "inbox")
    assert summary.counts == {"new": 1, "updated": 0, "unchanged": 0, "duplicate": 1, "skipped": 0, "failed": 0}
    (original,) = rows(db, "select id, path, sha256 from photos")
    assert original["path"] == str(first)  # the first found: scan order is by name
    assert rows(db, "select photo_id, path from photo_files order by path") == [
        {"photo_id": original["id"], "path": str(first)}, {"photo_id": original["id"], "path": str(copy)}]
    assert ledger(db, "select path, sha256 from files order by path") == [
        {"path": str(first), "sha256": sha(first)}, {"path": str(copy), "sha256": sha(first)}]

    # Re-exporting one of the two must not take the photo away from the other.
    photo("inbox/rene-hey/IMG_0001.JPG", 9, size=SMALL)
    summary = ingest(db, tmp_path / "inbox")
    assert summary.counts == {"new": 1, "updated": 0, "unchanged": 1, "duplicate": 0, "skipped": 0, "failed": 0}
    photos = rows(db, "select id, sha256 from photos order by id")
    assert photos == [{"id": original["id"], "sha256": original["sha256"]}, {"id": photos[1]["id"], "sha256": sha(first)}]
    assert rows(db, "select photo_id, path from photo_files order by path") == [
        {"photo_id": photos[1]["id"], "path": str(first)}, {"photo_id": original["id"], "path": str(copy)}]


def test_a_photo_left_with_its_other_copy_shows_that_copy(tmp_path: Path, photo) -> None:
    first, copy = two_copies(tmp_path, photo)
    db = tmp_path / "archive.db"
    ingest(db, tmp_path / "inbox")
    photo("inbox/rene-hey/IMG_0001.JPG", 9, size=SMALL)
    ingest(db, tmp_path / "inbox")
    assert rows(db, "select path from photos order by id") == [{"path": str(copy)}, {"path": str(first)}]
    archive, private = open_archive(db)
    try:  # ingest and retag agree: nothing left for retag to correct
        assert [c.line() for c in retag_all(archive, private, Tagger(Register.empty()), "now")] == []
    finally:
        archive.close()
        private.close()


TWO_PHOTOGRAPHERS = """\
photographers:
  - id: rene-hey
    name: René Hey
  - id: vos-photography
    name: VOS Photography
"""


def test_a_near_duplicate_follows_its_original_to_the_other_copy(tmp_path: Path, photo) -> None:
    from ingest.register import load_register

    first, copy = two_copies(tmp_path, photo)   # René's and VOS's folders hold the same bytes
    photo("inbox/zz-reshare/small.jpg", 1, size=(160, 120), quality=70)  # a re-share of that picture
    (tmp_path / "register.yml").write_text(TWO_PHOTOGRAPHERS, encoding="utf-8")
    tagger = lambda: Tagger(load_register(tmp_path / "register.yml"))  # noqa: E731
    db = tmp_path / "archive.db"
    run = Ingest(db, tagger(), workers=1)
    run.run([str(tmp_path / "inbox")])
    run.close()
    assert rows(db, "select file_name, credit from photos order by file_name") == [
        {"file_name": "IMG_0001.JPG", "credit": "Photo: René Hey"}, {"file_name": "small.jpg", "credit": "Photo: René Hey"}]
    photo("inbox/rene-hey/IMG_0001.JPG", 9, size=SMALL)  # René re-exports his: VOS's copy holds the picture now
    run = Ingest(db, tagger(), workers=1)
    run.run([str(tmp_path / "inbox")])
    run.close()
    assert rows(db, """select p.path, p.credit, d.credit duplicate_credit from photos p
                       join photos d on d.duplicate_of = p.id""") == [
        {"path": str(copy), "credit": "Photo: VOS Photography", "duplicate_credit": "Photo: VOS Photography"}]


def test_both_copies_re_exported_in_one_run_leave_each_file_to_one_photo(tmp_path: Path, photo) -> None:
    first, copy = two_copies(tmp_path, photo)
    db = tmp_path / "archive.db"
    ingest(db, tmp_path / "inbox")
    photo("inbox/rene-hey/IMG_0001.JPG", 8, size=SMALL)
    photo("inbox/vos-photography/IMG_0001.JPG", 9, size=SMALL)
    ingest(db, tmp_path / "inbox")
    files = rows(db, "select path, count(*) n from photo_files group by path order by path")
    assert files == [{"path": str(first), "n": 1}, {"path": str(copy), "n": 1}]
    assert rows(db, "select count(*) n from photo_files where photo_id = 1") == [{"n": 0}]  # the old picture


def test_a_near_duplicate_is_counted(tmp_path: Path, photo) -> None:
    photo("inbox/big.jpg", 7, size=(640, 480))
    photo("inbox/small.jpg", 7, size=SMALL, quality=70)
    photo("inbox/other.jpg", 8, size=SMALL)
    db = tmp_path / "archive.db"
    summary = ingest(db, tmp_path / "inbox")
    assert (summary.counts["new"], summary.near_duplicates) == (3, 1)
    assert summary.line().startswith("3 new, 0 updated, 0 unchanged, 0 exact duplicates, 1 near duplicates, ")
    assert rows(db, "select a.file_name, b.file_name of from photos a join photos b on a.duplicate_of = b.id") == [
        {"file_name": "small.jpg", "of": "big.jpg"}]


def test_a_file_gone_between_scan_and_read_is_skipped_not_failed(tmp_path: Path, photo) -> None:
    gone = photo("inbox/a.jpg", 1, size=SMALL)
    kept = photo("inbox/b.jpg", 2, size=SMALL)
    db = tmp_path / "archive.db"
    run = Ingest(db, Tagger(Register.empty()), workers=1)
    try:
        to_read = run.plan([str(tmp_path / "inbox")])
        gone.unlink()  # a sync tool moved it away
        for batch in batched(run.read_all(to_read)):
            run.write_batch(batch)
    finally:
        run.close()
    assert run.summary.counts == {"new": 1, "updated": 0, "unchanged": 0, "duplicate": 0, "skipped": 1,
                                  "failed": 0}
    assert run.summary.skipped == [(str(gone), "file vanished before it could be read (moved or deleted)")]
    assert rows(db, "select path from photos") == [{"path": str(kept)}]
    assert rows(db, "select * from ingest_errors") == []
    assert ledger(db, "select path from files") == [{"path": str(kept)}]


def test_a_batch_is_written_whole_or_not_at_all(tmp_path: Path, photo) -> None:
    """A write that fails mid-batch leaves no photo of that batch behind, in archive.db or the ledger."""
    for i, name in enumerate(("a.jpg", "b.jpg", "c.jpg")):
        photo(f"inbox/{name}", i + 1, size=SMALL)
    db = tmp_path / "archive.db"
    archive, ledger_db = open_archive(db)  # an archive with a trigger that refuses the second photo
    archive.execute("create trigger refuse before insert on photos when new.file_name = 'b.jpg' "
                    "begin select raise(abort, 'refused by the test'); end")
    archive.close()
    ledger_db.close()
    with pytest.raises((sqlite3.Error, ArchiveError), match="refused by the test"):
        ingest(db, tmp_path / "inbox")
    assert rows(db, "select count(*) n from photos") == [{"n": 0}]
    assert rows(db, "select count(*) n from photo_files") == [{"n": 0}]
    assert ledger(db, "select count(*) n from files") == [{"n": 0}]
    sqlite3.connect(db).execute("drop trigger refuse").connection.close()
    summary = ingest(db, tmp_path / "inbox")  # the next run finds all three still to do
    assert summary.counts["new"] == 3
    assert rows(db, "select count(*) n from photo_files") == [{"n": 3}]
