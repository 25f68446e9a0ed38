"""ingest.reader: one file's bytes -> sha256, metadata and fingerprint, or a one-line reason."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from ingest import reader
from ingest.errors import FileVanished, PhotoError
from ingest.reader import PhotoRead, heif_stored_size, read_photo, safe_read_photo
from ingest.sample_photos import Meta
from tests.conftest import ROOT, unprivileged

META = Meta(make="Canon", model="Canon EOS R5", serial="083024001234", taken_at=datetime(2025, 9, 20, 9, 30),
            orientation=6, iso=200, artist="René Hey", iptc_keywords=["Green Mamba"],
            xmp_title="Green Mamba at the Karussell")


def test_reading_a_photo_gives_its_record_and_fingerprint(photo) -> None:
    path = photo("inbox/IMG_0001.JPG", 1, META)
    read = read_photo(str(path), "JPEG")
    stat = path.stat()
    assert (read.path, read.size, read.mtime_ns) == (str(path), stat.st_size, stat.st_mtime_ns)
    assert read.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert {k: read.metadata[k] for k in (
        "orientation", "taken_at", "camera_make", "camera_model", "camera_serial", "iso", "title",
        "keywords", "artist",
    )} == {
        "orientation": 6, "taken_at": "2025-09-20T09:30:00", "camera_make": "Canon",
        "camera_model": "Canon EOS R5", "camera_serial": "083024001234", "iso": 200,
        "title": "Green Mamba at the Karussell", "keywords": ["Green Mamba"], "artist": "René Hey",
    }
    assert "exif_size" not in read.metadata  # a reader's working value, not part of the record
    print_ = read.fingerprint
    # Stored pixels as they are; the thumbnail stands upright (orientation 6: turned a quarter).
    assert (print_.format, print_.width, print_.height) == ("JPEG", 640, 480)
    assert (print_.thumbnail_width, print_.thumbnail_height) == (300, 400)
    with Image.open(io.BytesIO(print_.thumbnail)) as thumb:
        assert (thumb.format, thumb.size) == ("WEBP", (300, 400))
    assert re.fullmatch(r"[0-9a-f]{16}", print_.phash) and re.fullmatch(r"[0-9a-f]{16}", print_.dhash)
    assert print_.warning is None and print_.signature


def test_the_same_bytes_read_the_same_wherever_they_are(photo, tmp_path: Path) -> None:
    first = photo("a/IMG_0001.JPG", 3, META)
    second = tmp_path / "b/copy.jpg"
    second.parent.mkdir()
    shutil.copy(first, second)
    a, b = read_photo(str(first), "JPEG"), read_photo(str(second), "JPEG")
    assert (a.sha256, a.metadata, a.fingerprint) == (b.sha256, b.metadata, b.fingerprint)
    assert (a.path, b.path) == (str(first), str(second))


@pytest.mark.parametrize("name, suffix_format, expected", [
    ("p.png", "PNG", "PNG"),
    ("p.webp", "WEBP", "WEBP"),
    ("p.tiff", "TIFF", "TIFF"),
    ("p.heic", "HEIF", "HEIF"),
])
def test_each_format_reads_with_its_own_decoder(photo, name: str, suffix_format: str, expected: str) -> None:
    path = photo(name, 4, size=(320, 240))
    read = read_photo(str(path), suffix_format)
    assert (read.fingerprint.format, read.fingerprint.width, read.fingerprint.height) == (expected, 320, 240)
    assert read.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_png_named_jpg_is_recorded_as_png(photo, tmp_path: Path) -> None:
    png = photo("real.png", 5, size=(320, 240))
    named = tmp_path / "IMG_0005.JPG"
    png.rename(named)
    assert read_photo(str(named), "JPEG").fingerprint.format == "PNG"


def test_a_vanished_file_raises_file_vanished(tmp_path: Path) -> None:
    with pytest.raises(FileVanished) as caught:
        read_photo(str(tmp_path / "gone.jpg"), "JPEG")
    assert str(caught.value) == "file vanished before it could be read (moved or deleted)"


@pytest.mark.parametrize("make, kind, message", [
    (lambda p: None, FileVanished, "file vanished before it could be read (moved or deleted)"),
    (lambda p: p.mkdir(), PhotoError, "cannot read: Is a directory"),
    (lambda p: p.write_bytes(b""), PhotoError, "empty file (0 bytes): the copy probably failed, deliver it again"),
    (lambda p: p.write_text("shopping list"), PhotoError,
     "not an image Pillow can read: the file's contents do not match its suffix"),
], ids=["vanished", "directory", "empty", "text"])
def test_a_file_that_cannot_be_read_comes_back_as_one_line(tmp_path: Path, make, kind, message: str) -> None:
    path = tmp_path / "IMG_0001.JPG"
    make(path)
    result = safe_read_photo(str(path), "JPEG")
    assert type(result) is kind
    assert str(result) == message


def test_an_unreadable_file_says_permission_denied(photo) -> None:
    path = photo("IMG_0001.JPG", 1)
    path.chmod(0)
    # In a child process without root's power to read anything (when the tests run as root).
    script = ("import sys; from ingest.reader import safe_read_photo; r = safe_read_photo(sys.argv[1], 'JPEG'); "
              "print(type(r).__name__, r, sep=': ')")
    result = subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, capture_output=True,
                            text=True, preexec_fn=unprivileged(), timeout=60)
    assert result.stdout == "PhotoError: permission denied: cannot read it (check the file's permissions)\n", \
        result.stderr


def test_a_truncated_photo_is_an_error_value_not_an_exception(photo, tmp_path: Path) -> None:
    data = photo("whole.jpg", 1).read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[:600])
    result = safe_read_photo(str(cut), "JPEG")
    assert isinstance(result, PhotoError)
    assert str(result).startswith("image data is damaged or truncated: ") and "\n" not in str(result)


@pytest.mark.parametrize("raised, message", [
    (KeyError("IFD0"), "unreadable image (KeyError: 'IFD0')"),
    (RecursionError("maximum recursion depth\nexceeded"), "unreadable image (RecursionError: maximum recursion depth exceeded)"),
    (MemoryError(), "not enough memory to decode this image"),
    (Image.DecompressionBombError("Image size (200000000 pixels) exceeds limit"),
     "refused: image is too large to decode safely (Image size (200000000 pixels) exceeds limit)"),
])
def test_a_parser_failure_on_hostile_input_is_one_line(photo, monkeypatch, raised: BaseException,
                                                       message: str) -> None:
    """No real file triggers these on demand, so the metadata parser is made to fail as a buggy one would."""
    path = photo("IMG_0001.JPG", 1)

    def broken_parser(data: bytes, image: Image.Image) -> dict:
        raise raised

    monkeypatch.setattr(reader, "read_metadata", broken_parser)
    result = safe_read_photo(str(path), "JPEG")
    assert type(result) is PhotoError
    assert str(result) == message


def test_a_good_read_comes_back_as_the_photo(photo) -> None:
    path = photo("IMG_0001.JPG", 1)
    result = safe_read_photo(str(path), "JPEG")
    assert isinstance(result, PhotoRead) and result == read_photo(str(path), "JPEG")


@pytest.mark.parametrize("fmt, decoded, exif_size, expected", [
    ("HEIF", (3024, 4032), [4032, 3024], (4032, 3024)),  # the decoder applied irot: coded size from EXIF
    ("HEIF", (4032, 3024), [4032, 3024], (4032, 3024)),  # not rotated: as decoded
    ("HEIF", (4032, 3024), [1000, 800], (4032, 3024)),   # EXIF of another size (a crop): ignored
    ("HEIF", (4032, 3024), None, (4032, 3024)),
    ("JPEG", (3024, 4032), [4032, 3024], (3024, 4032)),  # only HEIF decoders rotate
])
def test_heif_stored_size(fmt: str, decoded: tuple[int, int], exif_size: list[int] | None,
                          expected: tuple[int, int]) -> None:
    metadata = {"camera_make": "Apple", "exif_size": exif_size}
    assert heif_stored_size(fmt, decoded, metadata) == expected
    assert metadata == {"camera_make": "Apple"}  # taken out of the record either way
