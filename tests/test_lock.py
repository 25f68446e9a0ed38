"""ingest.lock: one writer at a time per archive; a second one waits, is told so, and goes on."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ingest.errors import ArchiveError
from ingest.lock import lock_path, writer_lock

WAITING = "Waiting for another photo-archive process to finish writing {db} ..."


def test_the_lock_file_lies_beside_the_archive(tmp_path: Path) -> None:
    assert lock_path(tmp_path / "archive.db") == tmp_path / "archive.db.lock"
    assert lock_path("archive.db") == Path("archive.db.lock")


def test_a_free_lock_is_taken_without_waiting(tmp_path: Path) -> None:
    waits: list[str] = []
    with writer_lock(tmp_path / "archive.db", on_wait=lambda: waits.append("waited")):
        assert (tmp_path / "archive.db.lock").is_file()
    with writer_lock(tmp_path / "archive.db", on_wait=lambda: waits.append("waited")):
        pass  # released on exit: the next writer does not wait either
    assert waits == []


def blocked_on(lock: Path) -> bool:
    """True once someone waits for this lock file (Linux lists blocked flock waiters with `->`)."""
    inode = f":{lock.stat().st_ino} "
    return any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())


def wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_second_writer_is_told_once_and_waits_for_the_first(tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    events: list[str] = []
    told = threading.Event()

    def second() -> None:
        def on_wait() -> None:
            events.append("second told to wait")
            told.set()

        with writer_lock(db, on_wait=on_wait):
            events.append("second writes")

    with writer_lock(db):
        thread = threading.Thread(target=second)
        thread.start()
        assert told.wait(10)
        wait_until(lambda: blocked_on(lock_path(db)))
        events.append("first writes")
    thread.join(10)
    assert not thread.is_alive()
    assert events == ["second told to wait", "first writes", "second writes"]


def test_each_archive_has_its_own_lock(tmp_path: Path) -> None:
    waits: list[str] = []
    with writer_lock(tmp_path / "a.db"):
        with writer_lock(tmp_path / "b.db", on_wait=lambda: waits.append("waited")):
            pass
    assert waits == []


def test_an_error_inside_releases_the_lock(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with writer_lock(tmp_path / "archive.db"):
            raise RuntimeError("the run failed")
    waits: list[str] = []
    with writer_lock(tmp_path / "archive.db", on_wait=lambda: waits.append("waited")):
        pass
    assert waits == []


def held_elsewhere(lock: Path) -> bool:
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def test_a_killed_writer_leaves_the_archive_unlocked(tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom ingest.lock import writer_lock\n"
         f"with writer_lock({str(db)!r}):\n    print('held', flush=True)\n    time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    try:
        assert holder.stdout.readline() == "held\n"
        assert held_elsewhere(lock_path(db))
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert not held_elsewhere(lock_path(db))
        waits: list[str] = []
        with writer_lock(db, on_wait=lambda: waits.append("waited")):
            pass
        assert waits == []
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        holder.stdout.close()


@pytest.mark.parametrize("place, reason", [
    ("no/such/folder/archive.db", "No such file or directory"),
    ("taken/archive.db", "Is a directory"),  # archive.db.lock is a folder here
])
def test_a_lock_that_cannot_be_made_is_one_line(tmp_path: Path, monkeypatch, place: str, reason: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken/archive.db.lock").mkdir(parents=True)
    body: list[str] = []
    with pytest.raises(ArchiveError) as caught:
        with writer_lock(place):
            body.append("ran")
    assert str(caught.value) == f"cannot open the writer lock {place}.lock: {reason}"
    assert body == []


def test_the_cli_says_it_waits_and_then_goes_on(tmp_path: Path, run_cli) -> None:
    db = tmp_path / "archive.db"
    (tmp_path / "inbox").mkdir()
    results = []
    with writer_lock(db):
        thread = threading.Thread(target=lambda: results.append(run_cli("ingest", tmp_path / "inbox", "--db", db)))
        thread.start()
        wait_until(lambda: blocked_on(lock_path(db)))
        assert not (tmp_path / "archive.db").exists()  # nothing written while it waits
    thread.join(30)
    (result,) = results
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[0] == WAITING.format(db=db)
    assert (tmp_path / "archive.db").is_file()


def test_the_cli_reports_a_lock_it_cannot_make_in_one_line(tmp_path: Path, run_cli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inbox").mkdir()
    (tmp_path / "archive.db.lock").mkdir()
    result = run_cli("ingest", "inbox", "--db", "archive.db")
    assert (result.exit_code, result.stderr) == (1, "Error: cannot open the writer lock archive.db.lock: Is a directory\n")
    assert not (tmp_path / "archive.db").exists()
