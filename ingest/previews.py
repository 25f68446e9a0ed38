"""Large previews (about 1600 px) of archived photos, made once and cached beside the archive.

archive.db holds a 400 px thumbnail of every photo; the photo page wants a
bigger picture. A preview is made from the original, which only the private
ledger (`archive.db.private`) can find, and is written as a clean WebP —
upright, no EXIF, XMP or ICC data, so no GPS position or private name in the
original's metadata can travel with it — to `archive.db.previews/<sha256>.webp`.
Previews are content-addressed by the original's sha256: the same bytes always
give the same file name, so they can be served with far-future cache headers.

The site makes a preview on first request; `build_previews` makes them all
ahead of time for publishing, where the originals are not available.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import sqlite3
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image

from .errors import ArchiveError, PhotoError
from .fingerprint import UPRIGHT, decode_with_pillow, open_image, to_rgb, turned_by_decoder

PREVIEW_SIZE = 1600       # long side, px
PREVIEW_QUALITY = 82
SHA256_RE = re.compile(r"[0-9a-f]{64}")


def is_sha256(text: str) -> bool:
    """Exactly 64 lower-case hex digits: the only names a preview may have."""
    return SHA256_RE.fullmatch(text) is not None


def previews_dir(db_path: str | Path) -> Path:
    """The cache folder beside the archive: archive.db -> archive.db.previews/."""
    return Path(f"{os.fspath(db_path)}.previews")


def preview_path(db_path: str | Path, sha256: str) -> Path:
    """Where the preview of a photo lives; refuses anything that is not a sha256."""
    if not is_sha256(sha256):
        raise ValueError(f"not a sha256: {sha256!r}")
    return previews_dir(db_path) / f"{sha256}.webp"


def ledger_paths(db_path: str | Path, sha256: str) -> list[str]:
    """Paths the private ledger has seen these bytes under, most recently seen first.

    The ledger is opened read-only; a missing or unreadable ledger means no path.
    """
    ledger = Path(f"{os.fspath(db_path)}.private")
    if not ledger.is_file():
        return []
    try:
        conn = sqlite3.connect(f"{ledger.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return []
    try:
        rows = conn.execute(
            "select key, path from files where sha256 = ? order by last_seen desc", [sha256]
        ).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()
    # `key` is absolute; `path` is as given to ingest (relative to where it ran).
    return list(dict.fromkeys(p for row in rows for p in row if p))


def read_original(db_path: str | Path, sha256: str) -> bytes | None:
    """The original's bytes, if a file the ledger knows still holds exactly these bytes.

    The hash is checked because a file can change after ingest: a preview must
    show the archived photo, never whatever now sits at that path.
    """
    for path in ledger_paths(db_path, sha256):
        try:
            if not Path(path).is_file():  # gone, or not a regular file (never read a device or pipe)
                continue
            data = Path(path).read_bytes()
        except (OSError, ValueError):  # unreadable, or a name with escapes
            continue
        if hashlib.sha256(data).hexdigest() == sha256:
            return data
    return None


def render_preview(data: bytes, fmt: str, orientation: int | None,
                   size: int = PREVIEW_SIZE) -> bytes:
    """A WebP no larger than `size` on its long side, upright, with no metadata.

    `fmt` and `orientation` are the photo's `format` and `orientation` columns;
    RAW files are shown through their embedded preview, as the thumbnail is.
    Raises PhotoError with a one-line reason when the image cannot be decoded.
    """
    image, _ = open_image(data, fmt)
    with image:
        # Orientation is applied exactly as fingerprint.reduced_upright does for the thumbnail.
        tiff_tag = image.tag_v2.get(274) if fmt == "TIFF" else None
        upright = to_rgb(decode_with_pillow(image, (size, size)))
        if orientation in UPRIGHT and not turned_by_decoder(image, fmt, tiff_tag):
            upright = upright.transpose(UPRIGHT[orientation])
        upright.thumbnail((size, size), Image.Resampling.LANCZOS)
    # A fresh image: nothing from the original's info (EXIF, XMP, ICC, comments) is carried.
    clean = Image.new("RGB", upright.size)
    clean.paste(upright)
    out = io.BytesIO()
    clean.save(out, "WEBP", quality=PREVIEW_QUALITY, method=4)
    return out.getvalue()


def write_atomically(path: Path, data: bytes) -> None:
    """Write through a temporary file, so a reader never sees half a preview."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp, 0o644)  # public anyway; mkstemp's 0600 would hide it from a server run as another user
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def preview_from_original(db_path: str | Path, sha256: str, fmt: str,
                          orientation: int | None) -> bytes | None:
    """Render a photo's preview from its original; None when the original is gone.

    Raises PhotoError when the original cannot be decoded.
    """
    data = read_original(db_path, sha256)
    return None if data is None else render_preview(data, fmt, orientation)


def cache_preview(db_path: str | Path, sha256: str, preview: bytes) -> bool:
    """Keep a preview in the cache folder; False when it cannot be written (read-only)."""
    try:
        write_atomically(preview_path(db_path, sha256), preview)
    except OSError:
        return False
    return True


@dataclass
class PreviewSummary:
    """What `build_previews` did, for the closing line."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("made", "cached", "missing", "failed"), 0))
    failures: list[tuple[str, str]] = field(default_factory=list)  # (file name and sha256, reason)
    missing: list[str] = field(default_factory=list)                # sha256 without an original

    def line(self) -> str:
        c = self.counts
        return (f"{c['made']} previews made, {c['cached']} already cached, "
                f"{c['missing']} without an original (their thumbnail is shown), {c['failed']} failed")


def archive_photos(db_path: str | Path) -> Iterator[tuple[str, str, int | None, str]]:
    """(sha256, format, orientation, file name) of every photo in the archive."""
    if not Path(db_path).is_file():
        raise ArchiveError(f"no archive at {db_path}: run `photo-archive ingest` first")
    try:
        conn = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=ro", uri=True)
        rows = conn.execute("select sha256, format, orientation, file_name from photos order by id").fetchall()
        conn.close()
    except sqlite3.Error as e:
        raise ArchiveError(f"cannot read photos from {db_path}: {e}") from None
    yield from ((sha, fmt or "", orientation, name or "") for sha, fmt, orientation, name in rows
                if is_sha256(sha or ""))


def build_previews(db_path: str | Path, force: bool = False, workers: int | None = None,
                   on_plan: Callable[[int], None] | None = None,
                   on_photo: Callable[[str, str], None] | None = None) -> PreviewSummary:
    """Make every missing preview (all of them with `force`), for publishing.

    Idempotent: a second run finds every preview cached. For progress bars,
    `on_plan(count)` is called once with the number of photos, then
    `on_photo(sha256, outcome)` once per photo.
    """
    photos = list(archive_photos(db_path))
    if on_plan:
        on_plan(len(photos))
    try:
        previews_dir(db_path).mkdir(exist_ok=True)
    except OSError as e:
        raise ArchiveError(f"cannot create {previews_dir(db_path)}: {e.strerror or e}") from None
    summary = PreviewSummary()

    def one(photo: tuple[str, str, int | None, str]) -> tuple[str, str, str | None]:
        """(sha256, outcome, reason it failed)."""
        sha256, fmt, orientation, _ = photo
        if preview_path(db_path, sha256).is_file() and not force:
            return sha256, "cached", None
        try:
            preview = preview_from_original(db_path, sha256, fmt, orientation)
        except PhotoError as e:
            return sha256, "failed", str(e)
        if preview is None:
            return sha256, "missing", None
        if not cache_preview(db_path, sha256, preview):
            return sha256, "failed", f"cannot write {preview_path(db_path, sha256)}"
        return sha256, "made", None

    names = {sha256: name for sha256, _, _, name in photos}
    # Pillow releases the GIL while decoding and encoding, so threads run in parallel.
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for sha256, outcome, reason in pool.map(one, photos):
            summary.counts[outcome] += 1
            if outcome == "failed":
                summary.failures.append((f"{names[sha256]} ({sha256[:12]})", reason or ""))
            elif outcome == "missing":
                summary.missing.append(sha256)
            if on_photo:
                on_photo(sha256, outcome)
    return summary
