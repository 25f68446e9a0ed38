"""Archive scale: a synthetic archive.db of N photos, served and timed; the duplicate check.

Rows and thumbnails are generated without real images, straight into a
database shaped by the project's own `ingest.db.ensure_db_shape` (so its
indexes, FTS table and triggers are the ones under test). The register is
club-sized: 30 events of 3 sessions, 80 photographers, 1,200 cars, a few of
them in many photos (car popularity is skewed, as at a real meeting).

Pages are timed over HTTP on localhost against `photo-archive serve`, the
way members use the site: the median of `repeat` requests after warm-ups.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote_plus

import numpy as np
from PIL import Image

from ingest import db as archive_db
from ingest.sample_photos import scene

VERSION = 1
EVENTS_PER_YEAR = 2
YEARS = range(2011, 2026)
PHOTOGRAPHERS = 80
CARS = 1200
COLOURS = ["Valencia Orange"] * 7 + ["Alpine White", "Black Sapphire"] * 2 + ["Java Green", "Le Mans Blue"]
NICKNAMES = ["Green Mamba", "MotoGP Safety Car", "Yellow Submarine", "UK press car", "Snowflake",
             "Night Rider", "Red Baron", "Ringmeister", "Grey Ghost", "Orange Crush", "Blue Thunder",
             "Millennium", "Pumpkin", "Tangerine Dream", "Little Rocket", "Eifel Storm"]
SESSION_NAMES = ["Meet and greet", "Nordschleife parade", "GP circuit laps"]


# --- building the archive ----------------------------------------------------------

def thumbnail_pool(kind: str, count: int = 64) -> list[tuple[bytes, int, int]]:
    """Thumbnails to reuse: 'tiny' (24x16 WebP, ~100 bytes) or 'real' (400x267 WebP like ingest's)."""
    size = (24, 16) if kind == "tiny" else (400, 267)
    pool = []
    for i in range(count):
        image = scene(10_000 + i, size)
        out = io.BytesIO()
        image.save(out, "WEBP", quality=80, method=4)
        pool.append((out.getvalue(), *size))
    return pool


def register_rows(rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    events, sessions = [], []
    for year in YEARS:
        for n in range(EVENTS_PER_YEAR):
            start = datetime(year, 9 if n == 0 else 5, 19 if n == 0 else 10)
            event_id = f"{'meet' if n == 0 else 'spring-drive'}-{year}"
            events.append({
                "id": event_id, "start": f"{start:%Y-%m-%d}", "end": f"{start + timedelta(days=2):%Y-%m-%d}",
                "name": f"1M Register {'annual meeting' if n == 0 else 'spring drive'} {year}",
                "timezone": "Europe/Berlin", "place_name": "Nürburgring", "latitude": 50.3356,
                "longitude": 6.9475, "radius_km": 30.0, "aliases": json.dumps([f"1M Treffen {year}"]),
            })
            for day, name in enumerate(SESSION_NAMES):
                begin = start + timedelta(days=day, hours=9)
                sessions.append({"id": f"{event_id}-{day}", "event_id": event_id, "name": name,
                                 "start": f"{begin:%Y-%m-%dT%H:%M}",
                                 "end": f"{begin + timedelta(hours=5):%Y-%m-%dT%H:%M}"})
    photographers = [{"id": f"photographer-{i:03d}", "name": f"Photographer {i}",
                      "studio": f"Studio {i}" if i % 3 == 0 else None, "handle": f"@shooter{i}",
                      "credit": f"Photo: Photographer {i}", "aliases": "[]"} for i in range(PHOTOGRAPHERS)]
    cars = []
    for i in range(CARS):
        number = i + 1
        vin = f"WBS1J5C5{i % 10}BE{number:06d}"
        cars.append({
            "id": f"{number:04d}", "vin": vin, "vin_last7": vin[-7:], "production_number": number,
            "color": COLOURS[rng.randrange(len(COLOURS))] if i else "Java Green",
            "nickname": NICKNAMES[i] if i < len(NICKNAMES) else (f"Car {number}" if i % 3 == 0 else None),
            "plates": json.dumps([f"NR 1M {number}"]), "aliases": "[]",
        })
    return {"events": events, "sessions": sessions, "photographers": photographers, "cars": cars}


@dataclass
class Built:
    path: Path
    photos: int
    seconds: float
    size_bytes: int
    busiest_event: str
    top_car: dict[str, Any]
    typical_car: dict[str, Any]
    sample_sha256: str
    sample_id: int


def photo_rows(count: int, register: dict[str, list], pool: list, seed: int,
               cars_out: list[dict], files_out: list[dict]) -> Iterator[dict[str, Any]]:
    """Photo rows; fills `cars_out` (photo_cars) and `files_out` (photo_files) on the way."""
    rng = random.Random(seed)
    events = register["events"]
    sessions_of = {e["id"]: [s for s in register["sessions"] if s["event_id"] == e["id"]] for e in events}
    event_names = {e["id"]: e["name"] for e in events}
    cars = register["cars"]
    # Recent meetings are bigger; the first cars are the famous ones.
    event_weights = [1.0 + i * 0.15 for i in range(len(events))]
    car_weights = [1.0 / (i + 1) ** 0.9 for i in range(len(cars))]
    now = "2025-09-22T08:00:00Z"
    for i in range(1, count + 1):
        event = rng.choices(events, event_weights)[0]
        session = rng.choice(sessions_of[event["id"]])
        start = datetime.fromisoformat(session["start"])
        local = start + timedelta(seconds=rng.randrange(5 * 3600))
        photographer = rng.randrange(PHOTOGRAPHERS)
        in_photo = rng.choices(cars, car_weights, k=rng.choice([0, 1, 1, 1, 1, 2, 2, 3]))
        in_photo = list({c["id"]: c for c in in_photo}.values())
        names = [c["nickname"] or f"1M #{c['production_number']}" for c in in_photo]
        keywords = ["1M Register", "Nürburgring", *names, *(c["color"] for c in in_photo)]
        thumb, tw, th = pool[i % len(pool)]
        sha = hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()
        path = f"inbox/photographer-{photographer:03d}/{event['id']}/DSC_{i:06d}.JPG"
        portrait = i % 3 == 2
        for c in in_photo:
            cars_out.append({"photo_id": i, "car_id": c["id"], "source": "keyword", "confidence": 0.85})
        files_out.append({"photo_id": i, "path": path, "file_name": path.rsplit("/", 1)[1], "first_seen": now})
        yield {
            "id": i, "sha256": sha, "path": path, "file_name": path.rsplit("/", 1)[1],
            "file_size": 6_000_000 + rng.randrange(2_000_000), "format": "JPEG",
            "width": 6000, "height": 4000, "orientation": (6 if i % 2 else 8) if portrait else 1,
            "taken_at": f"{local:%Y-%m-%dT%H:%M:%S}", "taken_at_local": f"{local:%Y-%m-%dT%H:%M:%S}",
            "camera_make": "NIKON CORPORATION", "camera_model": rng.choice(["NIKON Z 6_2", "NIKON D750", "NIKON Z 8"]),
            "camera_serial": f"60{photographer:05d}", "lens": "NIKKOR Z 24-70mm f/4 S",
            "focal_length": float(rng.choice([24, 35, 50, 70, 105, 200])), "f_number": 4.0,
            "exposure_time": 1 / 500, "iso": rng.choice([100, 200, 400, 800]),
            "latitude": 50.3356 + rng.uniform(-0.05, 0.05) if i % 3 == 0 else None,
            "longitude": 6.9475 + rng.uniform(-0.05, 0.05) if i % 3 == 0 else None,
            "location_rounded": 0 if i % 3 == 0 else None,
            "title": f"{names[0] if names else '1M Register'} at the {session['name']}",
            "caption": f"{', '.join(names) or 'The field'} during the {session['name'].lower()}, "
                       f"{event['name']}. Photo by Photographer {photographer}.",
            "keywords": json.dumps(keywords, ensure_ascii=False),
            "artist": f"Photographer {photographer}", "copyright": f"(c) Photographer {photographer}",
            "photographer_id": f"photographer-{photographer:03d}", "photographer_source": "inbox folder",
            "event_id": event["id"], "event_source": "capture time", "session_id": session["id"],
            "credit": f"Photo: Photographer {photographer}", "event_name": event_names[event["id"]],
            "session_name": session["name"], "car_names": "; ".join(names) or None,
            "phash": f"{rng.getrandbits(64):016x}", "dhash": f"{rng.getrandbits(64):016x}",
            "duplicate_of": rng.randrange(1, i) if i > 10 and rng.random() < 0.03 else None,
            "thumbnail": thumb, "thumbnail_width": th if portrait else tw,
            "thumbnail_height": tw if portrait else th, "ingested_at": now, "updated_at": now,
        }


def only_columns(db, table: str, rows: list[dict]) -> list[dict]:
    """Keep the keys the project's schema has (it grows; rows must not invent columns)."""
    columns = set(db.table(table).columns_dict)
    return [{k: v for k, v in row.items() if k in columns} for row in rows]


def build(folder: Path, photos: int, thumbnails: str = "tiny", seed: int = 1,
          log: Callable[[str], None] = lambda m: None) -> Built:
    """archive.db with `photos` rows under `folder`, reused when one with the same parameters is there."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "archive.db"
    manifest = folder / "manifest.json"
    params = {"version": VERSION, "photos": photos, "thumbnails": thumbnails, "seed": seed,
              "schema": schema_fingerprint()}
    if manifest.is_file() and path.is_file():
        saved = json.loads(manifest.read_text())
        if saved.get("params") == params:
            return Built(path=path, **saved["built"])
    for stale in folder.glob("archive.db*"):
        stale.unlink()
    log(f"building a synthetic archive of {photos} photos ({thumbnails} thumbnails) in {path} ...")
    started = time.perf_counter()
    rng = random.Random(seed)
    register = register_rows(rng)
    pool = thumbnail_pool(thumbnails)
    db = archive_db.connect(path)
    archive_db.ensure_db_shape(db)
    db.execute("PRAGMA synchronous = OFF")  # a throw-away build: durability does not matter here
    with db.conn:
        for table in ("photographers", "events", "sessions", "cars"):
            db.table(table).insert_all(only_columns(db, table, register[table]), pk="id", replace=True)
    batch = 5000
    cars_out: list[dict] = []
    files_out: list[dict] = []
    rows = photo_rows(photos, register, pool, seed, cars_out, files_out)
    while True:
        chunk = [row for _, row in zip(range(batch), rows)]
        if not chunk:
            break
        with db.conn:
            db.table("photos").insert_all(only_columns(db, "photos", chunk), batch_size=500)
            db.table("photo_cars").insert_all(only_columns(db, "photo_cars", cars_out), batch_size=2000)
            db.table("photo_files").insert_all(only_columns(db, "photo_files", files_out), batch_size=2000)
        cars_out.clear()
        files_out.clear()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    busiest = db.execute("select event_id from photos group by event_id order by count(*) desc limit 1").fetchone()[0]
    car_counts = db.execute(
        "select c.id, c.nickname, count(*) from photo_cars pc join cars c on c.id = pc.car_id "
        "group by c.id order by count(*) desc").fetchall()
    top = car_counts[0]
    typical = car_counts[len(car_counts) // 2]
    sample = db.execute("select id, sha256 from photos where id = ?", [max(1, photos // 2)]).fetchone()
    db.close()
    built = {
        "photos": photos, "seconds": time.perf_counter() - started,
        "size_bytes": sum(p.stat().st_size for p in folder.glob("archive.db*")),
        "busiest_event": busiest,
        "top_car": {"id": top[0], "nickname": top[1], "photos": top[2]},
        "typical_car": {"id": typical[0], "nickname": typical[1], "photos": typical[2]},
        "sample_sha256": sample[1], "sample_id": sample[0],
    }
    manifest.write_text(json.dumps({"params": params, "built": built}, indent=2))
    return Built(path=path, **built)


def schema_fingerprint() -> str:
    """Changes when the project's schema does, so a cached archive is rebuilt with new indexes."""
    return hashlib.sha256(repr((archive_db.TABLES, archive_db.TRIGGERS)).encode()).hexdigest()[:16]


# --- serving and timing ------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`photo-archive serve` on a free localhost port, in its own process group."""

    def __init__(self, db: Path, command: list[str]) -> None:
        self.port = free_port()
        self.log = open(db.parent / "serve.log", "w")
        self.process = subprocess.Popen(
            [*command, "serve", "--db", str(db), "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"

    def wait(self, client, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"photo-archive serve exited: see {self.log.name}")
            try:
                if client.get(self.base + "/-/versions.json").status_code == 200:
                    return
            except Exception:  # not listening yet
                pass
            time.sleep(0.2)
        raise RuntimeError("photo-archive serve did not answer in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the group we created: serve and its datasette
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


@dataclass
class Timed:
    label: str
    url: str
    status: int
    median_ms: float
    p90_ms: float
    bytes: int
    note: str = ""


def time_url(client, base: str, label: str, url: str, repeat: int, warmup: int = 2) -> Timed:
    for _ in range(min(warmup, repeat)):
        client.get(base + url)
    times, status, size = [], 0, 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(base + url)
        times.append((time.perf_counter() - started) * 1000)
        status, size = response.status_code, len(response.content)
    times.sort()
    return Timed(label, url, status, statistics.median(times), times[int(0.9 * (len(times) - 1))], size)


def canned_queries() -> dict[str, Any]:
    """The canned queries of the site's metadata.yml (someone else's file: read, never assumed)."""
    import yaml

    from ingest.site import SITE_DIR

    try:
        metadata = yaml.safe_load((SITE_DIR / "metadata.yml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    databases = metadata.get("databases") or {}
    return (databases.get("archive") or {}).get("queries") or {}


CAR_SQL = ("select p.id, p.title, p.credit, p.taken_at_local from photo_cars pc "
           "join photos p on p.id = pc.photo_id where pc.car_id = :car and p.duplicate_of is null "
           "order by p.taken_at_local desc limit 100")


def pages(built: Built) -> list[tuple[str, str]]:
    """(label, URL) of what is timed: gallery, facet on event, search, photos of a car, media."""
    top, typical = built.top_car, built.typical_car
    term = quote_plus(top["nickname"] or top["id"])
    queries = canned_queries()
    car_query = next((name for name in queries if "car" in name and "never" not in name), None)
    if car_query:
        wanted = quote_plus(top["nickname"] or top["id"])
        cars = [(f"photos of a car (/{car_query}, {top['photos']} photos)", f"/archive/{car_query}?car={wanted}"),
                (f"photos of a car (/{car_query}, {typical['photos']} photos)",
                 f"/archive/{car_query}?car={quote_plus(typical['id'])}")]
    else:
        cars = [(f"photos of a car (SQL, {top['photos']} photos)",
                 f"/archive?sql={quote_plus(CAR_SQL)}&car={quote_plus(top['id'])}")]
    return [
        ("gallery page (/archive/photos)", "/archive/photos"),
        ("facet on event (?_facet=event_id)", "/archive/photos?_facet=event_id"),
        ("one event selected (?event_id=)", f"/archive/photos?event_id={built.busiest_event}"),
        (f"full-text search ('{top['nickname']}')", f"/archive/photos?_search={term}"),
        *cars,
        ("gallery filtered by car (?_car=)", f"/archive/photos?_car={quote_plus(top['id'])}"),
        ("photo page", f"/archive/photos/{built.sample_id}"),
        ("thumbnail (/-/thumb/)", f"/-/thumb/{built.sample_sha256}.webp"),
        ("JSON API, 100 rows", "/archive/photos.json?_size=100"),
    ]


def time_site(built: Built, command: list[str], repeat: int,
              log: Callable[[str], None] = lambda m: None) -> list[Timed]:
    import httpx

    server = Server(built.path, command)
    try:
        with httpx.Client(timeout=60.0) as client:
            server.wait(client)
            results = []
            for label, url in pages(built):
                log(f"  timing {label} ...")
                results.append(time_url(client, server.base, label, url, repeat))
            return results
    finally:
        server.stop()


# --- the duplicate check -----------------------------------------------------------

@dataclass
class DuplicateCheck:
    method: str
    hashes: int
    median_ms: float
    p90_ms: float
    note: str


def reference_scan(hashes: int, repeat: int = 200, threshold: int = 10, seed: int = 1) -> DuplicateCheck:
    """XOR + popcount over `hashes` random 64-bit hashes (numpy), the reference for dedupe."""
    rng = np.random.default_rng(seed)
    archive = rng.integers(0, 2**63, hashes, dtype=np.uint64) ^ (rng.integers(0, 2, hashes, dtype=np.uint64) << 63)
    queries = rng.integers(0, 2**63, repeat, dtype=np.uint64)
    times = []
    for query in queries:
        started = time.perf_counter()
        distances = np.bitwise_count(archive ^ query)
        near = np.flatnonzero(distances <= threshold)
        _ = near[np.argsort(distances[near], kind="stable")]
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return DuplicateCheck("numpy XOR + popcount scan (reference)", hashes, statistics.median(times),
                          times[int(0.9 * (len(times) - 1))], "")
