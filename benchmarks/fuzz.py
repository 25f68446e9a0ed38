"""Fuzz the per-file reader with mutated real photo headers: no exception, no hang, one-line errors.

The test suite (tests/test_fuzz_metadata.py) runs a few thousand fixed cases
of these strategies on every `make test`; this script runs fresh random cases
for as long as it is given:

    python benchmarks/fuzz.py --minutes 10                    # hypothesis, every format
    python benchmarks/fuzz.py --minutes 10 --engine atheris   # coverage-guided (pip install atheris)

Seeds are real camera files from ../shared/corpus/exif-samples (JPEG, HEIC,
TIFF) and PNG, WebP and HEIF files written here with real EXIF, XMP and
IPTC (ingest.sample_photos). A case is a seed with one to eight mutations in
its first 8 KB, where a photo's headers and metadata are: a flipped bit, a
byte set to a boundary value, a 2- or 4-byte field (a count, an offset, a
size) overwritten with a boundary number in either byte order, bytes inserted
or deleted, a chunk copied over another, the file cut short.

Each case is written to a file and read as an ingest worker reads it
(`safe_read_photo`), and its metadata is read on its own (`read_metadata`
must never raise: metadata is optional, a photo must not be lost over it).
A photo that reads is then written the way the main process writes it
(`Ingest.write_batch`: archive.db and the private ledger), since an odd value
that crashes there stops the whole run. A case fails when anything raises,
when an error message is not one non-empty line, when the record holds
something that is not a clean value, or when it takes longer than the limit.

The real HEIC files (8 to 16 MP) are opened and their metadata read, not
decoded, on every case: decoding them would take most of the time; a small
generated HEIF covers the decoder.

Prints one JSON line at the end: cases per format, outcomes, the first
message of each kind of failure, failing cases, the slowest case; exits 1
when a case failed. Failing and slow inputs are saved under
benchmarks/data/fuzz-failures/ (git-ignored) with the seed and mutations
that made them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import struct
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("PHOTO_ARCHIVE_CORPUS", ROOT.parent / "shared" / "corpus")) / "exif-samples"
FAILURES = ROOT / "benchmarks" / "data" / "fuzz-failures"

HEADER = 8192          # mutations land here: markers, boxes, IFDs, EXIF, XMP, ICC, tables
MAX_MUTATIONS = 8
CASE_LIMIT = 10.0      # seconds: ingest's default per-file time limit (workers.DEFAULT_TIMEOUT)
SLOW = 1.0             # seconds: worth a look, a real photo of this size takes ~10 ms

# Real camera files, small enough to decode on every case (<= 1 MP); the
# larger ones (HEIC) are opened and their metadata read, without decoding pixels.
REAL_SEEDS = {
    "JPEG": ["jpg/Canon_40D.jpg", "jpg/Nikon_COOLPIX_P1.jpg", "jpg/Olympus_C8080WZ.jpg",
             "jpg/Pentax_K10D.jpg", "jpg/Fujifilm_FinePix6900ZOOM.jpg", "jpg/Sony_HDR-HC3.jpg",
             "jpg/Kodak_CX7530.jpg", "jpg/Canon_DIGITAL_IXUS_400.jpg", "jpg/long_description.jpg",
             "jpg/xmp/BlueSquare.jpg", "jpg/tests/32-lens_data.jpeg", "jpg/invalid/image01551.jpg",
             "jpg/invalid/image01137.jpg", "jpg/orientation/landscape_1.jpg",
             "jpg/exif-org/fujifilm-finepix40i.jpg"],
    "TIFF": ["tiff/Arbitro.tiff", "tiff/Jobagent.tiff", "tiff/Tless0.tiff",
             "tiff/DudleyLeavittUtah.tiff"],
    "HEIF": ["heic/IMG_5195.HEIC", "heic/mobile/HMD_Nokia_8.3_5G.heif",
             "heic/mobile/HMD_Nokia_8.3_5G_hdr.heif"],
}
DECODE_LIMIT = 1_000_000  # pixels: seeds above this are read for metadata only
FORMATS = ("JPEG", "HEIF", "TIFF", "PNG", "WEBP")

INTERESTING_8 = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)
INTERESTING_16 = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x3E8, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
INTERESTING_32 = (0, 1, 8, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0,
                  0xFFFFFFFF, "end", "end-1", "end+1")  # "end": the file's length


@dataclass(frozen=True)
class Seed:
    """A file to mutate."""

    name: str
    format: str      # what its suffix says: the format the reader is handed
    data: bytes = field(repr=False)
    decode: bool     # False: too large to decode per case; opened and its metadata read

    def __str__(self) -> str:
        return self.name


# --- seeds ------------------------------------------------------------------

def real_seeds(corpus: Path = CORPUS) -> list[Seed]:
    from ingest.fingerprint import open_image

    seeds = []
    for fmt, names in REAL_SEEDS.items():
        for name in names:
            data = (corpus / name).read_bytes()
            image, _ = open_image(data, fmt)
            with image:
                small = image.width * image.height <= DECODE_LIMIT
            seeds.append(Seed(name, fmt, data, small))
    return seeds


def generated_seeds() -> list[Seed]:
    """PNG, WebP and HEIF with real metadata, in the variants their readers branch on."""
    import io
    from datetime import datetime
    from fractions import Fraction

    from PIL import Image

    from ingest.sample_photos import Meta, save_photo, scene

    meta = Meta(
        make="NIKON CORPORATION", model="NIKON Z 9", serial="3012345", lens="NIKKOR Z 24-70mm f/2.8 S",
        taken_at=datetime(2025, 9, 20, 10, 15), offset="+02:00", orientation=6,
        exposure_time=Fraction(1, 500), f_number=2.8, iso=400, focal_length=70.0,
        gps=(50.3356, 6.9475), artist="René Hey", copyright="Cannoneer Photography",
        description="Green Mamba at the Nordschleife", xp_keywords=["1M #42", "Nürburgring"],
        iptc_title="Parade", iptc_keywords=["NR 1M 42", "Java Green"], iptc_byline="René Hey",
        xmp_title="Parade lap", xmp_description="1M Register 2025", xmp_subject=["Segler's 1M"],
        xmp_creator=["René Hey"], xmp_rights="CC BY-SA",
    )
    picture = scene(7, (96, 64))
    out = []
    with tempfile.TemporaryDirectory() as folder:
        for name, fmt in (("meta.png", "PNG"), ("meta.webp", "WEBP"), ("meta.heic", "HEIF"),
                          ("meta.tif", "TIFF")):
            path = save_photo(picture, Path(folder) / name, meta)
            out.append(Seed(f"generated/{name}", fmt, path.read_bytes(), True))
    variants: list[tuple[str, str, Image.Image, dict[str, Any]]] = [
        ("palette-transparent.png", "PNG", picture.convert("P"), {"transparency": 0}),
        ("grey16-interlaced.png", "PNG", picture.convert("I;16"), {"interlace": 1}),
        ("rgba-icc.png", "PNG", picture.convert("RGBA"), {"icc_profile": _icc()}),
        ("lossless.webp", "WEBP", picture.convert("RGBA"), {"lossless": True}),
        ("lzw-strips.tif", "TIFF", picture, {"compression": "tiff_lzw", "rowsperstrip": 8}),
    ]
    for name, fmt, image, options in variants:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        out.append(Seed(f"generated/{name}", fmt, buffer.getvalue(), True))
    return out


def _icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def all_seeds(corpus: Path = CORPUS) -> dict[str, list[Seed]]:
    """Seeds by format (the suffix format the reader is handed)."""
    by_format: dict[str, list[Seed]] = {fmt: [] for fmt in FORMATS}
    for seed in [*real_seeds(corpus), *generated_seeds()]:
        by_format[seed.format].append(seed)
    return by_format


# --- mutations -------------------------------------------------------------

Mutation = tuple  # (op, position, ...): see mutate()


def mutate(data: bytes, mutations: list[Mutation]) -> bytes:
    """Apply mutations in order; positions wrap into the first HEADER bytes of the file."""
    out = bytearray(data)
    for op, position, *args in mutations:
        span = min(len(out), HEADER)
        at = position % (span + 1) if op in ("insert", "cut") else (position % span if span else 0)
        if op == "cut":
            del out[at:]
        elif op == "insert":
            out[at:at] = args[0]
        elif not out:
            continue
        elif op == "flip":
            out[at] ^= 1 << args[0]
        elif op == "byte":
            out[at] = args[0]
        elif op in ("u16", "u32"):
            size = 2 if op == "u16" else 4
            value = _value(args[0], len(out)) & (0xFFFF if size == 2 else 0xFFFFFFFF)
            packed = struct.pack((">" if args[1] else "<") + ("H" if size == 2 else "I"), value)
            out[at:at + size] = packed[: max(0, len(out) - at)]
        elif op == "delete":
            del out[at:at + args[0]]
        elif op == "copy":
            source = args[0] % len(out)
            chunk = bytes(out[source:source + args[1]])
            out[at:at + len(chunk)] = chunk
    return bytes(out)


def _value(value: int | str, length: int) -> int:
    if isinstance(value, int):
        return value
    return {"end": length, "end-1": length - 1, "end+1": length + 1}[value]


def mutation_strategy():
    """One mutation, as a tuple mutate() understands."""
    from hypothesis import strategies as st

    at = st.integers(0, HEADER - 1)
    return st.one_of(
        st.tuples(st.just("flip"), at, st.integers(0, 7)),
        st.tuples(st.just("byte"), at, st.sampled_from(INTERESTING_8) | st.integers(0, 255)),
        st.tuples(st.just("u16"), at, st.sampled_from(INTERESTING_16), st.booleans()),
        st.tuples(st.just("u32"), at, st.sampled_from(INTERESTING_32), st.booleans()),
        st.tuples(st.just("insert"), at, st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("delete"), at, st.integers(1, 256)),
        st.tuples(st.just("copy"), at, at, st.integers(1, 256)),
        st.tuples(st.just("cut"), at),
    )


def case_strategy(seeds: list[Seed]):
    """A seed and the mutations to apply to it."""
    from hypothesis import strategies as st

    return st.tuples(st.sampled_from(seeds),
                     st.lists(mutation_strategy(), min_size=1, max_size=MAX_MUTATIONS))


# --- the checks ----------------------------------------------------------------

class TookTooLong(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` in the reader swallows it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt Python code that runs longer than `seconds` (main thread only)."""

    def alarm(signum: int, frame: object) -> None:
        raise TookTooLong(f"took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
TEXT_FIELDS = ("taken_at", "offset", "camera_make", "camera_model", "camera_serial", "lens",
               "title", "caption", "artist", "copyright")
SQLITE_INT = range(-(2**63), 2**63)


def check_message(message: str) -> None:
    """What a person reads in ingest_errors: one non-empty line, no traceback."""
    assert isinstance(message, str) and message.strip(), f"empty error message {message!r}"
    assert "\n" not in message and "\r" not in message, f"error message is not one line: {message!r}"
    assert "Traceback" not in message, f"traceback in the error message: {message!r}"
    assert len(message) <= 400, f"error message of {len(message)} characters: {message[:100]!r}..."


def check_text(name: str, value: Any) -> None:
    if value is None:
        return
    assert isinstance(value, str) and value == value.strip() and value, f"{name}: {value!r} is not clean text"
    assert not _CONTROL.search(value), f"{name}: control characters in {value!r}"
    value.encode("utf-8")  # lone surrogates would stop the SQLite write


def check_record(record: dict[str, Any]) -> None:
    """read_metadata's record: every published field a clean value, storable and JSON-able."""
    from ingest.metadata import PHOTO_FIELDS

    assert isinstance(record, dict) and set(PHOTO_FIELDS) <= set(record), "record lacks fields"
    for name in TEXT_FIELDS:
        check_text(name, record[name])
    if record["taken_at"] is not None:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", record["taken_at"]), record["taken_at"]
    if record["offset"] is not None:
        assert re.fullmatch(r"[+-]\d\d:\d\d", record["offset"]), record["offset"]
    for name in ("focal_length", "f_number", "exposure_time", "latitude", "longitude"):
        value = record[name]
        assert value is None or (isinstance(value, (int, float)) and math.isfinite(value)), f"{name}: {value!r}"
    for name in ("focal_length", "f_number", "exposure_time"):
        assert record[name] is None or record[name] > 0, f"{name}: {record[name]!r}"
    assert record["iso"] is None or (isinstance(record["iso"], int) and record["iso"] in SQLITE_INT), record["iso"]
    assert record["orientation"] in (None, *range(1, 9)), f"orientation {record['orientation']!r}"
    assert (record["latitude"] is None) == (record["longitude"] is None), "half a GPS position"
    if record["latitude"] is not None:
        assert -90 <= record["latitude"] <= 90 and -180 <= record["longitude"] <= 180
    assert isinstance(record["keywords"], list), f"keywords {record['keywords']!r}"
    for keyword in record["keywords"]:
        check_text("keyword", keyword)
    json.dumps(record, ensure_ascii=False)  # the private ledger keeps the record as JSON


def check_photo(result: Any) -> None:
    """A PhotoRead's fingerprint: what the photos row and the gallery need."""
    print_ = result.fingerprint
    assert isinstance(print_.width, int) and print_.width > 0 and isinstance(print_.height, int) and print_.height > 0
    assert re.fullmatch(r"[0-9a-f]{16}", print_.phash) and re.fullmatch(r"[0-9a-f]{16}", print_.dhash)
    assert print_.thumbnail and 0 < print_.thumbnail_width <= 400 and 0 < print_.thumbnail_height <= 400
    if print_.warning is not None:
        check_message(print_.warning)
    check_record(result.metadata)


class Writer:
    """The main process's side: write each result as Ingest.write_batch does, into a scratch archive."""

    def __init__(self, folder: Path) -> None:
        from ingest.pipeline import Ingest
        from ingest.register import Register
        from ingest.tagging import Tagger

        self.run = Ingest(folder / "fuzz.db", Tagger(Register.empty()), workers=1)

    def write(self, path: Path, fmt: str, result: Any) -> None:
        from ingest.scan import Found

        stat = path.stat()
        self.run.write_batch([(Found(str(path), "photo", fmt, None, stat.st_size, stat.st_mtime_ns), result)])

    def close(self) -> None:
        self.run.close()


def failure_kind(message: str) -> str:
    """'failed: image data is damaged or truncated' for every message of that kind.

    reader.safe_read_photo's last resort, 'unreadable image (TypeError: ...)',
    is kept apart by exception type: each is a parser error nobody anticipated.
    """
    kind = message.split(":")[0]
    return "failed: " + (kind if message.startswith("unreadable image (") else kind.split("(")[0].strip())


def check_case(seed: Seed, data: bytes, path: Path, writer: Writer | None = None,
               limit: float = CASE_LIMIT) -> str:
    """Read one mutated file as a worker does and check everything; returns the outcome.

    Raises AssertionError (or whatever escaped) describing the failure.
    """
    import warnings

    from ingest.errors import PhotoError
    from ingest.fingerprint import open_image
    from ingest.metadata import read_metadata
    from ingest.reader import PhotoRead, safe_read_photo

    path.write_bytes(data)
    with warnings.catch_warnings(), time_limit(limit):
        warnings.simplefilter("ignore")  # a worker's warnings are not the record's business
        try:
            image, _ = open_image(data, seed.format)
        except PhotoError as e:
            check_message(str(e))
            image = None
        try:
            check_record(read_metadata(data, image))  # must not raise, whatever the bytes
        finally:
            if image is not None:
                image.close()
        if not seed.decode:
            return "opened" if image is not None else "refused"
        result = safe_read_photo(str(path), seed.format)
    assert isinstance(result, (PhotoRead, PhotoError)), f"safe_read_photo returned {result!r}"
    if isinstance(result, PhotoError):
        check_message(str(result))
        outcome = failure_kind(str(result))
    else:
        check_photo(result)
        outcome = "read, damaged" if result.fingerprint.warning else "read"
    if writer is not None:
        writer.write(path, seed.format, result)
    return outcome


# --- the long run ----------------------------------------------------------

@dataclass
class Tally:
    cases: Counter = field(default_factory=Counter)       # per format
    outcomes: Counter = field(default_factory=Counter)
    messages: dict[str, str] = field(default_factory=dict)  # the first error message of each kind
    failures: list[dict[str, Any]] = field(default_factory=list)
    slow: list[dict[str, Any]] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")

    def summary(self, engine: str, seconds: float) -> dict[str, Any]:
        return {
            "engine": engine, "seconds": round(seconds, 1), "cases": sum(self.cases.values()),
            "cases_per_format": dict(self.cases), "outcomes": dict(self.outcomes.most_common()),
            "messages": self.messages,
            "failures": self.failures[:20], "failure_count": len(self.failures),
            "slow_cases": self.slow[:20], "slowest": [round(self.slowest[0], 3), self.slowest[1]],
        }


def save_failure(data: bytes, seed: Seed | None, mutations: Any, problem: str) -> str:
    FAILURES.mkdir(parents=True, exist_ok=True)
    import hashlib

    name = hashlib.sha256(data).hexdigest()[:16] + "." + (seed.format.lower() if seed else "bin")
    (FAILURES / name).write_bytes(data)
    (FAILURES / (name + ".json")).write_text(json.dumps(
        {"seed": str(seed), "mutations": repr(mutations), "problem": problem}, ensure_ascii=False))
    return str(FAILURES / name)


def run_case(tally: Tally, seed: Seed, mutations: Any, data: bytes, folder: Path, writer: Writer) -> None:
    started = time.monotonic()
    path = folder / ("case." + seed.format.lower())
    try:
        outcome = check_case(seed, data, path, writer)
        if outcome.startswith("failed") and outcome not in tally.messages:
            from ingest.reader import safe_read_photo

            tally.messages[outcome] = str(safe_read_photo(str(path), seed.format))
    except (AssertionError, Exception, TookTooLong) as e:  # a finding: record it and go on
        problem = f"{type(e).__name__}: {e}"[:300]
        saved = save_failure(data, seed, mutations, problem)
        tally.failures.append({"seed": str(seed), "problem": problem, "saved": saved})
        outcome = "FAILURE"
    took = time.monotonic() - started
    tally.cases[seed.format] += 1
    tally.outcomes[outcome] += 1
    if took > tally.slowest[0]:
        tally.slowest = (took, f"{seed} {mutations!r}"[:300])
    if took > SLOW and len(tally.slow) < 100:
        tally.slow.append({"seed": str(seed), "seconds": round(took, 2),
                           "saved": save_failure(data, seed, mutations, f"slow: {took:.2f} s")})


def fuzz_hypothesis(seeds: list[Seed], deadline: float, folder: Path, tally: Tally) -> None:
    """Fresh random cases in rounds of 1000 until the deadline."""
    from hypothesis import HealthCheck, Phase, given, settings

    writer = Writer(folder)

    @settings(max_examples=1000, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case_strategy(seeds))
    def one(case: tuple[Seed, list[Mutation]]) -> None:
        if time.monotonic() > deadline:
            return  # the rest of this round's cases are skipped
        seed, mutations = case
        run_case(tally, seed, mutations, mutate(seed.data, mutations), folder, writer)

    try:
        while time.monotonic() < deadline:
            one()
    finally:
        writer.close()


def fuzz_atheris(seeds: list[Seed], seconds: float, folder: Path, tally: Tally) -> None:
    """libFuzzer's coverage-guided mutations of whole files, starting from the seeds.

    The parsers written in Python (exifread, ingest.metadata, Pillow's plugins,
    defusedxml) are instrumented, so inputs that reach new branches are kept
    and mutated further. Inputs are at most 64 KB (the large seeds are cut
    there, a truncated file being one more hostile input); the format handed
    to the reader is chosen from the first bytes.
    """
    import atheris

    # Only the parsers: instrumenting all of `ingest` breaks module globals (NameError in ingest.dedupe).
    with atheris.instrument_imports(include=["exifread", "ingest.metadata", "PIL", "defusedxml", "xml"]):
        import exifread  # noqa: F401
        import ingest.metadata  # noqa: F401
        import ingest.reader  # noqa: F401

    corpus = folder / "atheris-corpus"
    corpus.mkdir()
    for seed in seeds:
        (corpus / seed.name.replace("/", "_")).write_bytes(seed.data[:65536] if not seed.decode else seed.data)
    writer = Writer(folder)
    by_magic = {b"\xff\xd8": "JPEG", b"\x89P": "PNG", b"II": "TIFF", b"MM": "TIFF", b"RI": "WEBP"}
    deadline = STARTED + seconds

    def one(data: bytes) -> None:
        if time.monotonic() > deadline:  # libFuzzer exits without running Python's atexit
            writer.close()
            report(tally, "atheris", time.monotonic() - STARTED)
            shutil.rmtree(folder, ignore_errors=True)
            os._exit(1 if tally.failures else 0)
        fmt = by_magic.get(data[:2], "HEIF" if data[4:8] == b"ftyp" else "JPEG")
        run_case(tally, Seed("atheris", fmt, b"", decode=True), None, data, folder, writer)
        if sum(tally.cases.values()) % 5000 == 0:
            report(tally, "atheris", time.monotonic() - STARTED, partial=True)

    # -timeout: libFuzzer's own watchdog, for a hang in C code that the alarm cannot interrupt.
    atheris.Setup([sys.argv[0], str(corpus), "-max_len=65536", f"-timeout={int(CASE_LIMIT * 3)}",
                   "-rss_limit_mb=4096"], one)
    atheris.Fuzz()


STARTED = time.monotonic()


def report(tally: Tally, engine: str, seconds: float, partial: bool = False) -> None:
    line = tally.summary(engine, seconds)
    line["partial"] = partial
    print(json.dumps(line, ensure_ascii=False), file=sys.stderr if partial else sys.stdout, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--engine", choices=("hypothesis", "atheris"), default="hypothesis")
    parser.add_argument("--format", action="append", choices=FORMATS,
                        help="Only seeds of this format (repeatable) [default: all]")
    args = parser.parse_args(argv)
    if not CORPUS.is_dir():
        parser.error(f"real camera corpus not found at {CORPUS} (set PHOTO_ARCHIVE_CORPUS)")
    if args.engine == "atheris":
        try:
            import atheris  # noqa: F401
        except ImportError:
            parser.error("--engine atheris needs atheris: pip install atheris (wheels for CPython on Linux and macOS)")
    seeds = [s for fmt, group in all_seeds().items() if not args.format or fmt in args.format for s in group]
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="photo-archive-fuzz-") as folder:
        if args.engine == "atheris":
            fuzz_atheris(seeds, args.minutes * 60, Path(folder), tally)  # never returns
        fuzz_hypothesis(seeds, STARTED + args.minutes * 60, Path(folder), tally)
    report(tally, args.engine, time.monotonic() - STARTED)
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
