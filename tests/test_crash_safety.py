"""Kill ingest with SIGKILL at random moments: nothing corrupt, nothing half-written, nothing lost."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.sample_photos import Meta
from tests.canonical import canonical_dump, half_written_photos, integrity_ok
from tests.conftest import rows

KILLS = 24
PHOTOS = 240

REGISTER = """\
photographers:
  - id: rene-hey
    name: René Hey
cars:
  - id: "0042"
    nickname: Green Mamba
"""


def ingest_command(inbox: Path, db: Path, register: Path) -> list[str]:
    return [sys.executable, "-m", "ingest.cli", "ingest", str(inbox), "--db", str(db),
            "--register", str(register), "--silent", "--workers", "2"]


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ingest.sample_photos import save_photo, scene

    root = tmp_path_factory.mktemp("crash")
    for i in range(PHOTOS):
        keywords = ["Green Mamba"] if i % 7 == 0 else ["parade"]
        save_photo(scene(i, (320, 240)), root / "inbox/rene-hey" / f"IMG_{i:04d}.JPG",
                   Meta(iptc_keywords=keywords, artist="René Hey"), quality=85)
    shutil.copy(root / "inbox/rene-hey/IMG_0001.JPG", root / "inbox/rene-hey/copy-of-0001.JPG")
    (root / "inbox/rene-hey/broken.JPG").write_bytes(b"\xff\xd8\xff\xe0 not really")
    (root / "register.yml").write_text(REGISTER, encoding="utf-8")
    return root


def run_and_kill(command: list[str], after: float) -> bool:
    """Start ingest, SIGKILL its whole process group after `after` seconds; True if it was killed."""
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=after)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return True


def test_sigkill_at_random_moments_loses_nothing(inbox: Path, tmp_path: Path) -> None:
    register = inbox / "register.yml"
    reference = tmp_path / "reference.db"
    started = time.monotonic()
    subprocess.run(ingest_command(inbox / "inbox", reference, register), check=True)
    # Kill moments are drawn from the length of a whole run on this machine, so a fast machine
    # is killed as often as a slow one (fixed moments let a quick run finish before most kills).
    full_run = time.monotonic() - started
    # A manual tag made before the crashes must survive them too.
    (inbox / "tags.yml").unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "ingest.cli", "tag", "IMG_0003.JPG", "--car", "0042",
                    "--db", str(reference), "--register", str(register)], check=True,
                   stdout=subprocess.DEVNULL)
    expected = canonical_dump(reference)

    db = tmp_path / "archive.db"
    rng = random.Random(20261122)
    kills = 0
    for attempt in range(KILLS * 4):
        if kills >= KILLS:
            break
        # Restart from scratch now and then, so early moments (schema, first batch) are hit too.
        if attempt % 6 == 0:
            remove_archive(tmp_path)
        killed = run_and_kill(ingest_command(inbox / "inbox", db, register),
                              rng.uniform(0.1, 0.9) * full_run)
        kills += killed
        if db.exists():
            assert integrity_ok(db), f"integrity_check failed after kill {kills}"
            private = tmp_path / "archive.db.private"  # the ledger beside it
            assert not private.exists() or integrity_ok(private), f"ledger damaged after kill {kills}"
            assert half_written_photos(db) == [], f"half-written photo after kill {kills}"
        if not killed:
            remove_archive(tmp_path)  # finished: start over, so the next kill lands mid-run
    assert kills >= KILLS, f"only {kills} of {KILLS} runs were killed mid-run (a whole run took {full_run:.1f} s)"
    subprocess.run(ingest_command(inbox / "inbox", db, register), check=True)
    assert canonical_dump(db) == expected
    assert rows(db, """select c.source from photo_cars c join photos p on p.id = c.photo_id
                       where p.file_name = 'IMG_0003.JPG' and c.car_id = '0042'""") == [{"source": "manual"}]


def remove_archive(folder: Path) -> None:
    for leftover in folder.glob("archive.db*"):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()
