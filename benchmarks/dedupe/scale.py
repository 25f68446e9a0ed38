"""Near-duplicate search at archive scale: one lookup among 1,000,000 photos; re-clustering 100,000.

    python benchmarks/dedupe/scale.py [--lookup-size 1000000] [--recluster-size 100000]

Lookup: the index holds 1,000,000 centre hashes (synthetic, each bit drawn
with the frequency it has in the real benchmark photos, so buckets are as
uneven as real ones) plus the benchmark's original photos. Each real photo is then
looked up as ingest does it: its 31 window hashes, the index search, and
the verification of every candidate found (candidates that are synthetic
are verified against a real signature of another picture, so they cost
what a real candidate costs). Fetching a candidate's signature row from
SQLite by primary key adds about 0.05 ms per candidate and is not included.

Re-cluster: a synthetic archive.db of 100,000 photos (random smooth
pictures; one in five is a copy of another: resized, recompressed or
cropped by up to 10 %, brightened) is searched, verified and clustered
from scratch by `photo-archive duplicates --recluster`'s own function.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ingest import dedupe  # noqa: E402
from ingest.db import connect, ensure_db_shape  # noqa: E402

HERE = Path(__file__).resolve().parent


def real_photos(data: Path) -> list[dict]:
    cache = data / "features.json"
    if not cache.exists():
        raise SystemExit(f"run benchmarks/dedupe/run.py first: it reads the photos into {cache}")
    features = json.loads(cache.read_text())
    manifest = json.loads((data / "manifest.json").read_text())["photos"]
    return [{**row, "signature": bytes.fromhex(features[row["file"]]["signature"])} for row in manifest]


def synthetic_hashes(real: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Hashes whose bits are set as often as in real photos' centre hashes."""
    bits = ((real[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(np.float64)
    frequency = bits.mean(axis=0)
    out = np.zeros(count, dtype=np.uint64)
    for bit in range(64):
        out |= (rng.random(count) < frequency[bit]).astype(np.uint64) << np.uint64(bit)
    return out


def lookup(count: int, data: Path, seed: int = 1) -> None:
    """Each copy is looked up in an archive holding its original among `count` other photos."""
    rng = np.random.default_rng(seed)
    photos = real_photos(data)
    signatures = [dedupe.read_signature(p["signature"]) for p in photos]
    real = np.array([dedupe.centre_hash(s) for s in signatures], dtype=np.uint64)
    real_means = np.array([int(dedupe.window_mean_hashes(s)[0]) for s in signatures], dtype=np.uint64)
    originals = [i for i, p in enumerate(photos) if p["kind"] == "base"]
    hashes = synthetic_hashes(real, count, rng)
    means = synthetic_hashes(real_means, count, rng)
    started = time.perf_counter()
    index = dedupe.HashIndex(list(range(count)) + [count + i for i in originals],
                             hashes.tolist() + [int(real[i]) for i in originals],
                             means.tolist() + [int(real_means[i]) for i in originals])
    built = time.perf_counter() - started
    wall, cpu, searching, candidates, found_original = [], [], [], [], 0
    base_of = {p["base"]: i for i, p in enumerate(photos) if p["kind"] == "base"}
    queries = [i for i, p in enumerate(photos) if p["kind"] != "base"]
    for i in queries:
        began, began_cpu = time.perf_counter(), time.process_time()
        found = index.search(*dedupe.window_hash_pair(signatures[i]))
        searching.append((time.perf_counter() - began) * 1000)
        for other in found:
            # A synthetic candidate costs what a real one does: verified against another real picture.
            pool = other - count if other >= count else originals[int(other) % len(originals)]
            dedupe.verify(signatures[i], signatures[pool])
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
        candidates.append(len(found))
        found_original += photos[i]["kind"] == "duplicate" and (count + base_of[photos[i]["base"]]) in found
    wall.sort()
    cpu.sort()
    searching.sort()
    print(f"lookup among {len(index):,} photos ({count:,} synthetic + {len(originals)} real originals), "
          f"index built in {built:.1f}s; {len(queries)} real copies and burst frames looked up: "
          f"median {statistics.median(wall):.2f} ms ({statistics.median(cpu):.2f} ms CPU), "
          f"95th percentile {wall[int(0.95 * len(wall))]:.2f} ms ({cpu[int(0.95 * len(cpu))]:.2f} ms CPU) "
          f"per photo, window hashes + search + verification of {statistics.mean(candidates):.2f} "
          f"candidates on average (the search alone: median {statistics.median(searching):.2f} ms); "
          f"a duplicate's original was among the candidates for {found_original}/"
          f"{sum(photos[i]['kind'] == 'duplicate' for i in queries)}")


def smooth_pictures(count: int, rng: np.random.Generator) -> np.ndarray:
    """Random 96x72 greyscale 'photos': a smooth field with a few shapes and grain."""
    coarse = rng.uniform(0, 255, (count, 12, 16)).astype(np.float32)
    rows = dedupe._area_matrix(12, 0, 12, 72).astype(np.float32)
    cols = dedupe._area_matrix(16, 0, 16, 96).astype(np.float32)
    # Smooth: bilinear-like upsampling by two area passes.
    field = rows @ coarse @ cols.T
    out = field + rng.normal(0, 4, field.shape).astype(np.float32)
    for _ in range(6):
        y = rng.integers(0, 60, count)
        x = rng.integers(0, 80, count)
        h = rng.integers(6, 20, count)
        w = rng.integers(8, 30, count)
        shade = rng.uniform(0, 255, count).astype(np.float32)
        for k in range(count):
            out[k, y[k]:y[k] + h[k], x[k]:x[k] + w[k]] = shade[k]
    return out.clip(0, 255)


def to_blob(picture: np.ndarray) -> bytes:
    """A signature blob as make_signature writes it, from a 96x72 greyscale picture (no colour)."""
    from PIL import Image

    image = Image.fromarray(picture.astype(np.uint8), mode="L")
    return dedupe.make_signature(image.convert("RGB"))


def synthetic_archive(path: Path, count: int, rng: np.random.Generator) -> None:
    originals = int(count * 0.8)
    pictures = smooth_pictures(originals, rng)
    db = connect(path)
    ensure_db_shape(db)
    photos, signatures = [], []
    for i in range(count):
        if i < originals:
            picture, pixels = pictures[i], 6000 * 4000
        else:
            source = pictures[int(rng.integers(originals))]
            kind = i % 4
            if kind == 0:    # cropped by up to 10 % on one side
                cut = int(rng.integers(3, 9))
                picture = source[:, cut:] if rng.random() < 0.5 else source[cut:, :]
            elif kind == 1:  # brightened
                picture = source * 1.1 + 5
            else:            # recompressed: a little noise
                picture = source + rng.normal(0, 3, source.shape)
            pixels = 1080 * 720
        photos.append({"id": i + 1, "sha256": f"{i:064x}", "path": f"synthetic/{i}.jpg",
                       "width": int(np.sqrt(pixels * 1.5)), "height": int(np.sqrt(pixels / 1.5)),
                       "ingested_at": f"2025-01-01T00:00:{i % 60:02d}Z"})
        blob = to_blob(np.clip(picture, 0, 255))
        signature = dedupe.read_signature(blob)
        windows, seconds = dedupe.window_hashes(signature), dedupe.window_mean_hashes(signature)
        signatures.append({"photo_id": i + 1, "chash": f"{int(windows[0]):016x}", "cahash": f"{int(seconds[0]):016x}",
                           "signature": blob, "windows": dedupe.pack_windows(windows, seconds)})
    with db.atomic():
        db.table("photos").insert_all(photos, batch_size=2000)
        db.table("photo_signatures").insert_all(signatures, batch_size=2000)
    db.close()


def recluster(count: int, data: Path, seed: int = 2) -> None:
    cached = data / f"synthetic-{count}-v2.db"
    if not cached.exists():
        began = time.perf_counter()
        synthetic_archive(cached, count, np.random.default_rng(seed))
        print(f"synthetic archive of {count:,} photos made in {time.perf_counter() - began:.0f}s "
              f"(kept as {cached})", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "archive.db"
        shutil.copyfile(cached, path)
        db = connect(path)
        began = time.perf_counter()
        cpu = time.process_time()
        workers_cpu = _children_cpu()

        def phase(message: str) -> None:
            print(f"  {time.perf_counter() - began:6.1f}s {message}", file=sys.stderr)

        photos, links, changed = dedupe.recluster_all(db, progress=phase)
        seconds = time.perf_counter() - began
        cpu = time.process_time() - cpu
        workers_cpu = _children_cpu() - workers_cpu
        duplicates = db.execute("select count(*) from photos where duplicate_of is not null").fetchone()[0]
        db.close()
    print(f"re-cluster {photos:,} photos from stored signatures: {seconds:.1f}s ({cpu + workers_cpu:.1f}s CPU: "
          f"{cpu:.1f}s in the main process, {workers_cpu:.1f}s in its workers; {links:,} verified pairs, "
          f"{duplicates:,} duplicates found of {count - int(count * 0.8):,} planted)")


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished child processes (the re-cluster's workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lookup-size", type=int, default=1_000_000)
    parser.add_argument("--recluster-size", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    args = parser.parse_args()
    if args.lookup_size:
        lookup(args.lookup_size, args.data)
    if args.recluster_size:
        recluster(args.recluster_size, args.data)


if __name__ == "__main__":
    main()
