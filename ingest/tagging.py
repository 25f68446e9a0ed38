"""Decisions: who took a photo, at which event and session, which cars are in it.

Every decision is a pure function of the photo's record, its path and the
register, and returns its `source` so a member can see why a photo is tagged.
Privacy is applied here too, before anything reaches archive.db: private
cars' identifiers are scrubbed and off-event GPS positions are coarsened.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import PurePath
from typing import Any, Callable, Iterable, Iterator

import sqlite_utils

from .manual import Manual, PhotoDecisions
from .register import Car, Event, Photographer, Register, Session

PRIVATE_MARK = "[private]"
UNKNOWN_CREDIT = "Photographer unknown"
ROUNDED_DECIMALS = 2  # about 1 km: where a photo was taken, not whose house it is
# Part of Tagger.fingerprint(): bump it when a rule changes, so that archives
# built by the old rules are re-decided (without reading pixels).
RULES_VERSION = "3"  # 3: session_source

# Confidence of a car match by what matched.
CONFIDENCE = {"vin": 1.0, "plate": 0.95, "vin_last7": 0.9, "production_number": 0.85,
              "nickname": 0.8, "alias": 0.8, "manual": 1.0}


# --- text normalisation ---------------------------------------------------

WORD = re.compile(r"[^\W_]+")  # letters and digits of any script


@dataclass(frozen=True)
class Folded:
    """Text in matching form (accents stripped, case folded) and where each character came from."""

    text: str
    origin: tuple[int, ...]  # index in the original text of each character of `text`


def normalize(text: str) -> Folded:
    """'Grüne HÖLLE' -> 'grune holle', keeping the map back to the original characters."""
    if text.isascii():  # most text: nothing to decompose, one character stays one
        return Folded(text.lower(), tuple(range(len(text))))
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        decomposed = unicodedata.normalize("NFKD", char)
        bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
        out.append(bare)
        origin.extend([index] * len(bare))
    return Folded("".join(out), tuple(origin))


def fold(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form: 'René-Hey' -> ' rene hey '."""
    return " " + " ".join(WORD.findall(normalize(text).text)) + " "


def contains_phrase(text: str, phrase: str) -> bool:
    """Whole-word phrase match after folding both sides."""
    folded = fold(phrase)
    return folded.strip() != "" and folded in fold(text)


def compact(text: str) -> str:
    """Only the letters and digits, folded: 'NR-1M 42' -> 'nr1m42', "Segler's 1M" -> 'seglers1m'."""
    return "".join(WORD.findall(normalize(text).text))


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


def author_texts(record: dict[str, Any]) -> list[tuple[str, list[str | None]]]:
    """Where the file names its author, by standard, in the SPEC's order."""
    sources = record.get("sources") or {}
    exif, iptc, xmp = (sources.get(key) or {} for key in ("exif", "iptc", "xmp"))
    return [
        ("EXIF", [exif.get("artist"), exif.get("copyright")]),
        ("IPTC", [*(iptc.get("byline") or []), iptc.get("credit")]),
        ("XMP", list(xmp.get("creator") or [])),
    ]


def decide_photographer(register: Register, path: str, record: dict[str, Any]) -> Decision:
    """First that matches: inbox folder, camera serial, EXIF, IPTC, XMP (SPEC)."""
    ids = {fold(p.id): p.id for p in register.photographers}
    for part in folder_parts(path):
        if fold(part) in ids:
            return Decision(ids[fold(part)], "inbox folder")
    serial = fold(record.get("camera_serial") or "")
    for photographer in register.photographers:
        if serial.strip() and any(fold(c.serial) == serial for c in photographer.cameras):
            return Decision(photographer.id, "camera serial")
    for source, texts in author_texts(record):
        found = match_photographer(register, texts)
        if found:
            return Decision(found.id, source)
    return NO_DECISION


def credit_line(register: Register, photographer_id: str | None, record: dict[str, Any]) -> str:
    """The register's credit; else the author the file names, if not a register member; else unknown.

    A register member's name in the file without their id means a person removed
    that photographer by hand: crediting them anyway would undo the decision.
    """
    photographer = register.photographer(photographer_id) if photographer_id else None
    if photographer:
        return photographer.credit
    sources = record.get("sources") or {}
    names = [(sources.get("exif") or {}).get("artist"), *((sources.get("iptc") or {}).get("byline") or []),
             *((sources.get("xmp") or {}).get("creator") or []), record.get("artist")]
    named = next((n.strip() for n in names if isinstance(n, str) and n.strip()), None)
    if named and match_photographer(register, [named]) is None:
        return f"Photo: {named}"
    return UNKNOWN_CREDIT


# --- time, event and session ----------------------------------------------

def parse_offset(text: str | None) -> timedelta | None:
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", (text or "").strip())
    if not match:
        return None
    sign = -1 if match.group(1) == "-" else 1
    return sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))


def clock_offset(register: Register, serial: str | None) -> timedelta | None:
    """The register's correction for this camera body; None when it has none."""
    if not serial:
        return None
    for photographer in register.photographers:
        for camera in photographer.cameras:
            if fold(camera.serial) == fold(serial) and camera.clock_offset is not None:
                return camera.clock_offset
    return None


def local_time(camera_time: datetime, correction: timedelta | None, exif_offset: str | None,
               tz: tzinfo) -> datetime:
    """True local time in `tz`.

    The register's clock_offset is by definition what turns this camera's clock
    into true local time, so it wins. Without it, the camera's own offset
    (OffsetTimeOriginal) says which zone its clock was in. Both together would
    count a camera left on winter time twice: its clock and its offset tag are
    both an hour behind.
    """
    if correction is not None:
        return camera_time + correction
    offset = parse_offset(exif_offset)
    if offset is None:
        return camera_time
    return camera_time.replace(tzinfo=timezone(offset)).astimezone(tz).replace(tzinfo=None)


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


LocalFor = Callable[[Event], datetime | None]


def local_for(register: Register, record: dict[str, Any]) -> LocalFor:
    """The photo's true local time at a given event (its timezone), or None without a capture time."""
    taken = parse_iso(record.get("taken_at"))
    correction = clock_offset(register, record.get("camera_serial"))
    if taken is None:
        return lambda event: None
    return lambda event: local_time(taken, correction, record.get("offset"), event.tz)


def camera_local(register: Register, record: dict[str, Any]) -> str | None:
    """taken_at_local for a photo at no event: the clock corrected by the register, if at all."""
    taken = parse_iso(record.get("taken_at"))
    correction = clock_offset(register, record.get("camera_serial"))
    return iso(taken + (correction or timedelta(0))) if taken else None


def session_at(event: Event, local: datetime | None) -> Session | None:
    if local is None:
        return None
    return next((s for s in event.sessions if s.start <= local < s.end), None)


def decide_when(register: Register, path: str, record: dict[str, Any]) -> When:
    """The corrected capture time inside an event's dates (and geofence); without a capture time, names.

    A capture time that fits no event leaves the photo without one: a folder
    named after the event must not overrule the geofence or the dates.
    """
    at = local_for(register, record)
    if parse_iso(record.get("taken_at")) is None:
        event, session = event_by_name(register, path, record)
        return When(event, session, None)
    for event in register.events:
        local = at(event)
        if event.start <= local.date() <= event.end and inside_geofence(
            event, record.get("latitude"), record.get("longitude")
        ):
            session = session_at(event, local)
            return When(Decision(event.id, "capture time"),
                        Decision(session.id, "capture time") if session else NO_DECISION, iso(local))
    return When(NO_DECISION, NO_DECISION, camera_local(register, record))


def name_texts(path: str, record: dict[str, Any]) -> list[tuple[str, str]]:
    texts = [("folder name", part) for part in folder_parts(path)]
    return texts + [("keyword", k) for k in record.get("keywords") or [] if isinstance(k, str)]


def event_by_name(register: Register, path: str, record: dict[str, Any]) -> tuple[Decision, Decision]:
    """An event id or alias, or a session id (which implies its event), in the folders or keywords."""
    texts = name_texts(path, record)
    event = next((Decision(e.id, source) for source, text in texts for e in register.events
                  if any(contains_phrase(text, name) for name in (e.id, *e.aliases))), NO_DECISION)
    session = next((Decision(s.id, source) for source, text in texts for s in register.sessions
                    if contains_phrase(text, s.id)), NO_DECISION)
    found = register.session(session.value) if session.value else None
    if found is None or (event.value and found.event_id != event.value):
        return event, NO_DECISION
    return (event if event.value else Decision(found.event_id, session.source)), session


def parse_iso(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):
        return None


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


# --- cars -----------------------------------------------------------------
# Identifiers are matched whole, on word boundaries: a VIN or its last 7 is one
# word; a plate or a name may be split by spaces and dashes (names also by
# apostrophes and dots), in any case and with or without accents. A
# production number needs its marker ('#42', 'No. 42', 'Nr 42', '1M-42'),
# so DSC_0042.JPG is not car 42.

PLATE_GAP = re.compile(r"[\s_\-\u2010-\u2015]+")
NAME_GAP = re.compile(r"[\s_\-\u2010-\u2015'\u2018\u2019\u02bc`.]+")
# How loose the gaps between the words of a match may be, by kind: 0 one word, 1 plate gaps, 2 name gaps.
GAP_ALLOWED = {"vin": 0, "vin_last7": 0, "plate": 1, "nickname": 2, "alias": 2}
MAX_WORDS = 8
PRODUCTION_NUMBER = re.compile(
    r"(?:\#\s*"                                  # #42, 1M #42
    r"|(?<![^\W_])n(?:o|r|°)\.?\s*"              # No. 42, Nr 42, Nº 42 (º folds to o)
    r"|(?<![^\W_])1m\s*-\s*\#?\s*)"              # 1M-42
    r"0*([1-9][0-9]{0,5})(?![^\W_])"
)


@dataclass(frozen=True)
class Hit:
    """One car identifier found in a text, at [start, end) of its folded form."""

    car_id: str
    kind: str
    start: int
    end: int


def identifier_keys(car: Car) -> list[tuple[str, str]]:
    """(kind, compact form) of each word-like identifier of a car."""
    keys = [("vin", car.vin), ("vin_last7", car.vin[-7:])] if car.vin else []
    keys += [("plate", plate) for plate in car.plates]
    keys += [("nickname", car.nickname)] if car.nickname else []
    keys += [("alias", alias) for alias in car.aliases]
    return [(kind, compact(text)) for kind, text in keys if compact(text)]


def gap_rank(gap: str) -> int:
    if PLATE_GAP.fullmatch(gap):
        return 1
    return 2 if NAME_GAP.fullmatch(gap) else 3


def word_runs(text: str, longest: int) -> Iterator[tuple[str, int, int, int]]:
    """(joined words, start, end, loosest gap) for every run of consecutive words in folded text."""
    words = list(WORD.finditer(text))
    for i, first in enumerate(words):
        joined, rank = "", 0
        for j in range(i, min(i + MAX_WORDS, len(words))):
            if j > i:
                rank = max(rank, gap_rank(text[words[j - 1].end():words[j].start()]))
            joined += words[j].group()
            if rank > 2 or len(joined) > longest:
                break
            yield joined, first.start(), words[j].end(), rank


def drop_contained(hits: list[Hit]) -> list[Hit]:
    """A match inside a longer match is part of that one: 'NR-1M-203' is a plate, not car 203's '1M-203'.

    One sweep over the spans, longest first at each start: a span is inside
    another exactly when an earlier, different span reaches as far. (Comparing
    every pair took minutes on a hostile caption with thousands of matches.)
    """
    kept: set[tuple[int, int]] = set()
    reach = -1
    for start, end in sorted({(h.start, h.end) for h in hits}, key=lambda span: (span[0], -span[1])):
        if end > reach:
            kept.add((start, end))
        reach = max(reach, end)
    return [h for h in hits if (h.start, h.end) in kept]


class CarIndex:
    """Every car's identifiers, looked up by word runs: the cost grows with the text, not the register."""

    def __init__(self, cars: Iterable[Car]) -> None:
        self.keys: dict[str, list[tuple[str, str]]] = {}
        self.numbers: dict[int, str] = {}
        for car in cars:
            for kind, key in identifier_keys(car):
                self.keys.setdefault(key, []).append((car.id, kind))
            if car.production_number:
                self.numbers[car.production_number] = car.id
        self.longest = max(map(len, self.keys), default=0)

    def find(self, text: str | Folded) -> list[Hit]:
        """The identifiers in `text`, in its folded coordinates."""
        folded = text.text if isinstance(text, Folded) else normalize(text).text
        hits = [Hit(car_id, kind, start, end)
                for joined, start, end, rank in word_runs(folded, self.longest)
                for car_id, kind in self.keys.get(joined, ()) if rank <= GAP_ALLOWED[kind]]
        hits += [Hit(self.numbers[int(m.group(1))], "production_number", m.start(), m.end())
                 for m in PRODUCTION_NUMBER.finditer(folded) if int(m.group(1)) in self.numbers]
        return drop_contained(hits)


CAR_SOURCES = ("keyword", "title", "caption", "folder name", "file name")  # most deliberate first


def car_texts(path: str, record: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, text) pairs where a car can be named: every standard's own field, not only the merged one."""
    sources = record.get("sources") or {}
    exif, iptc, xmp = (sources.get(key) or {} for key in ("exif", "iptc", "xmp"))
    keywords = [*(record.get("keywords") or []), *(iptc.get("keywords") or []),
                *(xmp.get("subject") or []), *(exif.get("xp_keywords") or [])]
    texts = [("keyword", k) for k in keywords]
    texts += [("title", t) for t in (record.get("title"), xmp.get("title"), iptc.get("title"))]
    texts += [("caption", c) for c in (record.get("caption"), xmp.get("description"),
                                       iptc.get("caption"), exif.get("description"))]
    texts += [("folder name", part) for part in folder_parts(path)]
    texts.append(("file name", PurePath(path).stem))
    return list(dict.fromkeys((s, t) for s, t in texts if isinstance(t, str) and t.strip()))


def decide_cars(index: CarIndex, public_ids: set[str], path: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """One tag per public car found, from its strongest match (the most deliberate place on a tie)."""
    best: dict[str, tuple[float, int, str]] = {}
    for source, text in car_texts(path, record):
        rank = -CAR_SOURCES.index(source)
        for hit in index.find(text):
            score = (CONFIDENCE[hit.kind], rank, source)
            if hit.car_id in public_ids and score[:2] > best.get(hit.car_id, (-1.0, -99, ""))[:2]:
                best[hit.car_id] = score
    return [{"car_id": car_id, "source": source, "confidence": confidence}
            for car_id, (confidence, _, source) in sorted(best.items())]


# --- manual decisions -------------------------------------------------------

MANUAL = "manual"


def manual_photographer(register: Register, auto: Decision, decisions: PhotoDecisions) -> Decision:
    added = decisions.add.get("photographer")
    if added and register.photographer(added):
        return Decision(added, MANUAL)
    if decisions.remove.get("photographer") == auto.value:
        return NO_DECISION
    return auto


def manual_when(register: Register, auto: When, decisions: PhotoDecisions, at: LocalFor) -> When:
    """A manual session implies its event; a manual event keeps the session its time falls in, if any."""
    event, session, local = auto.event, auto.session, auto.local
    added_session = register.session(decisions.add.get("session") or "")
    added_event = register.event(decisions.add.get("event") or "")
    if added_session:
        event, session = Decision(added_session.event_id, MANUAL), Decision(added_session.id, MANUAL)
    elif added_event and added_event.id != event.value:
        moment = at(added_event)
        timed = session_at(added_event, moment)
        event = Decision(added_event.id, MANUAL)
        session = Decision(timed.id, "capture time") if timed else NO_DECISION
        local = iso(moment) if moment else local
    elif added_event:
        event = Decision(added_event.id, MANUAL)
    if decisions.remove.get("event") and decisions.remove.get("event") == event.value:
        event, session = NO_DECISION, NO_DECISION
    if decisions.remove.get("session") and decisions.remove.get("session") == session.value:
        session = NO_DECISION
    return When(event, session, local)


def manual_cars(public_ids: set[str], auto: list[dict[str, Any]], decisions: PhotoDecisions) -> list[dict[str, Any]]:
    removed = set(decisions.remove.get("cars") or [])
    added = [c for c in decisions.add.get("cars") or [] if c in public_ids and c not in removed]
    kept = [tag for tag in auto if tag["car_id"] not in removed and tag["car_id"] not in added]
    manual = [{"car_id": c, "source": MANUAL, "confidence": CONFIDENCE["manual"]} for c in added]
    return sorted(kept + manual, key=lambda tag: tag["car_id"])


# --- privacy ----------------------------------------------------------------

def private_codes(cars: Iterable[Car]) -> tuple[str, ...]:
    """Compact VINs, last 7s and plates of private cars: scrubbed even inside longer words."""
    codes = [compact(text) for car in cars if not car.public
             for text in ((car.vin, car.vin[-7:]) if car.vin else ()) + car.plates]
    return tuple(sorted({code for code in codes if len(code) >= 4}, key=len, reverse=True))


CHAIN = re.compile(r"[^\W_]+(?:[\s_\-\u2010-\u2015]+[^\W_]+)*")  # words joined by plate gaps


def code_spans(folded: str, codes: Iterable[str]) -> list[tuple[int, int]]:
    """Where a code's letters and digits appear in a chain of words, gaps ignored: 'XSGM10749' holds 'sgm1074'."""
    spans = []
    for chain in CHAIN.finditer(folded):
        where = [chain.start() + i for i, c in enumerate(chain.group()) if WORD.match(c)]
        joined = "".join(folded[i] for i in where)
        for code in codes:
            at = joined.find(code)
            while at >= 0:
                spans.append((where[at], where[at + len(code) - 1] + 1))
                at = joined.find(code, at + 1)
    return spans


def private_spans(text: str, index: CarIndex, private_ids: set[str],
                  codes: Iterable[str] = ()) -> list[tuple[int, int]]:
    """[start, end) in the original text of every private car's identifier, merged.

    Stricter than tagging: a private code inside a longer word is scrubbed too,
    unless that word is a public car's own identifier.
    """
    folded = normalize(text)
    hits = index.find(folded)
    public = [(h.start, h.end) for h in hits if h.car_id not in private_ids]
    found = [(h.start, h.end) for h in hits if h.car_id in private_ids]
    found += [s for s in code_spans(folded.text, codes) if not any(a <= s[0] and s[1] <= b for a, b in public)]
    spans: list[tuple[int, int]] = []
    for start, end in sorted(found):
        start, end = folded.origin[start], folded.origin[end - 1] + 1
        while end < len(text) and unicodedata.combining(text[end]):  # 'e' + U+0301 goes with its 'e'
            end += 1
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans


def scrub(text: str | None, index: CarIndex, private_ids: set[str], codes: Iterable[str] = ()) -> str | None:
    """Replace private cars' identifiers by PRIVATE_MARK; the rest of the text is left as written."""
    if not text or not private_ids:
        return text
    for start, end in reversed(private_spans(text, index, private_ids, codes)):
        text = text[:start] + PRIVATE_MARK + text[end:]
    return text


def published_location(register: Register, lat: float | None,
                       lon: float | None) -> tuple[float | None, float | None, int | None]:
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
    "focal_length", "f_number", "exposure_time", "iso",
)
# Published texts that come from the file and so may name a private car.
SCRUBBED_FIELDS = ("path", "file_name", "title", "caption", "keywords", "artist", "copyright", "credit")


class Tagger:
    """Applies one register to photos: the rows archive.db receives."""

    def __init__(self, register: Register, manual: Manual | None = None) -> None:
        self.register = register
        self.manual = manual or Manual()
        self.public_cars = [car for car in register.cars if car.public]
        self.public_ids = {car.id for car in self.public_cars}
        self.private_ids = {car.id for car in register.cars if not car.public}
        # All cars, private ones too: a private car's plate inside a public
        # car's longer identifier is found, and left alone, the same way.
        self.cars = CarIndex(register.cars)
        self.private_codes = private_codes(register.cars)

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
        when = manual_when(self.register, decide_when(self.register, path, record), decisions,
                           local_for(self.register, record))
        cars = manual_cars(self.public_ids, decide_cars(self.cars, self.public_ids, path, record), decisions)
        lat, lon, rounded = published_location(self.register, record.get("latitude"), record.get("longitude"))
        event = self.register.event(when.event.value) if when.event.value else None
        session = self.register.session(when.session.value) if when.session.value else None
        row = {
            "path": shown,
            "file_name": PurePath(shown).name,
            "title": record.get("title"),
            "caption": record.get("caption"),
            "keywords": [k for k in record.get("keywords") or []],
            "artist": record.get("artist"),
            "copyright": record.get("copyright"),
            "photographer_id": photographer.value,
            "photographer_source": photographer.source,
            "credit": credit_line(self.register, photographer.value, record),
            "event_id": when.event.value,
            "event_source": when.event.source,
            "session_id": when.session.value,
            "session_source": when.session.source,
            "taken_at_local": when.local,
            "latitude": lat, "longitude": lon, "location_rounded": rounded,
            # Denormalised for full-text search and for galleries without joins.
            "event_name": event.name if event else None,
            "session_name": session.name if session else None,
            "car_names": self.car_names([tag["car_id"] for tag in cars]),
        }
        return self.scrub_row(row), cars

    def scrub_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """SCRUBBED_FIELDS without private identifiers; keywords as the published JSON array."""
        out = {**row, **{f: self.scrub(row[f]) for f in SCRUBBED_FIELDS if f in row and f != "keywords"}}
        if "keywords" in row:
            keywords = row["keywords"] if isinstance(row["keywords"], list) else json.loads(row["keywords"] or "[]")
            out["keywords"] = json.dumps([self.scrub(k) for k in keywords], ensure_ascii=False)
        return out

    def car_names(self, car_ids: list[str]) -> str | None:
        """Nicknames, aliases and colours of the tagged cars, for full-text search."""
        names = []
        for car_id in car_ids:
            car = self.register.car(car_id)
            if car:
                names += [n for n in (car.nickname, *car.aliases, car.color) if n]
        return "; ".join(dict.fromkeys(names)) or None

    def scrub(self, text: str | None) -> str | None:
        return scrub(text, self.cars, self.private_ids, self.private_codes)

    def fingerprint(self) -> str:
        """Changes whenever a decision could: the rules, the register's entries or a manual tag."""
        state = [RULES_VERSION, repr(replace(self.register, path="")),
                 json.dumps({sha: d.as_yaml() for sha, d in self.manual.photos.items()}, sort_keys=True)]
        return hashlib.sha256("\n".join(state).encode("utf-8")).hexdigest()

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
    upsert_register(db, register)
    remove_stale(db, register)


def upsert_register(db: sqlite_utils.Database, register: Register) -> None:
    """Write the entries that are new or changed (referenced tables first, for the foreign keys)."""
    for table, rows in register_rows(register).items():
        existing = {row["id"]: row for row in db.table(table).rows}
        for row in rows:
            if existing.get(row["id"]) != row:
                db.table(table).upsert(row, pk="id")


def remove_stale(db: sqlite_utils.Database, register: Register) -> int:
    """Delete rows of entries no longer in the register, and every reference to them; returns how many."""
    removed = 0
    for table, rows in reversed(register_rows(register).items()):
        ids = {row["id"] for row in rows}
        for stale in {row["id"] for row in db.table(table).rows} - ids:
            _forget(db, table, stale)
            removed += 1
    return removed


def _forget(db: sqlite_utils.Database, table: str, entry_id: str) -> None:
    """Remove a register entry and every reference to it from published rows."""
    if table == "cars":
        # car_names would still name it: drop the photo's names until it is re-decided.
        db.execute("update photos set car_names = null where id in "
                   "(select photo_id from photo_cars where car_id = ?)", [entry_id])
        db.execute("delete from photo_cars where car_id = ?", [entry_id])
    if table == "events":
        db.execute("update photos set session_id = null, session_name = null, session_source = null "
                   "where session_id in "
                   "(select id from sessions where event_id = ?)", [entry_id])
        db.execute("delete from sessions where event_id = ?", [entry_id])
        db.execute("update photos set event_id = null, event_name = null, event_source = null "
                   "where event_id = ?", [entry_id])
    if table == "sessions":
        db.execute("update photos set session_id = null, session_name = null, session_source = null "
                   "where session_id = ?", [entry_id])
    if table == "photographers":
        db.execute("update photos set photographer_id = null, photographer_source = null, credit = ? "
                   "where photographer_id = ?", [UNKNOWN_CREDIT, entry_id])
    db.execute(f"delete from {table} where id = ?", [entry_id])
