"""Time the project's duplicate check (ingest.dedupe) for one new photo against a big archive.

A check is what ingest does for each new photo: its 31 window hashes
(`window_hashes` of its signature), the multi-index search over every stored
centre hash (`HashIndex.search`), then `verify` against each candidate's
signature. The index holds `size` photos: random hashes, plus the centre
hashes of stored copies (resized, recompressed) of half the new photos, so
half the checks find a candidate and verify it, as a re-share would.
Building the index (once per run, from the archive's hashes) is timed apart.
"""

from __future__ import annotations

import importlib
import io
import statistics
import time
from typing import Any

import numpy as np
from PIL import Image

import scale
from ingest.sample_photos import scene

QUERIES = 60


def _signature_pair(dedupe: Any, seed: int) -> tuple[Any, Any]:
    """A new photo's signature and the signature of a stored copy of it (smaller, recompressed)."""
    picture = scene(50_000 + seed, (400, 267))
    copy = picture.resize((300, 200), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=70)
    copy = Image.open(io.BytesIO(out.getvalue())).convert("RGB")
    return (dedupe.read_signature(dedupe.make_signature(picture)),
            dedupe.read_signature(dedupe.make_signature(copy)))


def time_lookup(built: "scale.Built", sizes: tuple[int, ...] = (200_000, 1_000_000)) -> list["scale.DuplicateCheck"]:
    try:
        dedupe = importlib.import_module("ingest.dedupe")
    except ImportError:
        return []
    needed = ("HashIndex", "window_hashes", "make_signature", "read_signature", "verify")
    missing = [name for name in needed if not hasattr(dedupe, name)]
    if missing:
        return [scale.DuplicateCheck("ingest.dedupe", 0, float("nan"), float("nan"),
                                     f"ingest.dedupe lacks {', '.join(missing)}: adapt benchmarks/dedupe_bench.py")]
    pairs = [_signature_pair(dedupe, seed) for seed in range(QUERIES)]
    stored = {i + 1: copy for i, (_, copy) in enumerate(pairs[: QUERIES // 2])}
    results = []
    for size in sizes:
        rng = np.random.default_rng(size)
        planted = {pid: int(dedupe.window_hashes(sig)[0]) for pid, sig in stored.items()}
        ids = np.arange(1, size + 1, dtype=np.int64)
        hashes = rng.integers(0, 2**63, size, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, size, dtype=np.uint64)
        for pid, chash in planted.items():
            hashes[pid - 1] = np.uint64(chash)
        started = time.perf_counter()
        index = dedupe.HashIndex(ids.tolist(), hashes.tolist())
        build_ms = (time.perf_counter() - started) * 1000
        times, candidates, verified = [], [], 0
        steps: dict[str, list[float]] = {"window hashes": [], "search": [], "verify (per candidate)": []}
        for new, _ in pairs:
            started = time.perf_counter()
            windows = dedupe.window_hashes(new)
            hashed = time.perf_counter()
            found = index.search(windows)
            searched = time.perf_counter()
            for photo_id in found:
                if photo_id in stored:
                    before = time.perf_counter()
                    verified += dedupe.verify(new, stored[photo_id]).duplicate
                    steps["verify (per candidate)"].append((time.perf_counter() - before) * 1000)
            times.append((time.perf_counter() - started) * 1000)
            steps["window hashes"].append((hashed - started) * 1000)
            steps["search"].append((searched - hashed) * 1000)
            candidates.append(len(found))
        times.sort()
        breakdown = ", ".join(f"{name} {statistics.median(v):.1f} ms" for name, v in steps.items() if v)
        results.append(scale.DuplicateCheck(
            "ingest.dedupe: window hashes + HashIndex.search + verify", size, statistics.median(times),
            times[int(0.9 * (len(times) - 1))],
            f"medians: {breakdown}; index of {size} built in {build_ms:.0f} ms; "
            f"{statistics.mean(candidates):.1f} candidates per photo; "
            f"{verified}/{len(stored)} planted copies verified"))
    return results
