"""EXIF, IPTC and XMP -> one normalised metadata record.

exifread reads EXIF (JPEG, TIFF, most RAW; in a HEIF, the EXIF item libheif
finds), within a budget of reads so hostile counts cannot keep it busy;
Pillow's parser fills in what exifread finds nothing for. IPTC comes from the
IIM block (JPEG APP13 or TIFF tag 33723), XMP from the packet wherever it sits
in the file. Every text ends up as clean Unicode, whatever encoding the camera
or editor used, and numbers no camera writes (a negative aperture, ISO 1e300)
are left out.
Where exifread misreads a maker note (Nikon, Olympus, Casio) the serial, lens
and ISO are read from the raw note here, and a HEIF's stored size comes from
its container (`ispe`), since decoders hand over the pixels already rotated.

Besides the published fields, the record keeps each standard's own values
(`sources`) because tagging needs to know *where* a name or keyword came from.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import unicodedata
import warnings
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any, Iterable

import exifread
from defusedxml import ElementTree as SafeET
from PIL import Image, IptcImagePlugin

# exifread logs its own parse problems; a broken tag is our record's business, not the terminal's.
logging.getLogger("exifread").setLevel(logging.CRITICAL)

# Body serial tags of the standards, best first (EXIF 2.3, DNG, Adobe's 0xFDE9).
# Maker notes come after these (see maker_note_fields). An InternalSerialNumber
# is a circuit-board id, not the number on the body a photographer registers.
SERIAL_TAGS = (
    "EXIF BodySerialNumber",
    "Image CameraSerialNumber",
    "EXIF CameraSerialNumber",
    "Image SerialNumber",
    "EXIF SerialNumber",
)
# Pillow tag ids for the same fields, used where exifread found no EXIF (e.g. some HEIF).
PIL_TAGS = {
    "make": 0x010F, "model": 0x0110, "orientation": 0x0112, "artist": 0x013B,
    "copyright": 0x8298, "description": 0x010E, "xp_keywords": 0x9C9E,
}
PIL_EXIF_TAGS = {
    "taken_at": 0x9003, "offset": 0x9011, "exposure_time": 0x829A, "f_number": 0x829D,
    "iso": 0x8827, "focal_length": 0x920A, "serial": 0xA431, "lens": 0xA434,
}

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# Record keys that are published as photos columns.
PHOTO_FIELDS = (
    "orientation", "taken_at", "offset", "camera_make", "camera_model", "camera_serial",
    "lens", "focal_length", "f_number", "exposure_time", "iso", "latitude", "longitude",
    "title", "caption", "keywords", "artist", "copyright",
)


# --- text ---------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: Any) -> str | None:
    """Decode bytes (UTF-8, else Windows-1252) and drop NULs, padding and control characters."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = decode_bytes(bytes(value))
    text = _CONTROL.sub("", unicodedata.normalize("NFC", str(value))).strip()
    return text or None


def decode_bytes(data: bytes, encoding: str | None = None) -> str:
    if encoding:
        return data.decode(encoding, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Latin-1 superset: the usual encoding of older cameras and IPTC editors.
        return data.decode("cp1252", "replace")


def unique(values: Iterable[str | None]) -> list[str]:
    """Keep the first spelling of each value; compare case-insensitively."""
    seen: set[str] = set()
    out = []
    for value in values:
        text = clean_text(value)
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            out.append(text)
    return out


def split_keywords(text: str | None) -> list[str]:
    """Keyword fields written as one string use ';' or ',' between words."""
    if not text:
        return []
    return [part for part in re.split(r"[;,]", text) if part.strip()]


# --- numbers ------------------------------------------------------------

def to_float(value: Any) -> float | None:
    try:
        if isinstance(value, exifread.utils.Ratio):
            if value.denominator == 0:
                return None
            return float(Fraction(value.numerator, value.denominator))
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def to_int(value: Any) -> int | None:
    number = to_float(value)
    return int(round(number)) if number is not None else None


def parse_exif_datetime(text: str | None) -> str | None:
    """'2025:09:20 10:15:00' -> '2025-09-20T10:15:00'; None for blanks like '0000:00:00'."""
    if not text:
        return None
    match = re.match(r"\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})", text)
    if not match:
        return None
    try:
        moment = datetime(*(int(part) for part in match.groups()))
    except ValueError:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def parse_offset(text: str | None) -> str | None:
    """Keep an EXIF OffsetTime* value only when it is a real '+HH:MM'."""
    if text and re.fullmatch(r"[+-]\d{2}:\d{2}", text.strip()):
        return text.strip()
    return None


def gps_decimal(dms: Any, ref: Any) -> float | None:
    """Degrees/minutes/seconds rationals and an N/S/E/W ref -> signed decimal degrees."""
    values = getattr(dms, "values", dms)
    if not isinstance(values, (list, tuple)) or not values:
        return None
    parts = [to_float(v) for v in values[:3]]
    if any(p is None for p in parts):
        return None
    degrees = sum(p / 60**i for i, p in enumerate(parts))
    ref_text = clean_text(getattr(ref, "values", ref)) or ""
    if ref_text[:1].upper() in ("S", "W"):
        degrees = -degrees
    return round(degrees, 8)


# --- EXIF ---------------------------------------------------------------

# exifread reads one value at a time and reads zeros past the end of the data
# instead of stopping: a maker note that claims 4 GB (count 0xFFFFFFFF) keeps it
# busy for hours, one that claims 2 MB for seconds, 65,535 IFD entries of 999
# values each read the same bytes 65 million times. Reading through the file
# takes at most one read per byte (an Olympus maker note holds its preview
# JPEG: megabytes), and the largest EXIF in the corpus needs 75,000 reads in
# all; a DNG whose Nikon maker note points outside the file reads past the
# end about 5,000 times. Past these budgets (a few tenths of a second) the
# EXIF is hostile or hopelessly damaged: exifread is stopped and Pillow's
# parser, which does not walk maker notes, is used instead.
MAX_EXIF_READS = 250_000      # plus READS_PER_BYTE for every byte of the file
READS_PER_BYTE = 2
MAX_READS_PAST_END = 100_000


class ExifBudgetExceeded(Exception):
    """exifread read far more than any real EXIF needs (see MAX_EXIF_READS)."""


class BoundedFile(io.BytesIO):
    """The file's bytes for exifread, which is stopped when it reads without end."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.size = len(data)
        self.budget = MAX_EXIF_READS + READS_PER_BYTE * len(data)
        self.reads = 0
        self.past_end = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        if self.tell() >= self.size:
            self.past_end += 1
        if self.reads > self.budget or self.past_end > MAX_READS_PAST_END:
            raise ExifBudgetExceeded(f"stopped after {self.reads} reads ({self.past_end} past the end)")
        return super().read(size)


def read_exif(data: bytes) -> dict[str, Any]:
    """exifread over the file's bytes; {} when it finds nothing or gives up.

    exifread decodes maker notes (details=True) one byte at a time: 20 ms for
    a camera's 20 KB note, 20 times the rest of the EXIF. Where we can find the
    note ourselves (JPEG, TIFF-based RAW) it is skipped, and decoded only for
    makers whose notes we do not read when the standard tags lack what the
    note could give.
    """
    if data[4:12] == CR3_BRAND:  # Canon CR3: exifread does not know the container
        return cr3_tags(data)
    tiff = exif_tiff(data)
    if tiff is None:
        return exifread_tags(data, details=True)
    tags = exifread_tags(data, details=False)
    note = maker_note(tiff)
    if note and not note.startswith(OWN_NOTE_HEADERS) and not (
            _tag_text(tags, *SERIAL_TAGS) and _tag_text(tags, "EXIF LensModel")):
        return exifread_tags(data, details=True)
    return tags


CR3_BRAND = b"ftypcrx "  # bytes 4-12 of a CR3: its ftyp box and major brand


def cr3_tags(data: bytes) -> dict[str, Any]:
    """exifread over each CMT box of a CR3, keeping from each only the IFD it stands for."""
    from .raw import cr3_exif_tiffs  # imported here: raw imports this module
    tags: dict[str, Any] = {}
    for ifd, tiff in cr3_exif_tiffs(data):
        found = exifread_tags(tiff, details=False)
        tags.update((name, tag) for name, tag in found.items() if name.startswith(ifd + " "))
    return tags


def exifread_tags(data: bytes, details: bool) -> dict[str, Any]:
    try:
        tags = exifread.process_file(BoundedFile(data), details=details, extract_thumbnail=False)
    except Exception:  # exifread raises a variety of errors on damaged files; EXIF is optional
        return {}
    return dict(tags or {})


TIFF_HEADERS = (b"II*\0", b"MM\0*", b"IIRO", b"IIRS", b"MMOR", b"IIU\0")  # TIFF, ORF, RW2


def exif_tiff(data: bytes) -> bytes | None:
    """The TIFF structure that holds the EXIF: a TIFF-based file itself, or a
    JPEG's APP1 Exif segment; None for other containers (exifread finds those)."""
    if data[:4] in TIFF_HEADERS:
        return data
    for marker, start, end in jpeg_segments(data):
        if marker == 0xE1 and data.startswith(b"Exif\0\0", start):
            return data[start + 6 : end]
    return None


def jpeg_segments(data: bytes) -> Iterable[tuple[int, int, int]]:
    """(marker, payload start, payload end) of a JPEG's segments up to its image data."""
    at = 2 if data[:2] == b"\xff\xd8" else len(data)
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xDA:  # start of scan: metadata ends here
            return
        (length,) = struct.unpack_from(">H", data, at + 2)
        yield marker, at + 4, min(at + 2 + length, len(data))
        at += 2 + length


def jpeg_metadata_end(data: bytes) -> int:
    """Where a JPEG's image data starts (metadata lives before it); the file's end otherwise."""
    end = 0
    for _, _, end in jpeg_segments(data):
        pass
    return end if 0 < end < len(data) and data[end : end + 2] == b"\xff\xda" else len(data)


def maker_note(tiff: bytes) -> bytes:
    """The MakerNote (tag 0x927C of the Exif IFD) of a TIFF structure; b"" if it has none."""
    order = tiff_order(tiff[:2])
    if order is None or len(tiff) < 8:
        return b""
    ifd0 = read_ifd(tiff, struct.unpack_from(order + "I", tiff, 4)[0], 0, order)
    pointer = ifd0.get(0x8769)
    if pointer is None or pointer.kind not in (4, 13):
        return b""
    note = read_ifd(tiff, pointer.pointer, 0, order).get(0x927C)
    return note.data if note is not None else b""


# exifread parses these containers itself. Its HEIF parser loops without reading
# when a box gives sizes of 0 bytes (an `iloc` claiming 65,535 empty extents per
# item: minutes, and gigabytes of memory), which no read budget can notice.
EXIFREAD_HEIF = (b"ftypheic", b"ftypavif", b"ftypmif1")


def exif_block(data: bytes, image: Image.Image | None) -> bytes:
    """What exifread is given: the file, or for HEIF the EXIF item libheif found, as a TIFF block."""
    if data[4:12] not in EXIFREAD_HEIF:
        return data
    exif = image.info.get("exif") if image is not None and image.format in ("HEIF", "AVIF") else None
    if not isinstance(exif, bytes):
        return b""
    return exif[6:] if exif.startswith(b"Exif\0\0") else exif


def _tag(tags: dict[str, Any], *names: str) -> Any:
    for name in names:
        tag = tags.get(name)
        if tag is not None:
            return tag
    return None


def _tag_text(tags: dict[str, Any], *names: str) -> str | None:
    for name in names:
        tag = tags.get(name)
        if tag is None:
            continue
        values = tag.values
        if isinstance(values, list) and values and isinstance(values[0], int) and tag.field_type in (1, 7):
            text = clean_text(bytes(values))  # BYTE/UNDEFINED text
        else:
            text = clean_text(values if isinstance(values, (str, bytes)) else tag.printable)
        if text:
            return text
    return None


def _tag_number(tags: dict[str, Any], *names: str) -> float | None:
    tag = _tag(tags, *names)
    if tag is None:
        return None
    values = tag.values
    if isinstance(values, (list, tuple)):
        values = values[0] if values else None
    return to_float(values)


def xp_text(values: Any) -> str | None:
    """Windows XP* tags are UTF-16LE bytes, stored as a BYTE array."""
    if isinstance(values, str):
        return clean_text(values)
    try:
        raw = bytes(values)
    except (TypeError, ValueError):
        return None
    return clean_text(raw.decode("utf-16-le", "replace"))


def exif_fields(tags: dict[str, Any], data: bytes = b"") -> dict[str, Any]:
    """The fields we publish, from exifread's tag dictionary (and the file, for maker notes)."""
    lat = gps_decimal(tags.get("GPS GPSLatitude"), tags.get("GPS GPSLatitudeRef"))
    lon = gps_decimal(tags.get("GPS GPSLongitude"), tags.get("GPS GPSLongitudeRef"))
    orientation = to_int(_tag_number(tags, "Image Orientation"))
    xp = tags.get("Image XPKeywords")
    maker = maker_note_fields(tags, exif_byte_order(data), data)
    iso = _tag_number(tags, "EXIF ISOSpeedRatings", "EXIF PhotographicSensitivity")
    return {
        # SPEC: DateTimeOriginal only; a scan's digitising date is not when the photo was taken.
        "taken_at": parse_exif_datetime(_tag_text(tags, "EXIF DateTimeOriginal")),
        "offset": parse_offset(_tag_text(tags, "EXIF OffsetTimeOriginal")),
        "camera_make": _tag_text(tags, "Image Make"),
        "camera_model": _tag_text(tags, "Image Model"),
        "camera_serial": _tag_text(tags, *SERIAL_TAGS) or maker.get("serial"),
        "lens": _tag_text(tags, "EXIF LensModel") or maker.get("lens"),
        "focal_length": _tag_number(tags, "EXIF FocalLength"),
        "f_number": _tag_number(tags, "EXIF FNumber"),
        "exposure_time": _tag_number(tags, "EXIF ExposureTime"),
        "iso": to_int(iso if iso else maker.get("iso")),
        "latitude": lat if lat is not None and lon is not None and -90 <= lat <= 90 else None,
        "longitude": lon if lat is not None and lon is not None and -180 <= lon <= 180 else None,
        "orientation": orientation if orientation in range(1, 9) else None,
        "artist": _tag_text(tags, "Image Artist"),
        "copyright": _tag_text(tags, "Image Copyright"),
        "description": _tag_text(tags, "Image ImageDescription"),
        "xp_keywords": split_keywords(xp_text(xp.values)) if xp is not None else [],
        "exif_size": _exif_size(tags),
    }


def _exif_size(tags: dict[str, Any]) -> tuple[int, int] | None:
    width = to_int(_tag_number(tags, "EXIF ExifImageWidth"))
    height = to_int(_tag_number(tags, "EXIF ExifImageLength"))
    return (width, height) if width and height else None


# --- maker notes ----------------------------------------------------------
# exifread misreads the maker notes whose offsets count from the note itself
# (Nikon type 3, Olympus since about 2004, OM System): serials came out as
# garbage ('00STANDA') or not at all, and it does not know Casio's type 2.
# The three fields we publish are read here from the raw note; other makers'
# notes (Canon, older Olympus, ...) are left to exifread.

TIFF_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
MAX_ENTRIES = 1000  # a damaged count must not make us walk megabytes


@dataclass(frozen=True)
class Entry:
    """One IFD entry: its TIFF type, its 4-byte value field read as an offset, and its data."""

    kind: int
    pointer: int
    data: bytes


def read_ifd(note: bytes, start: int, base: int | None, order: str) -> dict[int, Entry]:
    """The entries of the IFD at `start`; out-of-line data is at `base` + offset.

    `base` None: only values stored in the entry itself can be read (Casio's
    offsets count from the EXIF header, which the note does not include).
    """
    try:
        (count,) = struct.unpack_from(order + "H", note, start)
    except struct.error:
        return {}
    entries = {}
    for index in range(min(count, MAX_ENTRIES)):
        at = start + 2 + 12 * index
        if at + 12 > len(note):
            break
        tag, kind, number, pointer = struct.unpack_from(order + "HHII", note, at)
        size = TIFF_SIZES.get(kind, 0) * number
        if size <= 4:
            data = note[at + 8 : at + 8 + size]
        elif base is not None and base + pointer + size <= len(note):
            data = note[base + pointer : base + pointer + size]
        else:
            data = b""
        entries[tag] = Entry(kind, pointer, data)
    return entries


def entry_text(entries: dict[int, Entry], tag: int) -> str | None:
    entry = entries.get(tag)
    return clean_text(entry.data.split(b"\0")[0]) if entry and entry.kind in (2, 7) else None


def entry_short(entries: dict[int, Entry], tag: int, order: str) -> int | None:
    entry = entries.get(tag)
    if entry is None or entry.kind != 3 or len(entry.data) < 2:
        return None
    return struct.unpack_from(order + "H", entry.data)[0]


def tiff_order(mark: bytes) -> str | None:
    return {b"II": "<", b"MM": ">"}.get(mark)


def nikon3_fields(note: bytes) -> dict[str, Any]:
    """'Nikon\\0' + version, then a TIFF header of its own that offsets count from."""
    order = tiff_order(note[10:12])
    if order is None or len(note) < 18:
        return {}
    entries = read_ifd(note, 10 + struct.unpack_from(order + "I", note, 14)[0], 10, order)
    # 0x001D on most bodies; 0x00A0 ('NO= 3011d8a2') on some older ones.
    return {"serial": entry_text(entries, 0x001D) or entry_text(entries, 0x00A0)}


def olympus_fields(note: bytes, ifd_start: int) -> dict[str, Any]:
    """Olympus/OM System: offsets count from the note; serial and lens sit in the Equipment IFD."""
    order = tiff_order(note[ifd_start - 4 : ifd_start - 2])
    if order is None:
        return {}
    equipment = read_ifd(note, ifd_start, 0, order).get(0x2010)
    if equipment is None:
        return {}
    # Written as a sub-IFD pointer (LONG/IFD) or as an UNDEFINED block: both give its offset.
    entries = read_ifd(note, equipment.pointer, 0, order)
    return {"serial": entry_text(entries, 0x0101), "lens": entry_text(entries, 0x0203)}


def casio2_fields(note: bytes, order: str) -> dict[str, Any]:
    """'QVC\\0': an IFD at 6 in the EXIF byte order; ISO is 0x3014, always stored inline."""
    return {"iso": entry_short(read_ifd(note, 6, None, order), 0x3014, order)}


OWN_NOTE_HEADERS = (b"Nikon\0\x02", b"OLYMPUS\0", b"OM SYSTEM\0", b"QVC\0")


def maker_note_fields(tags: dict[str, Any], order: str, data: bytes = b"") -> dict[str, Any]:
    """Serial, lens and ISO from the maker note: our reader where exifread goes wrong."""
    tag = tags.get("EXIF MakerNote")
    try:
        note = bytes(tag.values) if tag is not None else b""
    except (TypeError, ValueError):
        note = b""
    if not note and data:  # exifread skipped the note (see read_exif): read it from the file
        tiff = exif_tiff(data)
        note = maker_note(tiff) if tiff is not None else b""
    if note.startswith(b"Nikon\0\x02"):
        return nikon3_fields(note)
    if note.startswith(b"OLYMPUS\0"):
        return olympus_fields(note, 12)
    if note.startswith(b"OM SYSTEM\0"):
        return olympus_fields(note, 16)
    if note.startswith(b"QVC\0"):
        return casio2_fields(note, order)
    return {
        "serial": _tag_text(tags, "MakerNote SerialNumber"),
        "lens": _tag_text(tags, "MakerNote LensModel"),
    }


def exif_byte_order(data: bytes) -> str:
    """The byte order of the file's EXIF (maker notes without a header of their own follow it)."""
    at = data.find(b"Exif\0\0", 0, 1 << 16)
    mark = data[at + 6 : at + 8] if at >= 0 else data[:2]
    return tiff_order(mark) or ">"


def pillow_exif_fields(image: Image.Image) -> dict[str, Any]:
    """The same fields through Pillow's parser, for files where exifread finds no EXIF."""
    try:
        with warnings.catch_warnings():  # "Tag data larger than file": a damaged tag, read as absent
            warnings.simplefilter("ignore")
            exif = image.getexif()
            sub = exif.get_ifd(0x8769)
            gps = exif.get_ifd(0x8825)
    except Exception:  # a damaged EXIF block is not worth failing the photo for
        return {}
    if not exif and not sub:
        return {}
    lat = gps_decimal(gps.get(2), gps.get(1)) if gps else None
    lon = gps_decimal(gps.get(4), gps.get(3)) if gps else None
    orientation = to_int(exif.get(PIL_TAGS["orientation"]))
    xp = exif.get(PIL_TAGS["xp_keywords"])
    return {
        "taken_at": parse_exif_datetime(clean_text(sub.get(PIL_EXIF_TAGS["taken_at"]))),
        "offset": parse_offset(clean_text(sub.get(PIL_EXIF_TAGS["offset"]))),
        "camera_make": clean_text(exif.get(PIL_TAGS["make"])),
        "camera_model": clean_text(exif.get(PIL_TAGS["model"])),
        "camera_serial": clean_text(sub.get(PIL_EXIF_TAGS["serial"])),
        "lens": clean_text(sub.get(PIL_EXIF_TAGS["lens"])),
        "focal_length": to_float(sub.get(PIL_EXIF_TAGS["focal_length"])),
        "f_number": to_float(sub.get(PIL_EXIF_TAGS["f_number"])),
        "exposure_time": to_float(sub.get(PIL_EXIF_TAGS["exposure_time"])),
        "iso": to_int(_first(sub.get(PIL_EXIF_TAGS["iso"]))),
        "latitude": lat if lon is not None else None,
        "longitude": lon if lat is not None else None,
        "orientation": orientation if orientation in range(1, 9) else None,
        "artist": clean_text(exif.get(PIL_TAGS["artist"])),
        "copyright": clean_text(exif.get(PIL_TAGS["copyright"])),
        "description": clean_text(exif.get(PIL_TAGS["description"])),
        "xp_keywords": split_keywords(xp_text(xp)) if xp is not None else [],
    }


def _first(value: Any) -> Any:
    """The first of a list (None for an empty one, which is no value), or the value itself."""
    if isinstance(value, (tuple, list)):
        return value[0] if value else None
    return value


# --- IPTC ---------------------------------------------------------------

IPTC_FIELDS = {
    (2, 5): "title", (2, 25): "keywords", (2, 80): "byline", (2, 110): "credit",
    (2, 116): "copyright", (2, 120): "caption",
}
UTF8_MARKERS = (b"\x1b%G", b"\x1b%/G", b"\x1b%/I")


def read_iptc(image: Image.Image) -> dict[str, Any]:
    """IPTC IIM datasets through Pillow (JPEG APP13, TIFF tag 33723), decoded to text."""
    try:
        info = IptcImagePlugin.getiptcinfo(image)
    except Exception:  # a malformed IIM block: no IPTC rather than no photo
        return {}
    if not info:
        return {}
    charset = info.get((1, 90))
    encoding = "utf-8" if isinstance(charset, bytes) and charset in UTF8_MARKERS else None
    out: dict[str, Any] = {}
    for key, name in IPTC_FIELDS.items():
        raw = info.get(key)
        if raw is None:
            continue
        items = raw if isinstance(raw, list) else [raw]
        texts = unique(decode_bytes(item, encoding) for item in items if isinstance(item, bytes))
        out[name] = texts if name in ("keywords", "byline") else (texts[0] if texts else None)
    return out


# --- XMP ----------------------------------------------------------------

XMP_START = (b"<x:xmpmeta", b"<x:xapmeta")
XMP_END = (b"</x:xmpmeta>", b"</x:xapmeta>")
# What tagging may match names and keywords in (sources["xmp"]); camera fields stay out.
XMP_TEXT_FIELDS = ("title", "description", "rights", "creator", "subject")


def find_xmp(data: bytes) -> bytes | None:
    """The first XMP packet in the file, wherever the format put it (in a JPEG:
    before the image data, so megabytes of it are not searched)."""
    limit = jpeg_metadata_end(data)
    for start_tag, end_tag in zip(XMP_START, XMP_END):
        start = data.find(start_tag, 0, limit)
        if start < 0:
            continue
        end = data.find(end_tag, start, limit)
        if end > start:
            return data[start : end + len(end_tag)]
    return None


def read_xmp(data: bytes) -> dict[str, Any]:
    packet = find_xmp(data)
    if not packet:
        return {}
    try:
        root = SafeET.fromstring(packet)
    except Exception:  # malformed or hostile XML (entities are refused by defusedxml)
        return {}
    return {
        "title": _xmp_alt(root, "dc:title"),
        "description": _xmp_alt(root, "dc:description"),
        "rights": _xmp_alt(root, "dc:rights"),
        "creator": _xmp_list(root, "dc:creator"),
        "subject": _xmp_list(root, "dc:subject"),
        "taken_at": parse_exif_datetime(
            _xmp_simple(root, "exif:DateTimeOriginal") or _xmp_simple(root, "photoshop:DateCreated")
        ),
        # Editors that rewrite a file sometimes keep these only in XMP; viewers
        # (and Pillow's exif_transpose) honour tiff:Orientation there too.
        "orientation": to_int(_xmp_simple(root, "tiff:Orientation")),
        "make": _xmp_simple(root, "tiff:Make"),
        "model": _xmp_simple(root, "tiff:Model"),
    }


def _xmp_nodes(root: Any, name: str) -> list[Any]:
    prefix, local = name.split(":")
    return root.findall(f".//{{{NS[prefix]}}}{local}")


def _xmp_alt(root: Any, name: str) -> str | None:
    """An rdf:Alt value: the x-default entry, else the first one, else plain text."""
    for node in _xmp_nodes(root, name):
        items = node.findall(f".//{{{NS['rdf']}}}li")
        preferred = [li for li in items if li.get(XML_LANG) == "x-default"] or items
        for li in preferred:
            if clean_text(li.text):
                return clean_text(li.text)
        if clean_text(node.text):
            return clean_text(node.text)
    return None


def _xmp_list(root: Any, name: str) -> list[str]:
    values: list[str | None] = []
    for node in _xmp_nodes(root, name):
        items = node.findall(f".//{{{NS['rdf']}}}li")
        values.extend(li.text for li in items) if items else values.extend(split_keywords(node.text))
    return unique(values)


def _xmp_simple(root: Any, name: str) -> str | None:
    """A simple property, written as an element or as an attribute of rdf:Description."""
    prefix, local = name.split(":")
    qualified = f"{{{NS[prefix]}}}{local}"
    for node in root.iter(f"{{{NS['rdf']}}}Description"):
        if node.get(qualified):
            return clean_text(node.get(qualified))
    nodes = _xmp_nodes(root, name)
    return clean_text(nodes[0].text) if nodes else None


# --- HEIF container ------------------------------------------------------
# The stored size of a HEIF is its primary item's `ispe` box. Decoders apply
# the container's `irot` rotation, so the decoded size can be the transpose
# (a Nokia writes 4608x3456 with irot 270), and EXIF often has no size at all.

Box = tuple[bytes, int, int]  # type, payload start, payload end


def boxes(data: bytes, start: int, end: int) -> list[Box]:
    """The ISO-BMFF boxes between start and end; stops at the first malformed one."""
    found = []
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 8
        if size == 1 and start + 16 <= end:
            size, header = struct.unpack_from(">Q", data, start + 8)[0], 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            break
        found.append((kind, start + header, start + size))
        start += size
    return found


def child(data: bytes, parent: Box | None, kind: bytes, skip: int = 0) -> Box | None:
    """The first box of `kind` inside `parent`; `skip` passes a full box's version and flags."""
    if parent is None:
        return None
    return next((box for box in boxes(data, parent[1] + skip, parent[2]) if box[0] == kind), None)


def heif_primary_properties(data: bytes, meta: Box) -> list[int]:
    """1-based ipco indexes of the properties the ipma box gives the primary item."""
    pitm, ipma = child(data, meta, b"pitm", 4), child(data, child(data, meta, b"iprp", 4), b"ipma")
    if pitm is None or ipma is None:
        return []
    wide_ids = data[pitm[1]] >= 1
    primary = struct.unpack_from(">I" if wide_ids else ">H", data, pitm[1] + 4)[0]
    version, flags = data[ipma[1]], data[ipma[1] + 3]
    at, (count,) = ipma[1] + 8, struct.unpack_from(">I", data, ipma[1] + 4)
    for _ in range(count):
        item = struct.unpack_from(">I" if version >= 1 else ">H", data, at)[0]
        at += 4 if version >= 1 else 2
        links, at = data[at], at + 1
        width = 2 if flags & 1 else 1
        indexes = [int.from_bytes(data[at + i * width : at + (i + 1) * width], "big")
                   & (0x7FFF if width == 2 else 0x7F) for i in range(links)]
        at += links * width
        if item == primary:
            return indexes
    return []


def heif_coded_size(data: bytes) -> tuple[int, int] | None:
    """The primary image's `ispe` width and height, before `irot`; None for other files."""
    if data[4:8] != b"ftyp":
        return None
    try:
        meta = next((box for box in boxes(data, 0, len(data)) if box[0] == b"meta"), None)
        ipco = child(data, child(data, meta, b"iprp", 4), b"ipco")
        if meta is None or ipco is None:
            return None
        properties = boxes(data, ipco[1], ipco[2])
        for index in heif_primary_properties(data, meta):
            if 0 < index <= len(properties) and properties[index - 1][0] == b"ispe":
                width, height = struct.unpack_from(">II", data, properties[index - 1][1] + 4)
                return (width, height) if width and height else None
    except (struct.error, IndexError):  # a truncated box: the decoder's size stands
        return None
    return None


# --- the record ---------------------------------------------------------

def read_metadata(data: bytes, image: Image.Image | None) -> dict[str, Any]:
    """One normalised record from a file's bytes and its opened (not decoded) image."""
    block = exif_block(data, image)
    exif = exif_fields(read_exif(block), block)
    if image is not None and not any(v for v in exif.values()):
        exif = pillow_exif_fields(image) or exif
    iptc = read_iptc(image) if image is not None else {}
    xmp = read_xmp(data)
    record = bounded(plausible(merge(exif, iptc, xmp)))
    # reader.heif_stored_size takes this as the coded size when it is the decoded
    # size transposed; the container's ispe is the truth, EXIF's size a fallback.
    record["exif_size"] = heif_coded_size(data) or record["exif_size"]
    return record


# A damaged or hostile tag can hold any number: ISO written as a DOUBLE of 1e300
# does not even fit SQLite's INTEGER (it stopped the whole run). Published
# numbers are the ones a camera can write: positive, ISO within a LONG, and
# coordinates on the globe (Pillow's path has no range check of its own).
MAX_ISO = 2**32 - 1
POSITIVE_FIELDS = ("focal_length", "f_number", "exposure_time")


def plausible(record: dict[str, Any]) -> dict[str, Any]:
    """The record with impossible numbers set to None (absent), as if the tag were missing."""
    for name in POSITIVE_FIELDS:
        value = to_float(record.get(name))
        record[name] = value if value is not None and value > 0 else None
    iso = record.get("iso")
    record["iso"] = iso if isinstance(iso, int) and 0 < iso <= MAX_ISO else None
    lat, lon = to_float(record.get("latitude")), to_float(record.get("longitude"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    record["latitude"], record["longitude"] = lat, lon
    return record


# A hostile file can carry megabytes of caption or thousands of keywords; tagging
# and scrubbing run outside the reader's time limit, so texts are bounded here.
# IPTC allows 2,000 bytes of caption and 64 per keyword: these are generous.
MAX_TEXT = 10_000     # characters per text value
MAX_VALUES = 500      # values per list (keywords, creators)


def bounded(value: Any) -> Any:
    """The record with every text cut to MAX_TEXT characters and every list to MAX_VALUES values."""
    if isinstance(value, str) and len(value) > MAX_TEXT:
        # Cut before the last word: half a word could be half a private VIN that scrubbing
        # no longer recognises, or turn '1M #42' into car 4.
        words = value[:MAX_TEXT].rsplit(None, 1)
        return words[0] if len(words) == 2 else value[:MAX_TEXT]
    if isinstance(value, list):
        return [bounded(v) for v in value[:MAX_VALUES]]
    if isinstance(value, dict):
        return {k: bounded(v) for k, v in value.items()}
    return value


def merge(exif: dict[str, Any], iptc: dict[str, Any], xmp: dict[str, Any]) -> dict[str, Any]:
    """Combine the three standards: XMP first for text (it is the modern, Unicode one)."""
    record = {name: exif.get(name) for name in PHOTO_FIELDS}
    record["taken_at"] = exif.get("taken_at")
    record["camera_make"] = exif.get("camera_make") or xmp.get("make")
    record["camera_model"] = exif.get("camera_model") or xmp.get("model")
    xmp_orientation = xmp.get("orientation")
    record["orientation"] = exif.get("orientation") or (
        xmp_orientation if xmp_orientation in range(1, 9) else None
    )
    record["title"] = xmp.get("title") or iptc.get("title")
    record["caption"] = xmp.get("description") or iptc.get("caption") or exif.get("description")
    record["keywords"] = unique(
        [*iptc.get("keywords", []), *xmp.get("subject", []), *exif.get("xp_keywords", [])]
    )
    record["artist"] = exif.get("artist") or _first(iptc.get("byline")) or _first(xmp.get("creator"))
    record["copyright"] = exif.get("copyright") or iptc.get("copyright") or xmp.get("rights")
    record["exif_size"] = exif.get("exif_size")  # only to tell a HEIF's coded size
    # Each standard's own values, for tagging decisions and their `source`.
    record["sources"] = {
        "exif": {k: exif.get(k) for k in ("artist", "copyright", "description", "xp_keywords")},
        "iptc": iptc,
        "xmp": {k: v for k, v in xmp.items() if k in XMP_TEXT_FIELDS},
    }
    return record
