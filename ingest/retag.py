"""Re-apply the register and manual decisions to photos already in the archive.

Uses the raw metadata kept in the private ledger, so no pixel is read: after
a register edit (a new car, a corrected session time, a car made private)
`retag` brings every photo up to date and says what changed. `refresh` is the
same, run by ingest only when the rules, the register or tags.yml changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Collection, Iterator

import sqlite_utils

from . import db as archive_db
from . import dedupe
from .errors import ArchiveError
from .register import Register
from .state import Ledger, file_key, open_archive
from .tagging import SCRUBBED_FIELDS, Tagger, remove_stale, upsert_register

# Written with every decision but not worth a line of their own in the report.
DERIVED = ("car_names", "event_name", "session_name", "photographer_source", "event_source",
           "session_source")
FINGERPRINT_KEY = "tagging_fingerprint"  # in the ledger's info table: private, like the register
INHERITED = ("photographer_id", "photographer_source", "credit")  # what a duplicate takes from its original


@dataclass(frozen=True)
class Change:
    photo_id: int
    path: str
    what: str          # a column name, "cars" or "files"
    old: Any
    new: Any

    def line(self) -> str:
        return f"photo {self.photo_id} ({self.path}): {self.what}: {fmt(self.old)} -> {fmt(self.new)}"


def fmt(value: Any) -> str:
    if value is None or value == []:
        return "none"
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


def car_set(db: sqlite_utils.Database, photo_id: int) -> list[tuple[str, str, float]]:
    rows = db.execute("select car_id, source, confidence from photo_cars where photo_id = ? order by car_id",
                      [photo_id])
    return [tuple(row) for row in rows]


def published(archive: sqlite_utils.Database, photo_id: int, columns: list[str]) -> dict[str, Any]:
    row = archive.execute(f"select {', '.join(columns)} from photos where id = ?", [photo_id]).fetchone()
    return dict(zip(columns, row))


def column_changes(photo_id: int, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """What a member sees change: not the derived columns, nor a duplicate's own_* (it shows its original's)."""
    return [Change(photo_id, old.get("path") or new.get("path"), col, old[col], new[col])
            for col in new if old[col] != new[col] and col not in DERIVED and not col.startswith("own_")]


def own_decisions(archive: sqlite_utils.Database, photo_id: int, row: dict[str, Any]) -> dict[str, Any]:
    """A duplicate shows its original's photographer and credit (dedupe.py): its own go to own_* columns.

    Only where those columns exist, so that retag never undoes what dedupe decided.
    """
    (duplicate_of,) = archive.execute("select duplicate_of from photos where id = ?", [photo_id]).fetchone()
    if duplicate_of is None:
        return row
    columns = archive.table("photos").columns_dict
    return {(f"own_{col}" if col in INHERITED and f"own_{col}" in columns else col): value
            for col, value in row.items()}


def decided_path(paths: list[tuple[str, str]], shown: str, tagger: Tagger) -> str:
    """The file the photo was decided from at ingest (its published path), else the oldest."""
    from .scan import display_path

    return next((p for p, _ in paths if tagger.scrub(display_path(p)) == shown), paths[0][0])


def retag_photo(archive: sqlite_utils.Database, ledger: Ledger, tagger: Tagger, photo_id: int,
                sha256: str, now: str, without: Collection[str] = ()) -> list[Change]:
    """Re-decide one photo; writes only what differs (inside the caller's transaction).

    `without`: keys of files that no longer hold these bytes, though the ledger,
    written after the archive, still says they do.
    """
    record = ledger.record(sha256)
    paths = [(p, seen) for p, seen in ledger.paths_for(sha256) if file_key(p) not in without]
    if record is None or not paths:
        return rescrub_photo(archive, tagger, photo_id, now)  # the next ingest re-reads it
    shown = published(archive, photo_id, ["path"])["path"]
    new_row, new_cars = tagger.decide(decided_path(paths, shown, tagger), record, sha256)
    new_row = own_decisions(archive, photo_id, new_row)
    old = published(archive, photo_id, list(new_row))
    changes = column_changes(photo_id, old, new_row)
    before = car_set(archive, photo_id)
    after = [(t["car_id"], t["source"], t["confidence"]) for t in new_cars]
    if before != after:
        changes.append(Change(photo_id, old["path"], "cars", [c for c, *_ in before], [c for c, *_ in after]))
        archive_db.save_cars(archive, photo_id, new_cars)
    if old != new_row:  # reported or not (derived columns, a duplicate's own_*), what differs is written
        archive.table("photos").update(photo_id, {**new_row, "updated_at": now})
    return changes + sync_files(archive, tagger, photo_id, paths, new_row["path"])


def sync_files(archive: sqlite_utils.Database, tagger: Tagger, photo_id: int,
               paths: list[tuple[str, str]], shown: str) -> list[Change]:
    """photo_files lists the photo's paths as published: scrubbed like photos.path."""
    from .scan import display_path

    old = {row[0]: row[1] for row in archive.execute(
        "select path, first_seen from photo_files where photo_id = ?", [photo_id])}
    new = {}
    for path, first_seen in paths:
        scrubbed = tagger.scrub(display_path(path)) or ""
        new.setdefault(scrubbed, old.get(scrubbed, first_seen))
    if set(new) == set(old):
        return []
    archive.execute("delete from photo_files where photo_id = ?", [photo_id])
    archive.table("photo_files").insert_all(
        {"photo_id": photo_id, "path": p, "file_name": tagger.scrub(PurePath(p).name), "first_seen": seen}
        for p, seen in sorted(new.items()))
    return [Change(photo_id, shown, "files", sorted(old), sorted(new))]


def rescrub_photo(archive: sqlite_utils.Database, tagger: Tagger, photo_id: int, now: str) -> list[Change]:
    """Without the raw metadata, at least apply privacy to what is published (scrubbing is idempotent)."""
    old = published(archive, photo_id, [*SCRUBBED_FIELDS, "car_names"])
    car_ids = [car_id for car_id, *_ in car_set(archive, photo_id)]
    new = {**tagger.scrub_row(old), "car_names": tagger.car_names(car_ids)}
    changes = column_changes(photo_id, old, new)
    if old != new:
        archive.table("photos").update(photo_id, {**new, "updated_at": now})
    files = [(p, seen) for p, seen in archive.execute(
        "select path, first_seen from photo_files where photo_id = ?", [photo_id])]
    return changes + sync_files(archive, tagger, photo_id, files, new["path"])


def rescrub_errors(archive: sqlite_utils.Database, tagger: Tagger) -> int:
    """ingest_errors shows paths as published: scrubbed again, like photos.path; returns rows changed."""
    changed = 0
    for path, error, at in archive.execute("select path, error, ingested_at from ingest_errors").fetchall():
        clean_path, clean_error = tagger.scrub(path) or "", tagger.scrub(error) or ""
        if (clean_path, clean_error) != (path, error):
            archive.execute("delete from ingest_errors where path = ?", [path])
            archive.table("ingest_errors").upsert(
                {"path": clean_path, "error": clean_error, "ingested_at": at}, pk="path")
            changed += 1
    return changed


def retag_all(archive: sqlite_utils.Database, ledger: Ledger, tagger: Tagger, now: str) -> list[Change]:
    """Every photo in the archive, in one transaction.

    New register entries are written first (tags point at them), entries gone
    from the register are deleted last, so that each photo's change is seen
    and reported before its old tag disappears.
    """
    changes: list[Change] = []
    with archive.atomic():
        upsert_register(archive, tagger.register)
        for photo_id, sha256 in archive.execute("select id, sha256 from photos order by id").fetchall():
            changes += retag_photo(archive, ledger, tagger, photo_id, sha256, now)
        removed = remove_stale(archive, tagger.register)
        rescrubbed = rescrub_errors(archive, tagger)
        dedupe.apply_inheritance(archive)  # duplicates follow their original's new credit
        if changes or removed or rescrubbed:  # a car made private: its names must leave the search index too
            archive_db.purge_deleted_text(archive)
    return changes


def stored_fingerprint(ledger: Ledger) -> str | None:
    row = ledger.db.execute("select value from info where key = ?", [FINGERPRINT_KEY]).fetchone()
    return row[0] if row else None


def remember_fingerprint(ledger: Ledger, tagger: Tagger) -> None:
    with ledger.db.atomic():
        ledger.db.table("info").upsert({"key": FINGERPRINT_KEY, "value": tagger.fingerprint()}, pk="key")


def refresh(archive: sqlite_utils.Database, ledger: Ledger, tagger: Tagger, now: str) -> list[Change]:
    """For ingest, before it reads: re-decide every photo if the rules, register or tags.yml changed.

    A register edit (a car made private, a session moved) or a hand-edited
    tags.yml then reaches the archive with the next ingest, not only with
    `retag`; an unchanged setup costs one comparison.
    """
    if stored_fingerprint(ledger) == tagger.fingerprint():
        with archive.atomic():
            tagger.save_register(archive)
        return []
    changes = retag_all(archive, ledger, tagger, now)
    remember_fingerprint(ledger, tagger)
    return changes


def find_photo(archive: sqlite_utils.Database, ledger: Ledger, selector: str) -> tuple[int, str, str]:
    """(id, sha256, path) from a photo id, a sha256 prefix or a path; ArchiveError if none or many."""
    candidates = list(_candidates(archive, ledger, selector))
    unique = {c[0]: c for c in candidates}
    if not unique:
        raise ArchiveError(f"no photo matches '{selector}' (give its id, a sha256 prefix, its path or file name)")
    if len(unique) > 1:
        raise ArchiveError(f"'{selector}' matches {len(unique)} photos: give its id, its path or more of the sha256")
    return next(iter(unique.values()))


def _candidates(archive: sqlite_utils.Database, ledger: Ledger, selector: str) -> Iterator[tuple[int, str, str]]:
    query = "select id, sha256, path from photos where "
    if selector.isdigit():
        yield from archive.execute(query + "id = ?", [int(selector)])
    if len(selector) >= 6 and all(c in "0123456789abcdef" for c in selector.lower()):
        yield from archive.execute(query + "sha256 like ?", [selector.lower() + "%"])
    yield from archive.execute(
        query + "id in (select photo_id from photo_files where file_name = ? or path = ?)", [selector, selector])
    if os.path.exists(selector) or os.sep in selector:
        row = ledger.db.execute("select sha256 from files where key = ?", [file_key(selector)]).fetchone()
        if row:
            yield from archive.execute(query + "sha256 = ?", [row[0]])


def now_iso() -> str:
    from .pipeline import now_iso as now

    return now()


def retag_archive(db_path: str, tagger: Tagger) -> list[Change]:
    archive, ledger = open_archive(db_path)
    try:
        changes = retag_all(archive, ledger, tagger, now_iso())
        remember_fingerprint(ledger, tagger)
        return changes
    finally:
        archive.close()
        ledger.close()


def check_known(register: Register, kind: str, value: str) -> None:
    lookup = {"car": register.car, "event": register.event, "session": register.session,
              "photographer": register.photographer}[kind]
    if lookup(value) is None:
        raise ArchiveError(f"unknown {kind} '{value}': it is not in {register.path or 'the register'}")


def record_decision(tagger: Tagger, sha256: str, path: str, kind: str, value: str, remove: bool) -> None:
    """Add (or remove) one manual tag in tags.yml; the opposite and contradicting decisions are withdrawn."""
    decisions = tagger.manual.edit(sha256, path)
    key = "cars" if kind == "car" else kind
    mine, other = (decisions.remove, decisions.add) if remove else (decisions.add, decisions.remove)
    if key == "cars":
        other["cars"] = [c for c in other.get("cars") or [] if c != value]
        mine["cars"] = sorted(set(mine.get("cars") or []) | {value})
    else:
        if other.get(key) == value:
            del other[key]
        mine[key] = value
    consistent_when(tagger.register, decisions.add, decisions.remove, key, remove)
    tagger.manual.save()


def consistent_when(register: Register, add: dict[str, Any], remove: dict[str, Any], key: str,
                    removing: bool) -> None:
    """The latest event or session decision wins over an older one it contradicts."""
    session = register.session(add.get("session") or "")
    if key == "event" and not removing and session and session.event_id != add["event"]:
        del add["session"]               # tagged with another event: the session was wrong too
    if key == "event" and removing and session and session.event_id == remove["event"]:
        del add["session"]               # not at this event: not at its sessions either
    if key == "session" and not removing and add.get("event") not in (None, session.event_id):
        add["event"] = session.event_id  # a session implies its event
    if key == "session" and not removing and remove.get("event") == session.event_id:
        del remove["event"]


def manual_tag(db_path: str, tagger: Tagger, selector: str, kind: str, value: str, remove: bool) -> str:
    """Record a manual tag and apply it to the archive now; returns what happened, in one line."""
    check_known(tagger.register, kind, value)
    archive, ledger = open_archive(db_path)
    try:
        photo_id, sha256, shown = find_photo(archive, ledger, selector)
        # tags.yml is private like the register: it may keep the real path, for people to read.
        paths = ledger.paths_for(sha256)
        up_to_date = stored_fingerprint(ledger) == tagger.fingerprint()
        record_decision(tagger, sha256, paths[0][0] if paths else shown, kind, value, remove)
        with archive.atomic():
            changes = retag_photo(archive, ledger, tagger, photo_id, sha256, now_iso())
        if up_to_date:
            remember_fingerprint(ledger, tagger)  # the other photos are as decided: no full refresh needed
    finally:
        archive.close()
        ledger.close()
    verb = "removed from" if remove else "added to"
    note = ""
    if kind == "car" and not remove and value not in tagger.public_ids:
        note = " (a private car: kept in tags.yml, never published)"
    effect = "; ".join(c.line().split(": ", 1)[1] for c in changes) or "no change in the archive"
    if not paths:
        effect = "saved in tags.yml; its metadata is not in the private ledger: run ingest, then retag"
    return f"{kind} {value} {verb} photo {photo_id} ({shown}){note}: {effect}"
