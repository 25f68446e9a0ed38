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
from ingest.watch import Settler, wanted
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


def noise(size: tuple[int, int], seed: int, fmt: str, **options) -> bytes:
    """An image that cannot be compressed much, encoded in memory."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, **options)
    return out.getvalue()


def big_png() -> bytes:
    """About 30 MB: a noisy 10 MP PNG."""
    return noise((3400, 3000), 7, "PNG", compress_level=1)


def start_watch(tmp_path: Path, settle: float, script: str | None = None):
    """`photo-archive watch` in its own process, on an inbox holding one old photo.

    `script` replaces `-m ingest.cli` to meddle with the files at a chosen moment.
    """
    inbox = tmp_path / "inbox"
    (inbox / "rene-hey").mkdir(parents=True)
    save_photo(scene(1, (320, 240)), inbox / "rene-hey/already-there.jpg")
    os.utime(inbox / "rene-hey/already-there.jpg", (time.time() - 60, time.time() - 60))
    db = tmp_path / "archive.db"
    program = ["-c", script] if script else ["-m", "ingest.cli"]
    process = subprocess.Popen(
        [sys.executable, *program, "watch", str(inbox), "--db", str(db), "--settle", str(settle)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: names(db) == ["already-there.jpg"] or process.poll() is not None)
    return inbox, db, process


def stop(process: subprocess.Popen) -> str:
    """Ctrl-C; the stderr of a clean stop."""
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert err.rstrip().splitlines()[-1] == "Stopped."
    assert "Traceback" not in err
    return err


@pytest.fixture
def watcher(tmp_path: Path):
    inbox, db, process = start_watch(tmp_path, 1.5)
    yield inbox, db, process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_watch_ingests_settled_files_and_stops_cleanly(watcher) -> None:
    inbox, db, process = watcher

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
    # So are files in hidden folders, as `ingest` skips them: a desktop's trash, Syncthing's versions.
    save_photo(scene(6, (320, 240)), inbox / ".Trash-1000/files/deleted.jpg")
    save_photo(scene(7, (320, 240)), inbox / "rene-hey/.stversions/x.jpg")
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

    assert "Stopping: finishing the batch in flight" in stop(process)


def test_ctrl_c_during_a_batch_keeps_the_batch(watcher) -> None:
    inbox, db, process = watcher
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


@pytest.mark.parametrize("relative, is_wanted", [
    ("rene-hey/IMG_0001.JPG", True),
    ("rene-hey/2025/IMG_0001.heic", True),
    ("rene-hey/notes.txt", False),
    ("rene-hey/.hidden.jpg", False),
    ("rene-hey/IMG_0001.jpg.part", False),
    (".Trash-1000/files/deleted.jpg", False),
    ("rene-hey/.stversions/x.jpg", False),
    ("rene-hey/copying.tmp/x.jpg", False),  # the same rule as scan.py, folders included
])
def test_wanted_applies_the_scan_rule_to_every_folder(tmp_path: Path, relative: str, is_wanted: bool) -> None:
    inbox = tmp_path / ".inbox"  # only the parts below the inbox count
    assert wanted(str(inbox / relative), str(inbox)) is is_wanted


def test_a_file_still_open_for_writing_waits_for_its_close(tmp_path: Path) -> None:
    path = str(tmp_path / "IMG_0001.jpg")
    Path(path).write_bytes(b"half a photo")
    settler = Settler(str(tmp_path), settle=0.2, close_events=True, close_wait=1.0)
    settler.written(path)
    assert wait_for_ready(settler, 0.6) == []  # settled, but the writer has not closed it
    settler.closed(path)
    assert settler.ready() == [path]

    settler.written(path)  # a writer that never says it closed: ready after close_wait
    assert wait_for_ready(settler, 0.6) == []
    assert wait_for_ready(settler, 1.0) == [path]


def test_without_close_events_settling_alone_decides(tmp_path: Path) -> None:
    path = str(tmp_path / "IMG_0001.jpg")
    Path(path).write_bytes(b"half a photo")
    settler = Settler(str(tmp_path), settle=0.2, close_events=False, close_wait=60)
    settler.written(path)
    assert wait_for_ready(settler, 1.0) == [path]


def wait_for_ready(settler: Settler, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready = settler.ready()
        if ready:
            return ready
        time.sleep(0.05)
    return []


def noisy_jpeg() -> bytes:
    """About 1.5 MB of JPEG: enough chunks to pause in the middle of."""
    return noise((1200, 900), 3, "JPEG", quality=90)


def test_a_copy_that_pauses_longer_than_settle_is_not_read_half_way(tmp_path: Path) -> None:
    inbox, db, process = start_watch(tmp_path, 0.5)
    try:
        data = noisy_jpeg()
        with open(inbox / "rene-hey/paused.jpg", "wb") as handle:
            for number, start in enumerate(range(0, len(data), 100_000)):
                handle.write(data[start:start + 100_000])
                handle.flush()
                time.sleep(1.6 if number == len(data) // 200_000 else 0.02)  # one pause: 3 × settle
        # A file broken for good, dropped whole, is still reported at once.
        dropped = time.monotonic()
        (inbox / "rene-hey/broken.jpg").write_bytes(data[:len(data) // 2])
        wait_until(lambda: rows(db, "select path from ingest_errors"), 10)
        assert time.monotonic() - dropped < 5
        wait_until(lambda: "paused.jpg" in names(db), 10)
        err = stop(process)
    finally:
        process.kill()
    (error,) = rows(db, "select path, error from ingest_errors")
    assert error["path"].endswith("rene-hey/broken.jpg") and "truncated" in error["error"]
    assert "paused.jpg" not in err  # never reported as failed or damaged, not even for a moment
    assert "broken.jpg: image data is damaged or truncated" in err
    (paused,) = rows(db, "select file_size from photos where file_name = 'paused.jpg'")
    assert paused["file_size"] == len(data)


# Deletes and renames files between the watcher naming them and the pipeline reading them:
# some before the batch is planned, some after (the reader then finds them gone).
MEDDLING_WATCH = """
import os, sys
import ingest.cli, ingest.pipeline, ingest.watch

batch = []

def meddle(stage):
    for path in batch:
        name = os.path.basename(path)
        if name == f"vanishes-{stage}.jpg":
            os.unlink(path)
        elif name == f"renamed-{stage}.jpg":
            os.rename(path, path.replace("renamed", "new-name"))

def watch(inbox, ingest_batch, settle, stop):
    def meddling_batch(paths):
        batch[:] = paths
        meddle("before-plan")
        ingest_batch(paths)
    ingest.watch.watch(inbox, meddling_batch, settle, stop)

ingest.cli.watch_inbox = watch
ingest.pipeline.Ingest.on_plan = lambda self, count: meddle("before-read")
ingest.cli.cli()
"""


def test_files_vanishing_or_renamed_mid_batch_are_no_errors(tmp_path: Path) -> None:
    inbox, db, process = start_watch(tmp_path, 0.5, MEDDLING_WATCH)
    try:
        for seed, stage in enumerate(["before-plan", "before-read"]):
            save_photo(scene(20 + seed, (320, 240)), inbox / f"rene-hey/vanishes-{stage}.jpg")
            save_photo(scene(30 + seed, (320, 240)), inbox / f"rene-hey/renamed-{stage}.jpg")
        wait_until(lambda: len(names(db)) == 3, 15)
        save_photo(scene(40, (320, 240)), inbox / "rene-hey/afterwards.jpg")  # the run goes on
        wait_until(lambda: "afterwards.jpg" in names(db), 15)
        err = stop(process)
    finally:
        process.kill()
    assert names(db) == ["afterwards.jpg", "already-there.jpg",
                         "new-name-before-plan.jpg", "new-name-before-read.jpg"]
    assert rows(db, "select path, error from ingest_errors") == []
    assert "failed:" not in err
    assert ", 2 skipped," in err  # the two gone before the read: the reader found them missing
