"""Watch an inbox and ingest photos as photographers drop them.

A file is ingested only once it has stopped changing for `settle` seconds,
so a 30 MB photo still being copied is never read half-way and recorded as
broken. watchdog reports what changed; a timer decides when it has settled.
Temporary and hidden files are ignored; a file that vanishes or is renamed
before it settles is simply forgotten (its new name is picked up instead).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .scan import PHOTO_SUFFIXES, is_ignored, scan

POLL_SECONDS = 0.5


def wanted(path: str) -> bool:
    name = os.path.basename(path)
    return not is_ignored(name) and os.path.splitext(name)[1].lower() in PHOTO_SUFFIXES


class Settler:
    """Candidate files and when each last changed; hands out the ones that settled."""

    def __init__(self, settle: float) -> None:
        self.settle = settle
        self.pending: dict[str, tuple[tuple[int, int] | None, float]] = {}
        self.lock = threading.Lock()

    def touch(self, path: str) -> None:
        if wanted(path):
            with self.lock:
                self.pending[path] = (None, time.monotonic())

    def forget(self, path: str) -> None:
        with self.lock:
            self.pending.pop(path, None)

    def ready(self) -> list[str]:
        """Files whose size and mtime have not changed for `settle` seconds."""
        now, out = time.monotonic(), []
        with self.lock:
            for path, (seen, since) in list(self.pending.items()):
                try:
                    stat = os.stat(path)
                except OSError:
                    del self.pending[path]  # vanished or renamed: nothing to ingest here
                    continue
                current = (stat.st_size, stat.st_mtime_ns)
                if current != seen:
                    self.pending[path] = (current, now)
                elif now - since >= self.settle:
                    del self.pending[path]
                    out.append(path)
        return sorted(out)


class Handler(FileSystemEventHandler):
    def __init__(self, settler: Settler) -> None:
        self.settler = settler

    def on_created(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.settler.touch(os.fsdecode(event.src_path))
        else:
            self.pick_up_folder(os.fsdecode(event.src_path))

    on_modified = on_created

    def on_closed(self, event: FileSystemEvent) -> None:
        self.on_created(event)

    def on_moved(self, event: FileSystemEvent) -> None:
        self.settler.forget(os.fsdecode(event.src_path))
        if event.is_directory:
            self.pick_up_folder(os.fsdecode(event.dest_path))
        else:
            self.settler.touch(os.fsdecode(event.dest_path))

    def on_deleted(self, event: FileSystemEvent) -> None:
        self.settler.forget(os.fsdecode(event.src_path))

    def pick_up_folder(self, folder: str) -> None:
        """A folder moved or copied in at once brings files no event named one by one."""
        for found in scan([folder]):
            if found.kind == "photo":
                self.settler.touch(found.path)


def settled_at_start(inbox: str, settler: Settler) -> list[str]:
    """Files already in the inbox: old ones now, recently changed ones once they settle."""
    now_ns, ready = time.time_ns(), []
    for found in scan([inbox]):
        if found.kind != "photo":
            continue
        if (now_ns - found.mtime_ns) / 1e9 < settler.settle:
            settler.touch(found.path)
        else:
            ready.append(found.path)
    return ready


def watch(inbox: str, ingest_batch: Callable[[list[str]], None], settle: float,
          stop: threading.Event) -> None:
    """Ingest what is in `inbox`, then each settled batch of new files, until `stop` is set.

    A batch in flight when `stop` is set is finished, never abandoned.
    """
    settler = Settler(settle)
    observer = Observer()
    observer.schedule(Handler(settler), inbox, recursive=True)
    observer.start()
    try:
        initial = settled_at_start(inbox, settler)
        if initial:
            ingest_batch(initial)
        while not stop.wait(POLL_SECONDS):
            batch = settler.ready()
            if batch:
                ingest_batch(batch)
    finally:
        observer.stop()
        observer.join()
