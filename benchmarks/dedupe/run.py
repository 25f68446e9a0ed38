"""Near-duplicate benchmark: precision and recall of duplicate pairs, ours beside the baselines.

    python benchmarks/dedupe/run.py            # builds data/ first if it is missing
    python benchmarks/dedupe/run.py --sweep    # tuning: the verification threshold on the tuning half

Each photo is read by the archive's own reader (one decode, upright, the
stored signature). Ours: photos arrive in a random order, each is searched
against every photo before it, candidates are verified and the archive's
clustering picks originals; a pair counts as 'duplicate' when both photos
end up in the same cluster. Photos whose metadata name different captures
(another capture time or camera body) are never joined; the row 'pixels
only' shows the same method with that rule off, as for burst frames that a
member re-shared without their metadata. Baselines on the same pairs: imagehash pHash at
distance <= 10 computed as most tools do (on the file's pixels, EXIF
orientation ignored), the same upright, and the exact file hash (sha256).
Thresholds were tuned on the 'tune' half of the corpus pictures; the
'test' half is held out.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ingest import dedupe  # noqa: E402
from ingest.reader import read_photo  # noqa: E402

HERE = Path(__file__).resolve().parent
FORMATS = {".jpg": "JPEG", ".webp": "WEBP", ".heic": "HEIF"}
PHASH_DISTANCE = 10


@dataclass
class Photo:
    index: int
    file: str
    base: str
    variant: str
    kind: str
    half: str
    sha256: str
    pixels: int
    has_metadata: bool
    signature: bytes
    phash_upright: int
    phash_file: int
    histogram: list[float]
    capture: str | None


def features(args: tuple[str, dict]) -> dict:
    data, row = args
    path = Path(data) / row["file"]
    read = read_photo(str(path), FORMATS[path.suffix])
    with Image.open(path) as image:
        phash_file = str(imagehash.phash(image))  # as most tools do: no EXIF orientation
        rgb = image.convert("RGB").resize((64, 64))
    histogram, _ = np.histogramdd(np.asarray(rgb).reshape(-1, 3), bins=(4, 4, 4), range=[(0, 256)] * 3)
    meta = read.metadata
    return {
        "sha256": read.sha256, "pixels": read.fingerprint.width * read.fingerprint.height,
        "has_metadata": bool(meta.get("camera_make") or meta.get("taken_at")),
        "signature": read.fingerprint.signature.hex(), "phash_upright": read.fingerprint.phash,
        "phash_file": phash_file, "histogram": (histogram.ravel() / histogram.sum()).tolist(),
        "capture": dedupe.capture_key(meta.get("taken_at"), meta.get("camera_serial") or meta.get("camera_model")),
    }


def load(data: Path, workers: int) -> list[Photo]:
    manifest = json.loads((data / "manifest.json").read_text())["photos"]
    cache_path = data / "features.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    for row in manifest:  # a rebuilt file is read again
        stat = (data / row["file"]).stat()
        row["stamp"] = f"{stat.st_size}-{stat.st_mtime_ns}"
    missing = [row for row in manifest if cache.get(row["file"], {}).get("stamp") != row["stamp"]
               or "capture" not in cache[row["file"]]]
    if missing:
        with ProcessPoolExecutor(workers) as pool:
            for row, result in zip(missing, pool.map(features, [(str(data), r) for r in missing], chunksize=4)):
                cache[row["file"]] = {**result, "stamp": row["stamp"]}
        cache_path.write_text(json.dumps(cache))
    photos = []
    for i, row in enumerate(manifest):
        f = cache[row["file"]]
        photos.append(Photo(i, row["file"], row["base"], row["variant"], row["kind"], row["half"],
                            f["sha256"], f["pixels"], f["has_metadata"], bytes.fromhex(f["signature"]),
                            int(f["phash_upright"], 16), int(f["phash_file"], 16), f["histogram"],
                            f["capture"]))
    return photos


def same_picture(a: Photo, b: Photo) -> bool:
    return a.base == b.base and a.kind != "negative" and b.kind != "negative"


def our_links(photos: list[Photo], seed: int) -> tuple[list[dedupe.Link], list[tuple[int, int, dedupe.Match]]]:
    """Ingest in a random order: search, verify, link. Returns links and every verification made."""
    order = photos[:]
    random.Random(seed).shuffle(order)
    index = dedupe.HashIndex(seconds=[])
    signatures = {p.index: dedupe.read_signature(p.signature) for p in photos}
    links, checked = [], []
    for photo in order:
        windows, seconds = dedupe.window_hash_pair(signatures[photo.index])
        for other, distance in index.search(windows, seconds).items():
            match = dedupe.verify(signatures[photo.index], signatures[other])
            checked.append((photo.index, other, match, distance))
            if match.duplicate:
                a, b = sorted((photo.index, other))
                links.append(dedupe.Link(a, b, distance, match.unexplained))
        index.add(photo.index, int(windows[0]), int(seconds[0]))
    return links, checked


def our_clusters(photos: list[Photo], links: list[dedupe.Link], metadata: bool = True) -> dict[int, int]:
    copies = [dedupe.Copy(p.index, p.pixels, p.has_metadata, f"{p.index:06d}", p.capture if metadata else None)
              for p in photos]
    original = dedupe.cluster(copies, links)
    return {p: (o if o is not None else p) for p, o in original.items()}


def scores(pairs: list[tuple[Photo, Photo]], predicted: set[tuple[int, int]]) -> tuple[float, float, int, int]:
    tp = sum(1 for a, b in pairs if same_picture(a, b) and (a.index, b.index) in predicted)
    fp = sum(1 for a, b in pairs if not same_picture(a, b) and (a.index, b.index) in predicted)
    positives = sum(1 for a, b in pairs if same_picture(a, b))
    precision = tp / (tp + fp) if tp + fp else 1.0
    return precision, tp / positives if positives else 1.0, fp, positives - tp


def evaluate(photos: list[Photo], seed: int = 1) -> dict:
    pairs = [(a, b) for a, b in itertools.combinations(photos, 2)]
    links, checked = our_links(photos, seed)
    root = our_clusters(photos, links)
    pixels_only = our_clusters(photos, links, metadata=False)
    methods = {
        "ours": {(a.index, b.index) for a, b in pairs if root[a.index] == root[b.index]},
        "ours, pixels only (metadata ignored)": {
            (a.index, b.index) for a, b in pairs if pixels_only[a.index] == pixels_only[b.index]},
        f"imagehash pHash <= {PHASH_DISTANCE}": {(a.index, b.index) for a, b in pairs
                                               if (a.phash_file ^ b.phash_file).bit_count() <= PHASH_DISTANCE},
        f"imagehash pHash <= {PHASH_DISTANCE}, upright": {
            (a.index, b.index) for a, b in pairs if (a.phash_upright ^ b.phash_upright).bit_count() <= PHASH_DISTANCE},
        "exact hash (sha256)": {(a.index, b.index) for a, b in pairs if a.sha256 == b.sha256},
    }
    return {"pairs": pairs, "methods": methods, "root": root, "links": links, "checked": checked}


def closest_colours(photos: list[Photo]) -> list[tuple[Photo, Photo]]:
    """Each base with the other base whose colour histogram is closest: 'another photo, similar colour'."""
    bases = [p for p in photos if p.kind == "base"]
    out = set()
    for a in bases:
        b = min((o for o in bases if o is not a),
                key=lambda o: float(np.abs(np.array(a.histogram) - np.array(o.histogram)).sum()))
        out.add(tuple(sorted((a.index, b.index))))
    by_index = {p.index: p for p in photos}
    return [(by_index[a], by_index[b]) for a, b in sorted(out)]


def report(name: str, photos: list[Photo], result: dict) -> None:
    pairs, methods, root = result["pairs"], result["methods"], result["root"]
    bases = len({p.base for p in photos})
    positives = sum(1 for a, b in pairs if same_picture(a, b))
    print(f"\n== {name}: {bases} corpus pictures, {len(photos)} photos, {len(pairs)} pairs "
          f"({positives} duplicate pairs) ==")
    print(f"{'method':38} {'precision':>9} {'recall':>7} {'false +':>8} {'missed':>7}")
    for method, predicted in methods.items():
        precision, recall, fp, fn = scores(pairs, predicted)
        print(f"{method:38} {precision:9.4f} {recall:7.4f} {fp:8d} {fn:7d}")
    ours, phash = methods["ours"], methods[f"imagehash pHash <= {PHASH_DISTANCE}"]
    by_base = {(p.base, p.variant): p for p in photos}
    print("\nper variant: found with its base, ours / pHash <= 10 (duplicates: should be found; negatives: not)")
    variants = sorted({(p.kind, p.variant) for p in photos if p.kind != "base"})
    for kind, variant in variants:
        hits = [tuple(sorted((by_base[(p.base, 'base')].index, p.index))) for p in photos if p.variant == variant]
        ours_n = sum(1 for h in hits if h in ours)
        phash_n = sum(1 for h in hits if h in phash)
        print(f"  {kind:9} {variant:20} {ours_n:3d}/{len(hits)}   {phash_n:3d}/{len(hits)}")
    similar = closest_colours(photos)
    joined = sum(1 for a, b in similar if root[a.index] == root[b.index])
    joined_phash = sum(1 for a, b in similar if (a.index, b.index) in phash)
    print(f"  negative  similar colour (closest base) {joined:3d}/{len(similar)}   {joined_phash:3d}/{len(similar)}")


def sweep(photos: list[Photo]) -> None:
    result = evaluate(photos)
    checked = result["checked"]
    by_index = {p.index: p for p in photos}
    rows = [(m.unexplained, same_picture(by_index[a], by_index[b]), by_index[a], by_index[b])
            for a, b, m, _ in checked]
    dup = sorted(r[0] for r in rows if r[1])
    neg = sorted(r[0] for r in rows if not r[1])
    print(f"candidates verified: {len(rows)} ({len(dup)} duplicates, {len(neg)} not)")
    print("duplicates unexplained, percentiles 50/90/95/99/max:", np.percentile(dup, [50, 90, 95, 99, 100]).round(4))
    print("negatives unexplained, smallest 10:", [round(x, 4) for x in neg[:10]])
    for r in sorted(rows, key=lambda r: r[0]):
        if not r[1] and r[0] < 0.08:
            print("   close negative", round(r[0], 4), r[2].file, r[3].file)
    for r in sorted(rows, key=lambda r: -r[0]):
        if r[1] and r[0] > dedupe.UNEXPLAINED_LIMIT:
            print("   missed duplicate", round(r[0], 4), r[2].file, r[3].file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sweep", action="store_true", help="Tuning details on the tuning half")
    parser.add_argument("--half", choices=("tune", "test"), default="tune", help="With --sweep")
    args = parser.parse_args()
    if not (args.data / "manifest.json").exists():
        from build import DEFAULT_CORPUS, build  # noqa: PLC0415

        print(f"Building the benchmark photos in {args.data} (once) ...", file=sys.stderr)
        build(DEFAULT_CORPUS, args.data, args.workers)
    started = time.monotonic()
    photos = load(args.data, args.workers)
    print(f"{len(photos)} photos read in {time.monotonic() - started:.1f}s", file=sys.stderr)
    if args.sweep:
        sweep([p for p in photos if p.half == args.half])
        return
    for half, title in (("tune", "tuning half"), ("test", "HELD-OUT half")):
        subset = [p for p in photos if p.half == half]
        started = time.monotonic()
        result = evaluate(subset)
        report(f"{title} (ours searched and verified in {time.monotonic() - started:.1f}s)", subset, result)


if __name__ == "__main__":
    main()
