"""ingest.sample_photos writes metadata that real readers see.

exiftool is the independent witness here (and only here: the module itself
must work without it). Without exiftool those tests skip, except in CI.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import imagehash
import pillow_heif
import pytest
from PIL import Image
from PIL.ExifTags import IFD, Base

from ingest.sample_photos import Meta, exif_bytes, iptc_bytes, save_photo, scene, xmp_bytes

FULL = Meta(
    make="BMW",
    model="1M Coupé Cam",
    serial="083024001234",
    lens="EF 70-200mm f/2.8L",
    taken_at=datetime(2025, 9, 20, 10, 15, 30),
    offset="+02:00",
    orientation=6,
    exposure_time=Fraction(1, 250),
    f_number=2.8,
    iso=200,
    focal_length=135.0,
    gps=(50.3356123, 6.9475456),
    artist="René Hey",
    copyright="© 2025 René Hey",
    description="Parade on the Nürburgring",
    xp_keywords=["Grüne Hölle", "1M #42"],
    iptc_title="Nürburgring parade",
    iptc_keywords=["Grüne Hölle", "NR 1M 42", "Nürburgring"],
    iptc_byline="René Hey",
    iptc_credit="Cannoneer Photography",
    iptc_caption="Green Mamba <1M #42> & friends at the Nürburgring",
    iptc_copyright="© 2025 René Hey",
    xmp_title="Nürburgring parade",
    xmp_description="Green Mamba <1M #42> & friends in the Grüne Hölle",
    xmp_subject=["Grüne Hölle", "1M #42"],
    xmp_creator=["René Hey", "Cannoneer"],
    xmp_rights="© 2025 René Hey",
)

# suffix -> (exiftool File:FileType, carries IPTC)
FORMATS = {
    "jpg": ("JPEG", True),
    "png": ("PNG", False),
    "tif": ("TIFF", True),
    "webp": ("Extended WEBP", False),
    "heic": ("HEIC", False),
}


@pytest.fixture(scope="session")
def exiftool() -> str:
    path = shutil.which("exiftool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("exiftool is required in CI (apt-get install libimage-exiftool-perl)")
        pytest.skip("exiftool not installed: it is the independent reader these tests need")
    return path


def read_tags(exiftool: str, path: Path) -> dict[str, Any]:
    """exiftool's view of a file: group-prefixed names, numeric values."""
    result = subprocess.run(
        [exiftool, "-json", "-G", "-n", str(path)],
        capture_output=True,
        check=True,
        encoding="utf-8",
    )
    return json.loads(result.stdout)[0]


def as_list(value: Any) -> list[Any]:
    # exiftool's JSON gives a lone list item as a scalar.
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("suffix", FORMATS)
def test_exiftool_reads_every_field(exiftool: str, tmp_path: Path, suffix: str) -> None:
    path = save_photo(scene(1), tmp_path / f"photo.{suffix}", FULL)
    tags = read_tags(exiftool, path)
    file_type, carries_iptc = FORMATS[suffix]

    assert tags["File:FileType"] == file_type
    assert "ExifTool:Warning" not in tags and "ExifTool:Error" not in tags
    assert tags["Composite:ImageSize"] == "640 480"  # the tag rotates, not the pixels
    assert_exif(tags, FULL)
    assert tags["XMP:Title"] == FULL.xmp_title
    assert tags["XMP:Description"] == FULL.xmp_description
    assert as_list(tags["XMP:Subject"]) == FULL.xmp_subject
    assert as_list(tags["XMP:Creator"]) == FULL.xmp_creator
    assert tags["XMP:Rights"] == FULL.xmp_rights
    if carries_iptc:
        assert_iptc(tags, FULL)
        assert tags["IPTC:CodedCharacterSet"] == "\x1b%G"
    else:
        assert not [name for name in tags if name.startswith("IPTC:")]


def assert_exif(tags: dict[str, Any], meta: Meta) -> None:
    assert tags["EXIF:Make"] == meta.make
    assert tags["EXIF:Model"] == meta.model
    assert tags["EXIF:SerialNumber"] == meta.serial  # BodySerialNumber, 0xA431
    assert tags["EXIF:LensModel"] == meta.lens
    assert tags["EXIF:DateTimeOriginal"] == "2025:09:20 10:15:30"
    assert tags["EXIF:CreateDate"] == "2025:09:20 10:15:30"  # DateTimeDigitized
    assert tags["EXIF:OffsetTimeOriginal"] == meta.offset
    assert tags["EXIF:Orientation"] == meta.orientation
    assert tags["EXIF:ExposureTime"] == pytest.approx(1 / 250)
    assert tags["EXIF:FNumber"] == pytest.approx(meta.f_number)
    assert tags["EXIF:ISO"] == meta.iso
    assert tags["EXIF:FocalLength"] == pytest.approx(meta.focal_length)
    assert tags["Composite:GPSLatitude"] == pytest.approx(meta.gps[0], abs=1e-6)
    assert tags["Composite:GPSLongitude"] == pytest.approx(meta.gps[1], abs=1e-6)
    assert tags["EXIF:Artist"] == meta.artist
    assert tags["EXIF:Copyright"] == meta.copyright
    assert tags["EXIF:ImageDescription"] == meta.description
    assert tags["EXIF:XPKeywords"] == ";".join(meta.xp_keywords)


def assert_iptc(tags: dict[str, Any], meta: Meta) -> None:
    assert tags["IPTC:ObjectName"] == meta.iptc_title
    assert as_list(tags["IPTC:Keywords"]) == meta.iptc_keywords
    assert tags["IPTC:By-line"] == meta.iptc_byline
    assert tags["IPTC:Credit"] == meta.iptc_credit
    assert tags["IPTC:Caption-Abstract"] == meta.iptc_caption
    assert tags["IPTC:CopyrightNotice"] == meta.iptc_copyright


@pytest.mark.parametrize(
    ("gps", "refs"),
    [
        ((-33.4475, 149.5569), ("S", "E")),  # Mount Panorama
        ((36.584, -121.7535), ("N", "W")),  # Laguna Seca
        ((-0.5, -0.25), ("S", "W")),  # less than a degree: only minutes and seconds
    ],
)
def test_gps_signs_become_refs(
    exiftool: str, tmp_path: Path, gps: tuple[float, float], refs: tuple[str, str]
) -> None:
    path = save_photo(scene(2), tmp_path / "track.jpg", Meta(gps=gps))
    tags = read_tags(exiftool, path)
    assert (tags["EXIF:GPSLatitudeRef"], tags["EXIF:GPSLongitudeRef"]) == refs
    assert tags["Composite:GPSLatitude"] == pytest.approx(gps[0], abs=1e-6)
    assert tags["Composite:GPSLongitude"] == pytest.approx(gps[1], abs=1e-6)


@pytest.mark.parametrize("suffix", ["jpg", "tif"])
def test_latin1_iptc_round_trip(exiftool: str, tmp_path: Path, suffix: str) -> None:
    meta = Meta(
        iptc_encoding="latin-1",
        iptc_title="Nürburgring",
        iptc_keywords=["Grüne Hölle", "Nürburgring"],
        iptc_byline="René Hey",
        iptc_credit="René Hey",
        iptc_caption="Grüne Hölle, Brünnchen",
        iptc_copyright="© René Hey",
    )
    raw = iptc_bytes(meta)
    assert "Grüne Hölle".encode("latin-1") in raw and b"\x1b%G" not in raw
    tags = read_tags(exiftool, save_photo(scene(3), tmp_path / f"old.{suffix}", meta))
    # No 1:90, so exiftool falls back to its Latin default, as old IIM readers do.
    assert "IPTC:CodedCharacterSet" not in tags
    assert "ExifTool:Warning" not in tags
    assert_iptc(tags, meta)


def test_empty_meta_writes_no_metadata(exiftool: str, tmp_path: Path) -> None:
    assert exif_bytes(Meta()) == iptc_bytes(Meta()) == xmp_bytes(Meta()) == b""
    for suffix in FORMATS:
        tags = read_tags(exiftool, save_photo(scene(4), tmp_path / f"bare.{suffix}"))
        assert not [name for name in tags if name.split(":")[0] in ("IPTC", "XMP", "Photoshop")]
        assert "EXIF:Make" not in tags and "EXIF:Orientation" not in tags


# --- without exiftool: structure and Pillow's own reading ------------------


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) for each segment up to the start of scan."""
    segments, pos = [], 2
    while data[pos + 1] != 0xDA:
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        segments.append((data[pos + 1], data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return segments


def test_jpeg_segment_layout(tmp_path: Path) -> None:
    data = save_photo(scene(5), tmp_path / "a.jpg", FULL).read_bytes()
    segments = jpeg_segments(data)
    markers = [marker for marker, _ in segments]
    app1 = [payload for marker, payload in segments if marker == 0xE1]
    assert app1[0].startswith(b"Exif\x00\x00")
    assert app1[1].startswith(b"http://ns.adobe.com/xap/1.0/\x00")
    # APP13 right after the APP1s, before the first DQT / SOF.
    app13 = markers.index(0xED)
    assert markers[app13 - 1] == 0xE1 and markers.index(0xDB) == app13 + 1
    payload = segments[app13][1]
    assert payload.startswith(b"Photoshop 3.0\x008BIM\x04\x04\x00\x00")
    size = struct.unpack(">I", payload[22:26])[0]
    assert payload[26 : 26 + size] == iptc_bytes(FULL)
    assert len(payload) == 26 + size + size % 2  # resource data padded to even


def test_iptc_datasets() -> None:
    raw = iptc_bytes(Meta(iptc_title="A", iptc_keywords=["x", "yz"]))
    assert raw == (
        b"\x1c\x01\x00\x00\x02\x00\x04"  # 1:00 model version 4
        b"\x1c\x01\x5a\x00\x03\x1b%G"  # 1:90 UTF-8
        b"\x1c\x02\x00\x00\x02\x00\x04"  # 2:00 record version 4
        b"\x1c\x02\x05\x00\x01A"
        b"\x1c\x02\x19\x00\x01x"
        b"\x1c\x02\x19\x00\x02yz"
    )


def test_xmp_packet_structure() -> None:
    packet = xmp_bytes(FULL)
    assert packet.startswith(b'<?xpacket begin="\xef\xbb\xbf"')
    assert packet.endswith(b'<?xpacket end="w"?>')
    ns = {
        "x": "adobe:ns:meta/",
        "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "dc": "http://purl.org/dc/elements/1.1/",
    }
    root = ET.fromstring(packet)  # well-formed, values escaped
    desc = root.find("rdf:RDF/rdf:Description", ns)
    lang = "{http://www.w3.org/XML/1998/namespace}lang"
    alternatives = {
        "title": FULL.xmp_title,
        "description": FULL.xmp_description,
        "rights": FULL.xmp_rights,
    }
    for name, value in alternatives.items():
        li = desc.find(f"dc:{name}/rdf:Alt/rdf:li", ns)
        assert (li.text, li.get(lang)) == (value, "x-default")
    assert [li.text for li in desc.findall("dc:subject/rdf:Bag/rdf:li", ns)] == FULL.xmp_subject
    assert [li.text for li in desc.findall("dc:creator/rdf:Seq/rdf:li", ns)] == FULL.xmp_creator


@pytest.mark.parametrize("suffix", FORMATS)
def test_pillow_reads_back(tmp_path: Path, suffix: str) -> None:
    pillow_heif.register_heif_opener()
    path = save_photo(scene(6), tmp_path / f"p.{suffix}", FULL)
    with Image.open(path) as image:
        exif = image.getexif()
        # Pillow decodes EXIF ASCII as Latin-1: readers must re-decode UTF-8.
        assert exif[Base.Model].encode("latin-1").decode("utf-8") == FULL.model
        assert exif.get_ifd(IFD.Exif)[Base.BodySerialNumber] == FULL.serial
        latitude = [float(part) for part in exif.get_ifd(IFD.GPSInfo)[2]]
        assert latitude == pytest.approx([50, 20, 8.2043], abs=1e-4)
        xmp = image.info["xmp"]  # str from PNG's iTXt, bytes elsewhere
        assert "Grüne Hölle" in (xmp.decode("utf-8") if isinstance(xmp, bytes) else xmp)


def test_save_photo_paths_and_formats(tmp_path: Path) -> None:
    path = save_photo(scene(7, (64, 48)), str(tmp_path / "a" / "b" / "IMG_0001.JPEG"))
    assert path == tmp_path / "a" / "b" / "IMG_0001.JPEG" and path.read_bytes()[:2] == b"\xff\xd8"
    forced = save_photo(scene(7, (64, 48)), tmp_path / "no-suffix", format="heic")
    assert forced.read_bytes()[4:12] == b"ftypheic"
    with pytest.raises(ValueError, match="suffix"):
        save_photo(scene(7, (64, 48)), tmp_path / "a.gif")
    with pytest.raises(ValueError, match="ASCII"):
        exif_bytes(Meta(serial="Nº 1"))


@pytest.mark.parametrize("suffix", ["tif", "heic"])
def test_source_metadata_does_not_leak(tmp_path: Path, suffix: str) -> None:
    # Re-saving an opened photo with new meta must not carry its old blocks
    # over (Pillow's TIFF writer copies XMP and IPTC tags of a TIFF source).
    pillow_heif.register_heif_opener()
    first = save_photo(scene(8), tmp_path / f"first.{suffix}", FULL)
    with Image.open(first) as image:
        second = save_photo(image, tmp_path / f"second.{suffix}", Meta(iso=100))
    with Image.open(second) as image:
        assert Base.Model not in image.getexif() and not image.info.get("xmp")
        assert 33723 not in getattr(image, "tag_v2", {})


# --- the synthetic picture --------------------------------------------------


def test_scene_is_deterministic() -> None:
    first, second = scene(42), scene(42)
    assert (first.mode, first.size) == ("RGB", (640, 480))
    assert first.tobytes() == second.tobytes()
    assert scene(42, (320, 200)).size == (320, 200)


def test_scenes_are_far_apart_in_phash() -> None:
    hashes = {seed: imagehash.phash(scene(seed)) for seed in range(16)}
    distances = {(a, b): hashes[a] - hashes[b] for a, b in itertools.combinations(hashes, 2)}
    assert min(distances.values()) > 20, sorted(distances.items(), key=lambda item: item[1])[:3]


def test_resized_recompressed_copy_stays_near(tmp_path: Path) -> None:
    original = scene(9)
    path = save_photo(original.resize((320, 240)), tmp_path / "small.jpg", quality=60)
    with Image.open(path) as copy:
        assert imagehash.phash(original) - imagehash.phash(copy) <= 6
