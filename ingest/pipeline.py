"""The ingest run: scan -> read (in worker processes) -> decide -> write.

Workers only read files; this process alone writes, in batched transactions.
A batch is first committed to archive.db, then to the private ledger, so a run
killed between the two simply re-reads those files next time: every write is
an idempotent upsert keyed by sha256.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from . import db as archive_db
from . import dedupe
from .errors import FileVanished, PhotoError
from .reader import PhotoRead
from .retag import Change, refresh, retag_photo
from .workers import DEFAULT_TIMEOUT, ReaderPool
from .scan import Found, display_path, scan
from .state import KnownFile, file_key, open_archive
from .tagging import Tagger

BATCH_SIZE = 64          # photos per transaction
BATCH_SECONDS = 2.0      # ...or fewer, so a slow run still commits often

OUTCOMES = ("new", "updated", "unchanged", "duplicate", "skipped", "failed")


@dataclass
class Summary:
    """What a run did, for the closing line and for scripts."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # damaged but kept
    seconds: float = 0.0
    near_duplicates: int = 0   # photos that became a near duplicate of another (dedupe)
    failed_again: int = 0      # failures already listed in ingest_errors with the same reason
    retagged: list[Change] = field(default_factory=list)  # re-decided after a register or tags.yml edit

    def add(self, outcome: str, path: str = "", reason: str | None = None) -> None:
        self.counts[outcome] += 1
        if outcome == "failed":
            self.failures.append((path, reason or ""))
        elif outcome == "skipped":
            self.skipped.append((path, reason or ""))

    @property
    def changed(self) -> bool:
        new_failures = self.counts["failed"] - self.failed_again
        return bool(new_failures > 0 or self.retagged
                    or any(self.counts[k] for k in ("new", "updated", "duplicate")))

    def line(self) -> str:
        c = self.counts
        rate = (c["new"] + c["updated"] + c["duplicate"]) / self.seconds if self.seconds else 0.0
        return (
            f"{c['new']} new, {c['updated']} updated, {c['unchanged']} unchanged, "
            f"{c['duplicate']} exact duplicates, {self.near_duplicates} near duplicates, "
            f"{c['skipped']} skipped, {c['failed']} failed "
            f"in {self.seconds:.1f}s ({rate:.1f} photos/s)"
        )


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Ingest:
    """One ingest run over some paths into one archive."""

    def __init__(self, db_path: str | Path, tagger: Tagger, workers: int | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.archive, self.ledger = open_archive(db_path)
        self.tagger = tagger
        self.workers = workers or os.cpu_count() or 1
        self.timeout = timeout
        self.summary = Summary()
        self.now = now_iso()
        self.known: dict[str, KnownFile] = {}
        self.read_started: float | None = None
        self.batch_reads: dict[str, str] = {}  # file key -> sha256 read, for the batch being written
        self._deduper: dedupe.Deduper | None = None

    def plan(self, paths: list[str]) -> list[Found]:
        """Sort scanned files into the ones to read; count the rest right away."""
        known = self.known = self.ledger.known_files()
        to_read = []
        for found in scan(paths):
            if found.kind == "error":
                self._fail(found.path, found.reason or "cannot read")
            elif found.kind == "skipped":
                self._done(found.path, "skipped", found.reason)
            elif self._unchanged(found, known.get(file_key(found.path))):
                self._done(found.path, "unchanged")
            else:
                to_read.append(found)
        return to_read

    def _unchanged(self, found: Found, known: KnownFile | None) -> bool:
        return known is not None and (known.size, known.mtime_ns) == (found.size, found.mtime_ns)

    def run(self, paths: list[str]) -> Summary:
        started = time.monotonic()
        # A register or tags.yml edit since the last run reaches every photo first.
        self.summary.retagged = refresh(self.archive, self.ledger, self.tagger, self.now)
        to_read = self.plan(paths)
        self.on_plan(len(to_read))
        self.read_started = time.monotonic()
        for batch in batched(self.announced(self.read_all(to_read))):
            self.write_batch(batch)
        if self._deduper is not None:
            self.summary.near_duplicates = self._deduper.new_duplicates(self.archive)
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def on_plan(self, count: int) -> None:
        """Called once scanning is done with the number of files to read (progress bars)."""

    def on_read(self, path: str) -> None:
        """Called as each planned file has been read, before its batch is written (progress bars)."""

    def announced(self, results: Iterator[tuple[Found, PhotoRead | PhotoError]]
                  ) -> Iterator[tuple[Found, PhotoRead | PhotoError]]:
        for found, result in results:
            self.on_read(found.path)
            yield found, result

    def read_all(self, founds: list[Found]) -> Iterator[tuple[Found, PhotoRead | PhotoError]]:
        """Read in worker processes (time-limited, crash-isolated), results in scan order."""
        with ReaderPool(min(self.workers, max(1, len(founds))), self.timeout) as pool:
            yield from zip(founds, pool.read((f.path, f.format or "") for f in founds))

    def write_batch(self, batch: list[tuple[Found, PhotoRead | PhotoError]]) -> None:
        outcomes = []
        self.batch_reads = {file_key(r.path): r.sha256 for _, r in batch if isinstance(r, PhotoRead)}
        with self.archive.atomic():
            for found, result in batch:
                if isinstance(result, FileVanished):  # moved away mid-run: nothing is lost
                    outcomes.append((found.path, "skipped", str(result)))
                    continue
                if isinstance(result, PhotoError):
                    self._record_failure(found.path, str(result))
                    outcomes.append((found.path, "failed", str(result)))
                    continue
                outcomes.append((found.path, self.write_photo(result), None))
        with self.ledger.db.atomic():
            for (found, result), (_, outcome, _) in zip(batch, outcomes):
                if isinstance(result, PhotoRead):
                    self.ledger.save_file(result.path, result.sha256, result.size,
                                          result.mtime_ns, self.now)
                    self.ledger.save_record(result.sha256, result.metadata)
        for path, outcome, reason in outcomes:
            self._done(path, outcome, reason)

    def write_photo(self, read: PhotoRead) -> str:
        """Write one photo's rows (inside the batch transaction); returns its outcome."""
        archive = self.archive
        path = self.published(read.path)
        if read.fingerprint.warning:  # kept, but listed so the admin can ask for a new copy
            archive_db.record_error(archive, path, read.fingerprint.warning, self.now)
            self.summary.warnings.append((path, read.fingerprint.warning))
        else:
            archive_db.clear_error(archive, path)
        previous = self.known.get(file_key(read.path))
        photo_id = archive_db.photo_id_for_sha(archive, read.sha256)
        if photo_id is not None:
            known_here = archive_db.has_file(archive, photo_id, path)
            outcome = "unchanged" if known_here else "duplicate"
        else:
            replaces = self._replaced_photo(read, previous)
            if replaces is not None and previous is not None and self.tagger.manual.follow(
                    previous.sha256, read.sha256, display_path(read.path)):
                self.tagger.manual.save()  # manual tags follow a re-exported file to its new bytes
            row, cars = self.tagger.photo_row(read, self.now)
            photo_id = archive_db.save_photo(archive, row, replaces)
            archive_db.save_cars(archive, photo_id, cars)
            # Against the whole archive: links its near-duplicates, re-points their cluster.
            self.deduper.photo_written(archive, photo_id, read.fingerprint.signature)
            outcome = "updated" if replaces is not None else "new"
        for left in archive_db.move_file(archive, photo_id, path, self.now):
            self._hand_over(left)
        return outcome

    def _hand_over(self, photo_id: int) -> None:
        """A photo whose file now holds other bytes: its other copy speaks for it (path, inbox folder,
        photographer), and its near duplicates follow its credit."""
        archive = self.archive
        (sha256,) = archive.execute("select sha256 from photos where id = ?", [photo_id]).fetchone()
        # The ledger is written after the batch: a file of this batch that now holds other bytes
        # is no longer a copy of this photo, whatever the ledger still says.
        gone = {key for key, read_sha in self.batch_reads.items() if read_sha != sha256}
        retag_photo(archive, self.ledger, self.tagger, photo_id, sha256, self.now, without=gone)
        duplicates = [row[0] for row in archive.execute("select id from photos where duplicate_of = ?", [photo_id])]
        dedupe.apply_inheritance(archive, [photo_id, *duplicates])

    @property
    def deduper(self) -> dedupe.Deduper:
        """The archive's near-duplicate index, loaded once per run, at the first photo written."""
        if self._deduper is None:
            self._deduper = dedupe.Deduper(self.archive, self.tagger.manual)
        return self._deduper

    def _replaced_photo(self, read: PhotoRead, previous: KnownFile | None) -> int | None:
        """A changed file updates its old photo in place, if no other file holds the old bytes."""
        if previous is None or previous.sha256 == read.sha256:
            return None
        others = [p for p, _ in self.ledger.paths_for(previous.sha256) if file_key(p) != file_key(read.path)]
        if others:
            return None
        return archive_db.photo_id_for_sha(self.archive, previous.sha256)

    def published(self, path: str) -> str:
        """A path as archive.db may show it: readable, private car identifiers scrubbed."""
        return self.tagger.scrub(display_path(path)) or ""

    def _done(self, path: str, outcome: str, reason: str | None = None) -> None:
        self.summary.add(outcome, display_path(path), reason)

    def _fail(self, path: str, reason: str) -> None:
        with self.archive.atomic():
            self._record_failure(path, reason)
        self._done(path, "failed", reason)

    def _record_failure(self, path: str, reason: str) -> None:
        # The reason may quote the file's name or text: published scrubbed, like the path.
        reason = self.tagger.scrub(reason) or reason
        if not archive_db.record_error(self.archive, self.published(path), reason, self.now):
            self.summary.failed_again += 1  # still listed, as it was: not a change

    def close(self) -> None:
        self.archive.close()
        self.ledger.close()


def batched(items: Iterable, size: int = BATCH_SIZE, seconds: float = BATCH_SECONDS) -> Iterator[list]:
    """Group items into lists of `size`, cut early when `seconds` have passed."""
    batch: list = []
    started = time.monotonic()
    for item in items:
        batch.append(item)
        if len(batch) >= size or time.monotonic() - started >= seconds:
            yield batch
            batch, started = [], time.monotonic()
    if batch:
        yield batch
