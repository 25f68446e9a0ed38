"""ingest.raw: a RAW file's largest embedded preview, its stored size, and its own EXIF.

No real RAW file may be downloaded, so sample_photos.save_raw_like builds
them in each maker's layout (exiftool, the independent witness, reads them
as NEF, DNG, ... and finds them valid). LibRaw opens some of these synthetic
files and refuses others, so both of ingest.raw's paths are exercised, and
each is also tested on its own.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import re
import shutil
import struct
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import imagehash
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, TiffImagePlugin
from PIL.TiffImagePlugin import IFDRational

from ingest import metadata, raw
from ingest.errors import PhotoError
from ingest.sample_photos import Meta, save_raw_like, scene
from tests.conftest import require, rows

# Suffix -> the make and model written into the file.
CAMERAS = {
    "NEF": ("NIKON CORPORATION", "NIKON Z 6_2"),
    "DNG": ("Leica Camera AG", "LEICA Q2"),
    "ARW": ("SONY", "ILCE-7M3"),
    "CR2": ("Canon", "Canon EOS 5D Mark IV"),
    "ORF": ("OLYMPUS CORPORATION", "E-M1MarkII"),
    "RAF": ("FUJIFILM", "X-T3"),
}
# Each layout in its maker's byte order (NEF and RAF big-endian, the rest little),
# and the TIFF-based ones in the other order as well.
CASES = [(fmt, None) for fmt in CAMERAS] + [
    ("NEF", "<"), ("DNG", ">"), ("ARW", ">"), ("CR2", ">"), ("ORF", ">"),
]
ORDER_NAMES = {None: "own", "<": "II", ">": "MM"}
CASE_IDS = [f"{fmt}-{ORDER_NAMES[order]}" for fmt, order in CASES]
PREVIEW_SIZE = (1600, 1067)
RAW_SIZE = (64, 48)  # save_raw_like's raw image: the stored size
TAKEN = datetime(2025, 9, 20, 10, 15, 30)


def meta_for(fmt: str) -> Meta:
    make, model = CAMERAS[fmt]
    return Meta(make=make, model=model, serial="6012345", taken_at=TAKEN, orientation=6,
                iso=200, f_number=2.8)


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return scene(7, PREVIEW_SIZE)


@pytest.fixture(scope="module")
def raw_files(tmp_path_factory: pytest.TempPathFactory, picture: Image.Image) -> dict[str, Path]:
    """One synthetic RAW per case, written once for the module."""
    folder = tmp_path_factory.mktemp("raw")
    return {
        case_id: save_raw_like(picture, folder / f"{case_id}.{fmt}", meta_for(fmt), byte_order=order)
        for case_id, (fmt, order) in zip(CASE_IDS, CASES)
    }


@pytest.fixture
def without_rawpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without rawpy: `import rawpy` raises ImportError."""
    monkeypatch.setitem(sys.modules, "rawpy", None)


def error_of(data: bytes) -> str:
    with pytest.raises(PhotoError) as caught:
        raw.open_preview(data)
    return str(caught.value)


# --- the synthetic files are real RAW structures ------------------------------------

@functools.lru_cache(maxsize=None)
def exiftool_view(path: Path) -> dict:
    """exiftool's reading of one file (asked once per file: two tests look at it)."""
    tool = shutil.which("exiftool")
    require(tool is not None, "exiftool not installed: it is the independent reader these tests need")
    out = subprocess.run(
        [tool, "-json", "-a", "-G1", "-n", "-b", "-validate", "-warning", "-FileType", "-Make",
         "-Model", "-DateTimeOriginal", "-Orientation", "-SerialNumber", "-PreviewImage",
         "-JpgFromRaw", "-ThumbnailImage", "-ImageWidth", "-ImageHeight", str(path)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)[0]


def embedded_images(view: dict) -> list[Image.Image]:
    """Every preview and thumbnail exiftool extracted (JSON gives them as base64)."""
    found = []
    for key, value in view.items():
        if key.split(":")[-1] in ("PreviewImage", "JpgFromRaw", "ThumbnailImage"):
            found.append(Image.open(io.BytesIO(base64.b64decode(value.removeprefix("base64:")))))
    return found


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_exiftool_reads_the_synthetic_raw_as_valid(raw_files: dict[str, Path], case_id: str) -> None:
    fmt = case_id.split("-")[0]
    view = exiftool_view(raw_files[case_id])
    assert view["ExifTool:Validate"] == "0 0 0", view.get("ExifTool:Warning")  # errors, warnings, minor
    assert view["File:FileType"] == fmt
    make, model = CAMERAS[fmt]
    assert (view["IFD0:Make"], view["IFD0:Model"], view["IFD0:Orientation"]) == (make, model, 6)
    assert view["ExifIFD:DateTimeOriginal"] == "2025:09:20 10:15:30"
    assert str(view["ExifIFD:SerialNumber"]) == "6012345"
    sizes = sorted(image.size for image in embedded_images(view))
    assert sizes[-1] == PREVIEW_SIZE  # the largest embedded image exiftool finds
    if fmt not in ("NEF", "RAF"):  # NEF's thumbnail is uncompressed RGB; RAF has one JPEG
        assert sizes[0] == (160, 120)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_preview_is_the_one_exiftool_extracts(raw_files: dict[str, Path], case_id: str) -> None:
    """Pixel for pixel the largest JPEG exiftool finds in the file, whichever path read it."""
    view = exiftool_view(raw_files[case_id])
    largest = max(embedded_images(view), key=lambda image: image.width * image.height)
    image, _ = raw.open_preview(raw_files[case_id].read_bytes())
    assert np.array_equal(np.asarray(image.convert("RGB")), np.asarray(largest.convert("RGB")))


# --- the largest preview and the stored size -------------------------------------------

@pytest.mark.parametrize("case_id", CASE_IDS)
def test_open_preview_picks_the_largest_and_the_raw_size(
    raw_files: dict[str, Path], case_id: str,
) -> None:
    image, stored = raw.open_preview(raw_files[case_id].read_bytes())
    assert image.format == "JPEG" and image.size == PREVIEW_SIZE
    assert stored == RAW_SIZE
    assert image.tile  # not decoded yet: draft mode still works


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_our_reader_alone_finds_the_same(
    raw_files: dict[str, Path], case_id: str, without_rawpy,
) -> None:
    image, stored = raw.open_preview(raw_files[case_id].read_bytes())
    assert (image.size, stored) == (PREVIEW_SIZE, RAW_SIZE)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_rawpy_and_our_reader_agree_where_libraw_opens_the_file(
    raw_files: dict[str, Path], case_id: str,
) -> None:
    data = raw_files[case_id].read_bytes()
    via_rawpy = raw.rawpy_preview(data)
    if via_rawpy is None:
        return  # LibRaw refuses it (0.22 does for the NEF and CR2 layouts): the test above covers it
    image, stored = raw.parsed_preview(data)
    assert (via_rawpy[0].size, via_rawpy[1]) == (image.size, stored)


def test_libraw_opens_some_synthetic_files(raw_files: dict[str, Path]) -> None:
    """Honesty about coverage: the rawpy path must be exercised by at least one file."""
    opened = sorted(case for case, path in raw_files.items() if raw.rawpy_preview(path.read_bytes()))
    require(bool(opened), "LibRaw opens none of the synthetic RAW files: the rawpy path goes untested")


@pytest.mark.parametrize("fmt", ["DNG", "ARW", "CR2", "ORF"])
@pytest.mark.parametrize("rawpy_present", [True, False], ids=["rawpy", "no-rawpy"])
def test_largest_wins_wherever_it_sits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str,
                                       rawpy_present: bool) -> None:
    """A 'thumbnail' larger than the 'preview' is taken: size decides, not position or tag."""
    if not rawpy_present:
        monkeypatch.setitem(sys.modules, "rawpy", None)
    path = save_raw_like(scene(3, (800, 600)), tmp_path / f"t.{fmt}", meta_for(fmt),
                         thumbnail_size=(1200, 900))
    image, _ = raw.open_preview(path.read_bytes())
    assert image.size == (1200, 900)


@pytest.mark.parametrize("order", ["<", ">"])
def test_nikon_maker_note_preview_counts(tmp_path: Path, without_rawpy, order: str) -> None:
    """A NEF whose JpgFromRaw is small: the 640 px preview in the Nikon maker note wins."""
    path = save_raw_like(scene(4, (400, 300)), tmp_path / "small.NEF", meta_for("NEF"), byte_order=order)
    image, stored = raw.open_preview(path.read_bytes())
    assert (image.size, stored) == ((640, 480), RAW_SIZE)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_tiff_previews_carry_no_exif_so_metadata_comes_from_the_raw(
    raw_files: dict[str, Path], case_id: str, without_rawpy,
) -> None:
    """What the ingest test finds in EXIF can only have come from the RAW's own IFDs (RAF aside:
    Fujifilm keeps the EXIF in the JPEG, which is part of the RAF)."""
    image, _ = raw.open_preview(raw_files[case_id].read_bytes())
    assert bool(image.getexif()) == case_id.startswith("RAF")


# --- damaged files: one line each, never a hang or another exception ------------------------

def tiff(*ifds: dict[int, int], links: dict[int, int] | None = None, data: bytes = b"",
         order: str = "<") -> bytes:
    """A TIFF with `data` at offset 8 and then the IFDs, every value a LONG in its entry.

    `links` maps an IFD's index to the index its next-IFD pointer names; by
    default each IFD points to the following one and the last to none.
    """
    at = 8 + len(data) + len(data) % 2
    starts = []
    for entries in ifds:
        starts.append(at)
        at += 2 + 12 * len(entries) + 4
    out = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "I", starts[0])
    out += data + b"\0" * (len(data) % 2)
    for index, entries in enumerate(ifds):
        target = (links or {}).get(index, index + 1)
        next_at = starts[target] if target < len(ifds) else 0
        out += struct.pack(order + "H", len(entries))
        out += b"".join(struct.pack(order + "HHII", tag, 4, 1, value)
                        for tag, value in sorted(entries.items()))
        out += struct.pack(order + "I", next_at)
    return out


def small_jpeg(size: tuple[int, int] = (120, 80)) -> bytes:
    out = io.BytesIO()
    scene(9, size).save(out, "JPEG", quality=80)
    return out.getvalue()


RAW_IFD = {254: 0, 256: 64, 257: 48, 259: 1}


def test_an_ifd_pointing_to_itself_ends_the_walk() -> None:
    assert error_of(tiff(RAW_IFD, links={0: 0})) == raw.LOOP


def test_a_two_ifd_loop_ends_the_walk() -> None:
    assert error_of(tiff(RAW_IFD, {254: 1}, links={1: 0})) == raw.LOOP


def test_a_runaway_chain_stops_at_the_limit() -> None:
    assert error_of(tiff(*[{254: 1}] * (raw.MAX_IFDS + 10))) == raw.LOOP


def test_a_loop_does_not_hide_a_preview() -> None:
    jpeg = small_jpeg()
    preview = {254: 1, 259: 6, 0x201: 8, 0x202: len(jpeg), 330: 0}
    data = tiff(RAW_IFD, preview, links={1: 0}, data=jpeg)
    sub_ifd_at = struct.unpack_from("<I", data, 4)[0] + 2 + 12 * 4 + 4
    data = data.replace(struct.pack("<HHII", 330, 4, 1, 0), struct.pack("<HHII", 330, 4, 1, sub_ifd_at))
    image, stored = raw.open_preview(data)  # IFD1 lists itself as its SubIFD, and loops back to IFD0
    assert (image.size, stored) == ((120, 80), (64, 48))


@pytest.mark.parametrize("entries, reason", [
    ({0x201: 10**6, 0x202: 5000}, raw.PAST_END),                              # preview beyond the end
    ({0x201: 2**32 - 1, 0x202: 2**32 - 1}, raw.PAST_END),                      # absurd offsets
    ({259: 6, 273: 10**6, 279: 5000, 256: 120, 257: 80}, raw.PAST_END),        # strip beyond the end
    ({330: 10**6}, raw.PAST_END),                                              # SubIFD beyond the end
    ({0x8769: 10**6, **RAW_IFD}, raw.NO_PREVIEW),                              # Exif IFD: best effort
    ({0x201: 8, 0x202: 0}, raw.NO_PREVIEW),                                    # zero-length preview
    (RAW_IFD, raw.NO_PREVIEW),
])
def test_offsets_past_the_end(entries: dict[int, int], reason: str) -> None:
    assert error_of(tiff(entries, data=b"\0" * 32)) == reason


def test_a_first_ifd_past_the_end() -> None:
    assert error_of(b"MM\0*" + struct.pack(">I", 10**6) + bytes(40)) == raw.PAST_END


def test_an_absurd_entry_count() -> None:
    assert error_of(b"II*\0" + struct.pack("<IH", 8, 0xFFFF) + bytes(64)) == raw.PAST_END


def test_a_lossless_raw_strip_is_not_a_preview() -> None:
    """CR2 and DNG keep sensor data as lossless JPEG (SOF3): not a picture, so not a preview."""
    sof3 = b"\xff\xd8\xff\xc3" + struct.pack(">HBHHB", 14, 14, 48, 32, 2) + b"\1\x11\0\2\x11\0\xff\xd9"
    data = tiff({259: 6, 273: 8, 279: len(sof3)}, data=sof3)
    assert error_of(data) == raw.NO_PREVIEW
    walk = raw.walk_ifds(data, (struct.unpack_from("<I", data, 4)[0], "<", 0, "tiff"))
    assert raw.raw_size(data, walk.ifds) == (64, 48)  # 2 components of 32 side by side


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_truncated_copies_ask_for_the_file_again(raw_files: dict[str, Path], case_id: str) -> None:
    data = raw_files[case_id].read_bytes()
    for fraction in (0.02, 0.3, 0.6, 0.9):
        assert error_of(data[: int(len(data) * fraction)]) == raw.TRUNCATED, fraction


def test_a_raf_cut_inside_its_header() -> None:
    assert error_of(raw.RAF_MAGIC + bytes(40)) == raw.TRUNCATED


@pytest.mark.parametrize("data, reason", [
    (b"", raw.EMPTY),
    (b"hello, not a raw file\n" * 20, raw.NOT_RAW),
    (b"\0\0\0\x18ftypcrx \0\0\0\1crx isom" + bytes(64), raw.NO_PREVIEW),  # a CR3 with no boxes
    (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(64), raw.RAWPY_ONLY),  # not a CR3 inside
])
def test_not_a_raw_at_all(data: bytes, reason: str) -> None:
    assert error_of(data) == reason


@pytest.mark.parametrize("tail, whole", [
    (b"\xff\xd9", True), (b"\xff\xd9\0\0\0", True), (b"\xff\xd9\xff\xff", True),
    (b"\x12\x34", False), (b"\0\0\0", False),
])
def test_a_thumbnail_libraw_cut_short_is_not_taken(tail: bytes, whole: bool) -> None:
    assert raw.ends_whole(b"\xff\xd8" + bytes(range(1, 200)) + tail) is whole


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_bytes_give_photo_errors_only(raw_files: dict[str, Path], data: st.DataObject) -> None:
    """Our reader on randomly damaged headers, IFDs and cuts: a preview or a PhotoError, nothing else."""
    original = bytearray(raw_files[data.draw(st.sampled_from(CASE_IDS))].read_bytes())
    for _ in range(data.draw(st.integers(1, 12))):
        original[data.draw(st.integers(0, 4095))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(original)))
    try:
        image, stored = raw.parsed_preview(bytes(original[:cut]))
    except PhotoError as e:
        assert "\n" not in str(e) and str(e)
    else:
        assert image.size[0] > 0 and stored[0] > 0


# --- `photo-archive ingest` on RAW files ---------------------------------------------------

SUMMARY = re.compile(
    r"(\d+) new, \d+ updated, \d+ unchanged, \d+ exact duplicates, \d+ near duplicates, (\d+) skipped, "
    r"(\d+) failed"
)


def hash_distance(a: Image.Image, b: Image.Image) -> int:
    return imagehash.phash(a) - imagehash.phash(b)


def test_ingest_reads_raw_files_with_their_own_exif(
    tmp_path: Path, raw_files: dict[str, Path], picture: Image.Image, run_cli, monkeypatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    for case_id, path in raw_files.items():
        fmt = case_id.split("-")[0]
        target = tmp_path / "inbox" / "rene-hey" / f"DSC_{case_id}.{fmt}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    result = run_cli("ingest", "inbox", "--db", "archive.db")
    assert result.exit_code == 0, result.stderr
    assert SUMMARY.search(result.stderr).groups() == (str(len(CASES)), "0", "0")
    assert rows("archive.db", "select path, error from ingest_errors") == []
    photos = rows("archive.db", "select * from photos order by file_name")
    assert len(photos) == len(CASES)
    upright = picture.transpose(Image.Transpose.ROTATE_270)  # orientation 6: turn 90° clockwise
    for photo in photos:
        fmt = photo["file_name"].rsplit(".", 1)[1]
        make, model = CAMERAS[fmt]
        assert {k: photo[k] for k in (
            "format", "width", "height", "orientation", "taken_at", "camera_make", "camera_model",
            "camera_serial", "iso", "f_number",
        )} == {
            "format": fmt, "width": 64, "height": 48, "orientation": 6,
            "taken_at": "2025-09-20T10:15:30", "camera_make": make, "camera_model": model,
            "camera_serial": "6012345", "iso": 200, "f_number": 2.8,
        }, photo["file_name"]
        thumbnail = Image.open(io.BytesIO(photo["thumbnail"]))
        assert thumbnail.size == (267, 400), photo["file_name"]  # the 1600x1067 preview, turned upright
        assert hash_distance(thumbnail, upright) <= 4
        assert hash_distance(thumbnail, upright.transpose(Image.Transpose.ROTATE_180)) > 20


def test_ingest_records_bad_raw_files_and_goes_on(
    tmp_path: Path, raw_files: dict[str, Path], run_cli, monkeypatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    nef = raw_files["NEF-own"].read_bytes()
    bad = {
        "cut.NEF": nef[: len(nef) * 6 // 10],
        "loop.DNG": tiff(RAW_IFD, links={0: 0}),
        "past-end.ARW": tiff({0x201: 10**6, 0x202: 5000}, data=bytes(32)),
        "no-preview.CR2": tiff(RAW_IFD),
        "text.ORF": b"not a raw file\n" * 20,
        "empty.RAF": b"",
    }
    for name, data in bad.items():
        (inbox / name).write_bytes(data)
    (inbox / "good.NEF").write_bytes(nef)
    result = run_cli("ingest", "inbox", "--db", "archive.db")
    assert result.exit_code == 0, result.stderr
    assert SUMMARY.search(result.stderr).groups() == ("1", "0", str(len(bad)))
    assert rows("archive.db", "select path, error from ingest_errors order by path") == [
        {"path": "inbox/cut.NEF", "error": "RAW file is truncated: it ends before its embedded "
         "preview does (the copy probably failed, deliver it again)"},
        {"path": "inbox/empty.RAF", "error": "empty file (0 bytes): the copy probably failed, "
         "deliver it again"},
        {"path": "inbox/loop.DNG", "error": "RAW file is damaged: its directories run in a loop and "
         "hold no preview (deliver it again, or a JPEG export)"},
        {"path": "inbox/no-preview.CR2", "error": "RAW file has no embedded preview we can read "
         "(deliver a JPEG export)"},
        {"path": "inbox/past-end.ARW", "error": "RAW file is damaged or truncated: it points past "
         "its own end (deliver it again)"},
        {"path": "inbox/text.ORF", "error": "not a RAW file we can read: it has no TIFF or Fujifilm "
         "RAF header (the contents do not match the suffix)"},
    ]
    assert [p["path"] for p in rows("archive.db", "select path from photos")] == ["inbox/good.NEF"]


# --- Canon CR3: ISO-BMFF boxes, the EXIF in CMT1-4 -------------------------------------
# LibRaw refuses these synthetic files (they carry no CRX-coded raw data), so
# the preview always comes from PRVW here; the EXIF is read the same way
# whichever path found the preview.

CR3_SENSOR = (6288, 4056)  # the raw track's CMP1 size: LibRaw's raw_width and raw_height
CR3_PREVIEW = (1620, 1080)
CR3_CMT1 = {0x10F: "Canon", 0x110: "Canon EOS R5", 0x112: 6, 0x13B: "Rene Hey",
            0x8298: "(c) Rene Hey, Nordschleife Archiv"}
CR3_CMT2 = {0x829A: IFDRational(1, 250), 0x829D: IFDRational(28, 10), 0x8827: 400,
            0x9003: "2025:09:20 10:15:30", 0x9011: "-03:00", 0x920A: IFDRational(50, 1),
            0xA431: "082021001234", 0xA434: "RF24-70mm F2.8 L IS USM"}
CR3_CMT3 = {0x0006: "Canon EOS R5", 0x0010: 0x80000421}  # maker note: ImageType, ModelID
# Interlagos, south and west: the refs must be read from the GPS IFD for the signs.
CR3_CMT4 = {0: b"\2\3\0\0", 1: "S", 2: (IFDRational(23), IFDRational(42), IFDRational(4)),
            3: "W", 4: (IFDRational(46), IFDRational(41), IFDRational(50))}
CR3_FIELDS = {
    "camera_make": "Canon", "camera_model": "Canon EOS R5", "camera_serial": "082021001234",
    "lens": "RF24-70mm F2.8 L IS USM", "taken_at": "2025-09-20T10:15:30", "exposure_time": 0.004,
    "f_number": 2.8, "iso": 400, "focal_length": 50.0, "orientation": 6,
    "latitude": pytest.approx(-23.70111111), "longitude": pytest.approx(-46.69722222),
    "artist": "Rene Hey", "copyright": "(c) Rene Hey, Nordschleife Archiv",
}


def bmff(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def ifd0_tiff(tags: dict, order: str = "<") -> bytes:
    """A TIFF whose IFD0 holds `tags`, written by Pillow: what a CMT box holds."""
    head = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "I", 8)
    ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=head)
    for tag, value in tags.items():
        ifd[tag] = value
    return head + ifd.tobytes(8)


def jpeg_of(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def raw_track(size: tuple[int, int]) -> bytes:
    """A trak whose CRAW sample entry (82 bytes, then boxes) has a CMP1 header with the sensor size."""
    craw = bmff(b"CRAW", bytes(24), struct.pack(">HH", 1624, 1080), bytes(54),
                bmff(b"CMP1", struct.pack(">H6xII", 0x100, *size), bytes(36)))
    stsd = bmff(b"stsd", struct.pack(">II", 0, 1), craw)
    return bmff(b"trak", bmff(b"mdia", bmff(b"minf", bmff(b"stbl", stsd))))


def cr3_bytes(preview: Image.Image, order: str = "<", cmts: dict[bytes, bytes] | None = None) -> bytes:
    """A CR3 laid out as Canon writes it: ftyp, moov (Canon's uuid box with the CMT TIFFs and
    THMB, then a raw track), the preview's uuid box with PRVW, then mdat."""
    if cmts is None:
        cmts = {kind: ifd0_tiff(tags, order) for kind, tags in
                [(b"CMT1", CR3_CMT1), (b"CMT2", CR3_CMT2), (b"CMT3", CR3_CMT3), (b"CMT4", CR3_CMT4)]}
    thumb = jpeg_of(preview.resize((160, 120)))
    big = jpeg_of(preview)
    canon = bmff(b"uuid", raw.CANON_UUID, bmff(b"CNCV", b"CanonCR3_001/01.09.00/00.00.00"),
                 *(bmff(kind, tiff) for kind, tiff in cmts.items()),
                 bmff(b"THMB", struct.pack(">IHHII", 0, 160, 120, len(thumb), 0x10000), thumb))
    previews = bmff(b"uuid", raw.PREVIEW_UUID, bytes(8),
                    bmff(b"PRVW", struct.pack(">IHHHHI", 0, 1, *preview.size, 1, len(big)), big))
    return (bmff(b"ftyp", b"crx ", struct.pack(">I", 1), b"crx isom")
            + bmff(b"moov", canon, raw_track(CR3_SENSOR)) + previews + bmff(b"mdat", bytes(4096)))


@pytest.fixture(scope="module")
def cr3_picture() -> Image.Image:
    return scene(11, CR3_PREVIEW)


@pytest.fixture(scope="module")
def cr3(cr3_picture: Image.Image) -> bytes:
    return cr3_bytes(cr3_picture)


@pytest.mark.parametrize("rawpy_present", [True, False], ids=["rawpy", "no-rawpy"])
def test_cr3_preview_is_prvw_and_the_size_is_the_raw_track(
    cr3: bytes, monkeypatch: pytest.MonkeyPatch, rawpy_present: bool,
) -> None:
    if not rawpy_present:
        monkeypatch.setitem(sys.modules, "rawpy", None)
    image, stored = raw.open_preview(cr3)
    assert (image.format, image.size, stored) == ("JPEG", CR3_PREVIEW, CR3_SENSOR)
    assert image.tile  # not decoded yet


def test_cr3_without_a_raw_track_gives_the_preview_size(cr3_picture: Image.Image) -> None:
    data = cr3_bytes(cr3_picture).replace(b"CMP1", b"CMPX")
    assert raw.parsed_preview(data)[1] == CR3_PREVIEW


@pytest.mark.parametrize("order", ["<", ">"], ids=["II", "MM"])
def test_cr3_exif_comes_from_the_cmt_boxes(cr3_picture: Image.Image, order: str) -> None:
    record = metadata.read_metadata(cr3_bytes(cr3_picture, order), None)
    assert {name: record[name] for name in CR3_FIELDS} == CR3_FIELDS
    assert record["offset"] == "-03:00"


def test_each_cmt_box_gives_only_its_own_ifd(cr3_picture: Image.Image) -> None:
    """CMT1 with a make and a stray DateTimeOriginal, CMT2 with a stray Make: each IFD from its box."""
    cmts = {b"CMT1": ifd0_tiff({**CR3_CMT1, 0x9003: "1999:01:01 00:00:00"}),
            b"CMT2": ifd0_tiff({**CR3_CMT2, 0x10F: "Not Canon"})}
    record = metadata.read_metadata(cr3_bytes(cr3_picture, cmts=cmts), None)
    assert (record["camera_make"], record["taken_at"]) == ("Canon", "2025-09-20T10:15:30")
    assert record["latitude"] is None  # no CMT4


WORLD_REGISTER = """\
photographers: []
events:
  - {id: world, name: Everywhere, start: 1990-01-01, end: 2035-12-31, timezone: UTC,
     place: {name: Earth, lat: 0, lon: 0, radius_km: 20100}}
cars: []
"""


def exiftool_fields(path: Path) -> dict:
    """exiftool's reading of the CR3, in our columns' terms (GPS signed by its Composite tags)."""
    tool = shutil.which("exiftool")
    require(tool is not None, "exiftool not installed: it is the independent reader these tests need")
    out = subprocess.run([tool, "-json", "-n", "-G1", "-a", str(path)],
                         capture_output=True, text=True, check=True)
    view = json.loads(out.stdout)[0]
    assert view["File:FileType"] == "CR3"
    tags = {"camera_make": "IFD0:Make", "camera_model": "IFD0:Model", "orientation": "IFD0:Orientation",
            "artist": "IFD0:Artist", "copyright": "IFD0:Copyright", "camera_serial": "ExifIFD:SerialNumber",
            "lens": "ExifIFD:LensModel", "exposure_time": "ExifIFD:ExposureTime",
            "f_number": "ExifIFD:FNumber", "iso": "ExifIFD:ISO", "focal_length": "ExifIFD:FocalLength",
            "latitude": "Composite:GPSLatitude", "longitude": "Composite:GPSLongitude"}
    found = {name: view.get(tag) for name, tag in tags.items()}
    found["camera_serial"] = str(found["camera_serial"])  # JSON may make a number of it
    when = view.get("ExifIFD:DateTimeOriginal", "")
    found["taken_at"] = when[:10].replace(":", "-") + "T" + when[11:19]
    return found


def test_ingest_reads_a_cr3_and_agrees_with_exiftool(
    tmp_path: Path, cr3: bytes, cr3_picture: Image.Image, run_cli, monkeypatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "inbox" / "rene-hey" / "IMG_0001.CR3"
    target.parent.mkdir(parents=True)
    target.write_bytes(cr3)
    Path("register.yml").write_text(WORLD_REGISTER, encoding="utf-8")  # keeps GPS unrounded
    result = run_cli("ingest", "inbox", "--db", "archive.db", "--register", "register.yml")
    assert result.exit_code == 0, result.stderr
    assert rows("archive.db", "select path, error from ingest_errors") == []
    (photo,) = rows("archive.db", "select * from photos")
    assert {name: photo[name] for name in CR3_FIELDS} == CR3_FIELDS
    assert (photo["format"], photo["width"], photo["height"]) == ("CR3", *CR3_SENSOR)
    thumbnail = Image.open(io.BytesIO(photo["thumbnail"]))
    upright = cr3_picture.transpose(Image.Transpose.ROTATE_270)  # orientation 6
    assert thumbnail.size == (267, 400) and hash_distance(thumbnail, upright) <= 4
    ours = {name: photo[name] for name in CR3_FIELDS}
    ours.update((name, pytest.approx(ours[name], abs=1e-5)) for name in ("latitude", "longitude"))
    assert exiftool_fields(target) == ours


# Damaged CR3s: a preview and what EXIF can be read, or one line in ingest_errors.

def damaged_cr3s(cr3: bytes) -> dict[str, tuple[bytes, str | None]]:
    """name -> (bytes, the error expected, None when the file still ingests)."""
    moov = cr3.index(b"moov") - 4
    cmt2 = cr3.index(b"CMT2") - 4
    return {
        "cut-in-moov.CR3": (cr3[: moov + 200], raw.TRUNCATED),
        "cut-in-preview.CR3": (cr3[: len(cr3) // 2], raw.TRUNCATED),
        "cut-in-mdat.CR3": (cr3[:-100], None),  # the raw data lost, preview and EXIF whole
        # moov says it is 7 bytes long: no box can be, so nothing after it is read.
        "tiny-moov.CR3": (cr3[:moov] + struct.pack(">I", 7) + cr3[moov + 4 :], raw.NO_PREVIEW),
        # CMT2 claims far more than its uuid box: the boxes from there on are not read.
        "cmt2-too-long.CR3": (cr3[:cmt2] + struct.pack(">I", 10**6) + cr3[cmt2 + 4 :], None),
        # CMT2's TIFF points its IFD0 far past its end.
        "cmt2-bad-ifd.CR3": (cr3[: cmt2 + 12] + struct.pack("<I", 2**31) + cr3[cmt2 + 16 :], None),
    }


@pytest.mark.parametrize("rawpy_present", [True, False], ids=["rawpy", "no-rawpy"])
def test_ingest_records_damaged_cr3_files_in_one_line(
    tmp_path: Path, cr3: bytes, run_cli, monkeypatch, rawpy_present: bool,
) -> None:
    if not rawpy_present:
        monkeypatch.setitem(sys.modules, "rawpy", None)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inbox").mkdir()
    damaged = damaged_cr3s(cr3)
    for name, (data, _) in damaged.items():
        (tmp_path / "inbox" / name).write_bytes(data)
    result = run_cli("ingest", "inbox", "--db", "archive.db")
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert rows("archive.db", "select path, error from ingest_errors order by path") == [
        {"path": f"inbox/{name}", "error": error} for name, (_, error) in sorted(damaged.items()) if error
    ]
    photos = {p["file_name"]: p for p in rows("archive.db", "select * from photos")}
    assert sorted(photos) == sorted(name for name, (_, error) in damaged.items() if not error)
    assert photos["cut-in-mdat.CR3"]["lens"] == "RF24-70mm F2.8 L IS USM"
    for name in ("cmt2-too-long.CR3", "cmt2-bad-ifd.CR3"):  # CMT1 still read; CMT2 lost
        assert (photos[name]["camera_model"], photos[name]["lens"]) == ("Canon EOS R5", None), name


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_cr3_bytes_give_a_preview_or_a_photo_error(cr3: bytes, data: st.DataObject) -> None:
    """Random damage to the boxes and TIFFs, and random cuts: never another exception."""
    damaged = bytearray(cr3)
    header_end = cr3.index(b"PRVW") + 16  # everything up to the preview's JPEG: the boxes and TIFFs
    for _ in range(data.draw(st.integers(1, 12))):
        damaged[data.draw(st.integers(0, header_end))] = data.draw(st.integers(0, 255))
    damaged = damaged[: data.draw(st.integers(0, len(damaged)))]
    record = metadata.read_metadata(bytes(damaged), None)
    assert set(metadata.PHOTO_FIELDS) <= set(record)
    try:
        image, stored = raw.parsed_preview(bytes(damaged))
    except PhotoError as e:
        assert "\n" not in str(e) and str(e)
    else:
        assert image.size[0] > 0 and stored[0] > 0

