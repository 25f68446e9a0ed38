"""Reader processes with a time limit per file.

A hostile or damaged file can make a parser loop forever or crash the
process (a C library on bad input). Each file is read in a worker process;
one that takes longer than the limit is killed and replaced, one that dies
is replaced, and either way the file gets a one-line error and the run goes
on. Results come back in the order the files were given, so a run is
deterministic however the work was spread over the cores.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import warnings
from multiprocessing.connection import Connection, wait
from typing import Iterable, Iterator

from .errors import PhotoError
from .reader import PhotoRead, safe_read_photo

DEFAULT_TIMEOUT = 10.0  # seconds per file; a 24 MP JPEG takes about 0.1 s
Task = tuple[str, str]  # (path, format from the suffix)
Result = PhotoRead | PhotoError


def _serve(conn: Connection) -> None:
    """Worker loop: read the files it is sent until told to stop (None)."""
    # Ctrl-C is the main process's business: it finishes or abandons the run, then stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # C libraries (libtiff, libheif) print to stderr on bad input; the user sees our one line instead.
    warnings.simplefilter("ignore")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    while True:
        try:
            task = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if task is None:
            return
        conn.send(safe_read_photo(*task))


class Worker:
    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.job: tuple[int, float] | None = None  # (task index, deadline)

    def start(self, index: int, task: Task, timeout: float) -> None:
        self.conn.send(task)
        self.job = (index, time.monotonic() + timeout)

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class ReaderPool:
    """`workers` reader processes; use as a context manager so they always stop."""

    def __init__(self, workers: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.size = max(1, workers)
        self.timeout = timeout
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(["ingest.reader"])
        self.workers: list[Worker] = []

    def __enter__(self) -> "ReaderPool":
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            worker.stop(kill=worker.job is not None)
        self.workers = []

    def read(self, tasks: Iterable[Task]) -> Iterator[Result]:
        """Results in task order; at most 2 x workers files are in flight or waiting."""
        pending = iter(enumerate(tasks))
        done: dict[int, Result] = {}
        next_out, exhausted = 0, False
        self.workers = [Worker(self.context) for _ in range(self.size)]
        while True:
            for worker in self.workers:
                if worker.job is None and not exhausted and len(done) < 2 * self.size:
                    item = next(pending, None)
                    if item is None:
                        exhausted = True
                    else:
                        worker.start(item[0], item[1], self.timeout)
            while next_out in done:
                yield done.pop(next_out)
                next_out += 1
            busy = [w for w in self.workers if w.job is not None]
            if not busy:
                if exhausted and not done:
                    return
                continue
            self._collect(busy, done)

    def _collect(self, busy: list[Worker], done: dict[int, Result]) -> None:
        """Wait for the first result or deadline; replace workers that hang or die."""
        now = time.monotonic()
        soonest = min(w.job[1] for w in busy if w.job)
        ready = wait([w.conn for w in busy], timeout=max(0.0, soonest - now))
        for worker in busy:
            index, deadline = worker.job  # type: ignore[misc]
            if worker.conn in ready:
                try:
                    done[index] = worker.conn.recv()
                    worker.job = None
                    continue
                except (EOFError, OSError):
                    worker.process.join(timeout=2)  # reap it, so the exit code is known
                    code = worker.process.exitcode
                    done[index] = PhotoError(
                        f"the reader crashed on this file (exit code {code}); the file is probably damaged")
            elif time.monotonic() >= deadline:
                done[index] = PhotoError(
                    f"gave up after {self.timeout:g} s: reading this file does not finish "
                    "(damaged or hostile data)")
            else:
                continue
            self._replace(worker)

    def _replace(self, worker: Worker) -> None:
        worker.stop(kill=True)
        self.workers[self.workers.index(worker)] = Worker(self.context)
