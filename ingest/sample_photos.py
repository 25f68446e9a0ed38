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
