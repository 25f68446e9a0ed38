"""Read one photo file: bytes -> sha256, metadata and fingerprint.

This is the work done in the worker processes; it touches no database, so
it can run in parallel and be retried. The file is read once, into memory,
and never written to.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from PIL import Image

from .errors import FileVanished, PhotoError
from .fingerprint import Fingerprint, detect_format, fingerprint, one_line, open_image
from .metadata import read_metadata


@dataclass(frozen=True)
class PhotoRead:
    """Everything a photo's bytes tell us, before any register decision."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    metadata: dict[str, Any]
    fingerprint: Fingerprint


def read_file(path: str) -> tuple[bytes, os.stat_result]:
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            data = handle.read()
    except PermissionError:
        raise PhotoError("permission denied: cannot read it (check the file's permissions)") from None
    except FileNotFoundError:
        raise FileVanished("file vanished before it could be read (moved or deleted)") from None
    except OSError as e:
        raise PhotoError(f"cannot read: {e.strerror or one_line(e)}") from None
    return data, stat


def read_photo(path: str, suffix_format: str) -> PhotoRead:
    """Read, hash and fingerprint one photo; raises PhotoError with a one-line reason."""
    data, stat = read_file(path)
    sha256 = hashlib.sha256(data).hexdigest()
    image, stored_size = open_image(data, suffix_format)
    with image:
        fmt = detect_format(image, suffix_format)
        metadata = read_metadata(data, image)
        stored_size = heif_stored_size(fmt, stored_size, metadata)
        print_ = fingerprint(image, data, fmt, stored_size, metadata.get("orientation"))
    return PhotoRead(path, stat.st_size, stat.st_mtime_ns, sha256, metadata, print_)


def heif_stored_size(fmt: str, decoded: tuple[int, int], metadata: dict[str, Any]) -> tuple[int, int]:
    """HEIF decoders rotate by the container's `irot`; report the coded size when EXIF gives it."""
    exif_size = metadata.pop("exif_size", None)
    if fmt == "HEIF" and exif_size and tuple(exif_size) == decoded[::-1]:
        return tuple(exif_size)
    return decoded


def safe_read_photo(path: str, suffix_format: str) -> PhotoRead | PhotoError:
    """read_photo for the worker pool: errors come back as values, never as tracebacks."""
    try:
        return read_photo(path, suffix_format)
    except PhotoError as e:
        return e
    except Image.DecompressionBombError as e:
        return PhotoError(f"refused: image is too large to decode safely ({one_line(e)})")
    except MemoryError:
        return PhotoError("not enough memory to decode this image")
    except Exception as e:  # a parser bug on hostile input must not end the run
        return PhotoError(f"unreadable image ({type(e).__name__}: {one_line(e)})")
