"""Tests for ingest.metadata: text decoding, dates, GPS, IPTC, XMP, maker notes,
the HEIF container, and exact values read from real camera files."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from defusedxml import ElementTree as SafeET
from defusedxml.common import EntitiesForbidden
from exifread.utils import Ratio
from PIL import Image, TiffImagePlugin

from ingest import metadata
from ingest.fingerprint import open_image
from ingest.metadata import (
    TIFF_SIZES,
    clean_text,
    gps_decimal,
    heif_coded_size,
    maker_note_fields,
    merge,
    parse_exif_datetime,
    read_iptc,
    read_metadata,
    read_xmp,
    split_keywords,
    xp_text,
)

# --- text -----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Nürburgring".encode("utf-8"), "Nürburgring"),
        # Not valid UTF-8: older cameras and IPTC editors wrote Latin-1 / Windows-1252.
        ("Nürburgring".encode("latin-1"), "Nürburgring"),
        (b"\x93Green Mamba\x94", "\u201cGreen Mamba\u201d"),
        # Fixed-size EXIF fields are padded with NULs and spaces.
        (b"OLYMPUS DIGITAL CAMERA\x00\x00\x00\x00", "OLYMPUS DIGITAL CAMERA"),
        (b"  Canon\x00 ", "Canon"),
        (b"\x00\x00\x00\x00", None),
        (b"                               ", None),
        ("Rene\u0301 Hey", "Ren\u00e9 Hey"),  # decomposed accents become one character (NFC)
        ("line\x07bell\x1b", "linebell"),
        (None, None),
        (42, "42"),
    ],
)
def test_clean_text(raw: Any, expected: str | None) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    "values, expected",
    [
        # exifread hands XP* tags over as a list of byte values.
        (list("Nürburgring;1M #42".encode("utf-16-le") + b"\x00\x00"), "Nürburgring;1M #42"),
        ("Nürburgring;Ring".encode("utf-16-le"), "Nürburgring;Ring"),
        ("already text", "already text"),
        (b"\x00\x00", None),
        (None, None),
    ],
)
def test_xp_text_decodes_utf16le(values: Any, expected: str | None) -> None:
    assert xp_text(values) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Nürburgring;1M #42", ["Nürburgring", "1M #42"]),
        ("a, b;;c", ["a", " b", "c"]),
        ("", []),
        (None, []),
    ],
)
def test_split_keywords(text: str | None, expected: list[str]) -> None:
    assert split_keywords(text) == expected


# --- dates and GPS ----------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2025:09:20 10:15:00", "2025-09-20T10:15:00"),
        ("2014:09:21 16:00:56.000000+02:00", "2014-09-21T16:00:56"),  # XMP: zone and fraction dropped
        ("2025-09-20T10:15:00", "2025-09-20T10:15:00"),
        ("2025:09:20 10:15:00\x00", "2025-09-20T10:15:00"),
        ("0000:00:00 00:00:00", None),  # cameras write this when the clock was never set
        ("    :  :     :  :  ", None),
        ("2025:02:30 10:15:00", None),  # no 30 February
        ("2025:09:20 25:00:00", None),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_exif_datetime(text: str | None, expected: str | None) -> None:
    assert parse_exif_datetime(text) == expected


NURBURGRING = [Ratio(50, 1), Ratio(20, 1), Ratio(816, 100)]  # 50° 20' 8.16"


@pytest.mark.parametrize(
    "dms, ref, expected",
    [
        (NURBURGRING, "N", 50.3356),
        (NURBURGRING, "S", -50.3356),
        ([Ratio(6, 1), Ratio(56, 1), Ratio(51, 1)], "E", 6.9475),
        ([Ratio(6, 1), Ratio(56, 1), Ratio(51, 1)], "W", -6.9475),
        ([Ratio(94, 1), Ratio(1733, 100), Ratio(0, 1)], b"W\x00", -94.28883333),  # decimal minutes
        (SimpleNamespace(values=NURBURGRING), SimpleNamespace(values="S"), -50.3356),  # exifread tags
        ([50.0, 20.0, 8.16], None, 50.3356),  # Pillow's floats; no ref means north/east
        ([Ratio(50, 0), Ratio(20, 1), Ratio(0, 1)], "N", None),  # zero denominator
        ([], "N", None),
        (None, "N", None),
    ],
)
def test_gps_decimal(dms: Any, ref: Any, expected: float | None) -> None:
    result = gps_decimal(dms, ref)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, abs=1e-8)


# --- IPTC ---------------------------------------------------------------------


def dataset(record: int, number: int, value: bytes) -> bytes:
    """One IIM dataset: tag marker, record, dataset number, 2-byte length, value."""
    return bytes([0x1C, record, number]) + struct.pack(">H", len(value)) + value


def iim_block(encoding: str, utf8_marker: bool) -> bytes:
    block = dataset(1, 90, b"\x1b%G") if utf8_marker else b""
    block += dataset(2, 5, "Nürburgring parade".encode(encoding))
    block += dataset(2, 25, "Nürburgring".encode(encoding)) + dataset(2, 25, b"1M #42")
    block += dataset(2, 80, "René Hey".encode(encoding))
    block += dataset(2, 116, "© René Hey".encode(encoding))
    block += dataset(2, 120, "Grüne Hölle, 1M".encode(encoding))
    return block


def jpeg_with_iim(block: bytes) -> Image.Image:
    """A tiny JPEG with a hand-built APP13 segment: 'Photoshop 3.0' + an 8BIM 0x0404 resource."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(out, "JPEG")
    padded = block + b"\x00" * (len(block) % 2)
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(block)) + padded
    payload = b"Photoshop 3.0\x00" + resource
    segment = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    data = out.getvalue()
    return Image.open(io.BytesIO(data[:2] + segment + data[2:]))


def tiff_with_iim(block: bytes) -> Image.Image:
    """A tiny TIFF carrying the IIM block in tag 33723 (IPTC-NAA)."""
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[33723] = block
    tags.tagtype[33723] = 7  # UNDEFINED: raw bytes
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(out, "TIFF", tiffinfo=tags)
    return Image.open(io.BytesIO(out.getvalue()))


@pytest.mark.parametrize("container", [jpeg_with_iim, tiff_with_iim])
@pytest.mark.parametrize(
    "encoding, utf8_marker",
    [
        ("utf-8", True),  # 1:90 says UTF-8
        ("latin-1", False),  # no marker: the traditional Latin-1
        ("utf-8", False),  # no marker, but the bytes are UTF-8 (many modern tools)
    ],
)
def test_read_iptc(container: Any, encoding: str, utf8_marker: bool) -> None:
    iptc = read_iptc(container(iim_block(encoding, utf8_marker)))
    assert iptc == {
        "title": "Nürburgring parade",
        "keywords": ["Nürburgring", "1M #42"],
        "byline": ["René Hey"],
        "copyright": "© René Hey",
        "caption": "Grüne Hölle, 1M",
    }


def test_read_iptc_without_iptc() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "JPEG")
    assert read_iptc(Image.open(io.BytesIO(out.getvalue()))) == {}


# --- XMP ------------------------------------------------------------------------

XMP_TEMPLATE = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    {attributes}>
   {elements}
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def xmp_file(elements: str, attributes: str = "") -> bytes:
    """XMP as files carry it: a packet between other bytes (here, JPEG-ish noise)."""
    packet = XMP_TEMPLATE.format(elements=elements, attributes=attributes).encode("utf-8")
    return b"\xff\xd8\xff\xe1junk" + packet + b"\xff\xd9"


@pytest.mark.parametrize(
    "elements, attributes, field, expected",
    [
        # rdf:Alt: x-default wins over the order of the entries.
        ('<dc:title><rdf:Alt><rdf:li xml:lang="de">Grüne Hölle</rdf:li>'
         '<rdf:li xml:lang="x-default">Green Hell</rdf:li></rdf:Alt></dc:title>',
         "", "title", "Green Hell"),
        # rdf:Alt without x-default: the first entry.
        ('<dc:description><rdf:Alt><rdf:li xml:lang="de">Nürburgring</rdf:li></rdf:Alt></dc:description>',
         "", "description", "Nürburgring"),
        # rdf:Bag: every keyword, one spelling each.
        ("<dc:subject><rdf:Bag><rdf:li>Nürburgring</rdf:li><rdf:li>1M #42</rdf:li>"
         "<rdf:li>nürburgring</rdf:li><rdf:li> </rdf:li></rdf:Bag></dc:subject>",
         "", "subject", ["Nürburgring", "1M #42"]),
        # rdf:Seq: creators in order.
        ("<dc:creator><rdf:Seq><rdf:li>René Hey</rdf:li>"
         "<rdf:li>VOS Photography</rdf:li></rdf:Seq></dc:creator>",
         "", "creator", ["René Hey", "VOS Photography"]),
        ('<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">© René Hey</rdf:li></rdf:Alt></dc:rights>',
         "", "rights", "© René Hey"),
        # Simple properties, as attributes of rdf:Description or as elements.
        ("", 'exif:DateTimeOriginal="2025-09-20T10:15:00+02:00"', "taken_at", "2025-09-20T10:15:00"),
        ("<exif:DateTimeOriginal>2025-09-20T10:15:00</exif:DateTimeOriginal>", "",
         "taken_at", "2025-09-20T10:15:00"),
        ("", 'tiff:Orientation="6"', "orientation", 6),
        ("<tiff:Make>Canon</tiff:Make>", "", "make", "Canon"),
    ],
)
def test_read_xmp(elements: str, attributes: str, field: str, expected: Any) -> None:
    assert read_xmp(xmp_file(elements, attributes))[field] == expected


HOSTILE = b"""<?xml version="1.0"?>
<!DOCTYPE x:xmpmeta [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY secret SYSTEM "file:///etc/passwd">
]>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">&lol3;&secret;</rdf:li></rdf:Alt></dc:title>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>"""


def test_hostile_xmp_in_a_file_gives_nothing() -> None:
    assert read_xmp(b"\xff\xd8" + HOSTILE + b"\xff\xd9") == {}


def test_entity_declarations_are_refused_by_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even if the packet we hand the parser includes the DOCTYPE, defusedxml refuses it."""
    with pytest.raises(EntitiesForbidden):
        SafeET.fromstring(HOSTILE)
    monkeypatch.setattr(metadata, "find_xmp", lambda data: HOSTILE)
    assert read_xmp(b"anything") == {}


@pytest.mark.parametrize("data", [b"", b"no xmp here", b"<x:xmpmeta>unclosed", b"<x:xmpmeta></x:xmpmeta>"])
def test_read_xmp_tolerates_missing_or_broken_packets(data: bytes) -> None:
    result = read_xmp(data)
    assert result == {} or not any(result.values())


# --- maker notes ------------------------------------------------------------------


def ifd(order: str, entries: list[tuple[int, int, bytes]], at: int) -> bytes:
    """An IFD that will sit at offset `at` from the offsets' base, its long values after it."""
    data_at = at + 2 + 12 * len(entries) + 4
    head, tail = struct.pack(order + "H", len(entries)), b""
    for tag, kind, value in entries:
        field = value.ljust(4, b"\x00") if len(value) <= 4 else struct.pack(order + "I", data_at + len(tail))
        tail += value if len(value) > 4 else b""
        head += struct.pack(order + "HHI", tag, kind, len(value) // TIFF_SIZES[kind]) + field
    return head + b"\x00\x00\x00\x00" + tail


def nikon3(order: str, serial: bytes) -> bytes:
    """'Nikon\\0', version 2.10, then a TIFF header that the note's offsets count from."""
    mark = b"II" if order == "<" else b"MM"
    header = mark + struct.pack(order + "HI", 42, 8)
    return b"Nikon\x00\x02\x10\x00\x00" + header + ifd(order, [(0x001D, 2, serial)], 8)


def olympus(order: str, prefix: bytes, equipment_as: int) -> bytes:
    """An Olympus-style note: the main IFD points to the Equipment IFD (serial, lens)."""
    mark = b"II" if order == "<" else b"MM"
    head = prefix + mark + struct.pack(order + "H", 3 if prefix.startswith(b"OLYMPUS") else 4)
    main_at = len(head)
    equipment_at = main_at + 2 + 12 + 4
    pointer = struct.pack(order + "I", equipment_at)
    main = struct.pack(order + "H", 1)
    # As a sub-IFD the 4-byte field holds the offset; as UNDEFINED it points at the block.
    main += struct.pack(order + "HHI", 0x2010, equipment_as, 1 if equipment_as == 13 else 64) + pointer
    main += b"\x00\x00\x00\x00"
    equipment = ifd(order, [(0x0101, 2, b"BHP123456\x00"), (0x0203, 2, b"OM 12-40mm F2.8 PRO II\x00")],
                    equipment_at)
    return head + main + equipment


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize(
    "note, expected",
    [
        (lambda o: nikon3(o, b"3105364\x00"), {"serial": "3105364"}),
        (lambda o: olympus(o, b"OLYMPUS\x00", 13), {"serial": "BHP123456", "lens": "OM 12-40mm F2.8 PRO II"}),
        (lambda o: olympus(o, b"OLYMPUS\x00", 7), {"serial": "BHP123456", "lens": "OM 12-40mm F2.8 PRO II"}),
        (lambda o: olympus(o, b"OM SYSTEM\x00\x00\x00", 4),
         {"serial": "BHP123456", "lens": "OM 12-40mm F2.8 PRO II"}),
        (lambda o: b"QVC\x00\x00\x00" + ifd(o, [(0x3014, 3, struct.pack(o + "H", 50))], 6), {"iso": 50}),
    ],
)
def test_maker_note_fields(order: str, note: Any, expected: dict[str, Any]) -> None:
    tags = {"EXIF MakerNote": SimpleNamespace(values=list(note(order)))}
    assert maker_note_fields(tags, order) == expected


def test_other_maker_notes_are_left_to_exifread() -> None:
    """A Canon note (no header of its own) is read by exifread; its tags are used as they are."""
    serial = SimpleNamespace(values="083024001234", field_type=2, printable="083024001234")
    tags = {"EXIF MakerNote": SimpleNamespace(values=[0x0E, 0x00]), "MakerNote SerialNumber": serial}
    assert maker_note_fields(tags, "<") == {"serial": "083024001234", "lens": None}


def jpeg_with_maker_note(note: bytes, make: str) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = make
    exif.get_ifd(0x8769)[0x927C] = note
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (40, 120, 60)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_maker_notes_we_read_are_not_decoded_by_exifread() -> None:
    """exifread decodes a note one byte at a time (20 ms for a camera's 20 KB):
    a Nikon note is read by our reader instead, straight from the file."""
    data = jpeg_with_maker_note(nikon3(">", b"3105364\x00") + bytes(20_000), "NIKON CORPORATION")
    assert "EXIF MakerNote" not in metadata.read_exif(data)
    assert metadata.read_metadata(data, Image.open(io.BytesIO(data)))["camera_serial"] == "3105364"


def test_other_makers_notes_are_still_decoded_when_the_serial_is_missing() -> None:
    data = jpeg_with_maker_note(b"\x01\x00" + bytes(64), "Canon")
    assert "EXIF MakerNote" in metadata.read_exif(data)


@pytest.mark.parametrize("cut", [6, 12, 17, 20, 30, 40])
@pytest.mark.parametrize(
    "note",
    [nikon3("<", b"3105364\x00"), olympus(">", b"OLYMPUS\x00", 13),
     olympus("<", b"OM SYSTEM\x00\x00\x00", 4)],
)
def test_truncated_maker_notes_give_no_value_and_no_error(note: bytes, cut: int) -> None:
    fields = maker_note_fields({"EXIF MakerNote": SimpleNamespace(values=list(note[:cut]))}, "<")
    assert not any(fields.values())


# --- HEIF container ----------------------------------------------------------------


def box(kind: bytes, payload: bytes, full: bool = False, version: int = 0, flags: int = 0) -> bytes:
    """An ISO-BMFF box; a full box starts with a version byte and 3 bytes of flags."""
    if full:
        payload = bytes([version]) + flags.to_bytes(3, "big") + payload
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def heif(ipma_version: int, ipma_flags: int) -> bytes:
    """ftyp + meta: primary item 1 has the second ispe (4608x3456); item 2, a thumbnail, the first.

    The irot box is there but linked to nothing: the coded size never depends on it.
    """
    ispe = [box(b"ispe", struct.pack(">II", 320, 240), full=True),
            box(b"ispe", struct.pack(">II", 4608, 3456), full=True),
            box(b"irot", b"\x03")]
    item = ">I" if ipma_version >= 1 else ">H"
    index = ">H" if ipma_flags & 1 else ">B"
    entries = struct.pack(item, 2) + b"\x01" + struct.pack(index, 1)
    # The essential bit (top bit of each index) must not change the index.
    entries += struct.pack(item, 1) + b"\x02" + struct.pack(index, 2 | (0x8000 if ipma_flags & 1 else 0x80))
    ipma = box(b"ipma", struct.pack(">I", 2) + entries, full=True, version=ipma_version, flags=ipma_flags)
    iprp = box(b"iprp", box(b"ipco", b"".join(ispe)) + ipma)
    meta = box(b"meta", box(b"hdlr", b"\x00" * 24, full=True) + box(b"pitm", struct.pack(">H", 1), full=True)
               + iprp, full=True)
    return box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic") + meta + box(b"mdat", b"")


@pytest.mark.parametrize("ipma_version, ipma_flags", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_heif_coded_size_is_the_primary_items_ispe(ipma_version: int, ipma_flags: int) -> None:
    assert heif_coded_size(heif(ipma_version, ipma_flags)) == (4608, 3456)


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xd8\xff\xe0" + b"\x00" * 64, b"\x00\x00\x00\x18ftypheic" + b"\x00" * 16,
     *(heif(0, 0)[:cut] for cut in (40, 80, 120, 160, 170))],
)
def test_heif_coded_size_of_other_truncated_or_empty_files(data: bytes) -> None:
    assert heif_coded_size(data) is None


# --- the record ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "exif, iptc, xmp, field, expected",
    [
        # An empty IPTC By-line list is no artist (it was stored as '[]').
        ({}, {"byline": []}, {"creator": []}, "artist", None),
        ({}, {"byline": ["René Hey"]}, {"creator": ["Someone Else"]}, "artist", "René Hey"),
        ({"artist": "EXIF Artist"}, {"byline": ["René Hey"]}, {}, "artist", "EXIF Artist"),
        ({}, {}, {"orientation": 6}, "orientation", 6),
        ({"orientation": 1}, {}, {"orientation": 6}, "orientation", 1),
        ({}, {}, {"orientation": 9}, "orientation", None),
        ({}, {}, {"make": "Canon", "model": "Canon EOS R5"}, "camera_model", "Canon EOS R5"),
        ({}, {"caption": "IPTC"}, {"description": "XMP"}, "caption", "XMP"),
        ({"xp_keywords": ["nürburgring"]}, {"keywords": ["Nürburgring"]}, {"subject": ["1M"]},
         "keywords", ["Nürburgring", "1M"]),
    ],
)
def test_merge(exif: dict, iptc: dict, xmp: dict, field: str, expected: Any) -> None:
    assert merge(exif, iptc, xmp)[field] == expected


# --- real camera files -----------------------------------------------------------------

FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".heif": "HEIF", ".heic": "HEIF", ".tiff": "TIFF"}


def read_corpus_file(corpus: Path, name: str) -> dict[str, Any]:
    path = corpus / name
    data = path.read_bytes()
    image, _ = open_image(data, FORMATS[path.suffix.lower()])
    with image:
        return read_metadata(data, image)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("jpg/tests/32-lens_data.jpeg", {  # Nikon type 3 maker note: exifread read '00STANDA'
            "camera_make": "NIKON CORPORATION", "camera_model": "NIKON D300",
            "camera_serial": "3105364", "taken_at": "2012-07-14T16:30:12", "iso": 200,
            "artist": "Ilya Kurikhin", "copyright": "Ilya Kurikhin", "lens": None}),
        ("jpg/tests/42_IndexError.jpg", {  # Olympus Equipment IFD
            "camera_serial": "B9V508278", "lens": "OLYMPUS M.14-42mm F3.5-5.6 II R",
            "iso": 1600, "f_number": 3.6, "focal_length": 15.0}),
        ("jpg/tests/35-empty.jpg", {"iso": 50, "camera_model": "EX-Z750"}),  # Casio type 2
        ("jpg/Canon_DIGITAL_IXUS_400.jpg", {"orientation": 1, "artist": None}),  # XMP tiff:Orientation
        ("jpg/Kodak_CX7530.jpg", {"latitude": -0.3713, "longitude": 36.05641667}),  # south
        ("jpg/gps/DSCN0010.jpg", {"latitude": 43.46744833, "longitude": 11.88512667,
                                  "exposure_time": pytest.approx(1 / 75), "caption": None}),
        ("jpg/xmp/BlueSquare.jpg", {
            "title": "Blue Square Test File - .jpg",
            "caption": "XMPFiles BlueSquare test file, created in Photoshop CS2, "
                       "saved as .psd, .jpg, and .tif.",
            "keywords": ["XMP", "Blue Square", "test file", "Photoshop", ".jpg"]}),
        ("jpg/long_description.jpg", {"title": "030904-A-2140D-006", "artist": "SSG KYLE DAVIS",
                                      "copyright": None}),
        ("heic/IMG_5195.HEIC", {"lens": "iPhone 11 Pro Max back triple camera 4.25mm f/1.8",
                                "longitude": -94.28877222, "artist": None, "exif_size": (2566, 3313)}),
        ("heic/mobile/HMD_Nokia_8.3_5G.heif", {  # ispe 4608x3456, irot 270
            "exif_size": (4608, 3456), "iso": 102, "longitude": -4.00514085, "camera_make": None}),
        ("tiff/DudleyLeavittUtah.tiff", {"artist": "Russell Leavitt", "orientation": 1}),
    ],
)
def test_real_camera_files(corpus: Path, name: str, expected: dict[str, Any]) -> None:
    record = read_corpus_file(corpus, name)
    assert {field: record[field] for field in expected} == expected
