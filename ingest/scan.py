"""Find the photo files under the paths given to ingest.

Walks folders recursively, follows symlinks but never the same directory
twice (so a symlink loop ends), skips hidden and partial files, and sorts
what it finds into photos to read and files to skip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# Suffix (lower case) -> the format family we decode it with.
PHOTO_SUFFIXES: dict[str, str] = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG",
    ".heic": "HEIF", ".heif": "HEIF", ".hif": "HEIF",
    ".png": "PNG",
    ".tif": "TIFF", ".tiff": "TIFF",
    ".webp": "WEBP",
    ".nef": "NEF", ".cr2": "CR2", ".cr3": "CR3", ".arw": "ARW",
    ".dng": "DNG", ".raf": "RAF", ".orf": "ORF",
}
RAW_FORMATS = frozenset({"NEF", "CR2", "CR3", "ARW", "DNG", "RAF", "ORF"})

NOT_REGULAR = "not a regular file (a pipe, socket or device): not read"

# Files still being copied or written by another program.
PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".download")


@dataclass(frozen=True)
class Found:
    """One regular file under an ingest path."""

    path: str            # as the user gave it, joined with what we walked
    kind: str            # "photo", "skipped" or "error"
    format: str | None   # from the suffix, for photos
    reason: str | None = None  # why it is skipped or failed
    size: int = 0
    mtime_ns: int = 0


def is_ignored(name: str) -> bool:
    """Hidden files (.DS_Store, ._IMG_1.JPG) and partial downloads are never photos."""
    lower = name.lower()
    return name.startswith(".") or lower.endswith(PARTIAL_SUFFIXES) or lower.startswith("~$")


def classify(path: str, stat: os.stat_result) -> Found:
    suffix = os.path.splitext(path)[1].lower()
    fmt = PHOTO_SUFFIXES.get(suffix)
    if fmt is None:
        reason = f"unsupported file type {suffix or '(no suffix)'}"
        return Found(path, "skipped", None, reason, stat.st_size, stat.st_mtime_ns)
    return Found(path, "photo", fmt, None, stat.st_size, stat.st_mtime_ns)


def scan(paths: list[str]) -> Iterator[Found]:
    """Yield every file under `paths` in a stable (sorted) order."""
    seen_dirs: set[tuple[int, int]] = set()
    for top in paths:
        yield from _scan_one(top, seen_dirs)


def _scan_one(top: str, seen_dirs: set[tuple[int, int]]) -> Iterator[Found]:
    try:
        stat = os.stat(top)
    except OSError as e:
        yield Found(top, "error", None, _os_reason(e))
        return
    if not os.path.isdir(top):
        if not os.path.isfile(top):  # a pipe or device would block or never end
            yield Found(top, "error", None, NOT_REGULAR)
            return
        yield classify(top, stat)
        return
    yield from _walk(top, stat, seen_dirs)


def _walk(folder: str, stat: os.stat_result, seen_dirs: set[tuple[int, int]]) -> Iterator[Found]:
    # (device, inode) identifies a directory however it was reached.
    key = (stat.st_dev, stat.st_ino)
    if key in seen_dirs:
        return
    seen_dirs.add(key)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        yield Found(folder, "error", None, _os_reason(e))
        return
    for entry in entries:
        if is_ignored(entry.name):
            continue
        path = os.path.join(folder, entry.name)
        try:
            entry_stat = entry.stat()  # follows symlinks
        except OSError as e:
            yield Found(path, "error", None, _os_reason(e))
            continue
        if entry.is_dir():
            yield from _walk(path, entry_stat, seen_dirs)
        elif entry.is_file():
            yield classify(path, entry_stat)
        else:  # a pipe named like a photo would block its reader; say so rather than drop it silently
            yield Found(path, "error", None, NOT_REGULAR)


def _os_reason(e: OSError) -> str:
    if isinstance(e, PermissionError):
        return "permission denied: cannot read it (check the file's permissions)"
    if isinstance(e, FileNotFoundError):
        return "no such file or folder (broken symlink, or removed during the scan)"
    if e.errno == 40:  # ELOOP: a symlink pointing at itself
        return "symlink loop: the link points back at itself"
    return f"cannot read: {e.strerror or e}"


def display_path(path: str | Path) -> str:
    """The path as recorded: undecodable bytes become `\\xe9` escapes instead of crashing SQLite.

    The escapes keep two differently-broken names distinct.
    """
    text = os.fspath(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
