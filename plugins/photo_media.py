"""Thumbnails and previews by URL: /-/thumb/<sha256>.webp and /-/preview/<sha256>.webp.

Both are named by the original's sha256, so their content never changes and
they are sent with far-future cache headers. Nothing here takes a path from
the request: the URL must be exactly 64 lower-case hex digits (so `..`,
absolute paths and encoded slashes never match a route), the sha256 must be a
photo in the published archive, and files are only ever read from the
previews folder beside the archive, under a name built from that sha256.

A preview is made on first request from the original (found through the
private ledger, which is read, never served) by the project's library
`ingest.previews`. A published site has neither the ledger nor the library:
it serves the previews built by `photo-archive previews` and shipped beside
the database, and otherwise the thumbnail.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response

try:
    from ingest import previews as preview_library
except ImportError:  # a published site: no originals to make previews from
    preview_library = None

SHA256 = r"(?P<sha256>[0-9a-f]{64})"
IMMUTABLE = "public, max-age=31536000, immutable"
# The thumbnail standing in for a preview not made yet: the same URL gets the
# real preview later, so it must not be cached for long.
STAND_IN = "public, max-age=300"
MAKING = threading.BoundedSemaphore(2)  # previews decode full-size originals: bound the memory
LOCKS: dict[str, asyncio.Lock] = {}


@hookimpl
def register_routes():
    return [
        (rf"^/-/thumb/{SHA256}\.webp$", thumbnail),
        (rf"^/-/preview/{SHA256}\.webp$", preview),
    ]


async def photos_database(datasette):
    """The database that holds the archive's photos table."""
    for name, db in datasette.databases.items():
        if name != "_internal" and await db.table_exists("photos"):
            return db
    return None


async def find_photo(datasette, request, columns: str):
    """(database, row, private) for the photo named in the URL; NotFound otherwise."""
    sha256 = request.url_vars["sha256"]
    db = await photos_database(datasette)
    if db is None:
        raise NotFound("No photo archive here")
    visible, private = await datasette.check_visibility(
        request.actor,
        permissions=[("view-table", (db.name, "photos")), ("view-database", db.name), "view-instance"],
    )
    if not visible:
        raise NotFound("No such photo")
    row = (await db.execute(f"select {columns} from photos where sha256 = ?", [sha256])).first()
    if row is None:
        raise NotFound("No such photo")
    return db, row, private


def image(request, body: bytes, etag: str, cache: str, private: bool) -> Response:
    headers = {
        "Cache-Control": "private, max-age=3600" if private else cache,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(b"", status=304, headers=headers, content_type="image/webp")
    return Response(body, headers=headers, content_type="image/webp")


async def thumbnail(datasette, request):
    """The 400 px WebP thumbnail stored in archive.db."""
    _, row, private = await find_photo(datasette, request, "sha256, thumbnail")
    if not row["thumbnail"]:
        raise NotFound("This photo has no thumbnail")
    return image(request, row["thumbnail"], f'"t-{row["sha256"]}"', IMMUTABLE, private)


def cached_preview(db_path: str, sha256: str) -> Path:
    # The same place as ingest.previews.preview_path: <archive>.previews/<sha256>.webp
    return Path(f"{db_path}.previews") / f"{sha256}.webp"


async def preview(datasette, request):
    """The ~1600 px preview: cached, made now from the original, or the thumbnail."""
    db, row, private = await find_photo(datasette, request,
                                        "sha256, format, orientation, thumbnail")
    sha256 = row["sha256"]
    body = await load_preview(db.path, sha256, row["format"], row["orientation"]) if db.path else None
    if body is not None:
        return image(request, body, f'"p-{sha256}"', IMMUTABLE, private)
    if not row["thumbnail"]:
        raise NotFound("This photo has no preview")
    return image(request, row["thumbnail"], f'"t-{sha256}"', STAND_IN, private)


async def load_preview(db_path: str, sha256: str, fmt: str | None,
                       orientation: int | None) -> bytes | None:
    path = cached_preview(db_path, sha256)
    loop = asyncio.get_running_loop()
    if path.is_file():
        return await loop.run_in_executor(None, path.read_bytes)
    if preview_library is None:
        return None
    # One maker per photo: a second request waits for the first and reads its file.
    lock = LOCKS.setdefault(sha256, asyncio.Lock())
    async with lock:
        try:
            if path.is_file():
                return await loop.run_in_executor(None, path.read_bytes)
            return await loop.run_in_executor(None, make_preview, db_path, sha256, fmt or "", orientation)
        finally:
            LOCKS.pop(sha256, None)


def make_preview(db_path: str, sha256: str, fmt: str, orientation: int | None) -> bytes | None:
    """Render from the original and keep it; None when the original is gone or unreadable."""
    try:
        with MAKING:
            body = preview_library.preview_from_original(db_path, sha256, fmt, orientation)
    except preview_library.PhotoError:
        return None  # undecodable now (it was decodable at ingest): show the thumbnail
    if body is not None:
        preview_library.cache_preview(db_path, sha256, body)
    return body
