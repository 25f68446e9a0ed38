"""Mutated real photo headers never crash, hang or garble the reader (property-based fuzzing).

Real camera JPEG, HEIC and TIFF files and generated PNG, WebP and HEIF with
real metadata get random byte mutations in their first 8 KB (flipped bits,
boundary values in counts, offsets and sizes, inserted and deleted runs,
copied chunks, cuts). Every case is read as an ingest worker reads it and
written as the main process writes it; see benchmarks/fuzz.py for the
strategies and checks, and for the long run:

    python benchmarks/fuzz.py --minutes 10

The cases here are fixed (derandomize) so CI is reproducible; a failure
prints the seed file and the mutations that make it.
"""

from __future__ import annotations

import importlib.util
import io
import struct
import sys
import time
from collections import Counter
from pathlib import Path

import exifread
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from PIL import Image

from conftest import ROOT
from ingest.metadata import BoundedFile, exifread_tags, read_exif, read_metadata

spec = importlib.util.spec_from_file_location("fuzz", ROOT / "benchmarks" / "fuzz.py")
fuzz = importlib.util.module_from_spec(spec)
sys.modules["fuzz"] = fuzz  # dataclasses look their module up while the class is built
spec.loader.exec_module(fuzz)

# Cases per format: about 3,000 in all, about a minute on two cores.
CASES = {"JPEG": 1000, "TIFF": 500, "PNG": 500, "WEBP": 400, "HEIF": 600}
CASE_LIMIT = 5.0  # seconds; a case takes 5-50 ms, so only a parser that loops comes near


@pytest.fixture(scope="module")
def seeds(corpus: Path) -> dict[str, list]:
    return fuzz.all_seeds(corpus)


@pytest.mark.parametrize("fmt", list(CASES))
def test_mutated_headers_never_crash_hang_or_garble(fmt: str, seeds: dict[str, list],
                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp(f"fuzz-{fmt.lower()}")
    writer = fuzz.Writer(folder)
    outcomes: Counter = Counter()

    @settings(max_examples=CASES[fmt], derandomize=True, database=None, deadline=None,
              phases=[Phase.generate, Phase.shrink], print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(fuzz.case_strategy(seeds[fmt]))
    def case(case: tuple) -> None:
        seed, mutations = case
        data = fuzz.mutate(seed.data, mutations)
        try:
            outcome = fuzz.check_case(seed, data, folder / f"case.{fmt.lower()}", writer, CASE_LIMIT)
        except fuzz.TookTooLong as e:  # an AssertionError, so hypothesis reports the case
            raise AssertionError(f"{seed}: {e}") from None
        outcomes[outcome] += 1

    try:
        case()
    finally:
        writer.close()
    assert sum(outcomes.values()) >= CASES[fmt] * 0.95
    # The mutations must leave some files readable, or only the first bytes were ever tested.
    readable = outcomes["read"] + outcomes["read, damaged"] + outcomes["opened"]
    assert readable >= CASES[fmt] * 0.05, outcomes


def test_mutate_applies_each_kind_of_mutation() -> None:
    data = bytes(range(16))
    assert fuzz.mutate(data, [("flip", 1, 0)])[:3] == b"\x00\x00\x02"
    assert fuzz.mutate(data, [("byte", 2, 0xFF)])[2] == 0xFF
    assert fuzz.mutate(data, [("u16", 0, 0x1234, True)])[:2] == b"\x12\x34"
    assert fuzz.mutate(data, [("u32", 0, "end", False)])[:4] == struct.pack("<I", 16)
    assert fuzz.mutate(data, [("insert", 3, b"ab")])[3:5] == b"ab"
    assert fuzz.mutate(data, [("delete", 0, 4)]) == data[4:]
    assert fuzz.mutate(data, [("copy", 0, 8, 2)])[:2] == b"\x08\x09"
    assert fuzz.mutate(data, [("cut", 5)]) == data[:5]
    assert fuzz.mutate(b"", [("flip", 3, 1), ("delete", 0, 9)]) == b""


# --- what the fuzzing found, pinned ---------------------------------------------

def exif_jpeg(tag: int, kind: int, count: int, payload: bytes) -> bytes:
    """A small JPEG whose Exif IFD holds one entry (little-endian TIFF in APP1)."""
    exif_ifd = 8 + 2 + 12 + 4
    values = exif_ifd + 2 + 12 + 4
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, exif_ifd) + b"\0\0\0\0"
    field = payload.ljust(4, b"\0") if len(payload) <= 4 else struct.pack("<I", values)
    entry = struct.pack("<H", 1) + struct.pack("<HHI", tag, kind, count) + field + b"\0\0\0\0"
    tiff = b"II*\0" + struct.pack("<I", 8) + ifd0 + entry + (payload if len(payload) > 4 else b"")
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (40, 120, 60)).save(out, "JPEG", exif=b"Exif\0\0" + tiff)
    return out.getvalue()


@pytest.mark.parametrize("count", [2_000_000, 0xFFFFFFFF])
def test_a_maker_note_claiming_gigabytes_does_not_keep_exifread_busy(count: int) -> None:
    # exifread read this one value at a time, zeros past the end: 5 s for 2 MB, hours for 4 GB.
    data = exif_jpeg(0x927C, 7, count, b"\0\0\0\0")
    started = time.monotonic()
    assert "EXIF MakerNote" not in read_exif(data)  # skipped: it points past the end of the file
    assert exifread_tags(data, details=True) == {}  # and where exifread walks it, given up, not looping
    record = read_metadata(data, Image.open(io.BytesIO(data)))
    assert time.monotonic() - started < 2.0
    assert record["taken_at"] is None and record["keywords"] == []


def test_real_exif_stays_far_below_the_read_budget(corpus: Path) -> None:
    """The budget that stops exifread leaves room for every real file (the largest: 75,000 reads)."""
    data = (corpus / "jpg" / "tests" / "35-empty.jpg").read_bytes()
    counted = BoundedFile(data)
    exifread.process_file(counted, details=True, extract_thumbnail=False)
    assert 70_000 < counted.reads and counted.budget > 3 * counted.reads
    assert read_exif(data)["Image Model"].printable == "EX-Z750"


@pytest.mark.parametrize(
    "tag, kind, payload, field",
    [
        (0x8827, 12, struct.pack("<d", 1e300), "iso"),         # ISO as a DOUBLE: overflowed SQLite INTEGER
        (0x8827, 12, struct.pack("<d", float("nan")), "iso"),
        (0x829D, 10, struct.pack("<ii", -5, 1), "f_number"),   # negative aperture
        (0x829A, 5, struct.pack("<II", 0, 1), "exposure_time"),  # a zero exposure
        (0x920A, 12, struct.pack("<d", float("inf")), "focal_length"),
    ],
)
def test_impossible_numbers_are_absent_not_published(tag: int, kind: int, payload: bytes, field: str) -> None:
    data = exif_jpeg(tag, kind, 1, payload)
    record = read_metadata(data, Image.open(io.BytesIO(data)))
    assert record[field] is None
    fuzz.check_record(record)


def test_real_numbers_are_kept() -> None:
    data = exif_jpeg(0x8827, 3, 1, struct.pack("<H", 6400))
    assert read_metadata(data, Image.open(io.BytesIO(data)))["iso"] == 6400


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def test_a_heif_item_table_of_empty_extents_is_not_handed_to_exifread() -> None:
    # exifread's own HEIF parser reads no bytes for a size of 0: 2,000 items of 65,535
    # empty extents each were 131 million loops and gigabytes of memory, unseen by the
    # read budget. HEIF EXIF now comes from the item libheif finds, and here there is none.
    items = b"".join(struct.pack(">HHHH", item, 0, 0, 0xFFFF) for item in range(1, 2001))
    iloc = box(b"iloc", bytes([1, 0, 0, 0, 0x00, 0x00]) + struct.pack(">H", 2000) + items)
    data = box(b"ftyp", b"heic\0\0\0\0mif1") + box(b"meta", b"\0\0\0\0" + iloc)
    started = time.monotonic()
    record = read_metadata(data, None)
    assert time.monotonic() - started < 1.0
    fuzz.check_record(record)


def test_heif_exif_is_read_from_the_item_libheif_finds(corpus: Path) -> None:
    data = (corpus / "heic" / "IMG_5195.HEIC").read_bytes()
    image = Image.open(io.BytesIO(data))  # pillow_heif's opener, registered by ingest.fingerprint
    record = read_metadata(data, image)
    assert record["camera_make"] == "Apple" and record["taken_at"] is not None
