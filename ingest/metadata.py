"""EXIF, IPTC and XMP -> one normalised metadata record.

exifread reads EXIF (JPEG, TIFF, HEIF, most RAW); Pillow's parser fills in
what exifread finds nothing for. IPTC comes from the IIM block (JPEG APP13 or
TIFF tag 33723), XMP from the packet wherever it sits in the file. Every text
ends up as clean Unicode, whatever encoding the camera or editor used.

Besides the published fields, the record keeps each standard's own values
(`sources`) because tagging needs to know *where* a name or keyword came from.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from datetime import datetime
from fractions import Fraction
from typing import Any, Iterable

import exifread
from defusedxml import ElementTree as SafeET
from PIL import Image, IptcImagePlugin

# exifread logs its own parse problems; a broken tag is our record's business, not the terminal's.
logging.getLogger("exifread").setLevel(logging.CRITICAL)

# Maker-specific serial tags exifread exposes (with details=True), best first.
SERIAL_TAGS = (
    "EXIF BodySerialNumber",
    "MakerNote SerialNumber",
    "MakerNote InternalSerialNumber",
    "Image CameraSerialNumber",
    "EXIF CameraSerialNumber",
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
    except (TypeError, ValueError, ZeroDivisionError):
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

def read_exif(data: bytes) -> dict[str, Any]:
    """exifread over the file's bytes; {} when it finds nothing or gives up."""
    try:
        tags = exifread.process_file(io.BytesIO(data), details=True, extract_thumbnail=False)
    except Exception:  # exifread raises a variety of errors on damaged files; EXIF is optional
        return {}
    return dict(tags or {})


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


def exif_fields(tags: dict[str, Any]) -> dict[str, Any]:
    """The fields we publish, from exifread's tag dictionary."""
    lat = gps_decimal(tags.get("GPS GPSLatitude"), tags.get("GPS GPSLatitudeRef"))
    lon = gps_decimal(tags.get("GPS GPSLongitude"), tags.get("GPS GPSLongitudeRef"))
    orientation = to_int(_tag_number(tags, "Image Orientation"))
    xp = tags.get("Image XPKeywords")
    return {
        "taken_at": parse_exif_datetime(_tag_text(tags, "EXIF DateTimeOriginal"))
        or parse_exif_datetime(_tag_text(tags, "EXIF DateTimeDigitized")),
        "offset": parse_offset(_tag_text(tags, "EXIF OffsetTimeOriginal")),
        "camera_make": _tag_text(tags, "Image Make"),
        "camera_model": _tag_text(tags, "Image Model"),
        "camera_serial": _tag_text(tags, *SERIAL_TAGS),
        "lens": _tag_text(tags, "EXIF LensModel", "MakerNote LensModel"),
        "focal_length": _tag_number(tags, "EXIF FocalLength"),
        "f_number": _tag_number(tags, "EXIF FNumber"),
        "exposure_time": _tag_number(tags, "EXIF ExposureTime"),
        "iso": to_int(_tag_number(tags, "EXIF ISOSpeedRatings", "EXIF PhotographicSensitivity")),
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


def pillow_exif_fields(image: Image.Image) -> dict[str, Any]:
    """The same fields through Pillow's parser, for files where exifread finds no EXIF."""
    try:
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
    return value[0] if isinstance(value, (tuple, list)) and value else value


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


def find_xmp(data: bytes) -> bytes | None:
    """The first XMP packet in the file, wherever the format put it."""
    for start_tag, end_tag in zip(XMP_START, XMP_END):
        start = data.find(start_tag)
        if start < 0:
            continue
        end = data.find(end_tag, start)
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


# --- the record ---------------------------------------------------------

def read_metadata(data: bytes, image: Image.Image | None) -> dict[str, Any]:
    """One normalised record from a file's bytes and its opened (not decoded) image."""
    exif = exif_fields(read_exif(data))
    if image is not None and not any(v for v in exif.values()):
        exif = pillow_exif_fields(image) or exif
    iptc = read_iptc(image) if image is not None else {}
    xmp = read_xmp(data)
    return merge(exif, iptc, xmp)


def merge(exif: dict[str, Any], iptc: dict[str, Any], xmp: dict[str, Any]) -> dict[str, Any]:
    """Combine the three standards: XMP first for text (it is the modern, Unicode one)."""
    record = {name: exif.get(name) for name in PHOTO_FIELDS}
    record["taken_at"] = exif.get("taken_at") or xmp.get("taken_at")
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
        "xmp": {k: v for k, v in xmp.items() if k != "taken_at"},
    }
    return record
