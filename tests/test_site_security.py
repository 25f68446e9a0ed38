"""Nothing private leaks from the published site.

- No URL serves a file by path: `..`, absolute paths and encoded slashes are
  tried against every route the site adds (thumbnails, previews), in-process
  and through the real server.
- The private ledger is read to find originals, never served.
- No public:false car, no full-precision position outside the geofences, no
  EXIF/XMP/ICC inside a served thumbnail or preview.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import re
import sqlite3
import struct
import urllib.parse
from pathlib import Path

import pytest
from PIL import Image

from ingest import previews
from tests.site_helpers import Site, copy_archive, demo_archive, query, served

SQLITE_HEADER = b"SQLite format 3\x00"
PRIVATE_CAR = ["Yellow Submarine", "WBS1J5C52BE000333", "HH YS 333", "HH-YS-333", "HHYS333"]
HOME = ("52.520008", "13.404954")  # where the off-event photo was really taken


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    return demo_archive(tmp_path_factory)


@pytest.fixture(scope="module")
def secured(demo_db: Path, tmp_path_factory):
    """A copy of the demo whose ledger also knows a secret file that is not a photo."""
    folder = tmp_path_factory.mktemp("secured")
    db = copy_archive(demo_db, folder)
    secret = folder / "secret.txt"
    secret.write_bytes(b"the owner's home address")
    sha = hashlib.sha256(secret.read_bytes()).hexdigest()
    with sqlite3.connect(f"{db}.private") as ledger:
        ledger.execute("insert into files (key, path, sha256, size, mtime_ns) values (?, ?, ?, ?, 0)",
                       [str(secret), str(secret), sha, secret.stat().st_size])
    ledger.close()
    client = Site(db)
    yield client, sha
    client.close()


def photo_sha(db: Path) -> str:
    return query(db, "select sha256 from photos order by id limit 1")[0]["sha256"]


def traversal_paths(db: Path, sha: str, secret_sha: str) -> list[str]:
    ledger = f"{db}.private"
    absolute = urllib.parse.quote(ledger, safe="")
    paths = []
    for route in ("/-/thumb/", "/-/preview/"):
        paths += [
            f"{route}../archive.db.private",
            f"{route}../../archive.db.private",
            f"{route}..%2Farchive.db.private",
            f"{route}..%2farchive.db.private",
            f"{route}%2e%2e/archive.db.private",
            f"{route}%2e%2e%2farchive.db.private",
            f"{route}%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
            f"{route}....//....//etc/passwd",
            f"{route}{ledger}",
            f"{route}/{ledger}",
            f"{route}{absolute}",
            f"{route}%2Fetc%2Fpasswd",
            f"{route}/etc/passwd",
            f"{route}{sha}.webp/../../archive.db.private",
            f"{route}{sha}%2F..%2F..%2Farchive.db.private",
            f"{route}{sha}.webp%00.private",
            f"{route}{sha}.webp%2F",
            f"{route}{sha.upper()}.webp",
            f"{route}{sha[:-1]}.webp",
            f"{route}{sha}0.webp",
            f"{route}{sha}.png",
            f"{route}{sha}",
            f"{route}{secret_sha}.webp",       # in the ledger, not a photo
            f"{route}{'0' * 64}.webp",          # nothing at all
            f"{route}%30{sha[1:]}.webp",        # an encoded hex digit is not a sha256
        ]
    paths += [
        "/archive.db.private", "/archive.db%2Eprivate", "/archive/..%2Farchive.db.private",
        "/-/static/../../archive.db.private", "/-/static/..%2F..%2F..%2Fetc%2Fpasswd",
        "/-/static-plugins/datasette_cluster_map/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        f"/-/static/{absolute}",
    ]
    return paths


def assert_nothing_private(status: int, body: bytes, path: str) -> None:
    assert status in (400, 403, 404), (path, status)
    assert SQLITE_HEADER not in body, path
    assert b"home address" not in body and b"root:x:0:0" not in body, path


def follow(get, path: str) -> tuple[int, bytes]:
    """GET, following Datasette's redirects (it turns %2F into ~2F) within the site."""
    for _ in range(4):
        status, headers, body = get(path)
        if status not in (301, 302, 307, 308):
            return status, body
        path = headers["location"]
        assert path.startswith("/") and not path.startswith("//"), path  # never off-site
    raise AssertionError(f"redirect loop at {path}")


def test_routes_refuse_paths_in_process(secured) -> None:
    client, secret_sha = secured
    for path in traversal_paths(client.db, photo_sha(client.db), secret_sha):
        status, body = follow(client.raw_get, path)
        assert_nothing_private(status, body, path)


def test_routes_refuse_paths_through_the_real_server(secured) -> None:
    """The same requests, sent byte for byte to `photo-archive serve` (uvicorn's own path handling)."""
    client, secret_sha = secured
    with served(client.db) as base:
        host, port = urllib.parse.urlparse(base).netloc.split(":")

        def get(path: str) -> tuple[int, dict[str, str], bytes]:
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                conn.putrequest("GET", path, skip_accept_encoding=True)  # sent as is, not normalised
                conn.endheaders()
                response = conn.getresponse()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            finally:
                conn.close()

        for path in traversal_paths(client.db, photo_sha(client.db), secret_sha):
            status, body = follow(get, path)
            assert_nothing_private(status, body, path)
        # And the real routes work there:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", f"/-/preview/{photo_sha(client.db)}.webp")
        response = conn.getresponse()
        assert response.status == 200 and response.read()[:4] == b"RIFF"
        conn.close()


def test_a_ledger_path_holding_other_bytes_is_not_shown(demo_db: Path, tmp_path: Path) -> None:
    """If the file at an original's path changed, the preview is the thumbnail, not the new file."""
    db = copy_archive(demo_db, tmp_path)
    target, other = query(db, "select sha256, thumbnail from photos order by id limit 2")
    other_path = previews.ledger_paths(db, other["sha256"])[0]
    with sqlite3.connect(f"{db}.private") as ledger:
        ledger.execute("update files set key = ?, path = ? where sha256 = ?",
                       [f"{tmp_path}/elsewhere", other_path, target["sha256"]])
    ledger.close()
    client = Site(db)
    try:
        response = client.get(f"/-/preview/{target['sha256']}.webp")
        assert response.content == target["thumbnail"]
        assert not previews.preview_path(db, target["sha256"]).exists()
    finally:
        client.close()


def test_images_follow_the_sites_permissions(demo_db: Path) -> None:
    client = Site(demo_db)
    try:
        client.ds._metadata_local["databases"]["archive"]["tables"]["photos"]["allow"] = {"id": "admin"}
        sha = photo_sha(demo_db)
        assert client.get(f"/-/thumb/{sha}.webp").status_code == 404
        assert client.get(f"/-/preview/{sha}.webp").status_code == 404
    finally:
        client.close()


# --- privacy --------------------------------------------------------------------

def crawl(client: Site) -> dict[str, str]:
    """Every page and JSON document of the site a member can reach, by URL."""
    db = client.db
    urls = ["/", "/.json", "/archive", "/archive.json", "/-/metadata.json"]
    tables = [r["name"] for r in query(db, "select name from sqlite_master where type = 'table' "
                                           "and name not like 'photos_fts%'")]
    for table in tables:
        urls += [f"/archive/{table}?_size=max", f"/archive/{table}.json?_size=max&_nocol=thumbnail"
                 if table == "photos" else f"/archive/{table}.json?_size=max"]
    urls += [f"/archive/photos/{r['id']}" for r in query(db, "select id from photos")]
    urls += [f"/archive/photos/{r['id']}.json" for r in query(db, "select id from photos")]
    for table in ("cars", "events", "sessions", "photographers"):
        urls += [f"/archive/{table}/{urllib.parse.quote(r['id'])}" for r in query(db, f"select id from {table}")]
    # Searches for the private car's names echo the term back, so they are checked by their rows
    # (test_private_car_has_no_page_and_no_photos), not crawled here.
    for name, params in [
        ("photos_of_car", {"car": "Green Mamba"}), ("photos_of_car", {"car": "333"}),
        ("event_gallery", {"event": ""}), ("photographer_portfolio", {"photographer": ""}),
        ("attendance", {}), ("cars_never_photographed", {}), ("duplicates_to_review", {}),
        ("photos_without_photographer", {}), ("photo_map", {}),
    ]:
        suffix = "?" + urllib.parse.urlencode(params) if params else ""
        urls += [f"/archive/{name}{suffix}", f"/archive/{name}.json{suffix}"]
    urls += ["/archive/photos?_search=Nordschleife", "/archive/photos?_search=333"]
    pages = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        pages[url] = response.text
    return pages


@pytest.fixture(scope="module")
def pages(demo_db: Path) -> dict[str, str]:
    client = Site(demo_db)
    try:
        return crawl(client)
    finally:
        client.close()


def test_no_private_car_anywhere(pages: dict[str, str]) -> None:
    for url, text in pages.items():
        for private in PRIVATE_CAR:
            assert private.lower() not in text.lower(), (url, private)


def test_private_car_has_no_page_and_no_photos(demo_db: Path) -> None:
    client = Site(demo_db)
    try:
        assert client.get("/archive/cars/0333").status_code == 404
        for term in [*PRIVATE_CAR, "333", "#333", "1M-333"]:
            rows = client.json(f"/archive/photos_of_car.json?car={urllib.parse.quote(term)}")["rows"]
            assert rows == [], term
            assert client.json(f"/archive/photos.json?_search={urllib.parse.quote(term)}")["rows"] == [], term
    finally:
        client.close()


def test_no_full_precision_position_off_event(pages: dict[str, str], demo_db: Path) -> None:
    for url, text in pages.items():
        for coordinate in HOME:
            assert coordinate not in text, (url, coordinate)
    rounded = query(demo_db, "select id, latitude, longitude from photos where location_rounded = 1")
    assert rounded, "the demo has an off-event photo"
    client = Site(demo_db)
    try:
        rows = {r["id"]: r for r in client.json("/archive/photo_map.json?_shape=objects&_size=max")["rows"]}
    finally:
        client.close()
    for photo in rounded:
        shown = rows[photo["id"]]
        for value in (shown["latitude"], shown["longitude"]):
            assert re.fullmatch(r"-?\d+(\.\d{1,2})?", repr(value)), value
        assert shown["location_rounded"] == 1 and "rounded" in shown["popup"]


def riff_chunks(webp: bytes) -> set[bytes]:
    names, at = set(), 12
    while at + 8 <= len(webp):
        size = struct.unpack("<I", webp[at + 4:at + 8])[0]
        names.add(webp[at:at + 4])
        at += 8 + size + (size & 1)
    return names


def test_no_metadata_inside_served_images(demo_db: Path, tmp_path: Path) -> None:
    """Thumbnails and previews are pixels only, though the originals carry GPS and names.

    Every thumbnail; the previews of the photo taken at home, the private
    car's photo, the TIFF, and a few more (making all of them is slow).
    """
    client = Site(copy_archive(demo_db, tmp_path))
    try:
        photos = query(client.db, "select id, sha256, file_name, format, "
                                  "file_name in ('home.JPG', 'IMG_4410.JPG') or format != 'JPEG' "
                                  "or title like '%[private]%' or id % 10 = 0 as previewed from photos")
        assert any(p["file_name"] == "home.JPG" and p["previewed"] for p in photos)
        for photo in photos:
            for route in ("thumb", "preview") if photo["previewed"] else ("thumb",):
                body = client.get(f"/-/{route}/{photo['sha256']}.webp").content
                assert body[:4] == b"RIFF" and body[8:12] == b"WEBP", (route, photo)
                assert not {b"EXIF", b"XMP ", b"ICCP"} & riff_chunks(body), (route, photo)
                image = Image.open(io.BytesIO(body))
                assert not dict(image.getexif()) and "exif" not in image.info and "xmp" not in image.info
                for private in (b"GPS", b"Yellow Submarine", b"HH-YS-333", b"52.52"):
                    assert private not in body, (route, photo, private)
    finally:
        client.close()


def test_popup_links_cannot_be_javascript(demo_db: Path) -> None:
    """Arbitrary SQL can return a `popup` column; its link and image must stay plain URLs."""
    client = Site(demo_db)
    try:
        sql = """select '{"image": "x.webp", "link": "javascript:alert(1)"}' as popup
                 union all select '{"image": "javascript:alert(2)", "title": "t"}'"""
        html = client.get("/archive?" + urllib.parse.urlencode({"sql": sql})).text
        assert 'href="javascript:' not in html and 'src="javascript:' not in html
    finally:
        client.close()
