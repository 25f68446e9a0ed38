"""How well does tagging find what the files say? Precision and recall on a generated inbox.

    python benchmarks/tagging_accuracy.py [--photos 300] [--seed 7] [--keep DIR]

Writes (deterministically, with ingest.sample_photos) a register and an inbox
of small photos from five photographers and members' phones, at three
events with sessions, naming forty cars the ways people do: the VIN, its
last 7, '#42', 'No. 42', '1M-42', plates with odd spacing, dashes and case,
nicknames with and without accents, aliases - in IPTC keywords, XMP
dc:subject, titles, captions, folder names and file names. Every photo also
carries distractors that must not become tags: DSC_0042.JPG, numbers without
a marker, plates and VINs inside longer words. The truth is known by
construction. The inbox is ingested with the real command line
(`python -m ingest.cli ingest`), then archive.db is compared with the truth:

- car tags: precision and recall over (photo, car) pairs;
- photographer, event and session: the share of photos decided right;
- privacy: tags of the private car, its identifiers anywhere in archive.db,
  off-event GPS positions published at full precision.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.sample_photos import Meta, save_photo, scene  # noqa: E402
from ingest.tagging import CarIndex, compact  # noqa: E402
from ingest.register import load_register  # noqa: E402

SIZE = (320, 240)
UTC = ZoneInfo("UTC")


# --- the register -----------------------------------------------------------

@dataclass(frozen=True)
class EventSpec:
    id: str
    name: str
    start: date
    days: int
    tz: str
    place: tuple[float, float]
    alias: str
    sessions: tuple[tuple[str, str, str, str], ...]  # id, name, start "YYYY-MM-DDTHH:MM", end


EVENTS = (
    EventSpec("ring-2024", "1M Register meeting 2024", date(2024, 8, 23), 3, "Europe/Berlin",
              (50.3356, 6.9475), "1M Treffen 2024", (
                  ("ring-2024-breakfast", "Breakfast at the Lindner", "2024-08-24T07:00", "2024-08-24T09:00"),
                  ("ring-2024-parade", "Nordschleife parade", "2024-08-24T09:00", "2024-08-24T12:00"),
                  ("ring-2024-gp", "GP circuit laps", "2024-08-24T13:00", "2024-08-24T17:00"))),
    EventSpec("spa-2025", "Spa Classic run 2025", date(2025, 5, 16), 3, "Europe/Brussels",
              (50.4372, 5.9714), "Spa Classic 2025", (
                  ("spa-2025-laps", "Laps of Spa", "2025-05-17T10:00", "2025-05-17T13:00"),
                  ("spa-2025-concours", "Concours in the paddock", "2025-05-17T14:00", "2025-05-17T18:00"))),
    EventSpec("goodwood-2025", "Goodwood gathering 2025", date(2025, 7, 11), 3, "Europe/London",
              (50.8594, -0.7597), "Goodwood 2025", (
                  ("goodwood-hill", "Hill climb", "2025-07-12T09:00", "2025-07-12T12:00"),
                  ("goodwood-paddock", "Paddock display", "2025-07-12T13:00", "2025-07-12T16:00"))),
)
HOME = (48.137154, 11.576124)  # Munich: far from every event

NICKNAMES = [
    "Grüne Hölle", "Black Pearl", "Café Racer", "Señorita", "Yellow Submarine", "Orange Juice",
    "The Last One", "Blue Thunder", "Mörder Mamba", "Snow White", "Jägermeister", "Ice Queen",
    "Crème Brûlée", "Red Baron", "Silver Arrow", "Nordschleife Nomad",
]
ALIASES = ["Segler's 1M", "Opa's Daily", "the Zürich car", "Kai's Coupé", "Project Ørsted", "Wolf's 1M"]
COLOURS = ["Valencia Orange", "Alpine White", "Black Sapphire"]
PLATE_PREFIXES = ["NR", "K", "M", "HH", "S", "B", "AC", "D", "F", "GL"]
PRIVATE_CAR = 4  # index of the car with public: false (nickname "Yellow Submarine")


@dataclass(frozen=True)
class CarSpec:
    id: str
    vin: str
    number: int
    plate: str | None
    nickname: str | None
    alias: str | None
    public: bool = True


def make_cars(rng: random.Random, count: int = 40) -> list[CarSpec]:
    numbers = rng.sample(range(1, 6310), count)
    if 2011 not in numbers:  # the year the 1M was built: "BMW 1M 2011 model year" must not tag car 2011
        numbers[-1] = 2011
    cars = []
    for i, number in enumerate(numbers):
        check = "0123456789X"[number % 11]
        vin = f"WBS1J5C5{check}BE{number:06d}"
        middle = rng.choice(["1M", "BM", "OJ", "GM"])
        plate = f"{rng.choice(PLATE_PREFIXES)} {middle} {rng.randint(10, 9999)}" if i % 5 != 3 else None
        nickname = NICKNAMES[i] if i < len(NICKNAMES) else None
        alias = ALIASES[i - 20] if 20 <= i < 20 + len(ALIASES) else None
        cars.append(CarSpec(f"{number:04d}", vin, number, plate, nickname, alias, public=i != PRIVATE_CAR))
    return cars


PHOTOGRAPHERS = """\
photographers:
  - id: anna-berg                 # found by her inbox folder
    name: Anna Berg
    cameras:
      - serial: "A1000001"
  - id: rene-hey                  # found by his camera's serial; the camera is on winter time
    name: René Hey
    studio: Cannoneer Photography
    aliases: ["Cannoneer"]
    cameras:
      - serial: "083024001234"
        clock_offset: "+01:00:00"
  - id: jo-mueller                # found by EXIF Artist; camera on UTC with OffsetTimeOriginal
    name: Jö Müller
  - id: vos-photography           # found by IPTC By-line
    name: VOS Photography
  - id: kai-lindqvist             # found by XMP dc:creator
    name: Kai Lindqvist
    aliases: ["KL Pictures"]
"""


def register_yaml(cars: list[CarSpec]) -> str:
    lines = [PHOTOGRAPHERS, "events:"]
    for e in EVENTS:
        lines += [f"  - id: {e.id}", f"    name: {e.name}", f"    start: {e.start}",
                  f"    end: {e.start + timedelta(days=e.days - 1)}", f"    timezone: {e.tz}",
                  f"    place: {{lat: {e.place[0]}, lon: {e.place[1]}, radius_km: 25}}",
                  f'    aliases: ["{e.alias}"]', "    sessions:"]
        lines += [f"      - {{id: {s}, name: \"{n}\", start: {a}, end: {b}}}" for s, n, a, b in e.sessions]
    lines.append("cars:")
    for c in cars:
        lines += [f'  - id: "{c.id}"', f"    vin: {c.vin}", f"    production_number: {c.number}",
                  f"    color: {COLOURS[c.number % 3]}"]
        lines += [f'    plates: ["{c.plate}"]'] if c.plate else []
        lines += [f'    nickname: "{c.nickname}"'] if c.nickname else []
        lines += [f'    aliases: ["{c.alias}"]'] if c.alias else []
        lines += ["    public: false"] if not c.public else []
    return "\n".join(lines) + "\n"


# --- how people name a car ----------------------------------------------------

def bare(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def plate_variant(plate: str, rng: random.Random) -> str:
    parts = plate.split()
    style = rng.randrange(5)
    if style == 0:
        return "-".join(parts)
    if style == 1:
        return "".join(parts).lower()
    if style == 2:
        return f"{parts[0]}  {parts[1]}{parts[2]}"
    if style == 3:
        return " - ".join(p.lower() for p in parts)
    return plate


def name_variant(name: str, rng: random.Random) -> str:
    return rng.choice([name, name.upper(), name.lower(), bare(name), name.replace(" ", "-"),
                       bare(name).replace(" ", "_"), name.replace(" ", "")])


def mentions(car: CarSpec, rng: random.Random) -> list[str]:
    """Every way this car may be written, in SPEC forms."""
    n = car.number
    out = [car.vin, car.vin.lower(), car.vin[-7:], f"#{n}", f"#{n:04d}", f"No. {n}", f"Nr.{n}",
           f"1M-{n}", f"1M #{n}", f"no {n}"]
    if car.plate:
        out += [plate_variant(car.plate, rng) for _ in range(3)]
    for name in (car.nickname, car.alias):
        if name:
            out += [name_variant(name, rng) for _ in range(3)]
    return out


def safe_for_path(text: str) -> str:
    return text.replace("/", "-").replace("#", "#").strip()


# --- distractors: text that must not become a tag -----------------------------

def distractors(cars: list[CarSpec], rng: random.Random, unused: list[int]) -> dict[str, list[str]]:
    """Numbers without markers, identifiers inside longer words, a year after '1M'."""
    other = rng.choice(cars)
    plate = compact(other.plate) if other.plate else "nr1m42"
    return {
        "keywords": [f"X{plate.upper()}9", other.vin[:-1], "BE" + other.vin[-8:] + "7",
                     f"No. {rng.choice(unused)}", "#nurburgring"],
        "caption": [f"{other.number} laps", f"lap {other.number}", "BMW 1M 2011 model year",
                    f"car{other.number}x"],
        "file": [f"DSC_{other.number:04d}", f"IMG_{other.number}"],
    }


# --- the inbox ----------------------------------------------------------------

@dataclass
class Truth:
    photographer: str | None
    event: str | None
    session: str | None
    cars: set[str] = field(default_factory=set)      # public cars named in the file
    private: bool = False                             # names the private car
    gps_off_event: bool = False


@dataclass
class Shot:
    """One photo being composed: where it goes and what it says."""

    folder: str
    stem: str
    meta: Meta
    keywords: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    title: str | None = None
    caption: str | None = None
    png: bool = False


SHOOTERS = ("anna-berg", "rene-hey", "jo-mueller", "vos-photography", "kai-lindqvist", None)


def shooter_meta(who: str | None, true_local: datetime | None, tz: ZoneInfo,
                 gps: tuple[float, float] | None) -> tuple[Meta, str]:
    """Camera settings and credits of each photographer; returns (meta, folder)."""
    if true_local is None:
        camera, offset = None, None
    elif who == "rene-hey":           # winter time: the clock is an hour behind
        camera, offset = true_local - timedelta(hours=1), None
    elif who == "jo-mueller":         # camera on UTC, says so in OffsetTimeOriginal
        camera, offset = true_local.replace(tzinfo=tz).astimezone(UTC).replace(tzinfo=None), "+00:00"
    elif who in ("vos-photography", None):
        camera = true_local
        delta = true_local.replace(tzinfo=tz).utcoffset() or timedelta(0)
        offset = f"+{int(delta.total_seconds() // 3600):02d}:00"
    else:
        camera, offset = true_local, None
    meta = {
        "anna-berg": (Meta(make="Canon", model="EOS R6", serial="A1000001"), "inbox/anna-berg"),
        "rene-hey": (Meta(make="Canon", model="EOS R5", serial="083024001234"), "inbox/handed-over/card-2"),
        "jo-mueller": (Meta(make="FUJIFILM", model="X-T5", artist="JÖ MULLER"), "inbox/handed-over/usb-stick"),
        "vos-photography": (Meta(make="SONY", model="ILCE-7M4", iptc_byline="Vos Photography"),
                            "inbox/handed-over/vos"),
        "kai-lindqvist": (Meta(make="NIKON", model="Z 8", xmp_creator=["KL Pictures"]), "inbox/handed-over/kai"),
        None: (Meta(make="Apple", model="iPhone 15"), "inbox/members/phone"),
    }[who]
    base, folder = meta
    base.taken_at, base.offset, base.gps = camera, offset, gps
    return base, folder


PLACES = ("iptc_keyword", "xmp_subject", "iptc_title", "xmp_title", "xmp_description", "iptc_caption",
          "folder", "file")


def place_mention(shot: Shot, place: str, text: str) -> None:
    if place in ("iptc_keyword", "xmp_subject"):
        (shot.keywords if place == "iptc_keyword" else shot.subjects).append(text)
    elif place in ("iptc_title", "xmp_title"):
        shot.title = f"{shot.title} and {text}" if shot.title else f"{text} on track"
        shot.meta.__setattr__("iptc_title" if place == "iptc_title" else "xmp_title", shot.title)
    elif place in ("xmp_description", "iptc_caption"):
        attr = "xmp_description" if place == "xmp_description" else "iptc_caption"
        old = getattr(shot.meta, attr)
        setattr(shot.meta, attr, f"{old}; spotted {text}, near the pits" if old else f"Spotted {text}, near the pits")
    elif place == "folder":
        shot.folder += f"/{safe_for_path(text)}"
    else:
        shot.stem += f" {safe_for_path(text)}"


Place = tuple[EventSpec | None, datetime | None, str | None, tuple[float, float] | None]


def when_and_where(rng: random.Random, kind: str) -> Place:
    """(event, true local time, session id, gps) for an at-event or off-event photo."""
    if kind == "off-dates":
        moment = datetime(2024, 6, 1, 12) + timedelta(days=rng.randint(0, 300), minutes=rng.randint(0, 600))
        return None, moment, None, HOME
    event = rng.choice(EVENTS)
    if kind == "off-geofence":        # during the event, but at home
        moment = datetime.combine(event.start, datetime.min.time()) + timedelta(days=1, hours=10,
                                                                               minutes=rng.randint(0, 59))
        return None, moment, None, HOME
    if rng.random() < 0.8:
        session = rng.choice(event.sessions)
        start, end = datetime.fromisoformat(session[2]), datetime.fromisoformat(session[3])
        # Early in the session on purpose: an uncorrected winter-time clock lands in the one before.
        minutes = rng.randint(1, min(55, int((end - start).total_seconds() // 60) - 2))
        moment = start + timedelta(minutes=minutes, seconds=rng.randint(0, 59))
        sid = session[0]
    else:                             # the evening before: at the event, in no session
        moment = datetime.combine(event.start, datetime.min.time()) + timedelta(hours=19, minutes=rng.randint(0, 90))
        sid = None
    lat, lon = event.place
    return event, moment, sid, (round(lat + rng.uniform(-0.05, 0.05), 6), round(lon + rng.uniform(-0.05, 0.05), 6))


def compose(index: int, rng: random.Random, cars: list[CarSpec], unused: list[int]) -> tuple[Shot, Truth]:
    who = SHOOTERS[index % len(SHOOTERS)] if index % 37 != 5 else "unregistered"
    kind = "at-event"
    if index % 29 == 3:
        kind = "off-dates"
    elif index % 31 == 7:
        kind = "off-geofence"
    elif index % 23 == 11:
        kind = "no-time"
    event, moment, session, gps = when_and_where(rng, "at-event" if kind == "no-time" else kind)
    tz = ZoneInfo(event.tz) if event else ZoneInfo("Europe/Berlin")
    shooter = None if who == "unregistered" else who
    meta, folder = shooter_meta(shooter, None if kind == "no-time" else moment, tz, gps if kind != "no-time" else None)
    if who == "unregistered":
        meta.artist = "John Smith"    # a guest: credited by name, no photographer id
    # PNG has no IPTC block: VOS, known by IPTC By-line only, delivers JPEGs.
    shot = Shot(folder, f"IMG_{1000 + index}", meta, png=index % 10 == 9 and who != "vos-photography")
    truth = Truth(shooter, event.id if event else None, session, gps_off_event=gps == HOME)
    if kind == "no-time":
        truth.session = None
        how = index % 3
        if how == 0:
            shot.folder += f"/{event.id}/scans"
        elif how == 1:
            shot.keywords.append(event.alias)
            shot.subjects.append(event.alias)
        else:
            sid = event.sessions[0][0]
            shot.folder += f"/{sid}"
            truth.session = sid
    count = rng.choices([0, 1, 2, 3], weights=[15, 45, 30, 10])[0]
    places = [p for p in PLACES if not (shot.png and p.startswith("iptc"))]
    for car in rng.sample(cars, count):
        written = rng.choice(mentions(car, rng))
        place_mention(shot, rng.choice(places), written)
        if car.public:
            truth.cars.add(car.id)
        else:
            truth.private = True
    noise = distractors(cars, rng, unused)
    shot.keywords.append(rng.choice(noise["keywords"]))
    shot.subjects += ["Nürburgring", "BMW 1M"]
    old = shot.meta.xmp_description
    shot.meta.xmp_description = f"{old}. {rng.choice(noise['caption'])}" if old else rng.choice(noise["caption"])
    shot.stem = f"{rng.choice(noise['file'])} {shot.stem}" if rng.random() < 0.5 else shot.stem
    return shot, truth


def write_shot(inbox_root: Path, shot: Shot, seed: int) -> Path:
    meta = shot.meta
    if shot.keywords and not shot.png:
        meta.iptc_keywords = shot.keywords
    meta.xmp_subject = shot.subjects + (shot.keywords if shot.png else [])
    suffix = ".png" if shot.png else ".jpg"
    path = inbox_root / shot.folder / f"{shot.stem}{suffix}"
    return save_photo(scene(seed, SIZE), path, meta, quality=80)


def build(root: Path, photos: int = 300, seed: int = 7) -> tuple[Path, Path, dict[str, Truth], list[CarSpec]]:
    """Write register.yml and inbox/ under root; returns (inbox, register, truth by sha256, cars)."""
    rng = random.Random(seed)
    cars = make_cars(rng)
    taken = {c.number for c in cars}
    unused = [n for n in range(1, 9999) if n not in taken][:500]
    register = root / "register.yml"
    register.write_text(register_yaml(cars), encoding="utf-8")
    truth: dict[str, Truth] = {}
    for index in range(photos):
        shot, expected = compose(index, rng, cars, unused)
        path = write_shot(root, shot, seed * 100_000 + index)
        truth[hashlib.sha256(path.read_bytes()).hexdigest()] = expected
    return root / "inbox", register, truth, cars


# --- running and measuring -----------------------------------------------------

def ingest(inbox: Path, register: Path, db: Path, workers: int | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "ingest.cli", "ingest", str(inbox), "--db", str(db),
            "--register", str(register)]
    args += ["--workers", str(workers)] if workers else []
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)


def ratio(good: int, total: int) -> float:
    return good / total if total else 1.0


def query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(str(db))
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def text_cells(db: Path) -> list[tuple[str, str]]:
    """(where, text) for every text cell of archive.db, so nothing private hides anywhere."""
    cells = []
    for (table,) in query(db, "select name from sqlite_master where type = 'table' and name not like '%fts%'"):
        columns = [c[1] for c in query(db, f"pragma table_info([{table}])")]
        for row in query(db, f"select * from [{table}]"):
            cells += [(f"{table}.{col}", value) for col, value in zip(columns, row) if isinstance(value, str)]
    return cells


def leaks(db: Path, register: Path) -> dict[str, int]:
    """Text cells that still name the private car, by table.column."""
    private = [c for c in load_register(register).cars if not c.public]
    index = CarIndex(private)
    needles = [compact(t) for c in private for t in (c.vin, c.nickname, *c.plates, *c.aliases) if t]
    found: dict[str, int] = {}
    for where, text in text_cells(db):
        if index.find(text) or any(n and n in compact(text) for n in needles):
            found[where] = found.get(where, 0) + 1
    return found


@dataclass
class Report:
    photos: int
    car_tp: int
    car_fp: int
    car_fn: int
    photographer_ok: int
    event_ok: int
    session_ok: int
    private_tags: int
    leaks: dict[str, int]
    unrounded_off_event: int
    mistakes: list[str]

    @property
    def precision(self) -> float:
        return ratio(self.car_tp, self.car_tp + self.car_fp)

    @property
    def recall(self) -> float:
        return ratio(self.car_tp, self.car_tp + self.car_fn)

    def lines(self) -> list[str]:
        n = self.photos
        return [
            f"photos: {n}",
            f"car tags: precision {self.precision:.4f}, recall {self.recall:.4f} "
            f"({self.car_tp} right, {self.car_fp} invented, {self.car_fn} missed)",
            f"photographer: {ratio(self.photographer_ok, n):.4f} ({self.photographer_ok}/{n})",
            f"event: {ratio(self.event_ok, n):.4f} ({self.event_ok}/{n})",
            f"session: {ratio(self.session_ok, n):.4f} ({self.session_ok}/{n})",
            f"private car: {self.private_tags} tags, identifiers left in "
            f"{json.dumps(self.leaks) if self.leaks else 'no cell'}",
            f"off-event GPS at full precision: {self.unrounded_off_event}",
        ]


def measure(db: Path, truth: dict[str, Truth], register: Path, cars: list[CarSpec]) -> Report:
    rows = {sha: (pid, ph, ev, se, rounded, path) for pid, sha, ph, ev, se, rounded, path in query(
        db, "select id, sha256, photographer_id, event_id, session_id, location_rounded, path from photos")}
    tags: dict[int, set[str]] = {}
    for pid, car in query(db, "select photo_id, car_id from photo_cars"):
        tags.setdefault(pid, set()).add(car)
    tp = fp = fn = ok_p = ok_e = ok_s = unrounded = 0
    mistakes = []
    for sha, t in truth.items():
        pid, ph, ev, se, rounded, path = rows.get(sha, (None,) * 6)
        found = tags.get(pid, set())
        tp, fp, fn = tp + len(found & t.cars), fp + len(found - t.cars), fn + len(t.cars - found)
        if found != t.cars:
            mistakes.append(f"{path}: cars {sorted(found)} expected {sorted(t.cars)}")
        ok_p, ok_e, ok_s = ok_p + (ph == t.photographer), ok_e + (ev == t.event), ok_s + (se == t.session)
        decided = (("photographer", ph, t.photographer), ("event", ev, t.event), ("session", se, t.session))
        for what, got, want in decided:
            if got != want:
                mistakes.append(f"{path}: {what} {got} expected {want}")
        unrounded += bool(t.gps_off_event and rounded != 1)
    private_ids = [c.id for c in cars if not c.public]
    private_tags = sum(1 for _, car in query(db, "select photo_id, car_id from photo_cars") if car in private_ids)
    return Report(len(truth), tp, fp, fn, ok_p, ok_e, ok_s, private_tags, leaks(db, register), unrounded, mistakes)


def run(root: Path, photos: int = 300, seed: int = 7, workers: int | None = None,
        log: Callable[[str], Any] = lambda line: None) -> Report:
    inbox, register, truth, cars = build(root, photos, seed)
    log(f"wrote {len(truth)} photos and a register of {len(cars)} cars under {root}")
    db = root / "archive.db"
    result = ingest(inbox, register, db, workers)
    if result.returncode != 0:
        raise SystemExit(f"ingest failed ({result.returncode}): {result.stderr.strip()}")
    log(result.stderr.strip().splitlines()[-1])
    return measure(db, truth, register, cars)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temporary folder)")
    parser.add_argument("--show", type=int, default=20, help="list this many mistakes")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tagging-accuracy-") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        report = run(root, args.photos, args.seed, args.workers, log=print)
    for line in report.lines():
        print(line)
    for line in report.mistakes[: args.show]:
        print("  " + line)
    perfect = report.precision == report.recall == 1.0 and not report.mistakes
    return 0 if perfect and not report.private_tags and not report.unrounded_off_event else 1


if __name__ == "__main__":
    sys.exit(main())
