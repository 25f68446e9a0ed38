"""Decisions: who took a photo, at which event and session, which cars are in it.

Every decision is a pure function of the photo's record, its path and the
register, and returns its `source` so a member can see why a photo is tagged.
Privacy is applied here too, before anything reaches archive.db: private
cars' identifiers are scrubbed and off-event GPS positions are coarsened.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import PurePath
from typing import Any, Iterable

import sqlite_utils

from .manual import Manual, PhotoDecisions
from .register import Car, Event, Photographer, Register

PRIVATE_MARK = "[private]"
ROUNDED_DECIMALS = 2  # about 1 km: where a photo was taken, not whose house it is

# Confidence of a car match by what matched.
CONFIDENCE = {"vin": 1.0, "plate": 0.95, "vin_last7": 0.9, "production_number": 0.85,
              "nickname": 0.8, "alias": 0.8, "manual": 1.0}


# --- text normalisation ---------------------------------------------------

def fold(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form: 'René-Hey' -> ' rene hey '."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " " + " ".join(re.sub(r"[^0-9a-z]+", " ", bare).split()) + " "


def contains_phrase(text: str, phrase: str) -> bool:
    """Whole-word phrase match after folding both sides."""
    folded = fold(phrase)
    return folded.strip() != "" and folded in fold(text)


# --- photographer ---------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    value: str | None
    source: str | None


NO_DECISION = Decision(None, None)


def folder_parts(path: str) -> list[str]:
    """The folders of a path, outermost first (not the file name)."""
    return [part for part in PurePath(path).parts[:-1] if part not in ("/", ".", "..")]


def photographer_names(photographer: Photographer) -> list[str]:
    names = [photographer.name, *photographer.aliases]
    if photographer.studio:
        names.append(photographer.studio)
    if photographer.handle:
        names.append(photographer.handle.lstrip("@"))
    return names


def match_photographer(register: Register, texts: Iterable[str | None]) -> Photographer | None:
    for text in texts:
        if not text:
            continue
        for photographer in register.photographers:
            if any(contains_phrase(text, name) for name in photographer_names(photographer)):
                return photographer
    return None


def decide_photographer(register: Register, path: str, record: dict[str, Any]) -> Decision:
    """First that matches: inbox folder, camera serial, EXIF, IPTC, XMP (SPEC)."""
    ids = {p.id.casefold(): p.id for p in register.photographers}
    for part in folder_parts(path):
        if part.casefold() in ids:
            return Decision(ids[part.casefold()], "inbox folder")
    serial = fold(record.get("camera_serial") or "")
    for photographer in register.photographers:
        if serial.strip() and any(fold(c.serial) == serial for c in photographer.cameras):
            return Decision(photographer.id, "camera serial")
    sources = record.get("sources", {})
    exif, iptc, xmp = sources.get("exif", {}), sources.get("iptc", {}), sources.get("xmp", {})
    candidates = (
        ("EXIF", [exif.get("artist"), exif.get("copyright")]),
        ("IPTC", [*(iptc.get("byline") or []), iptc.get("credit")]),
        ("XMP", list(xmp.get("creator") or [])),
    )
    for source, texts in candidates:
        found = match_photographer(register, texts)
        if found:
            return Decision(found.id, source)
    return NO_DECISION


# --- time, event and session ----------------------------------------------

def parse_offset(text: str | None) -> timedelta | None:
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", text or "")
    if not match:
        return None
    sign = -1 if match.group(1) == "-" else 1
    return sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))


def clock_offset(register: Register, serial: str | None) -> timedelta:
    """The register's correction for this camera body, zero if it has none."""
    if not serial:
        return timedelta(0)
    for photographer in register.photographers:
        for camera in photographer.cameras:
            if fold(camera.serial) == fold(serial) and camera.clock_offset:
                return camera.clock_offset
    return timedelta(0)


def local_time(camera_time: datetime, correction: timedelta, exif_offset: str | None,
               event: Event) -> datetime:
    """True local time at the event: the register's clock fix, then the camera's own zone."""
    corrected = camera_time + correction
    offset = parse_offset(exif_offset)
    if offset is None:
        return corrected
    aware = corrected.replace(tzinfo=timezone(offset))
    return aware.astimezone(event.tz).replace(tzinfo=None)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0088 * 2 * math.asin(math.sqrt(min(1.0, a)))


def inside_geofence(event: Event, lat: float | None, lon: float | None) -> bool:
    """Photos without GPS, or events without a place, pass."""
    if lat is None or lon is None or event.place is None:
        return True
    return distance_km(lat, lon, event.place.lat, event.place.lon) <= event.place.radius_km


@dataclass(frozen=True)
class When:
    """Event, session and the corrected local time, each with why."""

    event: Decision
    session: Decision
    local: str | None


def decide_when(register: Register, path: str, record: dict[str, Any]) -> When:
    """Capture time (corrected) inside an event's dates and geofence; else its name in folders or keywords."""
    taken = parse_iso(record.get("taken_at"))
    correction = clock_offset(register, record.get("camera_serial"))
    if taken is not None:
        for event in register.events:
            local = local_time(taken, correction, record.get("offset"), event)
            if event.start <= local.date() <= event.end and inside_geofence(
                event, record.get("latitude"), record.get("longitude")
            ):
                session = next((s for s in event.sessions if s.start <= local < s.end), None)
                return When(
                    Decision(event.id, "capture time"),
                    Decision(session.id, "capture time") if session else NO_DECISION,
                    iso(local),
                )
    local = iso(taken + correction) if taken else None
    return When(event_by_name(register, path, record), NO_DECISION, local)


def event_by_name(register: Register, path: str, record: dict[str, Any]) -> Decision:
    for source, texts in (("folder name", folder_parts(path)), ("keyword", record.get("keywords") or [])):
        for text in texts:
            for event in register.events:
                if any(contains_phrase(text, name) for name in (event.id, *event.aliases)):
                    return Decision(event.id, source)
    return NO_DECISION


def parse_iso(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


# --- cars -----------------------------------------------------------------

def _spaced(text: str) -> str:
    """A plate as a pattern that ignores spaces and dashes between its characters."""
    chars = [re.escape(c) for c in re.sub(r"[\s\-]+", "", text)]
    return r"[\s\-]*".join(chars)


def car_patterns(car: Car) -> list[tuple[str, re.Pattern[str]]]:
    """(kind, pattern) pairs for the car's exact identifiers; names are matched by `fold`."""
    edge_l, edge_r = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])"
    patterns = []
    if car.vin:
        patterns.append(("vin", re.compile(edge_l + re.escape(car.vin) + edge_r, re.I)))
        patterns.append(("vin_last7", re.compile(edge_l + re.escape(car.vin[-7:]) + edge_r, re.I)))
    if car.production_number:
        # '#42', 'No. 42', 'Nr. 42', '1M #42', '1M-42': a bare 42 (DSC_0042) is not enough.
        marker = r"(?:#\s?|(?<![A-Za-z0-9])(?:No|Nr)\.?\s?|(?<![A-Za-z0-9])1M[\s\-]?#?)"
        patterns.append(("production_number",
                         re.compile(marker + r"0*" + str(car.production_number) + r"(?!\d)", re.I)))
    for plate in car.plates:
        patterns.append(("plate", re.compile(edge_l + _spaced(plate) + edge_r, re.I)))
    return patterns


def car_names(car: Car) -> list[tuple[str, str]]:
    names = [("nickname", car.nickname)] if car.nickname else []
    return names + [("alias", alias) for alias in car.aliases]


def match_car(car: Car, text: str) -> str | None:
    """What identifies `car` in `text` (the strongest kind), or None."""
    kinds = [kind for kind, pattern in car_patterns(car) if pattern.search(text)]
    kinds += [kind for kind, name in car_names(car) if contains_phrase(text, name)]
    return max(kinds, key=CONFIDENCE.__getitem__) if kinds else None


def car_texts(path: str, record: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, text) pairs where a car can be named, most deliberate first."""
    texts = [("keyword", k) for k in record.get("keywords") or []]
    texts += [("title", record.get("title")), ("caption", record.get("caption"))]
    texts += [("folder name", part) for part in folder_parts(path)]
    texts.append(("file name", PurePath(path).stem))
    return [(source, text) for source, text in texts if text]


def decide_cars(cars: Iterable[Car], path: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """One tag per car found, from its strongest match."""
    texts = car_texts(path, record)
    tags = []
    for car in cars:
        best: tuple[float, str] | None = None
        for source, text in texts:
            kind = match_car(car, text)
            if kind and (best is None or CONFIDENCE[kind] > best[0]):
                best = (CONFIDENCE[kind], source)
        if best:
            tags.append({"car_id": car.id, "source": best[1], "confidence": best[0]})
    return tags


# --- manual decisions -------------------------------------------------------

MANUAL = "manual"


def manual_photographer(register: Register, auto: Decision, decisions: PhotoDecisions) -> Decision:
    added = decisions.add.get("photographer")
    if added and register.photographer(added):
        return Decision(added, MANUAL)
    if decisions.remove.get("photographer") == auto.value:
        return NO_DECISION
    return auto


def manual_when(register: Register, auto: When, decisions: PhotoDecisions) -> When:
    """A manual session implies its event; a manual event drops a session of another event."""
    event, session = auto.event, auto.session
    added_session = register.session(decisions.add.get("session") or "")
    added_event = register.event(decisions.add.get("event") or "")
    if added_session:
        event, session = Decision(added_session.event_id, MANUAL), Decision(added_session.id, MANUAL)
    elif added_event:
        kept = register.session(session.value or "")
        event = Decision(added_event.id, MANUAL)
        session = session if kept and kept.event_id == added_event.id else NO_DECISION
    if decisions.remove.get("event") and decisions.remove.get("event") == event.value:
        event, session = NO_DECISION, NO_DECISION
    if decisions.remove.get("session") and decisions.remove.get("session") == session.value:
        session = NO_DECISION
    return When(event, session, auto.local)


def manual_cars(public_ids: set[str], auto: list[dict[str, Any]], decisions: PhotoDecisions) -> list[dict[str, Any]]:
    removed = set(decisions.remove.get("cars") or [])
    added = [c for c in decisions.add.get("cars") or [] if c in public_ids and c not in removed]
    kept = [tag for tag in auto if tag["car_id"] not in removed and tag["car_id"] not in added]
    manual = [{"car_id": c, "source": MANUAL, "confidence": CONFIDENCE["manual"]} for c in added]
    return sorted(kept + manual, key=lambda tag: tag["car_id"])


# --- privacy ----------------------------------------------------------------

def private_identifiers(register: Register) -> list[re.Pattern[str]]:
    """Patterns for every identifier of every private car, longest first."""
    patterns = []
    for car in (c for c in register.cars if not c.public):
        patterns += [pattern for _, pattern in car_patterns(car)]
        for _, name in car_names(car):
            words = [re.escape(w) for w in fold(name).split()]
            if words:
                patterns.append(re.compile(r"(?<![A-Za-z0-9])" + r"[\W_]+".join(words) + r"(?![A-Za-z0-9])", re.I))
    return patterns


def scrub(text: str | None, patterns: list[re.Pattern[str]]) -> str | None:
    """Replace private identifiers; accents are folded first so 'Séglers' cannot slip through."""
    if not text or not patterns:
        return text
    for pattern in patterns:
        text = pattern.sub(PRIVATE_MARK, text)
        folded = strip_accents(text)
        if folded != text and pattern.search(folded):
            text = pattern.sub(PRIVATE_MARK, folded)
    return text


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def published_location(register: Register, lat: float | None, lon: float | None) -> tuple[float | None, float | None, int | None]:
    """Full precision inside an event geofence; rounded to ~1 km (and flagged) elsewhere."""
    if lat is None or lon is None:
        return None, None, None
    for event in register.events:
        if event.place and distance_km(lat, lon, event.place.lat, event.place.lon) <= event.place.radius_km:
            return lat, lon, 0
    return round(lat, ROUNDED_DECIMALS), round(lon, ROUNDED_DECIMALS), 1


# --- the row ----------------------------------------------------------------

COPIED_FIELDS = (
    "orientation", "taken_at", "camera_make", "camera_model", "camera_serial", "lens",
    "focal_length", "f_number", "exposure_time", "iso", "artist", "copyright",
)


class Tagger:
    """Applies one register to photos: the rows archive.db receives."""

    def __init__(self, register: Register, manual: Manual | None = None) -> None:
        self.register = register
        self.manual = manual or Manual()
        self.public_cars = [car for car in register.cars if car.public]
        self.public_ids = {car.id for car in self.public_cars}
        self.private = private_identifiers(register)

    def photo_row(self, read: Any, now: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The photos row and photo_cars tags for a freshly read photo (see reader.PhotoRead)."""
        record, print_ = read.metadata, read.fingerprint
        row, cars = self.decide(read.path, record, read.sha256)
        row.update({field: record.get(field) for field in COPIED_FIELDS})
        row.update({
            "sha256": read.sha256, "file_size": read.size, "format": print_.format,
            "width": print_.width, "height": print_.height, "phash": print_.phash,
            "dhash": print_.dhash, "thumbnail": print_.thumbnail,
            "thumbnail_width": print_.thumbnail_width, "thumbnail_height": print_.thumbnail_height,
            "ingested_at": now, "updated_at": now,
        })
        return row, cars

    def decide(self, path: str, record: dict[str, Any], sha256: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Every column that depends on the register or on manual decisions, and the car tags.

        `retag` calls this again after a register edit, without reading pixels.
        """
        from .scan import display_path  # display form of undecodable names

        shown = display_path(path)
        decisions = self.manual.get(sha256)
        photographer = manual_photographer(
            self.register, decide_photographer(self.register, path, record), decisions)
        when = manual_when(self.register, decide_when(self.register, path, record), decisions)
        cars = manual_cars(self.public_ids, decide_cars(self.public_cars, path, record), decisions)
        lat, lon, rounded = published_location(self.register, record.get("latitude"), record.get("longitude"))
        event = self.register.event(when.event.value) if when.event.value else None
        session = self.register.session(when.session.value) if when.session.value else None
        row = {
            "path": self.scrub(shown),
            "file_name": self.scrub(PurePath(shown).name),
            "title": self.scrub(record.get("title")),
            "caption": self.scrub(record.get("caption")),
            "keywords": json.dumps([self.scrub(k) for k in record.get("keywords") or []], ensure_ascii=False),
            "photographer_id": photographer.value,
            "photographer_source": photographer.source,
            "credit": self.credit(photographer.value),
            "event_id": when.event.value,
            "event_source": when.event.source,
            "session_id": when.session.value,
            "taken_at_local": when.local,
            "latitude": lat, "longitude": lon, "location_rounded": rounded,
            # Denormalised for full-text search and for galleries without joins.
            "event_name": event.name if event else None,
            "session_name": session.name if session else None,
            "car_names": self.car_names([tag["car_id"] for tag in cars]),
        }
        return row, cars

    def car_names(self, car_ids: list[str]) -> str | None:
        """Nicknames, aliases and colours of the tagged cars, for full-text search."""
        names = []
        for car_id in car_ids:
            car = self.register.car(car_id)
            if car:
                names += [n for n in (car.nickname, *car.aliases, car.color) if n]
        return "; ".join(dict.fromkeys(names)) or None

    def scrub(self, text: str | None) -> str | None:
        return scrub(text, self.private)

    def credit(self, photographer_id: str | None) -> str | None:
        photographer = self.register.photographer(photographer_id) if photographer_id else None
        return photographer.credit if photographer else None

    def save_register(self, db: sqlite_utils.Database) -> None:
        """The register's public entries as tables; entries removed from the file are removed."""
        save_register(db, self.register)


def register_rows(register: Register) -> dict[str, list[dict[str, Any]]]:
    dump = lambda values: json.dumps(list(values), ensure_ascii=False)  # noqa: E731
    return {
        "photographers": [
            {"id": p.id, "name": p.name, "studio": p.studio, "handle": p.handle,
             "credit": p.credit, "aliases": dump(p.aliases)} for p in register.photographers
        ],
        "events": [
            {"id": e.id, "name": e.name, "start": e.start.isoformat(), "end": e.end.isoformat(),
             "timezone": e.timezone, "place_name": e.place.name if e.place else None,
             "latitude": e.place.lat if e.place else None,
             "longitude": e.place.lon if e.place else None,
             "radius_km": e.place.radius_km if e.place else None, "aliases": dump(e.aliases)}
            for e in register.events
        ],
        "sessions": [
            {"id": s.id, "event_id": s.event_id, "name": s.name,
             "start": iso(s.start), "end": iso(s.end)} for s in register.sessions
        ],
        "cars": [
            {"id": c.id, "vin": c.vin, "vin_last7": c.vin[-7:] if c.vin else None,
             "production_number": c.production_number, "color": c.color, "nickname": c.nickname,
             "plates": dump(c.plates), "aliases": dump(c.aliases)}
            for c in register.cars if c.public
        ],
    }


def save_register(db: sqlite_utils.Database, register: Register) -> None:
    """Upsert every entry; delete rows no longer in the register (private cars included)."""
    for table, rows in register_rows(register).items():
        ids = [row["id"] for row in rows]
        existing = {row["id"]: row for row in db.table(table).rows}
        for row in rows:
            if existing.get(row["id"]) != row:
                db.table(table).upsert(row, pk="id")
        for stale in set(existing) - set(ids):
            _forget(db, table, stale)


def _forget(db: sqlite_utils.Database, table: str, entry_id: str) -> None:
    """Remove a register entry and every reference to it from published rows."""
    references = {
        "photographers": [("photos", "photographer_id")],
        "events": [("photos", "event_id"), ("sessions", "event_id")],
        "sessions": [("photos", "session_id")],
        "cars": [],
    }[table]
    if table == "cars":
        db.execute("delete from photo_cars where car_id = ?", [entry_id])
    if table == "events":
        db.execute("update photos set session_id = null where session_id in "
                   "(select id from sessions where event_id = ?)", [entry_id])
        db.execute("delete from sessions where event_id = ?", [entry_id])
    for ref_table, column in references:
        if ref_table != "sessions":
            db.execute(f"update {ref_table} set {column} = null where {column} = ?", [entry_id])
    db.execute(f"delete from {table} where id = ?", [entry_id])
