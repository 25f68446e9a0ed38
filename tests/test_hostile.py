"""Hostile and broken input never crashes or hangs a run; each bad file is listed with its reason.

Truncated files at every length, decompression bombs and absurd dimensions,
a parser that would loop, pipes, file names no encoding can show, symlink
loops, unreadable files and folders: each ends as an `ingest_errors` row
with one line a person can act on (or, where nothing is wrong with the
photo, as a photo), the run goes on and exits 0, and nothing prints a
traceback. Random mutations of real headers are in test_fuzz_metadata.py.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

import pytest
from PIL import Image

from conftest import ROOT, rows, unprivileged
from ingest.pipeline import Ingest, batched
from ingest.register import Register
from ingest.sample_photos import Meta, save_photo, scene
from ingest.scan import NOT_REGULAR
from ingest.tagging import Tagger

PERMISSION = "permission denied: cannot read it (check the file's permissions)"
SYMLINK_LOOP = "symlink loop: the link points back at itself"
BROKEN_LINK = "no such file or folder (broken symlink, or removed during the scan)"
TOO_LARGE = "refused: image is too large to decode safely"
OUR_LINES = ("failed: ", "damaged: ", "Nothing changed")  # and the summary line


def errors(db: Path) -> dict[str, str]:
    return {row["path"]: row["error"] for row in rows(db, "select path, error from ingest_errors")}


def photo_paths(db: Path) -> list[str]:
    return sorted(row["path"] for row in rows(db, "select path from photo_files"))


def good_jpeg(path: Path, seed: int = 1) -> Path:
    return save_photo(scene(seed, (96, 64)), path, Meta(make="Canon", model="EOS 40D"))


def assert_clean_run(result, failed: int | None = None) -> None:
    """Exit 0, no traceback, and the summary counts `failed` files."""
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    if failed is not None:
        assert f" {failed} failed in " in result.stderr.splitlines()[-1], result.stderr


# --- truncated at every length ----------------------------------------------------------

# image00971.jpg: JFIF, a 35 KB XMP packet, tables, then pixel data past 64 KB.
# Canon_40D.jpg: EXIF with a maker note and a thumbnail, then the picture: 8 KB in all.
TRUNCATED = [("jpg/invalid/image00971.jpg", 65536), ("jpg/Canon_40D.jpg", None)]
TRUNCATION_REASONS = ("empty file (0 bytes)", "not an image Pillow can read",
                      "image data is damaged or truncated")

_source = b""
_scratch = ""


def _sweep_start(source: str, folder: str) -> None:
    global _source, _scratch
    _source = Path(source).read_bytes()
    _scratch = tempfile.mkstemp(dir=folder, suffix=".jpg")[1]


def _sweep(lengths: range) -> tuple[Counter, list[str], float]:
    """Read each prefix as a worker does: (reasons by kind, problems, slowest call in seconds)."""
    from ingest.reader import PhotoRead, safe_read_photo

    kinds: Counter = Counter()
    problems: list[str] = []
    slowest = 0.0
    for length in lengths:
        with open(_scratch, "wb") as handle:
            handle.write(_source[:length])
        started = time.monotonic()
        result = safe_read_photo(_scratch, "JPEG")
        slowest = max(slowest, time.monotonic() - started)
        if isinstance(result, PhotoRead):
            kinds["read"] += 1
            continue
        message = str(result)
        if not message.strip() or "\n" in message or "Traceback" in message:
            problems.append(f"{length} bytes: {message!r}")
        kinds[message.split(":")[0]] += 1
    return kinds, problems, slowest


@pytest.mark.parametrize("name, upto", TRUNCATED, ids=["image00971-first-64KB", "Canon_40D-whole"])
def test_truncated_at_every_length_is_one_clear_line(corpus: Path, tmp_path: Path, name: str,
                                                     upto: int | None) -> None:
    source = corpus / name
    last = min(upto, source.stat().st_size) if upto else source.stat().st_size
    lengths = range(0, last + 1)
    chunks = [lengths[i:i + 1024] for i in range(0, len(lengths), 1024)]
    processes = min(8, max(2, os.cpu_count() or 1))
    kinds: Counter = Counter()
    problems: list[str] = []
    slowest = 0.0
    # spawn, not fork: the test process has Pillow, libheif and threads loaded.
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, _sweep_start, (str(source), str(tmp_path))) as pool:
        results = pool.imap_unordered(_sweep, chunks)
        for _ in chunks:
            chunk_kinds, chunk_problems, chunk_slowest = results.next(timeout=600)
            kinds.update(chunk_kinds)
            problems += chunk_problems
            slowest = max(slowest, chunk_slowest)
    assert problems == []
    assert sum(kinds.values()) == len(lengths)
    assert set(kinds) <= {"read", *TRUNCATION_REASONS}, kinds
    assert kinds["read"] == (1 if last == source.stat().st_size else 0)  # only the whole file reads
    assert slowest < 5.0


def test_truncated_camera_files_are_listed_and_the_run_goes_on(corpus: Path, tmp_path: Path, run_cli) -> None:
    data = (corpus / "jpg" / "Canon_40D.jpg").read_bytes()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cuts = {0: "empty file (0 bytes): the copy probably failed, deliver it again",
            1: "not an image Pillow can read: the file's contents do not match its suffix",
            6: "image data is damaged or truncated: Truncated File Read",  # SOI and half of APP1
            300: "image data is damaged or truncated: Truncated File Read",      # inside EXIF
            7000: "image data is damaged or truncated: image file is truncated",  # in the pixels
            len(data) - 2: "image data is damaged or truncated: image file is truncated"}  # no EOI
    for length in cuts:
        (inbox / f"cut-{length:05d}.jpg").write_bytes(data[:length])
    (inbox / "whole.jpg").write_bytes(data)
    result = run_cli("ingest", inbox, "--db", tmp_path / "archive.db")
    assert_clean_run(result, failed=len(cuts))
    found = errors(tmp_path / "archive.db")
    # Pillow adds how many bytes it had left over: "(6 bytes not processed)".
    assert {path: re.sub(r" \(\d+ bytes not processed\)$", "", reason) for path, reason in found.items()} == {
        str(inbox / f"cut-{length:05d}.jpg"): reason for length, reason in cuts.items()}
    assert photo_paths(tmp_path / "archive.db") == [str(inbox / "whole.jpg")]


# --- bombs and absurd dimensions ------------------------------------------------------

def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rows_of_zeros: int, depth: int = 8, colour: int = 2) -> bytes:
    """A PNG header for width x height; pixel data (all zero) for the first rows only."""
    row = b"\0" * (1 + (width * depth * (3 if colour == 2 else 1) + 7) // 8)
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(rows_of_zeros)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", pixels)
            + png_chunk(b"IEND", b""))


def tiff(width: int, height: int) -> bytes:
    """An 8-bit grey TIFF header claiming width x height, with 100 bytes of strip."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 4, 8 + 2 + 12 * 8 + 4), (277, 3, 1), (279, 4, 100)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in entries) + b"\0\0\0\0"
    return b"II*\0" + struct.pack("<I", 8) + ifd + b"\0" * 100


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def jpeg(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) claims width x height."""
    data = encoded(Image.new("RGB", (16, 16), (40, 120, 60)), "JPEG")
    at = data.index(b"\xff\xc0")
    return data[:at + 5] + struct.pack(">HH", height, width) + data[at + 9:]


def webp(width: int, height: int) -> bytes:
    """A small lossy WebP whose VP8X canvas claims width x height."""
    data = bytearray(encoded(Image.new("RGB", (16, 16)), "WEBP", exif=b"Exif\0\0II*\0\x08\0\0\0\0\0\0\0"))
    at = data.index(b"VP8X")
    data[at + 12:at + 18] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return bytes(data)


def heif(width: int, height: int) -> bytes:
    """A small real HEIF whose image spatial extent (ispe) claims width x height."""
    data = bytearray(encoded(scene(1, (64, 48)), "HEIF", quality=80))
    at = data.index(b"ispe")
    data[at + 8:at + 16] = struct.pack(">II", width, height)
    return bytes(data)


BOMBS = [
    pytest.param("header.png", lambda: png(100_000, 100_000, 1), id="png-100000x100000"),
    pytest.param("header.tif", lambda: tiff(100_000, 100_000), id="tiff-100000x100000"),
    pytest.param("header.jpg", lambda: jpeg(65_000, 65_000), id="jpeg-65000x65000"),
    pytest.param("canvas.webp", lambda: webp(16_383, 16_383), id="webp-16383x16383"),
    # 400 million pixels of zeros at 1 bit per pixel, compressed into 49 KB.
    pytest.param("zeros.png", lambda: png(20_000, 20_000, 20_000, depth=1, colour=0), id="png-bomb-49KB"),
    pytest.param("ispe.heic", lambda: heif(60_000, 60_000), id="heif-60000x60000"),
]


@pytest.mark.parametrize("name, make", BOMBS)
def test_bombs_and_absurd_dimensions_are_refused_quickly(tmp_path: Path, run_cli, name: str,
                                                         make: Callable[[], bytes]) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / name).write_bytes(make())
    good_jpeg(inbox / "good.jpg")
    started = time.monotonic()
    result = run_cli("ingest", inbox, "--db", tmp_path / "archive.db")
    assert time.monotonic() - started < 30
    assert_clean_run(result, failed=1)
    (reason,) = errors(tmp_path / "archive.db").values()
    assert reason.startswith(TOO_LARGE), reason
    assert photo_paths(tmp_path / "archive.db") == [str(inbox / "good.jpg")]


def test_a_bomb_under_the_pixel_limit_is_refused(tmp_path: Path, run_cli) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "zeros.png").write_bytes(png(10_000, 10_000, 10_000, depth=1, colour=0))
    result = run_cli("ingest", inbox, "--db", tmp_path / "archive.db")
    assert_clean_run(result, failed=1)
    (reason,) = errors(tmp_path / "archive.db").values()
    assert reason.startswith(TOO_LARGE), reason


# --- parsers that would loop, and files that block -------------------------------------

def exif_jpeg(tag: int, kind: int, count: int, value: bytes) -> bytes:
    """A real small JPEG whose Exif IFD holds one entry with an inline value."""
    exif_ifd = 8 + 2 + 12 + 4
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, exif_ifd) + b"\0\0\0\0"
    entry = struct.pack("<H", 1) + struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0") + b"\0\0\0\0"
    tiff_block = b"II*\0" + struct.pack("<I", 8) + ifd0 + entry
    return encoded(scene(2, (96, 64)), "JPEG", exif=b"Exif\0\0" + tiff_block)


def test_a_maker_note_that_made_exifread_loop_for_hours_is_read_in_time(tmp_path: Path, run_cli) -> None:
    # count 0xFFFFFFFF: exifread read 4 billion values, zeros past the end. The photo
    # itself is fine, so it is kept, not lost to the per-file time limit.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "makernote.jpg").write_bytes(exif_jpeg(0x927C, 7, 0xFFFFFFFF, b""))
    started = time.monotonic()
    result = run_cli("ingest", inbox, "--db", tmp_path / "archive.db", "--timeout", "5")
    assert time.monotonic() - started < 20
    assert_clean_run(result, failed=0)
    assert errors(tmp_path / "archive.db") == {}
    assert photo_paths(tmp_path / "archive.db") == [str(inbox / "makernote.jpg")]


def test_an_iso_that_overflowed_sqlite_no_longer_stops_the_run(tmp_path: Path, run_cli) -> None:
    # ISO written as a DOUBLE of 1e300 reached the photos table as a 301-digit int:
    # OverflowError in the main process, the batch rolled back, a traceback, exit 1.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    exif_ifd = 8 + 2 + 12 + 4
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, exif_ifd) + b"\0\0\0\0"
    entry = struct.pack("<H", 1) + struct.pack("<HHII", 0x8827, 12, 1, exif_ifd + 18) + b"\0\0\0\0"
    tiff_block = b"II*\0" + struct.pack("<I", 8) + ifd0 + entry + struct.pack("<d", 1e300)
    (inbox / "iso.jpg").write_bytes(encoded(scene(3, (96, 64)), "JPEG", exif=b"Exif\0\0" + tiff_block))
    good_jpeg(inbox / "good.jpg")
    result = run_cli("ingest", inbox, "--db", tmp_path / "archive.db")
    assert_clean_run(result, failed=0)
    assert [r["iso"] for r in rows(tmp_path / "archive.db", "select iso from photos")] == [None, None]


def test_megabytes_of_caption_and_keywords_are_bounded(tmp_path: Path, run_cli) -> None:
    # Car matching and scrubbing run outside the reader's time limit: a 2 MB caption full of
    # car names kept one photo's tagging busy for more than ten minutes.
    from ingest.metadata import MAX_TEXT, MAX_VALUES
    from tests.test_tagging import REGISTER

    hostile = "Green Mamba 1M #42 NR 1M 42 WBS1J5C50BE000042 Segler's " * 40_000
    save_photo(scene(4, (96, 64)), tmp_path / "inbox/rene-hey/hostile.png", Meta(
        xmp_description=hostile, xmp_subject=[f"Green Mamba {i}" for i in range(20_000)]))
    good_jpeg(tmp_path / "inbox/rene-hey/good.jpg")
    (tmp_path / "register.yml").write_text(REGISTER, encoding="utf-8")
    result = run_cli("ingest", tmp_path / "inbox", "--db", tmp_path / "archive.db",
                     "--register", tmp_path / "register.yml")
    assert_clean_run(result, failed=0)
    (photo,) = rows(tmp_path / "archive.db", """select id, caption, json_array_length(keywords) k
                                                from photos where file_name = 'hostile.png'""")
    kept = len(photo["caption"])
    assert MAX_TEXT - 60 < kept <= MAX_TEXT and photo["k"] == MAX_VALUES
    assert hostile.startswith(photo["caption"]) and hostile[kept] == " "  # cut between words
    assert rows(tmp_path / "archive.db", "select car_id from photo_cars where photo_id = ?", (photo["id"],)) == [
        {"car_id": "0042"}]


def test_a_pipe_named_like_a_photo_is_refused_not_read(tmp_path: Path, run_cli) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    os.mkfifo(inbox / "photo.jpg")  # nobody writes: reading it would block forever
    os.mkfifo(tmp_path / "given.jpg")
    good_jpeg(inbox / "good.jpg")
    started = time.monotonic()
    result = run_cli("ingest", inbox, tmp_path / "given.jpg", "--db", tmp_path / "archive.db")
    assert time.monotonic() - started < 20
    assert_clean_run(result, failed=2)
    assert errors(tmp_path / "archive.db") == {
        str(inbox / "photo.jpg"): NOT_REGULAR, str(tmp_path / "given.jpg"): NOT_REGULAR}
    assert photo_paths(tmp_path / "archive.db") == [str(inbox / "good.jpg")]


def test_a_file_that_never_finishes_reading_is_given_up_and_the_run_goes_on(tmp_path: Path) -> None:
    # A photo swapped for a pipe between the scan and the read (a sync tool, a hostile
    # share) blocks its reader: the per-file time limit records it and the run goes on.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    swapped = good_jpeg(inbox / "a-swapped.jpg")
    good_jpeg(inbox / "b-good.jpg", seed=2)
    run = Ingest(tmp_path / "archive.db", Tagger(Register.empty()), workers=1, timeout=1.0)
    try:
        to_read = run.plan([str(inbox)])
        swapped.unlink()
        os.mkfifo(swapped)
        started = time.monotonic()
        for batch in batched(run.read_all(to_read)):
            run.write_batch(batch)
    finally:
        run.close()
    assert time.monotonic() - started < 15
    assert errors(tmp_path / "archive.db") == {
        str(swapped): "gave up after 1 s: reading this file does not finish (damaged or hostile data)"}
    assert photo_paths(tmp_path / "archive.db") == [str(inbox / "b-good.jpg")]


def test_extraneous_bytes_before_a_marker_do_not_lose_the_photo(tmp_path: Path, run_cli) -> None:
    data = encoded(scene(4, (96, 64)), "JPEG", quality=90)
    at = data.index(b"\xff\xdb")  # the first quantisation table
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "junk.jpg").write_bytes(data[:at] + b"\0" * 69 + data[at:])
    result = run_cli("ingest", inbox, "--db", tmp_path / "archive.db")
    assert_clean_run(result)
    assert photo_paths(tmp_path / "archive.db") == [str(inbox / "junk.jpg")]


# --- file names ------------------------------------------------------------------------

NAMES = [b"with space.jpg", b"new\nline.jpg", "emoji \U0001f697.jpg".encode(), b"caf\xe9\xff.jpg"]
SHOWN = ["with space.jpg", "new\nline.jpg", "emoji \U0001f697.jpg", "caf\\xe9\\xff.jpg"]


def write_named(folder: Path, name: bytes, data: bytes) -> None:
    with open(os.fsencode(folder) + b"/" + name, "wb") as handle:
        handle.write(data)


def test_odd_file_names_are_ingested_and_shown_as_text(tmp_path: Path, run_cli) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for seed, name in enumerate(NAMES, 1):
        write_named(inbox, name, encoded(scene(seed, (96, 64)), "JPEG"))
    write_named(inbox, b"broken \xff\n.jpg", encoded(scene(9, (96, 64)), "JPEG")[:400])
    db = tmp_path / "archive.db"
    result = run_cli("ingest", inbox, "--db", db)
    assert_clean_run(result, failed=1)
    assert photo_paths(db) == sorted(f"{inbox}/{shown}" for shown in SHOWN)
    assert sorted(r["file_name"] for r in rows(db, "select file_name from photos")) == sorted(SHOWN)
    assert errors(db) == {f"{inbox}/broken \\xff\n.jpg": "image data is damaged or truncated: Truncated File Read"}
    again = run_cli("ingest", inbox, "--db", db)  # the ledger finds them again: nothing re-read
    assert_clean_run(again, failed=1)
    assert "0 new, 0 updated, 4 unchanged" in again.stderr


def test_the_report_gives_one_line_per_failed_file_whatever_its_name(tmp_path: Path, run_cli) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_named(inbox, b"broken\n.jpg", b"\xff\xd8\xff")
    result = run_cli("ingest", inbox, "--db", tmp_path / "archive.db")
    assert_clean_run(result, failed=1)
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("failed: "), lines


# --- symlinks ------------------------------------------------------------------------------

def test_symlink_loops_end_and_are_listed(tmp_path: Path, run_cli) -> None:
    inbox = tmp_path / "inbox"
    good_jpeg(inbox / "real" / "1.jpg")
    (inbox / "real" / "loop").symlink_to(inbox / "real", target_is_directory=True)  # a folder loop
    (inbox / "real" / "up").symlink_to(inbox, target_is_directory=True)             # a loop through the parent
    (inbox / "self.jpg").symlink_to(inbox / "self.jpg")                             # a link to itself
    (inbox / "ping.jpg").symlink_to(inbox / "pong.jpg")                             # two links in a ring
    (inbox / "pong.jpg").symlink_to(inbox / "ping.jpg")
    (inbox / "gone.jpg").symlink_to(inbox / "missing.jpg")
    started = time.monotonic()
    result = run_cli("ingest", inbox, "--db", tmp_path / "archive.db")
    assert time.monotonic() - started < 30
    assert_clean_run(result, failed=4)
    assert errors(tmp_path / "archive.db") == {
        str(inbox / "self.jpg"): SYMLINK_LOOP, str(inbox / "ping.jpg"): SYMLINK_LOOP,
        str(inbox / "pong.jpg"): SYMLINK_LOOP, str(inbox / "gone.jpg"): BROKEN_LINK}
    assert photo_paths(tmp_path / "archive.db") == [str(inbox / "real" / "1.jpg")]


# --- permissions (root reads everything, so the ingest runs without that power) --------------


@pytest.fixture
def locked() -> Iterator[list[Path]]:
    """Paths to chmod 0 in a test; opened again afterwards so pytest can clean up."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        path.chmod(0o755)


def test_unreadable_files_and_folders_are_listed_and_the_run_goes_on(tmp_path: Path, locked: list[Path]) -> None:
    inbox = tmp_path / "inbox"
    good_jpeg(inbox / "good.jpg")
    locked.append(good_jpeg(inbox / "locked.jpg", seed=2))
    good_jpeg(inbox / "locked" / "inside.jpg", seed=3)
    locked.append(inbox / "locked")
    for path in locked:
        path.chmod(0)
    archive = tmp_path / "archive.db"
    result = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "ingest", str(inbox), "--db", str(archive)],
        cwd=ROOT, preexec_fn=unprivileged(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert errors(archive) == {str(inbox / "locked.jpg"): PERMISSION, str(inbox / "locked"): PERMISSION}
    assert photo_paths(archive) == [str(inbox / "good.jpg")]
    assert result.stderr.splitlines()[-1].startswith(
        "1 new, 0 updated, 0 unchanged, 0 exact duplicates, 0 near duplicates, 0 skipped, 2 failed")


# --- what a worker's libraries print ------------------------------------------------------

def test_the_terminal_shows_only_our_lines(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    lzw = bytearray(encoded(scene(3, (96, 64)), "TIFF", compression="tiff_lzw", rowsperstrip=8))
    for at in range(40, 400, 7):
        lzw[at] ^= 0xFF  # damaged compressed strips
    (inbox / "lzw.tif").write_bytes(bytes(lzw))
    (inbox / "warning.png").write_bytes(png(10_000, 10_000, 1))  # over the warning limit, under the refusal
    result = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "ingest", str(inbox), "--db", str(tmp_path / "archive.db")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    # Both fail with our one line: the damaged TIFF, and the 100 MP PNG made of a few bytes (a bomb);
    # libtiff's complaint and Pillow's DecompressionBombWarning stay off the terminal.
    assert sorted(errors(tmp_path / "archive.db")) == [str(inbox / "lzw.tif"), str(inbox / "warning.png")]
    *ours, summary = result.stderr.splitlines()
    assert all(line.startswith(OUR_LINES) for line in ours), result.stderr
    assert "Warning" not in result.stderr and "table" not in result.stderr
    assert " 2 failed in " in summary
