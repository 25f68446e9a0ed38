"""Re-apply the register and manual decisions to photos already in the archive.

Uses the raw metadata kept in the private ledger, so no pixel is read: after
a register edit (a new car, a corrected session time, a car made private)
`retag` brings every photo up to date and says what changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator

import sqlite_utils

from . import db as archive_db
from .errors import ArchiveError
from .state import Ledger, file_key, open_archive
from .tagging import Tagger

# Written with every decision but not worth a line of their own in the report.
DERIVED = ("car_names", "event_name", "session_name", "photographer_source", "event_source")


@dataclass(frozen=True)
class Change:
    photo_id: int
    path: str
    what: str          # a column name, or "cars"
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


def retag_photo(archive: sqlite_utils.Database, ledger: Ledger, tagger: Tagger, photo_id: int,
                sha256: str, now: str) -> list[Change]:
    """Re-decide one photo; writes only what differs (inside the caller's transaction)."""
    record = ledger.record(sha256)
    paths = ledger.paths_for(sha256)
    if record is None or not paths:
        return []  # not in the ledger (deleted?): the next ingest re-reads it
    new_row, new_cars = tagger.decide(paths[0][0], record, sha256)
    old_row = archive.execute(
        f"select {', '.join(new_row)} from photos where id = ?", [photo_id]).fetchone()
    old = dict(zip(new_row, old_row))
    shown = old["path"]
    changes = [Change(photo_id, shown, col, old[col], new_row[col]) for col in new_row
               if old[col] != new_row[col] and col not in DERIVED]
    before = car_set(archive, photo_id)
    after = [(t["car_id"], t["source"], t["confidence"]) for t in new_cars]
    if before != after:
        changes.append(Change(photo_id, shown, "cars", [c for c, *_ in before], [c for c, *_ in after]))
        archive_db.save_cars(archive, photo_id, new_cars)
    if changes or any(old[col] != new_row[col] for col in DERIVED):
        archive.table("photos").update(photo_id, {**new_row, "updated_at": now})
    return changes


def retag_all(archive: sqlite_utils.Database, ledger: Ledger, tagger: Tagger, now: str) -> list[Change]:
    """Every photo in the archive, in one transaction."""
    changes: list[Change] = []
    with archive.atomic():
        tagger.save_register(archive)
        for photo_id, sha256 in archive.execute("select id, sha256 from photos order by id").fetchall():
            changes += retag_photo(archive, ledger, tagger, photo_id, sha256, now)
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
        query + "id in (select photo_id from photo_files where file_name = ?)", [selector])
    if os.path.exists(selector) or os.sep in selector:
        key = file_key(selector)
        row = ledger.db.execute("select sha256 from files where key = ?", [key]).fetchone()
        if row:
            yield from archive.execute(query + "sha256 = ?", [row[0]])


def now_iso() -> str:
    from .pipeline import now_iso as now

    return now()


def retag_archive(db_path: str, tagger: Tagger) -> list[Change]:
    archive, ledger = open_archive(db_path)
    try:
        return retag_all(archive, ledger, tagger, now_iso())
    finally:
        archive.close()
        ledger.close()


def check_known(tagger: Tagger, kind: str, value: str) -> None:
    register = tagger.register
    lookup = {"car": register.car, "event": register.event, "session": register.session,
              "photographer": register.photographer}[kind]
    if lookup(value) is None:
        raise ArchiveError(f"unknown {kind} '{value}': it is not in {register.path or 'the register'}")


def record_decision(tagger: Tagger, sha256: str, path: str, kind: str, value: str, remove: bool) -> None:
    """Add (or remove) one manual tag in tags.yml; the opposite decision is withdrawn."""
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
    tagger.manual.save()


def manual_tag(db_path: str, tagger: Tagger, selector: str, kind: str, value: str, remove: bool) -> str:
    """Record a manual tag and apply it to the archive now; returns what happened, in one line."""
    check_known(tagger, kind, value)
    archive, ledger = open_archive(db_path)
    try:
        photo_id, sha256, path = find_photo(archive, ledger, selector)
        record_decision(tagger, sha256, path, kind, value, remove)
        with archive.atomic():
            changes = retag_photo(archive, ledger, tagger, photo_id, sha256, now_iso())
    finally:
        archive.close()
        ledger.close()
    verb = "removed from" if remove else "added to"
    note = ""
    if kind == "car" and not remove and value not in tagger.public_ids:
        note = " (a private car: kept in tags.yml, never published)"
    effect = "; ".join(c.line().split(": ", 1)[1] for c in changes) or "no change in the archive"
    return f"{kind} {value} {verb} photo {photo_id} ({path}){note}: {effect}"
