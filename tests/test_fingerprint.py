"""fingerprint.py: one reduced decode -> upright phash, dhash and thumbnail."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from ingest.errors import PhotoError
from ingest.fingerprint import (
    DECODE_SIZE, THUMBNAIL_SIZE, UPRIGHT, decode_jpeg, fingerprint, open_image,
)
from ingest.sample_photos import Meta, save_photo, scene


def distance(a: str, b: str) -> int:
    """Hamming distance of two hex hashes, as integers (imagehash README, 'Storing hashes')."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def print_of(path: Path, fmt: str, orientation: int | None = None):
    data = path.read_bytes()
    image, size = open_image(data, fmt)
    return fingerprint(image, data, fmt, size, orientation)


def test_known_hash_values_are_stable(tmp_path: Path) -> None:
    """Pinned: a change here means every stored hash in every archive changes."""
    path = save_photo(scene(7), tmp_path / "p.png")
    result = print_of(path, "PNG")
    assert (result.phash, result.dhash) == ("d2be0f14ceec3c14", "60783313cc9cc069")


def test_same_file_same_hash_every_time(tmp_path: Path) -> None:
    path = save_photo(scene(3, (2400, 1600)), tmp_path / "big.jpg")
    assert print_of(path, "JPEG") == print_of(path, "JPEG")


def test_resize_stays_near_and_other_photo_stays_far(tmp_path: Path) -> None:
    big = print_of(save_photo(scene(11, (3000, 2000)), tmp_path / "big.jpg"), "JPEG")
    small = print_of(save_photo(scene(11, (1080, 720)), tmp_path / "small.jpg", quality=70), "JPEG")
    other = print_of(save_photo(scene(12, (3000, 2000)), tmp_path / "other.jpg"), "JPEG")
    assert distance(big.phash, small.phash) <= 4
    assert distance(big.phash, other.phash) > 20


@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_orientation_tag_and_rotated_pixels_hash_alike(tmp_path: Path, orientation: int) -> None:
    """A photo stored rotated with an EXIF tag is the same picture as one rotated in pixels."""
    upright = scene(21, (1200, 800))
    # Store the pixels so that applying `orientation` makes them upright again.
    inverse = {6: 8, 8: 6}.get(orientation, orientation)
    stored = upright.transpose(UPRIGHT[inverse])
    tagged = save_photo(stored, tmp_path / "tagged.jpg", Meta(orientation=orientation))
    plain = save_photo(upright, tmp_path / "plain.jpg")
    tagged_print = print_of(tagged, "JPEG", orientation)
    assert distance(tagged_print.phash, print_of(plain, "JPEG").phash) <= 4
    assert (tagged_print.width, tagged_print.height) == stored.size  # stored, before orientation


def test_thumbnail_is_upright_small_webp_without_exif(tmp_path: Path) -> None:
    stored = scene(5, (3000, 2000)).transpose(Image.Transpose.ROTATE_90)  # portrait pixels
    path = save_photo(stored, tmp_path / "p.jpg", Meta(orientation=6, gps=(50.33, 6.94)))
    result = print_of(path, "JPEG", 6)
    thumb = Image.open(io.BytesIO(result.thumbnail))
    assert thumb.format == "WEBP"
    assert max(thumb.size) == THUMBNAIL_SIZE and thumb.width > thumb.height  # turned back to landscape
    assert (result.thumbnail_width, result.thumbnail_height) == thumb.size
    assert not thumb.getexif()
    assert len(result.thumbnail) < 30_000


def test_jpeg_is_decoded_reduced_not_full_size(tmp_path: Path) -> None:
    big = scene(1, (600, 400)).resize((6000, 4000))  # 24 MP without generating 24 MP of noise
    path = save_photo(big, tmp_path / "24mp.jpg")
    decoded = decode_jpeg(path.read_bytes())
    assert decoded is not None
    image, warning = decoded
    assert image.size == (750, 500) and warning is None  # 1/8 scale, straight from the DCT
    assert min(image.size) >= min(DECODE_SIZE)


def test_damaged_jpeg_is_kept_with_a_warning(tmp_path: Path) -> None:
    data = bytearray(save_photo(scene(2, (1600, 1200)), tmp_path / "p.jpg").read_bytes())
    eoi = len(data) - 2
    damaged = bytes(data[: eoi - 4000]) + bytes(data[eoi:])  # entropy data cut, EOI kept
    decoded = decode_jpeg(damaged)
    assert decoded is not None
    assert decoded[1] is not None and decoded[1].startswith("damaged JPEG data (Corrupt JPEG data")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty file (0 bytes): the copy probably failed, deliver it again"),
        (b"hello, not an image", "not an image Pillow can read: the file's contents do not match its suffix"),
    ],
)
def test_unreadable_input_gives_one_line(data: bytes, message: str) -> None:
    with pytest.raises(PhotoError) as error:
        open_image(data, "JPEG")
    assert str(error.value) == message


def test_truncated_png_is_an_error(tmp_path: Path) -> None:
    data = save_photo(scene(4), tmp_path / "p.png").read_bytes()
    image, size = open_image(data[: len(data) // 2], "PNG")
    with pytest.raises(PhotoError) as error:
        fingerprint(image, data, "PNG", size, None)
    assert str(error.value).startswith("image data is damaged or truncated:")


def test_decompression_bomb_header_is_refused(tmp_path: Path) -> None:
    huge = Image.new("L", (20000, 20000))  # 400 MP of nothing: compresses to almost nothing
    out = io.BytesIO()
    huge.save(out, "PNG")
    with pytest.raises(PhotoError) as error:
        open_image(out.getvalue(), "PNG")
    assert str(error.value).startswith("refused: image is too large to decode safely")


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "L", "I;16", "CMYK", "1"])
def test_every_pixel_mode_gives_an_rgb_fingerprint(tmp_path: Path, mode: str) -> None:
    image = scene(9).convert("L").convert("I;16") if mode == "I;16" else scene(9).convert(mode)
    fmt = "TIFF" if mode in ("CMYK", "I;16") else "PNG"
    path = tmp_path / f"p.{fmt.lower()}"
    image.save(path)
    result = print_of(path, fmt)
    assert len(result.phash) == 16 and Image.open(io.BytesIO(result.thumbnail)).mode == "RGB"


@pytest.mark.parametrize("suffix", ["tiff", "png", "webp", "heic"])
def test_orientation_is_applied_once_in_every_format(tmp_path: Path, suffix: str) -> None:
    upright = scene(21, (1200, 800))
    stored = upright.transpose(UPRIGHT[8])  # orientation 6 turns this back
    fmt = {"tiff": "TIFF", "png": "PNG", "webp": "WEBP", "heic": "HEIF"}[suffix]
    tagged = print_of(save_photo(stored, tmp_path / f"t.{suffix}", Meta(orientation=6)), fmt, 6)
    plain = print_of(save_photo(upright, tmp_path / "plain.png"), "PNG")
    assert distance(tagged.phash, plain.phash) <= 6
    assert tagged.thumbnail_width > tagged.thumbnail_height
