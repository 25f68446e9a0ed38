"""Backup of what cannot be regenerated, and a rebuild of archive.db from the inbox."""

from __future__ import annotations

import tarfile
from pathlib import Path

from ingest.sample_photos import Meta
from tests.canonical import canonical_dump

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


def test_backup_without_a_register_says_so(tmp_path: Path, run_cli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("backup")
    assert result.exit_code == 1
    assert result.stderr == "Error: no register at register.yml: nothing to back up\n"
