"""Watch an inbox and ingest photos as photographers drop them.

A file is ingested only once it has stopped changing for `settle` seconds
and, where the platform tells us (inotify), once its writer has closed it,
so a photo still being copied is never read half-way and recorded as broken.
watchdog reports what changed; a timer decides when it has settled.
Temporary and hidden files, and files in hidden folders, are ignored as
`ingest` ignores them; a file that vanishes or is renamed before it is read
is simply forgotten (its new name is picked up instead).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from .pipeline import Ingest
from .scan import PHOTO_SUFFIXES, Found, is_ignored, scan

POLL_SECONDS = 0.5
# A writer that never reports closing its file (one holding it open, or a missed
# event) delays it by this much at most; settling alone then decides.
CLOSE_WAIT_SECONDS = 60.0


def wanted(path: str, inbox: str) -> bool:
    """A photo that `ingest` would read: no hidden or partial name in any folder below the inbox."""
    parts = Path(os.path.relpath(path, inbox)).parts
    return not any(map(is_ignored, parts)) and os.path.splitext(path)[1].lower() in PHOTO_SUFFIXES


def emits_close_events(observer: BaseObserver) -> bool:
    """Only inotify (Linux) reports a writer closing its file; FSEvents, Windows and polling do not."""
    return type(observer).__module__ == "watchdog.observers.inotify"


@dataclass
class Pending:
    seen: tuple[int, int] | None  # (size, mtime_ns) at the last look
    since: float                  # when that last changed (monotonic)
    writing: bool = False         # written to since its writer last closed it


class Settler:
    """Candidate files and when each last changed; hands out the ones that settled.

    Settling alone is not enough: a copy that stalls (a slow network share, a
    card reader hiccup) looks settled half-written. With close events, a file
    written in our sight is ready only once its writer closed it as well, and
    an empty file is a copy that has not begun. A file moved in whole, or found
    already there, was closed before we saw it: settling decides. The wait for a
    close is bounded, so a missed event delays a file but never loses it.
    """

    def __init__(self, inbox: str, settle: float, close_events: bool,
                 close_wait: float | None = None) -> None:
        self.inbox = inbox
        self.settle = settle
        self.close_events = close_events
        self.close_wait = close_wait if close_wait is not None else max(CLOSE_WAIT_SECONDS, 10 * settle)
        self.pending: dict[str, Pending] = {}
        self.lock = threading.Lock()

    def touch(self, path: str, writing: bool | None = None) -> None:
        """`path` changed: its settle time starts again. `writing` None keeps what was known."""
        if not wanted(path, self.inbox):
            return
        with self.lock:
            known = self.pending.get(path)
            if writing is None:
                writing = known.writing if known else False
            self.pending[path] = Pending(None, time.monotonic(), writing)

    def written(self, path: str) -> None:
        self.touch(path, writing=True)

    def closed(self, path: str) -> None:
        """Closing does not change the file, so its settle time runs on."""
        with self.lock:
            known = self.pending.get(path)
            if known:
                known.writing = False
                return
        self.touch(path, writing=False)  # opened for writing before we watched it

    def forget(self, path: str) -> None:
        with self.lock:
            self.pending.pop(path, None)

    def ready(self) -> list[str]:
        """Files unchanged for `settle` seconds and, if close events come, no longer being written."""
        now, out = time.monotonic(), []
        with self.lock:
            for path, entry in list(self.pending.items()):
                try:
                    stat = os.stat(path)
                except OSError:
                    del self.pending[path]  # vanished or renamed: nothing to ingest here
                    continue
                current = (stat.st_size, stat.st_mtime_ns)
                if current != entry.seen:
                    entry.seen, entry.since = current, now
                elif now - entry.since >= self.wait(entry, stat.st_size):
                    del self.pending[path]
                    out.append(path)
        return sorted(out)

    def wait(self, entry: Pending, size: int) -> float:
        if self.close_events and (entry.writing or size == 0):
            return self.close_wait
        return self.settle


class Handler(FileSystemEventHandler):
    def __init__(self, settler: Settler) -> None:
        self.settler = settler

    def on_created(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.settler.touch(os.fsdecode(event.src_path))
        else:
            self.pick_up_folder(os.fsdecode(event.src_path))

    def on_modified(self, event: FileSystemEvent) -> None:
        # A folder is "modified" whenever a file in it comes or goes; that file has its own event.
        if not event.is_directory:
            self.settler.written(os.fsdecode(event.src_path))

    def on_closed(self, event: FileSystemEvent) -> None:
        """inotify's IN_CLOSE_WRITE: a writer closed the file."""
        self.settler.closed(os.fsdecode(event.src_path))

    def on_moved(self, event: FileSystemEvent) -> None:
        self.settler.forget(os.fsdecode(event.src_path))
        if event.is_directory:
            self.pick_up_folder(os.fsdecode(event.dest_path))
        else:  # renamed into place once written (a .part, rsync's temporary file): settling decides
            self.settler.touch(os.fsdecode(event.dest_path), writing=False)

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
    observer = Observer()
    settler = Settler(inbox, settle, emits_close_events(observer))
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


class InboxIngest(Ingest):
    """An ingest run on the files the watcher named.

    One deleted or renamed since it was named is no error: nothing is lost, and
    a new name comes as an event of its own.
    """

    def plan(self, paths: list[str]) -> list[Found]:
        return super().plan([path for path in paths if os.path.lexists(path)])
