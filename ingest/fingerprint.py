"""Open a photo once and derive everything pixel-based from one reduced decode.

The reduced image comes from the decoder itself: libjpeg-turbo's DCT scaling,
through simplejpeg for JPEGs (the scaling Pillow's `Image.draft` asks for,
without Pillow's extra copy) and through `Image.draft` for the JPEGs
simplejpeg cannot take (CMYK, arithmetic coding). A 24 MP file is decoded at
1/8 size, never in full, to make a 400 px thumbnail and a 64-bit perceptual
hash. Every photo goes through the same steps, so a stored hash and one
recomputed later agree bit for bit.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import imagehash
import numpy as np
import pillow_heif
import simplejpeg
from PIL import Image

from .dedupe import make_signature
from .errors import PhotoError
from .scan import RAW_FORMATS

pillow_heif.register_heif_opener()

THUMBNAIL_SIZE = 400      # long side, px (SPEC)
# The decoder reduces until the short side would drop below this; the thumbnail
# and the hash are both taken from that reduced image.
DECODE_SIZE = (THUMBNAIL_SIZE, THUMBNAIL_SIZE)
THUMBNAIL_QUALITY = 80


@dataclass(frozen=True)
class Fingerprint:
    width: int                 # stored pixels, before orientation
    height: int
    format: str                # JPEG, HEIF, PNG, TIFF, WEBP or the RAW format
    phash: str                 # 16 hex digits
    dhash: str                 # 16 hex digits, a second opinion for near-duplicates
    thumbnail: bytes           # WebP, upright, <= 400 px long side
    thumbnail_width: int
    thumbnail_height: int
    warning: str | None = None  # damaged but decodable: kept, and listed in ingest_errors
    signature: bytes = b""     # 64 px miniature (luma, colour at half size) for near-duplicate search (ingest.dedupe)


def open_image(data: bytes, fmt: str) -> tuple[Image.Image, tuple[int, int]]:
    """Open without decoding pixels. For RAW, the embedded preview; returns it and the sensor size."""
    if fmt in RAW_FORMATS:
        return open_raw_preview(data)
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise PhotoError(f"refused: image is too large to decode safely ({e})") from None
    except Exception as e:  # Pillow raises many types for unreadable input
        raise PhotoError(describe_open_error(data, e)) from None
    check_compression(image, len(data))
    return image, stored_size(image)


# A bomb under Pillow's pixel limit: many pixels from few bytes. Real photos hold
# 0.2-10 pixels per byte; zlib cannot pass ~516 even for 16-bit grey. JPEG is
# exempt: it is decoded at 1/8 scale, so its pixel count costs nothing.
BOMB_PIXELS = 16_000_000
BOMB_PIXELS_PER_BYTE = 100


def check_compression(image: Image.Image, size: int) -> None:
    width, height = image.size
    if image.format in ("JPEG", "MPO") or width * height < BOMB_PIXELS:
        return
    if width * height > BOMB_PIXELS_PER_BYTE * max(size, 1):
        raise PhotoError(
            f"refused: image is too large to decode safely ({width}x{height} pixels from "
            f"{size} bytes: a decompression bomb)")


def stored_size(image: Image.Image) -> tuple[int, int]:
    """Pixels as stored: Pillow reports TIFFs with orientation 5-8 already turned."""
    if image.format == "TIFF":
        width, height = image.tag_v2.get(256), image.tag_v2.get(257)
        if isinstance(width, int) and isinstance(height, int):
            return width, height
    return image.size


def open_raw_preview(data: bytes) -> tuple[Image.Image, tuple[int, int]]:
    """A RAW file's largest embedded preview and its sensor size (see ingest.raw)."""
    from .raw import open_preview  # imported here: only RAW files need it

    return open_preview(data)


def describe_open_error(data: bytes, error: Exception) -> str:
    if not data:
        return "empty file (0 bytes): the copy probably failed, deliver it again"
    if isinstance(error, Image.UnidentifiedImageError):
        return "not an image Pillow can read: the file's contents do not match its suffix"
    if isinstance(error, (OSError, EOFError, SyntaxError, ValueError)):
        return f"image data is damaged or truncated: {one_line(error)}"
    return f"cannot open image: {one_line(error)}"


def one_line(error: Exception) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]


# EXIF orientation -> the transpose that makes the stored pixels upright.
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}


def reduced_upright(image: Image.Image, data: bytes, orientation: int | None,
                    fmt: str) -> tuple[Image.Image, str | None]:
    """The one decode: reduced by the decoder where it can, RGB, turned upright.

    Returns the image and a warning when the data was damaged but still
    decodable. The orientation is the one read from the file's own EXIF (for
    RAW, the RAW's, not the preview's). HEIF decoders already apply the
    container's rotation, so HEIF pixels are upright as decoded.
    """
    decoded = decode_jpeg(data) if fmt == "JPEG" else None
    tiff_tag = image.tag_v2.get(274) if fmt == "TIFF" else None
    if decoded is not None:
        rgb, warning = decoded
    else:
        rgb, warning = to_rgb(decode_with_pillow(image)), None
    if orientation not in UPRIGHT or turned_by_decoder(image, fmt, tiff_tag):
        return rgb, warning
    return rgb.transpose(UPRIGHT[orientation]), warning


def turned_by_decoder(image: Image.Image, fmt: str, tiff_tag_before: object) -> bool:
    """HEIF decoders apply the container's rotation. Pillow 13+ turns a TIFF while
    loading it and then drops its Orientation tag; older Pillow leaves both alone."""
    if fmt == "HEIF":
        return True
    return fmt == "TIFF" and tiff_tag_before in UPRIGHT and image.tag_v2.get(274) is None


def decode_jpeg(data: bytes) -> tuple[Image.Image, str | None] | None:
    """libjpeg-turbo DCT-scaled decode; strict, so damaged data is noticed, not hidden.

    None when simplejpeg cannot handle the file (CMYK, arithmetic coding):
    Pillow then decodes it.
    """
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        check_pixels(width, height)
        array = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True,
                                       min_width=DECODE_SIZE[0], min_height=DECODE_SIZE[1])
        return Image.fromarray(array), None
    except ValueError as e:
        if not str(e).startswith("Corrupt JPEG data"):
            return None
        try:
            array = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=False,
                                           min_width=DECODE_SIZE[0], min_height=DECODE_SIZE[1])
        except ValueError:
            return None  # too damaged for libjpeg-turbo's lenient mode: Pillow has its own go
        return Image.fromarray(array), (
            f"damaged JPEG data ({one_line(e)}): kept, but parts may look grey; deliver the file again"
        )


def check_pixels(width: int, height: int) -> None:
    """Pillow's decompression-bomb limit, applied to decoders that bypass Pillow."""
    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    if limit and width * height > limit:
        raise PhotoError(
            f"refused: {width}x{height} pixels is over the safety limit of {limit} "
            "(a decompression bomb or a corrupt header)"
        )


def decode_with_pillow(image: Image.Image, size: tuple[int, int] = DECODE_SIZE) -> Image.Image:
    """Load the pixels, reduced by the decoder where it can (JPEG DCT scaling) to about `size`."""
    image.draft("RGB", size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # palette and EXIF warnings do not make a photo unusable
        try:
            image.load()
        except Image.DecompressionBombError as e:
            raise PhotoError(f"refused: image is too large to decode safely ({one_line(e)})") from None
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise PhotoError(f"image data is damaged or truncated: {one_line(e)}") from None
        except RuntimeError as e:  # libheif's errors, its own size limit among them
            if "Security limit exceeded" in str(e):
                raise PhotoError(f"refused: image is too large to decode safely ({one_line(e)})") from None
            raise PhotoError(f"image data is damaged or truncated: {one_line(e)}") from None
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB for every mode we meet: 16-bit and float greyscale are scaled, not clipped."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = float(array.max()) or 1.0
        return Image.fromarray((array * (255.0 / top)).astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas shown on white, as a viewer would.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def thumbnail_image(upright: Image.Image) -> Image.Image:
    """The 400 px picture everything is derived from: the stored thumbnail and the hashes.

    `upright` is shrunk in place: it is the decode's own buffer, used for
    nothing else, and copying it first costs 40 ms for a 12 MP HEIC.
    """
    upright.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    return upright


def encode_thumbnail(thumb: Image.Image) -> bytes:
    out = io.BytesIO()
    # method=0: WebP's fastest setting; a few hundred bytes larger than method=4, 5x quicker.
    thumb.save(out, "WEBP", quality=THUMBNAIL_QUALITY, method=0)  # no EXIF: nothing private leaks
    return out.getvalue()


def fingerprint(image: Image.Image, data: bytes, fmt: str, stored_size: tuple[int, int],
                orientation: int | None) -> Fingerprint:
    """Hashes and thumbnail of an opened image, from one reduced decode.

    The hashes are taken from the 400 px thumbnail, not from the decoder's
    output: that size depends on the original's (1/8 of 6000 px, 1/2 of
    1080 px), the thumbnail's does not, so copies at any size hash alike.
    """
    upright, warning = reduced_upright(image, data, orientation, fmt)
    thumb = thumbnail_image(upright)
    return Fingerprint(
        width=stored_size[0],
        height=stored_size[1],
        format=fmt,
        phash=str(imagehash.phash(thumb)),
        dhash=str(imagehash.dhash(thumb)),
        thumbnail=encode_thumbnail(thumb),
        thumbnail_width=thumb.width,
        thumbnail_height=thumb.height,
        warning=warning,
        signature=make_signature(thumb),
    )


def detect_format(image: Image.Image, suffix_format: str) -> str:
    """The format the bytes really are (a .jpg that is a PNG is stored as PNG)."""
    if suffix_format in RAW_FORMATS:
        return suffix_format
    actual = (image.format or suffix_format).upper()
    return {"JPEG": "JPEG", "MPO": "JPEG", "HEIF": "HEIF", "AVIF": "HEIF"}.get(actual, actual)
