"""workers.py: reader processes with a time limit; order kept; hangs and crashes contained."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from ingest.errors import PhotoError
from ingest.reader import PhotoRead
from ingest.workers import ReaderPool


def test_results_come_back_in_task_order(tmp_path: Path, photo) -> None:
    paths = [str(photo(f"p{i:02d}.png", i, size=(64 + 8 * (i % 5), 48))) for i in range(12)]
    with ReaderPool(2) as pool:
        results = list(pool.read((p, "PNG") for p in paths))
    assert [r.path for r in results] == paths
    assert all(isinstance(r, PhotoRead) for r in results)


def test_a_file_that_never_finishes_is_given_up_and_the_rest_is_read(tmp_path: Path, photo) -> None:
    fifo = tmp_path / "stuck.jpg"
    os.mkfifo(fifo)  # reading it blocks forever: nobody writes
    good = str(photo("good.png", 1))
    started = time.monotonic()
    with ReaderPool(1, timeout=1.0) as pool:
        results = list(pool.read([(str(fifo), "JPEG"), (good, "PNG")]))
    assert isinstance(results[0], PhotoError)
    assert str(results[0]) == (
        "gave up after 1 s: reading this file does not finish (damaged or hostile data)")
    assert isinstance(results[1], PhotoRead) and results[1].path == good
    assert time.monotonic() - started < 10


def test_a_reader_that_dies_is_replaced(tmp_path: Path, photo) -> None:
    fifo = tmp_path / "crash.jpg"
    os.mkfifo(fifo)
    good = str(photo("good.png", 2))
    pool = ReaderPool(1, timeout=30.0)

    def kill_busy_worker() -> None:
        # Wait until the worker is blocked on the pipe, then kill it as a segfault would.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            busy = [w for w in pool.workers if w.job is not None]
            if busy:
                time.sleep(0.3)
                os.kill(busy[0].process.pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_busy_worker)
    killer.start()
    with pool:
        results = list(pool.read([(str(fifo), "JPEG"), (good, "PNG")]))
    killer.join()
    assert isinstance(results[0], PhotoError)
    assert str(results[0]) == "the reader crashed on this file (exit code -9); the file is probably damaged"
    assert isinstance(results[1], PhotoRead)


def test_workers_stop_when_the_pool_closes(photo) -> None:
    good = str(photo("good.png", 3))
    with ReaderPool(2) as pool:
        list(pool.read([(good, "PNG")]))
        processes = [w.process for w in pool.workers]
    assert processes and not any(p.is_alive() for p in processes)
