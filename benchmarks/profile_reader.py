"""Profile what a reader process does per photo (ingest.reader.safe_read_photo).

The ingest workers are separate processes, so profiling `photo-archive ingest`
itself only shows the main process waiting for them. This runs the workers'
function in one process over the given files, as one worker would, twice:

1. stage timings: the library's stage functions are wrapped with a timer
   (here, in this process only; the package is not modified), so the
   figures carry no profiler overhead;
2. cProfile, for the functions that cost the most time of their own
   (Python-heavy code looks slower under cProfile than it is).

    python benchmarks/profile_reader.py OUT.prof FILE...
"""

from __future__ import annotations

import cProfile
import hashlib
import io
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

import imagehash

from ingest import fingerprint, metadata, reader
from ingest.scan import PHOTO_SUFFIXES

# (module, function name, stage label); stages nest (metadata: all includes exifread).
STAGES = [
    (reader, "read_file", "read file into memory"),
    (reader, "open_image", "open image (headers only)"),
    (metadata, "read_exif", "metadata: exifread"),
    (metadata, "pillow_exif_fields", "metadata: Pillow EXIF fallback"),
    (metadata, "read_iptc", "metadata: IPTC"),
    (metadata, "read_xmp", "metadata: XMP"),
    (metadata, "heif_coded_size", "metadata: HEIF boxes"),
    (reader, "read_metadata", "metadata: all"),
    (fingerprint, "decode_jpeg", "decode: simplejpeg (DCT-scaled)"),
    (fingerprint, "decode_with_pillow", "decode: Pillow draft"),
    (fingerprint, "reduced_upright", "decode + turn upright: all"),
    (fingerprint, "thumbnail_image", "thumbnail: resize (LANCZOS)"),
    (fingerprint, "encode_thumbnail", "thumbnail: WebP encode"),
    (fingerprint, "make_thumbnail", "thumbnail: resize + WebP"),
    (imagehash, "phash", "phash"),
    (imagehash, "dhash", "dhash"),
    (reader, "fingerprint", "fingerprint: all"),
    (reader, "read_photo", "read_photo: all"),
]

SPENT: dict[str, float] = defaultdict(float)


def timed(function, label):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            SPENT[label] += time.perf_counter() - started
    return wrapper


class TimedHashlib:
    """Stands in for `hashlib` inside ingest.reader: times sha256 over the file's bytes."""

    def __getattr__(self, name):
        return getattr(hashlib, name)

    @staticmethod
    def sha256(data=b""):
        started = time.perf_counter()
        digest = hashlib.sha256(data)
        SPENT["sha256"] += time.perf_counter() - started
        return digest


def install_timers() -> list[str]:
    installed = []
    for module, name, label in STAGES:
        function = getattr(module, name, None)
        if callable(function):
            setattr(module, name, timed(function, label))
            installed.append(label)
    if hasattr(reader, "hashlib"):
        reader.hashlib = TimedHashlib()  # type: ignore[assignment]
        installed.append("sha256")
    return installed


def read_all(files: list[str]) -> None:
    for path in files:
        reader.safe_read_photo(path, PHOTO_SUFFIXES.get(Path(path).suffix.lower(), ""))


def main(argv: list[str]) -> int:
    out, files = Path(argv[0]), argv[1:]
    if not files:
        print("usage: profile_reader.py OUT.prof FILE...", file=sys.stderr)
        return 2
    count = len(files)
    read_all(files[:1])  # imports and first-call set-up, as a worker's first photo pays them

    profiler = cProfile.Profile()
    profiler.enable()
    read_all(files)
    profiler.disable()
    profiler.dump_stats(out)

    labels = install_timers()
    started = time.perf_counter()
    read_all(files)
    wall = time.perf_counter() - started
    print(f"{count} photos read in one process (no profiler): {1000 * wall / count:.1f} ms per photo")
    print("\n  stage (inclusive; nested stages are part of the 'all' lines)      ms/photo")
    order = ["sha256"] + [label for _, _, label in STAGES]
    for label in order:
        if label in labels and label in SPENT:
            print(f"  {label:64} {1000 * SPENT[label] / count:8.1f}")

    text = io.StringIO()
    pstats.Stats(str(out), stream=text).sort_stats("tottime").print_stats(20)
    body = text.getvalue()
    print("\ncProfile, top functions by own time (profiler overhead inflates Python-heavy code):")
    print(body[body.find("   ncalls"):] if "ncalls" in body else body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
