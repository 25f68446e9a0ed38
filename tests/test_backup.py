"""Backup of what cannot be regenerated, and a rebuild of archive.db from the inbox."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

from ingest.sample_photos import Meta, save_photo, scene
from tests.canonical import canonical_dump
from tests.conftest import rows

REGISTER = """\
photographers:
  - id: rene-hey
    name: René Hey
events:
  - id: meet-2025
    name: Meeting 2025
    start: 2025-09-19
    end: 2025-09-21
    timezone: Europe/Berlin
cars:
  - id: "0042"
    nickname: Green Mamba
  - id: "0104"
    color: Monte Carlo Blue
"""


def test_backup_then_rebuild_from_the_inbox_loses_nothing(tmp_path: Path, photo, run_cli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    from datetime import datetime

    photo("inbox/rene-hey/IMG_1.JPG", 1, Meta(taken_at=datetime(2025, 9, 20, 10, 0), iptc_keywords=["Green Mamba"]))
    photo("inbox/rene-hey/IMG_2.JPG", 2)
    Path("register.yml").write_text(REGISTER, encoding="utf-8")
    assert run_cli("ingest", "inbox").exit_code == 0
    assert run_cli("tag", "IMG_2.JPG", "--car", "0104").exit_code == 0
    assert run_cli("tag", "IMG_1.JPG", "--car", "0042", "--remove").exit_code == 0
    before = canonical_dump("archive.db")

    result = run_cli("backup", "--out", "backups/club.tar.gz")
    assert result.exit_code == 0
    assert result.stderr == "Backed up register.yml, tags.yml to backups/club.tar.gz\n"
    with tarfile.open("backups/club.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["register.yml", "tags.yml"]

    # Disaster: everything but the inbox and the backup is gone.
    for lost in ["register.yml", "tags.yml", *map(str, Path().glob("archive.db*"))]:
        Path(lost).unlink()
    with tarfile.open("backups/club.tar.gz") as tar:
        tar.extractall(".", filter="data")
    assert run_cli("ingest", "inbox").exit_code == 0
    assert canonical_dump("archive.db") == before


CLUB = """\
photographers:
  - id: bob
    name: Bob
    credit: "Photo: Bob"
  - id: alice
    name: Alice
    credit: "Photo: Alice"
events: []
cars:
  - id: "0042"
    nickname: Green Mamba
"""


def archive_state(db: str = "archive.db") -> dict:
    """Everything published, by sha256: ids and times (new in a rebuild) left out, and the id in
    an inherited credit's source ("duplicate of #12") replaced by that photo's sha256."""
    sha = {r["id"]: r["sha256"] for r in rows(db, "select id, sha256 from photos")}
    dump = canonical_dump(db)

    def by_sha(value):
        match = re.fullmatch(r"duplicate of #(\d+)", value) if isinstance(value, str) else None
        return f"duplicate of {sha[int(match.group(1))]}" if match else value

    dump["photos"] = sorted((tuple((k, by_sha(v)) for k, v in row) for row in dump["photos"]), key=repr)
    return dump


def test_a_rebuild_keeps_originals_credits_and_verdicts_whatever_the_ingest_order(
        tmp_path: Path, run_cli, monkeypatch) -> None:
    """The first copy of a picture arrived in an earlier run than a re-share whose name sorts first;
    a rebuild ingests everything in one run, in name order. The same originals, credits and manual
    decisions come back."""
    monkeypatch.chdir(tmp_path)
    Path("register.yml").write_text(CLUB, encoding="utf-8")
    picture = scene(71, (1200, 800))
    save_photo(picture, "inbox/bob/zz-original.jpg", None, quality=95)
    save_photo(scene(72, (1200, 800)), "inbox/bob/yy-other.jpg", None)
    assert run_cli("ingest", "inbox", "--workers", "1").exit_code == 0
    # Later, in another run: Alice re-shares Bob's picture (same size, recompressed, no metadata either).
    save_photo(picture, "inbox/alice/aa-repost.jpg", None, quality=80)
    save_photo(scene(73, (1200, 800)), "inbox/alice/ab-lookalike.jpg", None)
    assert run_cli("ingest", "inbox", "--workers", "1").exit_code == 0
    # A person's verdict on two photos the search does not join, and a manual car tag.
    result = run_cli("duplicates", "--duplicate-of", "ab-lookalike.jpg", "yy-other.jpg")
    assert result.exit_code == 0, result.output
    assert run_cli("tag", "yy-other.jpg", "--car", "0042").exit_code == 0

    def state() -> dict[str, tuple]:
        found = rows("archive.db", "select p.file_name, o.file_name as original, p.photographer_id, p.credit, "
                     "p.sha256, o.sha256 as original_sha from photos p left join photos o on o.id = p.duplicate_of")
        return {r["file_name"]: (r["original"], r["photographer_id"], r["credit"], r["sha256"], r["original_sha"])
                for r in found}

    def manual_cars() -> list[tuple]:
        return sorted((r["sha256"], r["car_id"], r["source"]) for r in rows(
            "archive.db", "select sha256, car_id, source from photo_cars join photos on photos.id = photo_id"))

    before, cars, everything = state(), manual_cars(), archive_state()
    assert {name: value[:3] for name, value in before.items()} == {
        "zz-original.jpg": (None, "bob", "Photo: Bob"),
        "aa-repost.jpg": ("zz-original.jpg", "bob", "Photo: Bob"),
        "yy-other.jpg": (None, "bob", "Photo: Bob"),
        "ab-lookalike.jpg": ("yy-other.jpg", "bob", "Photo: Bob"),
    }
    assert (before["yy-other.jpg"][3], "0042", "manual") in cars

    assert run_cli("backup", "--out", "backups/club.tar.gz").exit_code == 0
    for lost in ["register.yml", "tags.yml", *map(str, Path().glob("archive.db*"))]:
        Path(lost).unlink()
    with tarfile.open("backups/club.tar.gz") as tar:
        tar.extractall(".", filter="data")
    assert run_cli("ingest", "inbox", "--workers", "1").exit_code == 0

    ids = {r["file_name"]: r["id"] for r in rows("archive.db", "select id, file_name from photos")}
    assert ids["aa-repost.jpg"] < ids["zz-original.jpg"]  # the rebuild saw the re-share first
    assert state() == before
    assert manual_cars() == cars
    assert archive_state() == everything


def test_backup_without_a_register_says_so(tmp_path: Path, run_cli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("backup")
    assert result.exit_code == 1
    assert result.stderr == "Error: no register at register.yml: nothing to back up\n"
