"""`photo-archive watch`: a real watchdog observer, files written in chunks by the test."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ingest.sample_photos import save_photo, scene
from tests.conftest import rows


def wait_until(check, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def names(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        return sorted(r["file_name"] for r in rows(db, "select file_name from photo_files"))
    except Exception:  # the schema may not exist yet
        return []


def big_png() -> bytes:
    """About 30 MB that cannot be compressed: a noisy 10 MP PNG."""
    noise = np.random.default_rng(7).integers(0, 256, (3000, 3400, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "PNG", compress_level=1)
    return out.getvalue()


@pytest.fixture
def watcher(tmp_path: Path):
    inbox = tmp_path / "inbox"
    (inbox / "rene-hey").mkdir(parents=True)
    save_photo(scene(1, (320, 240)), inbox / "rene-hey/already-there.jpg")
    os.utime(inbox / "rene-hey/already-there.jpg", (time.time() - 60, time.time() - 60))
    db = tmp_path / "archive.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "watch", str(inbox), "--db", str(db), "--settle", "1.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield inbox, db, process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_watch_ingests_settled_files_and_stops_cleanly(watcher) -> None:
    inbox, db, process = watcher
    wait_until(lambda: names(db) == ["already-there.jpg"])

    # A 30 MB file copied slowly, in chunks: never read half-way.
    data = big_png()
    assert len(data) > 29_000_000
    target = inbox / "rene-hey/2025/slow-copy.png"
    target.parent.mkdir()
    with open(target, "wb") as handle:
        for start in range(0, len(data), 1_000_000):
            handle.write(data[start:start + 1_000_000])
            handle.flush()
            time.sleep(0.08)

    # A browser download: written as .part, then renamed. Hidden files are ignored.
    part = inbox / "rene-hey/download.jpg.part"
    save_photo(scene(2, (320, 240)), part, format="JPEG")
    part.rename(inbox / "rene-hey/download.jpg")
    save_photo(scene(3, (320, 240)), inbox / "rene-hey/.hidden.jpg")
    # Vanishes before it settles: nothing to ingest, nothing to complain about.
    ghost = save_photo(scene(4, (320, 240)), inbox / "rene-hey/ghost.jpg")
    ghost.unlink()
    # Renamed after being written: ingested under its final name only.
    first = save_photo(scene(5, (320, 240)), inbox / "rene-hey/IMG_0005.jpg")
    first.rename(inbox / "rene-hey/renamed.jpg")

    expected = ["already-there.jpg", "download.jpg", "renamed.jpg", "slow-copy.png"]
    wait_until(lambda: names(db) == expected, 60)
    assert rows(db, "select path, error from ingest_errors") == []
    (big,) = rows(db, "select width, height, file_size from photos where file_name = 'slow-copy.png'")
    assert big == {"width": 3400, "height": 3000, "file_size": len(data)}

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Stopping: finishing the batch in flight" in err
    assert err.rstrip().splitlines()[-1] == "Stopped."
    assert "Traceback" not in err


def test_ctrl_c_during_a_batch_keeps_the_batch(watcher) -> None:
    inbox, db, process = watcher
    wait_until(lambda: names(db) == ["already-there.jpg"])
    staging = inbox.parent / "staging"
    for i in range(40):
        save_photo(scene(100 + i, (640, 480)), staging / f"IMG_{i:04d}.jpg")
    staging.rename(inbox / "rene-hey/batch")  # a folder dropped in at once: one batch
    # Interrupt as soon as the batch is being written.
    wait_until(lambda: len(names(db)) > 1, 60)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert len(names(db)) == 41  # the whole batch in flight was finished
