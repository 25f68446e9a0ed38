"""Synthetic photos that carry real EXIF, IPTC and XMP metadata.

Used by the test fixtures and by ``photo-archive demo``, so it needs nothing
beyond the pip dependencies. Pillow writes EXIF everywhere and XMP where
save() takes ``xmp=`` (JPEG, WebP, HEIF via pillow_heif); what it cannot
write is placed here by hand: IPTC as a JPEG APP13 segment or TIFF tag
33723, XMP as a PNG iTXt chunk or TIFF tag 700. PNG, WebP and HEIF have no
IPTC block, so IPTC fields are left out of those files.
"""

from __future__ import annotations

import io
import os
import pathlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import pillow_heif
from PIL import Image, ImageDraw, PngImagePlugin
from PIL.ExifTags import GPS, IFD, Base
from PIL.TiffImagePlugin import IFDRational

__all__ = ["Meta", "scene", "save_photo", "exif_bytes", "iptc_bytes", "xmp_bytes"]


@dataclass
class Meta:
    """Metadata to embed; None means "leave the field out"."""

    # EXIF (IFD0 / Exif IFD / GPS IFD)
    make: str | None = None
    model: str | None = None
    serial: str | None = None  # BodySerialNumber 0xA431
    lens: str | None = None  # LensModel 0xA434
    taken_at: datetime | None = None  # DateTimeOriginal + DateTimeDigitized
    offset: str | None = None  # OffsetTimeOriginal, e.g. "+02:00"
    orientation: int | None = None  # 1..8
    exposure_time: Fraction | float | None = None
    f_number: float | None = None
    iso: int | None = None
    focal_length: float | None = None
    gps: tuple[float, float] | None = None  # signed decimal (lat, lon)
    artist: str | None = None
    copyright: str | None = None
    description: str | None = None  # EXIF ImageDescription
    xp_keywords: list[str] | None = None  # Windows XPKeywords
    # IPTC IIM
    iptc_title: str | None = None  # 2:05 Object Name
    iptc_keywords: list[str] | None = None  # 2:25, repeated
    iptc_byline: str | None = None  # 2:80
    iptc_credit: str | None = None  # 2:110
    iptc_caption: str | None = None  # 2:120
    iptc_copyright: str | None = None  # 2:116
    iptc_encoding: str = "utf-8"  # or "latin-1" (no 1:90, the IIM default)
    # XMP, Dublin Core
    xmp_title: str | None = None
    xmp_description: str | None = None
    xmp_subject: list[str] | None = None
    xmp_creator: list[str] | None = None
    xmp_rights: str | None = None


# --- the synthetic picture -------------------------------------------------

# Real paint colours, so demo thumbnails look like a car club's cars.
_CAR_COLOURS = [
    (40, 120, 60),  # Java Green
    (235, 235, 230),  # Alpine White
    (20, 22, 28),  # Black Sapphire
    (230, 110, 20),  # Valencia Orange
    (25, 60, 150),  # Le Mans Blue
    (170, 20, 30),  # Imola Red
    (140, 145, 150),  # Space Grey
]


def scene(seed: int, size: tuple[int, int] = (640, 480), *,
          colour: tuple[int, int, int] | None = None, car_shift: float = 0.0) -> Image.Image:
    """A deterministic synthetic 'photo' (RGB) of a car in a landscape.

    The same seed gives the same pixels bit for bit. Seeds differ in their
    low frequencies (horizon, scenery, car placement), which is what
    perceptual hashes look at: phash distances between seeds are ~30 on
    average, like unrelated photos, and > 20 for all pairs the tests check.
    `colour` paints the car (RGB); `car_shift` moves it along the road by
    that fraction of the width, as in the next frame of a burst.
    """
    rng = np.random.default_rng(seed)
    w, h = size
    horizon = rng.uniform(0.35, 0.65)
    pixels = _background(rng, w, h, horizon)
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    _draw_car(ImageDraw.Draw(image), rng, w, h, horizon, colour, car_shift)
    # Sensor-like grain, after the car so the body is textured too.
    grain = rng.normal(0.0, 6.0, (h, w, 3))
    noisy = np.asarray(image, dtype=np.float64) + grain
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


def _background(rng: np.random.Generator, w: int, h: int, horizon: float) -> np.ndarray:
    """Sky over ground, shaded by a seed-specific low-frequency 'scenery' field."""
    y = np.linspace(0.0, 1.0, h)[:, None, None]
    sky_top = np.array([70.0, 120.0, 200.0]) * rng.uniform(0.8, 1.1)
    sky_low = np.array([185.0, 205.0, 230.0]) * rng.uniform(0.85, 1.05)
    grass = np.array([80.0, 105.0, 70.0]) * rng.uniform(0.7, 1.2)
    tarmac = np.array([75.0, 75.0, 80.0]) * rng.uniform(0.6, 1.3)
    sky = sky_top + (sky_low - sky_top) * (y / horizon)
    ground = grass + (tarmac - grass) * ((y - horizon) / (1.0 - horizon))
    pixels = np.where(y < horizon, sky, ground) * np.ones((1, w, 1))
    # Clouds, hills, shadows: a random 7x7 grid, smoothly upscaled. Its
    # frequencies are the ones phash keeps, so it decorrelates the seeds.
    grid = rng.uniform(-1.0, 1.0, (7, 7)).astype(np.float32)
    field = np.asarray(Image.fromarray(grid).resize((w, h), Image.Resampling.BICUBIC))
    return pixels + 90.0 * field[:, :, None]


def _draw_car(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int, horizon: float,
    paint: tuple[int, int, int] | None = None, shift: float = 0.0,
) -> None:
    """A side view, facing left or right: body, cabin and glass, two wheels."""
    drawn = _CAR_COLOURS[int(rng.integers(len(_CAR_COLOURS)))]  # drawn even if unused: same layout
    colour = paint or drawn
    length = w * rng.uniform(0.4, 0.7)
    left = rng.uniform(0.02, 0.98) * (w - length) + shift * w
    facing_right = bool(rng.integers(2))
    bottom = h * rng.uniform(max(horizon + 0.15, 0.7), 0.92)
    body_h, wheel_r = length * 0.18, max(1.0, length * 0.1)
    top, roof = bottom - body_h, bottom - body_h * 1.8

    def x(fraction: float) -> float:
        # Along the car from its tail: mirrored when it faces left.
        return left + length * (fraction if facing_right else 1.0 - fraction)

    corner = max(1.0, body_h / 3)
    draw.rounded_rectangle((left, top, left + length, bottom), radius=corner, fill=colour)
    draw.polygon([(x(0.2), top), (x(0.32), roof), (x(0.62), roof), (x(0.8), top)], fill=colour)
    glass_top = roof + body_h * 0.12
    draw.polygon([(x(0.26), top), (x(0.35), glass_top), (x(0.6), glass_top), (x(0.74), top)],
                 fill=(150, 180, 200))
    for centre in (x(0.2), x(0.8)):
        for r, shade in ((wheel_r, (15, 15, 15)), (wheel_r * 0.45, (170, 170, 175))):
            draw.ellipse((centre - r, bottom - r, centre + r, bottom + r), fill=shade)


# --- EXIF ------------------------------------------------------------------


def _text(value: str | None) -> bytes | None:
    # IFD0 text tags: UTF-8 bytes, as cameras and exiftool do; given a str,
    # Pillow would write ASCII with '?' for every accented letter.
    return None if value is None else value.encode("utf-8")


def _ascii(value: str | None, name: str) -> str | None:
    # Pillow knows no types for Exif-IFD tags and guesses from the value:
    # only a str becomes ASCII (bytes would become BYTE), so it must be ASCII.
    if value is not None and not value.isascii():
        raise ValueError(f"EXIF {name} must be ASCII, got {value!r}")
    return value


def _rational(value: Fraction | float | None) -> IFDRational | None:
    # IFDRational, not Fraction or float: Pillow types Exif-IFD tags by value
    # (a float would become DOUBLE, a Fraction UNDEFINED).
    if value is None:
        return None
    exact = Fraction(value).limit_denominator(1_000_000)
    return IFDRational(exact.numerator, exact.denominator)


def _gps_dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    """|value| as degrees, minutes, seconds; 1/10000" is ~3e-9 degrees."""
    units = round(abs(value) * 3600 * 10000)
    degrees, rest = divmod(units, 3600 * 10000)
    minutes, rest = divmod(rest, 60 * 10000)
    return Fraction(degrees), Fraction(minutes), Fraction(rest, 10000)


def _gps_tags(lat: float, lon: float) -> dict[int, Any]:
    return {
        GPS.GPSVersionID: b"\x02\x03\x00\x00",
        GPS.GPSLatitudeRef: "N" if lat >= 0 else "S",
        GPS.GPSLatitude: _gps_dms(lat),
        GPS.GPSLongitudeRef: "E" if lon >= 0 else "W",
        GPS.GPSLongitude: _gps_dms(lon),
    }


def _ifd0_tags(meta: Meta) -> dict[int, Any]:
    tags: dict[int, Any] = {
        Base.Make: _text(meta.make),
        Base.Model: _text(meta.model),
        Base.Orientation: meta.orientation,
        Base.Artist: _text(meta.artist),
        Base.Copyright: _text(meta.copyright),
        Base.ImageDescription: _text(meta.description),
    }
    if meta.xp_keywords is not None:
        # XP* tags are UTF-16LE in a BYTE array, NUL-terminated.
        tags[Base.XPKeywords] = (";".join(meta.xp_keywords) + "\0").encode("utf-16-le")
    return {k: v for k, v in tags.items() if v is not None}


def _exif_ifd_tags(meta: Meta) -> dict[int, Any]:
    stamp = meta.taken_at.strftime("%Y:%m:%d %H:%M:%S") if meta.taken_at else None
    tags: dict[int, Any] = {
        Base.DateTimeOriginal: stamp,
        Base.DateTimeDigitized: stamp,
        Base.OffsetTimeOriginal: _ascii(meta.offset, "offset"),
        Base.ExposureTime: _rational(meta.exposure_time),
        Base.FNumber: _rational(meta.f_number),
        Base.ISOSpeedRatings: meta.iso,
        Base.FocalLength: _rational(meta.focal_length),
        Base.BodySerialNumber: _ascii(meta.serial, "serial"),
        Base.LensModel: _ascii(meta.lens, "lens"),
    }
    return {k: v for k, v in tags.items() if v is not None}


def _exif(meta: Meta) -> Image.Exif:
    exif = Image.Exif()
    exif.update(_ifd0_tags(meta))
    sub_ifds = {IFD.Exif: _exif_ifd_tags(meta), IFD.GPSInfo: meta.gps and _gps_tags(*meta.gps)}
    for pointer, tags in sub_ifds.items():
        if tags:
            ifd = exif.get_ifd(pointer)
            ifd.update(tags)
            # Also set the pointer in IFD0: the TIFF writer only walks IFD0's
            # keys, while Exif.tobytes() accepts the dict there as well.
            exif[pointer] = ifd
    return exif


def exif_bytes(meta: Meta) -> bytes:
    """The EXIF block (``Image.Exif().tobytes()``), or b"" when meta has no EXIF field."""
    exif = _exif(meta)
    return exif.tobytes() if len(exif) else b""


# --- IPTC IIM --------------------------------------------------------------

_UTF8_MARKER = b"\x1b%G"  # ISO 2022 escape for UTF-8, the value of 1:90


def _dataset(record: int, number: int, data: bytes) -> bytes:
    if len(data) > 0x7FFF:
        raise ValueError(f"IPTC {record}:{number:02d} is too long ({len(data)} bytes)")
    return struct.pack(">BBBH", 0x1C, record, number, len(data)) + data


def iptc_bytes(meta: Meta) -> bytes:
    """Raw IIM datasets, or b"" when meta has no IPTC field."""
    encoding = {"utf-8": "utf-8", "latin-1": "latin-1"}.get(meta.iptc_encoding.lower())
    if encoding is None:
        raise ValueError(f"iptc_encoding must be 'utf-8' or 'latin-1', not {meta.iptc_encoding!r}")
    fields: list[tuple[int, str | None]] = [
        (5, meta.iptc_title),
        *((25, keyword) for keyword in meta.iptc_keywords or []),
        (80, meta.iptc_byline),
        (110, meta.iptc_credit),
        (116, meta.iptc_copyright),
        (120, meta.iptc_caption),
    ]
    # Readers expect records and datasets in ascending order.
    datasets = [_dataset(2, n, v.encode(encoding)) for n, v in fields if v is not None]
    if not datasets:
        return b""
    head = _dataset(1, 0, b"\x00\x04")  # 1:00 Model Version 4
    if encoding == "utf-8":
        head += _dataset(1, 90, _UTF8_MARKER)
    return head + _dataset(2, 0, b"\x00\x04") + b"".join(datasets)


def _photoshop_irb(iptc: bytes) -> bytes:
    """A Photoshop image resource block holding IPTC (resource 0x0404)."""
    pad = b"\x00" if len(iptc) % 2 else b""  # resource data is padded to even length
    # Empty Pascal name: length byte 0 plus one pad byte to keep it even.
    header = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc))
    return header + iptc + pad


# --- XMP -------------------------------------------------------------------

_XMP_HEAD = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
)
_XMP_TAIL = "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>"


def _xmp_property(name: str, container: str, items: Iterable[str], lang: bool = False) -> str:
    attr = ' xml:lang="x-default"' if lang else ""
    lis = "".join(f"<rdf:li{attr}>{escape(item)}</rdf:li>" for item in items)
    return f"   <dc:{name}><rdf:{container}>{lis}</rdf:{container}></dc:{name}>\n"


def xmp_bytes(meta: Meta) -> bytes:
    """A complete XMP packet (UTF-8) with the dc fields, or b"" when none is set."""
    props = [
        (meta.xmp_title, "title", "Alt"),
        (meta.xmp_description, "description", "Alt"),
        (meta.xmp_rights, "rights", "Alt"),
        (meta.xmp_subject, "subject", "Bag"),
        (meta.xmp_creator, "creator", "Seq"),
    ]
    body = "".join(
        _xmp_property(name, kind, [value] if kind == "Alt" else value, lang=kind == "Alt")
        for value, name, kind in props
        if value is not None
    )
    return (_XMP_HEAD + body + _XMP_TAIL).encode("utf-8") if body else b""


# --- writing files ---------------------------------------------------------

_SUFFIX_FORMATS = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF",
    ".webp": "WEBP", ".heic": "HEIF", ".heif": "HEIF",
}
_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF", "HEIC": "HEIF"}


def _format_for(path: pathlib.Path, format: str | None) -> str:
    if format is None:
        try:
            return _SUFFIX_FORMATS[path.suffix.lower()]
        except KeyError:
            msg = f"{path}: cannot tell the format from the suffix; pass format="
            raise ValueError(msg) from None
    name = _FORMAT_ALIASES.get(format.upper(), format.upper())
    if name not in set(_SUFFIX_FORMATS.values()):
        raise ValueError(f"unsupported format {format!r}")
    return name


def _insert_app13(jpeg: bytes, iptc: bytes) -> bytes:
    """Put an APP13 Photoshop/IPTC segment after the leading APPn segments.

    Pillow cannot write APP13; readers look for it among the APP segments,
    before the first DQT/SOF, so it goes right after Pillow's APP0/APP1s.
    """
    payload = b"Photoshop 3.0\x00" + _photoshop_irb(iptc)
    if len(payload) > 0xFFFF - 2:
        raise ValueError("IPTC data is too long for one APP13 segment")
    pos = 2  # after SOI
    while jpeg[pos] == 0xFF and 0xE0 <= jpeg[pos + 1] <= 0xEF:
        pos += 2 + struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
    segment = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:pos] + segment + jpeg[pos:]


def _encode(image: Image.Image, fmt: str, meta: Meta, quality: int) -> bytes:
    exif, xmp, iptc = exif_bytes(meta), xmp_bytes(meta), iptc_bytes(meta)
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=quality, exif=exif, xmp=xmp)
        return _insert_app13(out.getvalue(), iptc) if iptc else out.getvalue()
    if fmt == "PNG":
        # Pillow writes eXIf from exif=, but XMP only as a text chunk we add.
        info = PngImagePlugin.PngInfo()
        if xmp:
            info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"), zip=False)
        image.save(out, "PNG", exif=exif, pnginfo=info)
    elif fmt == "TIFF":
        # TIFF metadata are just tags: IFD0 also carries XMP (700) and IPTC (33723).
        tags = _exif(meta)
        if xmp:
            tags[700] = xmp
        if iptc:
            tags[33723] = iptc
        image.save(out, "TIFF", exif=tags)
    elif fmt == "WEBP":
        image.save(out, "WEBP", quality=quality, exif=exif, xmp=xmp)
    else:
        pillow_heif.register_heif_opener()
        # None, not b"": pillow_heif rejects an empty EXIF block.
        image.save(out, "HEIF", quality=quality, exif=exif or None, xmp=xmp or None)
    return out.getvalue()


def save_photo(
    image: Image.Image,
    path: str | os.PathLike[str],
    meta: Meta | None = None,
    *,
    format: str | None = None,
    quality: int = 90,
) -> pathlib.Path:
    """Write image with meta and return the path; parent folders are created.

    The format comes from the suffix unless given. Orientation is only a tag:
    the pixels are stored as given. Blocks a format cannot carry are left out
    (IPTC goes only into JPEG and TIFF). Meta() or None writes no metadata.
    """
    target = pathlib.Path(path)
    fmt = _format_for(target, format)
    # A copy without .info, so metadata of an opened source never leaks in.
    clean = image.copy()
    clean.info = {}
    data = _encode(clean, fmt, meta or Meta(), quality)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


# --- RAW-like files --------------------------------------------------------
# No real RAW file may be downloaded for the tests, so these are built by hand
# in each maker's layout, reduced to what a reader of embedded previews and
# EXIF needs: the real EXIF in the RAW's own IFDs, a tiny thumbnail, a large
# JPEG preview where that maker keeps it, and a small 16-bit 'raw' image
# whose size is the stored size. exiftool reads them as NEF, DNG, ... files.

# EXIF tags whose bytes are BYTE values, not ASCII text.
_RAW_BYTE_TAGS = {Base.XPKeywords, GPS.GPSVersionID}


@dataclass(frozen=True)
class _RawRef:
    """A pointer to a named block, filled in once the blocks are laid out."""

    name: str


@dataclass
class _RawIfd:
    tags: dict[int, tuple[int, Any]]  # tag -> (TIFF type, value)
    next: str | None = None  # the block name of the next IFD in the chain


# A block: bytes, a _RawIfd, or a function of the offsets that returns bytes.
_RawBlock = Any


@dataclass(frozen=True)
class _RawParts:
    """The pieces every layout arranges: the three JPEGs, the raw image, the EXIF."""

    order: str  # "<" or ">"
    meta: Meta
    preview: bytes
    medium: bytes
    thumbnail: bytes
    thumbnail_size: tuple[int, int]
    preview_size: tuple[int, int]
    raw: bytes
    raw_size: tuple[int, int]


def _raw_pack(kind: int, value: Any, order: str, offsets: dict[str, int]) -> tuple[int, bytes]:
    """(count, bytes) of one TIFF value; ASCII gets its NUL, refs become offsets."""
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value) + (b"\0" if kind == 2 else b"")
        return len(data), data
    values = value if isinstance(value, (tuple, list)) else (value,)
    if kind in (5, 10):
        pairs = [Fraction(v).limit_denominator(1_000_000) for v in values]
        flat = [n for f in pairs for n in (f.numerator, f.denominator)]
        return len(pairs), struct.pack(order + ("I" if kind == 5 else "i") * len(flat), *flat)
    ints = [offsets[v.name] if isinstance(v, _RawRef) else int(v) for v in values]
    code = {1: "B", 3: "H", 4: "I", 13: "I"}[kind]
    return len(ints), struct.pack(order + code * len(ints), *ints)


def _raw_ifd_bytes(ifd: _RawIfd, order: str, at: int, offsets: dict[str, int]) -> bytes:
    """One IFD placed at `at`, its values longer than 4 bytes right after the table."""
    table, extra = [], b""
    data_at = at + 2 + 12 * len(ifd.tags) + 4
    for tag in sorted(ifd.tags):  # TIFF requires ascending tags
        kind, value = ifd.tags[tag]
        count, data = _raw_pack(kind, value, order, offsets)
        if len(data) > 4:
            pointer = struct.pack(order + "I", data_at + len(extra))
            extra += data + b"\0" * (len(data) % 2)  # values start on a word boundary
            data = pointer
        table.append(struct.pack(order + "HHI", tag, kind, count) + data.ljust(4, b"\0"))
    next_at = offsets[ifd.next] if ifd.next else 0
    head = struct.pack(order + "H", len(table))
    return head + b"".join(table) + struct.pack(order + "I", next_at) + extra


def _raw_layout(blocks: list[tuple[str, _RawBlock]], order: str) -> bytes:
    """Place the blocks one after another from offset 0 and resolve every pointer.

    Sizes never depend on offsets, so a first pass with all offsets 0 lays
    the blocks out and a second one writes them.
    """

    def render(block: _RawBlock, at: int, offsets: dict[str, int]) -> bytes:
        if isinstance(block, _RawIfd):
            data = _raw_ifd_bytes(block, order, at, offsets)
        else:
            data = block(offsets) if callable(block) else block
        return data + b"\0" * (len(data) % 2)

    offsets: dict[str, int] = {}
    at = 0
    for name, block in blocks:
        offsets[name] = at
        at += len(render(block, at, {n: 0 for n, _ in blocks}))
    return b"".join(render(block, offsets[name], offsets) for name, block in blocks)


def _raw_tiff_header(order: str, magic: bytes = b"") -> Any:
    """'II*\\0' / 'MM\\0*' (or ORF's 'IIRO' / 'MMOR') and the offset of the block 'ifd0'."""
    mark = b"II" if order == "<" else b"MM"
    start = magic or (b"*\0" if order == "<" else b"\0*")
    return lambda offsets: mark + start + struct.pack(order + "I", offsets["ifd0"])


def _raw_exif_entry(tag: int, value: Any) -> tuple[int, Any]:
    """sample_photos' EXIF values as TIFF entries: text ASCII, numbers SHORT, ratios RATIONAL."""
    if tag in _RAW_BYTE_TAGS:
        return 1, value
    if isinstance(value, (str, bytes)):
        return 2, value.encode("utf-8") if isinstance(value, str) else value
    if isinstance(value, int):
        return 3, value
    return 5, value


def _raw_exif_blocks(parts: _RawParts, note: bytes | None) -> tuple[dict[int, Any], list]:
    """IFD0's EXIF tags (with the Exif and GPS pointers) and the blocks they point to."""
    meta = parts.meta
    ifd0 = {tag: _raw_exif_entry(tag, v) for tag, v in _ifd0_tags(meta).items()}
    exif = {tag: _raw_exif_entry(tag, v) for tag, v in _exif_ifd_tags(meta).items()}
    exif[Base.ExifVersion] = (7, b"0232")
    if note:
        exif[Base.MakerNote] = (7, note)
    ifd0[IFD.Exif] = (4, _RawRef("exif"))
    blocks: list[tuple[str, _RawBlock]] = [("exif", _RawIfd(exif))]
    if meta.gps:
        gps = {tag: _raw_exif_entry(tag, v) for tag, v in _gps_tags(*meta.gps).items()}
        ifd0[IFD.GPSInfo] = (4, _RawRef("gps"))
        blocks.append(("gps", _RawIfd(gps)))
    ifd0.update({282: (5, 300), 283: (5, 300), 296: (3, 2)})  # 300 dpi, as cameras write
    return ifd0, blocks


def _raw_image_tags(parts: _RawParts) -> dict[int, tuple[int, Any]]:
    """The 'raw' image: full resolution, one 16-bit CFA sample per pixel, uncompressed."""
    width, height = parts.raw_size
    return {
        254: (4, 0), 256: (4, width), 257: (4, height), 258: (3, 16), 259: (3, 1),
        262: (3, 32803), 273: (4, _RawRef("raw")), 277: (3, 1), 278: (4, height),
        279: (4, len(parts.raw)), 284: (3, 1), 0x828D: (3, (2, 2)), 0x828E: (1, b"\0\1\1\2"),
    }


def _raw_jpeg_pointer_tags(name: str, jpeg: bytes, subfile: int) -> dict[int, tuple[int, Any]]:
    """An old-style JPEG (Compression 6) through JPEGInterchangeFormat, as in NEF and ARW."""
    return {254: (4, subfile), 259: (3, 6), 0x201: (4, _RawRef(name)), 0x202: (4, len(jpeg))}


def _raw_jpeg_strip_tags(name: str, jpeg: bytes, size: tuple[int, int],
                         compression: int) -> dict[int, tuple[int, Any]]:
    """A JPEG stored as the IFD's one strip (DNG previews: 7; CR2's IFD0: 6)."""
    width, height = size
    return {
        256: (4, width), 257: (4, height), 258: (3, (8, 8, 8)), 259: (3, compression),
        262: (3, 6), 273: (4, _RawRef(name)), 277: (3, 3), 278: (4, height),
        279: (4, len(jpeg)), 284: (3, 1),
    }


def _raw_data_blocks(parts: _RawParts) -> list[tuple[str, _RawBlock]]:
    return [("thumbnail", parts.thumbnail), ("preview", parts.preview), ("raw", parts.raw)]


def _raw_nikon_note(parts: _RawParts) -> bytes:
    """Nikon type 3: 'Nikon\\0' + version, then a TIFF of its own whose PreviewIFD holds a JPEG."""
    order = parts.order
    preview_ifd = {0x0103: (3, 6), 0x0201: (4, _RawRef("medium")), 0x0202: (4, len(parts.medium))}
    tiff = _raw_layout([
        ("header", _raw_tiff_header(order)),
        ("ifd0", _RawIfd({0x0001: (7, b"0210"), 0x0011: (4, _RawRef("preview_ifd"))})),
        ("preview_ifd", _RawIfd(preview_ifd)),
        ("medium", parts.medium),
    ], order)
    return b"Nikon\0\x02\x10\0\0" + tiff


def _raw_olympus_note(parts: _RawParts) -> bytes:
    """Olympus type 2: offsets count from the note; the preview sits in CameraSettings."""
    order = parts.order
    settings = {
        0x0000: (7, b"0100"), 0x0100: (4, 1),  # PreviewImageValid
        0x0101: (4, _RawRef("preview")), 0x0102: (4, len(parts.preview)),
    }
    mark = b"II" if order == "<" else b"MM"
    return _raw_layout([
        ("header", b"OLYMPUS\0" + mark + b"\x03\0"),
        ("ifd0", _RawIfd({0x0000: (7, b"0100"), 0x2020: (13, _RawRef("settings"))})),
        ("settings", _RawIfd(settings)),
        ("preview", parts.preview),
    ], order)


def _raw_nef(parts: _RawParts) -> list[tuple[str, _RawBlock]]:
    """IFD0 an uncompressed RGB thumbnail, SubIFDs the full-size JpgFromRaw and the raw,
    and a 640 px preview in the maker note. (A JPEG in IFD0 would make it a Coolpix NRW.)"""
    ifd0, exif_blocks = _raw_exif_blocks(parts, _raw_nikon_note(parts))
    with Image.open(io.BytesIO(parts.thumbnail)) as thumbnail:
        rgb = thumbnail.convert("RGB").tobytes()
    width, height = parts.thumbnail_size
    ifd0.update({
        254: (4, 1), 256: (4, width), 257: (4, height), 258: (3, (8, 8, 8)), 259: (3, 1),
        262: (3, 2), 273: (4, _RawRef("rgb")), 277: (3, 3), 278: (4, height),
        279: (4, len(rgb)), 284: (3, 1), 330: (4, (_RawRef("jpg_from_raw"), _RawRef("raw_ifd"))),
    })
    return [
        ("header", _raw_tiff_header(parts.order)), ("ifd0", _RawIfd(ifd0)),
        ("jpg_from_raw", _RawIfd(_raw_jpeg_pointer_tags("preview", parts.preview, 0))),
        ("raw_ifd", _RawIfd(_raw_image_tags(parts))), *exif_blocks,
        ("rgb", rgb), ("preview", parts.preview), ("raw", parts.raw),
    ]


def _raw_dng(parts: _RawParts) -> list[tuple[str, _RawBlock]]:
    """IFD0 the thumbnail, SubIFDs the raw and the preview, both JPEGs as strips (Compression 7)."""
    ifd0, exif_blocks = _raw_exif_blocks(parts, None)
    ifd0.update(_raw_jpeg_strip_tags("thumbnail", parts.thumbnail, parts.thumbnail_size, 7))
    ifd0.update({
        254: (4, 1), 330: (4, (_RawRef("raw_ifd"), _RawRef("preview_ifd"))),
        0xC612: (1, b"\1\4\0\0"), 0xC613: (1, b"\1\1\0\0"),  # DNGVersion, DNGBackwardVersion
        0xC614: (2, (parts.meta.model or "Synthetic camera").encode()),  # UniqueCameraModel
        0xC621: (10, (1, 0, 0, 0, 1, 0, 0, 0, 1)),  # ColorMatrix1: required for colour DNGs
    })
    preview = {254: (4, 1), **_raw_jpeg_strip_tags("preview", parts.preview, parts.preview_size, 7)}
    return [
        ("header", _raw_tiff_header(parts.order)), ("ifd0", _RawIfd(ifd0)),
        ("raw_ifd", _RawIfd(_raw_image_tags(parts))), ("preview_ifd", _RawIfd(preview)),
        *exif_blocks, *_raw_data_blocks(parts),
    ]


def _raw_arw(parts: _RawParts) -> list[tuple[str, _RawBlock]]:
    """IFD0 the preview (JPEGInterchangeFormat), a SubIFD the raw, IFD1 the thumbnail."""
    ifd0, exif_blocks = _raw_exif_blocks(parts, None)
    ifd0.update(_raw_jpeg_pointer_tags("preview", parts.preview, 1))
    ifd0[330] = (4, _RawRef("raw_ifd"))
    ifd1 = _raw_jpeg_pointer_tags("thumbnail", parts.thumbnail, 1)
    return [
        ("header", _raw_tiff_header(parts.order)), ("ifd0", _RawIfd(ifd0, next="ifd1")),
        ("ifd1", _RawIfd(ifd1)), ("raw_ifd", _RawIfd(_raw_image_tags(parts))),
        *exif_blocks, *_raw_data_blocks(parts),
    ]


def _raw_lossless_jpeg(parts: _RawParts) -> bytes:
    """A lossless-JPEG (SOF3) header as Canon stores its raw data: 2 components of half the width.

    Only the header is real (no scan follows): nothing in the project decodes raw data.
    """
    width, height = parts.raw_size
    sof = struct.pack(">BHHB", 14, height, width // 2, 2) + b"\1\x11\0\2\x11\0"
    return b"\xff\xd8\xff\xc3" + struct.pack(">H", 2 + len(sof)) + sof + b"\xff\xd9"


def _raw_cr2(parts: _RawParts) -> list[tuple[str, _RawBlock]]:
    """IFD0 the preview as a strip, IFD1 the thumbnail, IFD2 a small RGB image, IFD3 the raw."""
    order = parts.order
    ifd0, exif_blocks = _raw_exif_blocks(parts, None)
    ifd0.update(_raw_jpeg_strip_tags("preview", parts.preview, parts.preview_size, 6))
    small = (max(1, parts.raw_size[0] // 4), max(1, parts.raw_size[1] // 4))
    rgb = parts.raw[: small[0] * small[1] * 3].ljust(small[0] * small[1] * 3, b"\0")
    ifd2 = {256: (4, small[0]), 257: (4, small[1]), 258: (3, (8, 8, 8)), 259: (3, 1),
            262: (3, 2), 273: (4, _RawRef("rgb")), 277: (3, 3), 278: (4, small[1]),
            279: (4, len(rgb)), 284: (3, 1)}
    lossless = _raw_lossless_jpeg(parts)
    ifd3 = {259: (3, 6), 273: (4, _RawRef("raw")), 279: (4, len(lossless))}

    def header(offsets: dict[str, int]) -> bytes:
        # The TIFF header, then 'CR', version 2.0 and the raw IFD's offset.
        return _raw_tiff_header(order)(offsets) + b"CR\2\0" + struct.pack(order + "I", offsets["ifd3"])

    return [
        ("header", header), ("ifd0", _RawIfd(ifd0, next="ifd1")),
        ("ifd1", _RawIfd(_raw_jpeg_pointer_tags("thumbnail", parts.thumbnail, 1), next="ifd2")),
        ("ifd2", _RawIfd(ifd2, next="ifd3")), ("ifd3", _RawIfd(ifd3)), *exif_blocks,
        ("thumbnail", parts.thumbnail), ("preview", parts.preview), ("rgb", rgb),
        ("raw", lossless),
    ]


def _raw_orf(parts: _RawParts) -> list[tuple[str, _RawBlock]]:
    """'IIRO': IFD0 the raw, IFD1 the thumbnail, the preview inside the Olympus maker note."""
    ifd0, exif_blocks = _raw_exif_blocks(parts, _raw_olympus_note(parts))
    ifd0.update(_raw_image_tags(parts))
    ifd1 = _raw_jpeg_pointer_tags("thumbnail", parts.thumbnail, 1)
    magic = b"RO" if parts.order == "<" else b"OR"
    return [
        ("header", _raw_tiff_header(parts.order, magic)), ("ifd0", _RawIfd(ifd0, next="ifd1")),
        ("ifd1", _RawIfd(ifd1)), *exif_blocks,
        ("thumbnail", parts.thumbnail), ("raw", parts.raw),
    ]


def _raw_raf(parts: _RawParts) -> bytes:
    """Fujifilm: a 148-byte big-endian header, the JPEG (which carries the EXIF), a RAF
    directory with RawImageFullSize, and the raw data."""
    width, height = parts.raw_size
    jpeg = _with_exif(parts.preview, parts.meta)
    directory = struct.pack(">I", 1) + struct.pack(">HHHH", 0x100, 4, height, width)
    jpeg_at = 148
    dir_at = jpeg_at + len(jpeg) + len(jpeg) % 2
    raw_at = dir_at + len(directory)
    model = (parts.meta.model or "Synthetic").encode("ascii", "replace")[:31]
    header = (b"FUJIFILMCCD-RAW 0201FF383501" + model.ljust(32, b"\0") + b"0100" + bytes(20)
              + struct.pack(">6I", jpeg_at, len(jpeg), dir_at, len(directory), raw_at, len(parts.raw)))
    return header.ljust(jpeg_at, b"\0") + jpeg + bytes(len(jpeg) % 2) + directory + parts.raw


def _with_exif(jpeg: bytes, meta: Meta) -> bytes:
    """The JPEG again, with meta's EXIF (Fujifilm keeps a RAF's EXIF in its preview).

    As in Fujifilm's files the EXIF segment comes right after the start of the
    image, without Pillow's JFIF segment; LibRaw reads it only there.
    """
    with Image.open(io.BytesIO(jpeg)) as image:
        out = io.BytesIO()
        image.save(out, "JPEG", quality="keep", exif=exif_bytes(meta))
    data = out.getvalue()
    if data[2:4] == b"\xff\xe0":  # APP0 (JFIF): drop it
        data = data[:2] + data[4 + struct.unpack(">H", data[4:6])[0] :]
    return data


_RAW_LAYOUTS = {".nef": _raw_nef, ".dng": _raw_dng, ".arw": _raw_arw, ".cr2": _raw_cr2,
                ".orf": _raw_orf}
# Byte orders the makers use: Nikon writes big-endian, the others little-endian.
_RAW_ORDERS = {".nef": ">", ".raf": ">"}


def _raw_parts(image: Image.Image, meta: Meta, order: str, raw_size: tuple[int, int],
               thumbnail_size: tuple[int, int], quality: int) -> _RawParts:
    def jpeg(picture: Image.Image) -> bytes:
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=quality)  # no EXIF: the RAW's own IFDs carry it
        return out.getvalue()

    rgb = image.convert("RGB")
    medium = rgb.resize((640, max(1, round(640 * rgb.height / rgb.width))))
    grey = np.asarray(rgb.convert("L").resize(raw_size), dtype=np.uint16) << 4  # 12 bits in 16
    return _RawParts(
        order=order, meta=meta, preview=jpeg(rgb), medium=jpeg(medium),
        thumbnail=jpeg(rgb.resize(thumbnail_size)), thumbnail_size=thumbnail_size,
        preview_size=rgb.size, raw=grey.astype(order + "u2").tobytes(), raw_size=raw_size,
    )


def save_raw_like(
    image: Image.Image,
    path: str | os.PathLike[str],
    meta: Meta | None = None,
    *,
    byte_order: str | None = None,
    raw_size: tuple[int, int] = (64, 48),
    thumbnail_size: tuple[int, int] = (160, 120),
    quality: int = 85,
) -> pathlib.Path:
    """Write a synthetic RAW file in the layout its suffix names; return the path.

    .NEF, .DNG, .ARW, .CR2, .ORF and .RAF are laid out as those cameras do
    (see the _raw_* functions): `image` becomes the large JPEG preview, a
    `thumbnail_size` copy the tiny thumbnail (and a 640 px one a NEF's maker
    note preview), and a 16-bit `raw_size` image the raw data, whose size is
    the file's stored size. `meta`'s EXIF sits in the RAW's own IFDs (in the
    JPEG for RAF, as Fujifilm does). `byte_order` "<" or ">" overrides the
    maker's usual one for the TIFF-based layouts.
    """
    target = pathlib.Path(path)
    suffix = target.suffix.lower()
    if suffix not in (*_RAW_LAYOUTS, ".raf"):
        raise ValueError(f"{target}: save_raw_like writes .nef .dng .arw .cr2 .orf .raf files")
    order = byte_order or _RAW_ORDERS.get(suffix, "<")
    if order not in ("<", ">"):
        raise ValueError(f"byte_order must be '<' or '>', not {byte_order!r}")
    parts = _raw_parts(image, meta or Meta(), order, raw_size, thumbnail_size, quality)
    data = _raw_raf(parts) if suffix == ".raf" else _raw_layout(_RAW_LAYOUTS[suffix](parts), order)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target
