"""The published site, through Datasette's own test client: every page, canned
query and JSON endpoint, the gallery, the photo page, thumbnails and previews.

The archive is the demo's (`photo-archive demo --no-serve`), built once per
session; expectations are read from it, so they follow the demo's content.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from markupsafe import escape
from PIL import Image

from ingest import previews, site
from tests.site_helpers import (ROOT, Site, copy_archive, demo_archive, free_port, query, served, start_serve, tiles,
                                wait_until_answering)

METADATA = yaml.safe_load((ROOT / "metadata.yml").read_text(encoding="utf-8"))
QUERIES = METADATA["databases"]["archive"]["queries"]
IMMUTABLE = "public, max-age=31536000, immutable"
MAMBA = "0042"


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    return demo_archive(tmp_path_factory)


@pytest.fixture(scope="module")
def site_(demo_db: Path):
    client = Site(demo_db)
    yield client
    client.close()


@pytest.fixture(scope="module")
def originals(demo_db: Path) -> list[dict]:
    """The photos the gallery shows: every photo that is not a duplicate, newest first."""
    return query(demo_db, "select * from photos where duplicate_of is null "
                          "order by taken_at_local desc nulls last, id")


def one(db: Path, sql: str, params: tuple = ()):
    return next(iter(query(db, sql, params)[0].values()))


def photo_id(db: Path, file_name: str) -> int:
    return one(db, "select id from photos where file_name = ?", (file_name,))


# --- every page renders ------------------------------------------------------

PAGES = [
    "/", "/archive", "/archive/photos", "/archive/photos?_layout=table", "/archive/photos?_duplicates=1",
    "/archive/photos?_search=Green+Mamba", f"/archive/photos?_car={MAMBA}", "/archive/photos?_colour=Java+Green",
    "/archive/photos?event_id=meet-2025&session_id=nordschleife-parade", "/archive/photos?_search=nothing-matches-this",
    "/archive/cars", f"/archive/cars/{MAMBA}", "/archive/events", "/archive/events/meet-2025",
    "/archive/sessions", "/archive/sessions/nordschleife-parade", "/archive/photographers",
    "/archive/photographers/rene-hey", "/archive/photo_cars", "/archive/photo_files", "/archive/ingest_errors",
    "/archive?sql=select+id%2C+sha256%2C+thumbnail+from+photos+limit+3",
]


@pytest.mark.parametrize("path", PAGES)
def test_page_renders(site_: Site, path: str) -> None:
    response = site_.get(path)
    assert response.status_code == 200, response.text[:1000]
    assert "text/html" in response.headers["content-type"]
    for inlined in ("data:image/webp", "data:image/jpeg", "data:image/png"):
        assert inlined not in response.text  # pictures come by URL, never inlined


@pytest.mark.parametrize("path", [p for p in PAGES if not p.startswith("/archive?")] + ["/archive/photos/1"])
def test_json_endpoint(site_: Site, path: str) -> None:
    base, _, query_string = path.partition("?")
    url = ("/.json" if base == "/" else base + ".json") + ("?" + query_string if query_string else "")
    response = site_.get(url)
    assert response.status_code == 200, (url, response.text[:500])
    assert isinstance(response.json(), (dict, list))


def test_every_photo_page_renders(site_: Site, demo_db: Path) -> None:
    for row in query(demo_db, "select id, sha256 from photos"):
        response = site_.get(f"/archive/photos/{row['id']}")
        assert response.status_code == 200, row
        assert f"/-/preview/{row['sha256']}.webp" in response.text


def sample_params(name: str) -> dict[str, str]:
    return {"car": "Green Mamba", "event": "2025", "photographer": "René"} if name else {}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_canned_query_as_html_and_json(site_: Site, name: str) -> None:
    params = {p: sample_params(name)[p] for p in QUERIES[name].get("params", [])}
    suffix = "?" + urllib.parse.urlencode(params) if params else ""
    html = site_.get(f"/archive/{name}{suffix}")
    assert html.status_code == 200, html.text[:1000]
    assert f"<title>{escape(QUERIES[name]['title'])}</title>" in html.text
    data = site_.json(f"/archive/{name}.json{suffix}{'&' if suffix else '?'}_shape=objects")
    assert data["ok"] is True
    if name not in ("cars_never_photographed", "duplicates_to_review"):
        assert data["rows"], f"{name} returned nothing for {params}"


# --- metadata ----------------------------------------------------------------

def test_metadata_says_who_owns_the_photos(site_: Site) -> None:
    metadata = site_.json("/-/metadata.json")
    assert metadata["title"]
    assert "each photographer" in metadata["license"]
    assert "keeps the copyright" in metadata["description_html"]
    assert metadata["source"]
    home = site_.get("/").text
    assert "all rights reserved" in home and "Find a photo" in home


def test_every_spec_column_is_described() -> None:
    spec = ("id sha256 path file_name file_size format width height orientation taken_at taken_at_local "
            "camera_make camera_model camera_serial lens focal_length f_number exposure_time iso latitude "
            "longitude title caption keywords artist copyright photographer_id event_id session_id credit "
            "phash duplicate_of thumbnail ingested_at").split()
    columns = METADATA["databases"]["archive"]["tables"]["photos"]["columns"]
    assert [c for c in spec if not columns.get(c)] == []


def test_canned_queries_the_issue_asks_for() -> None:
    assert {"photos_of_car", "event_gallery", "photographer_portfolio", "attendance",
            "cars_never_photographed", "duplicates_to_review", "photos_without_photographer",
            "photo_map"} <= set(QUERIES)
    assert QUERIES["photos_of_car"]["params"] == ["car"]  # one text box


def test_default_facets(site_: Site) -> None:
    facets = site_.json("/archive/photos.json")["facet_results"]
    assert {"event_id", "session_id", "photographer_id", "car", "colour", "camera_model"} <= set(facets)
    cars = {r["value"]: r for r in facets["car"]["results"]}
    assert cars[MAMBA]["label"] == "Green Mamba (#42)"
    assert f"_car={MAMBA}" in cars[MAMBA]["toggle_url"]
    events = {r["value"]: r["label"] for r in facets["event_id"]["results"]}
    assert events["meet-2025"] == "1M Register annual meeting 2025"


def test_facet_names_and_order_on_the_gallery(site_: Site) -> None:
    html = site_.get("/archive/photos").text
    positions = [html.index(f'id="facet-{name}"') for name in
                 ("event_id", "session_id", "car", "colour", "photographer_id", "camera_model")]
    assert positions == sorted(positions)
    assert "<strong>Camera" in html and "<strong>Car" in html


def test_gallery_sorted_by_capture_time(site_: Site, originals: list[dict]) -> None:
    rows = site_.json("/archive/photos.json?_shape=array&_size=max&_col=taken_at_local")
    assert [r["id"] for r in rows] == [r["id"] for r in originals]


# --- the gallery ---------------------------------------------------------------

def test_gallery_is_a_grid_of_thumbnails_with_credits(site_: Site, originals: list[dict]) -> None:
    html = site_.get("/archive/photos").text
    shown = tiles(html)
    assert len(shown) == min(60, len(originals))
    by_id = {row["id"]: row for row in originals}
    for tile in shown:
        row = by_id[tile["id"]]
        assert tile["src"] == f"/-/thumb/{row['sha256']}.webp"
        assert tile["credit"].strip() == (row["credit"] or "No photographer credited")
    assert f"{len(originals)} photos" in html
    assert '<table class="rows-and-columns">' not in html  # so the cluster map stays off the gallery


def test_table_layout_shows_thumbnails_by_url(site_: Site, originals: list[dict]) -> None:
    html = site_.get("/archive/photos?_layout=table").text
    assert '<table class="rows-and-columns">' in html
    assert f'src="/-/thumb/{originals[0]["sha256"]}.webp"' in html


def test_search_finds_a_car_by_nickname(site_: Site, demo_db: Path) -> None:
    expected = {r["id"] for r in query(
        demo_db, "select id from photos where duplicate_of is null and rowid in "
                 "(select rowid from photos_fts where photos_fts match '\"Green\" \"Mamba\"')")}
    rows = site_.json("/archive/photos.json?_search=Green+Mamba&_shape=array&_size=max")
    assert {r["id"] for r in rows} == expected and expected
    assert all("Green Mamba" in r["car_names"] for r in rows)
    html = site_.get("/archive/photos?_search=Green+Mamba").text
    assert {t["id"] for t in tiles(html)} == expected
    assert "Search: Green Mamba" in html


@pytest.mark.parametrize("term, column", [
    ("Cannoneer", "credit"),                      # credit
    ("Orange Juice", "car_names"),                # car nickname
    ("annual meeting 2024", "event_name"),        # event name
    ("Nordschleife parade", "session_name"),      # session name
    ("Nürburgring", "title"),                     # title
    ("Register meeting 2023", "caption"),         # caption
    ("BMW 1M", "keywords"),                       # keywords
])
def test_search_covers(site_: Site, term: str, column: str) -> None:
    rows = site_.json(f"/archive/photos.json?_search={urllib.parse.quote(term)}&_shape=array&_size=max")
    assert rows, term
    assert any(term.lower() in (r[column] or "").lower() for r in rows)


def test_car_filter_and_colour_filter(site_: Site, demo_db: Path) -> None:
    expected = {r["photo_id"] for r in query(
        demo_db, "select pc.photo_id from photo_cars pc join photos p on p.id = pc.photo_id "
                 "where pc.car_id = ? and p.duplicate_of is null", (MAMBA,))}
    data = site_.json(f"/archive/photos.json?_car={MAMBA}&_size=max")
    assert {row[0] for row in data["rows"]} == expected
    assert data["human_description_en"].startswith("where car is Green Mamba (#42)")
    facet = {r["value"]: r for r in data["facet_results"]["car"]["results"]}
    assert facet[MAMBA]["selected"] and f"_car={MAMBA}" not in facet[MAMBA]["toggle_url"]
    green = site_.json("/archive/photos.json?_colour=Java+Green&_size=max")
    assert {row[0] for row in green["rows"]} == expected  # the only Java Green car


def test_event_and_session_facets_filter(site_: Site, demo_db: Path) -> None:
    expected = one(demo_db, "select count(*) from photos where event_id = 'meet-2025' "
                            "and session_id = 'nordschleife-parade' and duplicate_of is null")
    html = site_.get("/archive/photos?event_id=meet-2025&session_id=nordschleife-parade").text
    assert f"{expected} photos" in html
    assert len(tiles(html)) == expected
    assert "Event: 1M Register annual meeting 2025" in html and "Session: Nordschleife parade" in html


def test_photo_page(site_: Site, demo_db: Path) -> None:
    (row,) = query(demo_db, "select * from photos where file_name = 'BURST_1.JPG'")
    html = site_.get(f"/archive/photos/{row['id']}").text
    assert f'src="/-/preview/{row["sha256"]}.webp"' in html
    assert f'<p class="photo-credit">{row["credit"]}</p>' in html
    assert f'href="/archive/cars/{MAMBA}">Green Mamba (#42)</a>' in html
    assert 'href="/archive/events/meet-2025">1M Register annual meeting 2025</a>' in html
    assert 'href="/archive/sessions/nordschleife-parade">Nordschleife parade</a>' in html
    assert 'href="/archive/photos?session_id=nordschleife-parade">all its photos</a>' in html
    settings = f"f/{row['f_number']:g}"
    assert settings in html and f"ISO {row['iso']}" in html and row["camera_model"] in html
    assert "All fields" in html


def test_photo_without_photographer_says_so(site_: Site, demo_db: Path) -> None:
    (bare,) = query(demo_db, "select id, credit from photos where file_name = 'IMG_4410.JPG'")
    html = site_.get(f"/archive/photos/{bare['id']}").text
    assert "<dt>Photographer</dt>\n    <dd>Not known</dd>" in html
    assert (f'<p class="photo-credit">{bare["credit"]}</p>' if bare["credit"]
            else "No photographer credited") in html


def test_car_page_shows_all_its_photos(site_: Site, demo_db: Path) -> None:
    expected = {r["photo_id"] for r in query(
        demo_db, "select pc.photo_id from photo_cars pc join photos p on p.id = pc.photo_id "
                 "where pc.car_id = ? and p.duplicate_of is null", (MAMBA,))}
    html = site_.get(f"/archive/cars/{MAMBA}").text
    assert "<h1" in html and "Green Mamba (#42)</h1>" in html
    assert {t["id"] for t in tiles(html)} == expected
    assert f'href="/archive/photos?_car={MAMBA}"' in html


@pytest.mark.parametrize("path, column, key", [
    ("/archive/events/meet-2025", "event_id", "meet-2025"),
    ("/archive/sessions/nordschleife-parade", "session_id", "nordschleife-parade"),
    ("/archive/photographers/rene-hey", "photographer_id", "rene-hey"),
])
def test_register_pages_show_their_photos(site_: Site, demo_db: Path, path: str, column: str, key: str) -> None:
    expected = {r["id"] for r in query(
        demo_db, f"select id from photos where {column} = ? and duplicate_of is null", (key,))}
    assert {t["id"] for t in tiles(site_.get(path).text)} == expected


# --- thumbnails and previews ----------------------------------------------------

def test_thumbnail_by_url_with_long_cache(site_: Site, demo_db: Path) -> None:
    (row,) = query(demo_db, "select sha256, thumbnail from photos limit 1")
    response = site_.get(f"/-/thumb/{row['sha256']}.webp")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.content == row["thumbnail"]
    again = site_.get(f"/-/thumb/{row['sha256']}.webp", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.fixture
def own_site(demo_db: Path, tmp_path: Path):
    """A site on a private copy of the demo archive and ledger (its preview cache starts empty)."""
    client = Site(copy_archive(demo_db, tmp_path / "copy"))
    yield client
    client.close()


def test_preview_is_made_once_and_cached(own_site: Site) -> None:
    (row,) = query(own_site.db, "select * from photos where file_name = 'BURST_1.JPG'")
    cached = previews.preview_path(own_site.db, row["sha256"])
    assert not cached.exists()
    response = own_site.get(f"/-/preview/{row['sha256']}.webp")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["cache-control"] == IMMUTABLE
    image = Image.open(io.BytesIO(response.content))
    assert max(image.size) == min(1600, max(row["width"], row["height"]))
    assert image.size[0] / image.size[1] == pytest.approx(row["thumbnail_width"] / row["thumbnail_height"], rel=0.02)
    assert cached.read_bytes() == response.content
    made = cached.stat().st_mtime_ns
    assert own_site.get(f"/-/preview/{row['sha256']}.webp").content == response.content
    assert cached.stat().st_mtime_ns == made


def test_preview_of_a_tiff_original(own_site: Site) -> None:
    tiff = query(own_site.db, "select sha256, thumbnail_width, thumbnail_height from photos where format = 'TIFF'")
    if not tiff:
        pytest.skip("the demo has no TIFF")
    image = Image.open(io.BytesIO(own_site.get(f"/-/preview/{tiff[0]['sha256']}.webp").content))
    assert image.width / image.height == pytest.approx(tiff[0]["thumbnail_width"] / tiff[0]["thumbnail_height"], rel=0.02)


def test_preview_falls_back_to_the_thumbnail_without_the_original(demo_db: Path, tmp_path: Path) -> None:
    published = Site(copy_archive(demo_db, tmp_path / "published", ledger=False))
    try:
        (row,) = query(published.db, "select sha256, thumbnail from photos limit 1")
        response = published.get(f"/-/preview/{row['sha256']}.webp")
        assert response.status_code == 200
        assert response.content == row["thumbnail"]
        assert "immutable" not in response.headers["cache-control"]  # the real preview may come later
        assert not previews.previews_dir(published.db).exists()
    finally:
        published.close()


def test_prebuilt_previews_are_served_without_originals(demo_db: Path, tmp_path: Path) -> None:
    """What `datasette publish` ships: archive.db and archive.db.previews/, no ledger, no originals."""
    built = copy_archive(demo_db, tmp_path / "built")
    (row,) = query(built, "select sha256, format, orientation from photos where file_name = 'BURST_1.JPG'")
    made = previews.preview_from_original(built, row["sha256"], row["format"], row["orientation"])
    assert previews.cache_preview(built, row["sha256"], made)
    published = copy_archive(built, tmp_path / "published", ledger=False)
    previews.previews_dir(built).rename(previews.previews_dir(published))
    client = Site(published)
    try:
        response = client.get(f"/-/preview/{row['sha256']}.webp")
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.content == previews.preview_path(published, row["sha256"]).read_bytes()
    finally:
        client.close()


# --- duplicates -------------------------------------------------------------------

@pytest.fixture(scope="module")
def dup_site(demo_db: Path, tmp_path_factory):
    """The demo with the web export and the re-share of BURST_1 marked as its duplicates."""
    db = copy_archive(demo_db, tmp_path_factory.mktemp("duplicates"), ledger=False)
    with sqlite3.connect(db) as conn:
        original = conn.execute("select id from photos where file_name = 'BURST_1.JPG'").fetchone()[0]
        conn.execute("update photos set duplicate_of = ? where file_name in "
                     "('BURST_1-web.jpg', 'mamba-from-instagram.jpg')", [original])
    conn.close()
    client = Site(db)
    yield client, original
    client.close()


def test_duplicates_are_hidden_from_the_gallery(dup_site) -> None:
    client, original = dup_site
    duplicates = {r["id"] for r in query(client.db, "select id from photos where duplicate_of is not null")}
    total = one(client.db, "select count(*) from photos")
    data = client.json("/archive/photos.json?_size=max")
    assert data["filtered_table_rows_count"] == total - len(duplicates)
    assert not duplicates & {row[0] for row in data["rows"]}
    everything = client.json("/archive/photos.json?_duplicates=1&_size=max")
    assert everything["filtered_table_rows_count"] == total
    html = client.get("/archive/photos").text
    assert "Duplicates are hidden" in html and "_duplicates=1" in html
    linked = client.json(f"/archive/photos.json?duplicate_of={original}")  # "Links from other tables"
    assert {row[0] for row in linked["rows"]} == duplicates


def test_original_page_lists_its_duplicates(dup_site) -> None:
    client, original = dup_site
    duplicates = {r["id"] for r in query(client.db, "select id from photos where duplicate_of = ?", (original,))}
    html = client.get(f"/archive/photos/{original}").text
    assert "2 duplicates of this photo" in html
    assert {t["id"] for t in tiles(html)} == duplicates


def test_duplicate_page_points_to_its_original(dup_site) -> None:
    client, original = dup_site
    duplicate = one(client.db, "select id from photos where duplicate_of = ? limit 1", (original,))
    html = client.get(f"/archive/photos/{duplicate}").text
    assert f'This is a duplicate of <a href="/archive/photos/{original}">' in html


def test_duplicates_to_review(dup_site) -> None:
    client, original = dup_site
    rows = client.json("/archive/duplicates_to_review.json?_shape=objects")["rows"]
    assert [r["note"] for r in rows] == ["original", f"duplicate of photo {original}", f"duplicate of photo {original}"]
    assert len({r["gallery_group"] for r in rows}) == 1
    html = client.get("/archive/duplicates_to_review").text
    assert len(tiles(html)) == 3 and "gallery-group" in html


# --- canned queries -------------------------------------------------------------

@pytest.mark.parametrize("car", [
    "WBS1J5C50BE000042", "wbs1j5c50be000042", "E000042", "42", "#42", "1M #42", "1M-42", "No. 42", "0042",
    "M GM 1042", "M-GM-1042", "mgm1042", "Green Mamba", "green mamba", "Mamba",
])
def test_photos_of_a_car_by_any_identifier(site_: Site, car: str) -> None:
    rows = site_.json(f"/archive/photos_of_car.json?car={urllib.parse.quote(car)}&_shape=objects")["rows"]
    assert rows and {r["car_id"] for r in rows} == {MAMBA}
    assert all(r["gallery_group"] == "Green Mamba (#42)" for r in rows)


@pytest.mark.parametrize("car", ["", "   ", "Nobody's car", "4", "9999"])
def test_photos_of_a_car_needs_a_real_identifier(site_: Site, car: str) -> None:
    assert site_.json(f"/archive/photos_of_car.json?car={urllib.parse.quote(car)}")["rows"] == []


def test_photos_of_a_car_is_a_gallery(site_: Site) -> None:
    html = site_.get("/archive/photos_of_car?car=Green+Mamba").text
    shown = tiles(html)
    assert shown and all(t["src"].startswith("/-/thumb/") for t in shown)
    assert '<h3 class="gallery-group">Green Mamba (#42)</h3>' in html
    empty = site_.get("/archive/photos_of_car").text
    assert tiles(empty) == [] and "Type above" in empty
    table = site_.get("/archive/photos_of_car?car=Green+Mamba&_layout=table").text
    assert '<table class="rows-and-columns">' in table


def test_event_gallery_by_session(site_: Site, demo_db: Path) -> None:
    rows = site_.json("/archive/event_gallery.json?event=meet-2025&_shape=objects&_size=max")["rows"]
    expected = one(demo_db, "select count(*) from photos where event_id = 'meet-2025' and duplicate_of is null")
    assert len(rows) == expected
    groups = list(dict.fromkeys(r["gallery_group"] for r in rows))
    assert groups[0] == "1M Register annual meeting 2025: Nordschleife parade"
    assert "1M Register annual meeting 2025: GP circuit in the rain" in groups
    by_alias = site_.json("/archive/event_gallery.json?event=1M+Treffen+2025")["rows"]
    assert len(by_alias) == expected


def test_photographer_portfolio(site_: Site, demo_db: Path) -> None:
    expected = one(demo_db, "select count(*) from photos where photographer_id = 'rene-hey' and duplicate_of is null")
    for name in ("René", "rene-hey", "Cannoneer", "@cannoneer"):
        rows = site_.json(f"/archive/photographer_portfolio.json?photographer={urllib.parse.quote(name)}&_shape=objects&_size=max")["rows"]
        assert len(rows) == expected, name
        assert all(r["gallery_group"].startswith("René Hey: ") for r in rows)


def test_attendance_per_event(site_: Site, demo_db: Path) -> None:
    rows = {r["event"]: r for r in site_.json("/archive/attendance.json?_shape=objects")["rows"]}
    assert set(rows) == {r["id"] for r in query(demo_db, "select id from events")}
    cars = one(demo_db, "select count(distinct pc.car_id) from photo_cars pc join photos p on p.id = pc.photo_id "
                        "where p.event_id = 'meet-2025' and p.duplicate_of is null")
    assert rows["meet-2025"]["cars_photographed"] == cars
    assert "Green Mamba (#42)" in rows["meet-2025"]["cars"]


def test_cars_never_photographed(demo_db: Path, tmp_path: Path) -> None:
    db = copy_archive(demo_db, tmp_path, ledger=False)
    with sqlite3.connect(db) as conn:
        conn.execute("insert into cars (id, production_number, color) values ('9000', 9000, 'Alpine White')")
    conn.close()
    client = Site(db)
    try:
        rows = client.json("/archive/cars_never_photographed.json?_shape=objects")["rows"]
    finally:
        client.close()
    expected = {r["id"] for r in query(db, "select id from cars where id not in (select car_id from photo_cars)")}
    assert {r["id"] for r in rows} == expected and "9000" in expected
    assert [r["car"] for r in rows if r["id"] == "9000"] == ["#9000 Alpine White"]


def test_photos_without_photographer(site_: Site, demo_db: Path) -> None:
    rows = site_.json("/archive/photos_without_photographer.json?_shape=objects")["rows"]
    expected = {r["id"] for r in query(demo_db, "select id from photos where photographer_id is null and duplicate_of is null")}
    assert {r["id"] for r in rows} == expected
    html = site_.get("/archive/photos_without_photographer").text
    assert {t["id"] for t in tiles(html)} == expected


def test_map_of_geotagged_photos(site_: Site, demo_db: Path) -> None:
    rows = site_.json("/archive/photo_map.json?_shape=objects&_size=max")["rows"]
    expected = one(demo_db, "select count(*) from photos where latitude is not null and duplicate_of is null")
    assert len(rows) == expected
    for row in rows:
        popup = json.loads(row["popup"])
        thumb = urllib.parse.urljoin("http://x/archive/photo_map", popup["image"])
        assert site_.get(urllib.parse.urlparse(thumb).path).status_code == 200
        assert urllib.parse.urljoin("http://x/archive/photo_map", popup["link"]) == f"http://x/archive/photos/{row['id']}"
        assert popup["description"]
    html = site_.get("/archive/photo_map").text
    assert "datasette-cluster-map.js" in html
    assert '<img class="cell-thumbnail" src="../-/thumb/' in html


# --- how the site is started ------------------------------------------------------

def test_metadata_follows_the_database_name(tmp_path: Path, demo_db: Path) -> None:
    assert site.metadata_for("archive.db") == site.load_metadata()
    renamed = site.metadata_for(tmp_path / "club.db")
    assert set(renamed["databases"]) == {"club"}
    club = copy_archive(demo_db, tmp_path, ledger=False).rename(tmp_path / "club.db")
    client = Site(club)
    try:
        assert "car" in client.json("/club/photos.json")["facet_results"]
        assert client.get("/club/photos_of_car?car=42").status_code == 200
    finally:
        client.close()


def test_serve_arguments(tmp_path: Path) -> None:
    args = site.site_args("archive.db")
    assert args[:2] == ["--metadata", str(ROOT / "metadata.yml")]
    assert ["--template-dir", str(ROOT / "templates")] == args[2:4]
    assert ["--plugins-dir", str(ROOT / "plugins")] == args[4:6]
    assert args[6:] == ["--setting", "suggest_facets", "off"]  # seconds per gallery page at 200,000 photos
    renamed = site.site_args(tmp_path / "club.db", scratch=tmp_path)
    assert renamed[1] == str(tmp_path / "metadata.json")
    assert set(json.loads((tmp_path / "metadata.json").read_text())["databases"]) == {"club"}


def test_serve_brings_an_older_archive_up_to_date(demo_db: Path, tmp_path: Path) -> None:
    """An archive from before photo_cars.color: serving it adds the column, or colours would fail."""
    db = copy_archive(demo_db, tmp_path, ledger=False)
    with sqlite3.connect(db) as conn:
        conn.executescript("drop index idx_photo_cars_color_photo_id; drop index idx_photo_cars_photo_id_color;"
                           "drop trigger photo_cars_color_on_tag; alter table photo_cars drop column color;")
    conn.close()
    with served(db) as base:
        with urllib.request.urlopen(f"{base}/archive/photos.json?_colour=Java+Green") as response:
            data = json.load(response)
    assert data["rows"] and data["facet_results"]["colour"]["results"][0]["value"] == "Java Green"



def running_in_session(session: int) -> list[str]:
    """Live processes of a session (an orphan that exited may stay a zombie until init reaps it)."""
    listed = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-s", str(session)], capture_output=True, text=True)
    return [line for line in listed.stdout.splitlines() if line.split()[1][0] != "Z"]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_serve_takes_datasette_with_it_when_stopped(demo_db: Path, tmp_path: Path, stop: int) -> None:
    """A service manager stops `serve` itself, not its child: Datasette must not linger on the port.

    SIGTERM and SIGHUP are passed on; after SIGKILL the kernel stops the child (PR_SET_PDEATHSIG).
    """
    port = free_port()
    log = tmp_path / "serve.log"
    process = start_serve(demo_db, port, log)
    try:
        wait_until_answering(process, f"http://127.0.0.1:{port}", log)
        process.send_signal(stop)  # the parent only, as systemd or a closed terminal would
        assert process.wait(timeout=15) == (-signal.SIGKILL if stop == signal.SIGKILL else 0)
        deadline = time.monotonic() + 15
        while running_in_session(process.pid):
            assert time.monotonic() < deadline, f"still running after serve stopped: {running_in_session(process.pid)}"
            time.sleep(0.2)
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/versions.json", timeout=2)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --- publishing -------------------------------------------------------------------

def readme_publish_flags() -> list[str]:
    """The flags of the README's `datasette publish` command (after the database file)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Publishing", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    command = re.search(r"^datasette publish .*?(?<!\\)$", block.replace("\\\n", " "), re.M).group(0)
    words = shlex.split(command)
    assert words[:4] == ["datasette", "publish", "cloudrun", "archive.db"]
    flags = words[4:]
    if "--service" in flags:  # Cloud Run's own option
        i = flags.index("--service")
        del flags[i:i + 2]
    return flags


def test_readme_publish_flags_make_a_working_site(demo_db: Path, tmp_path: Path, monkeypatch) -> None:
    """`datasette package` with the README's flags, a fake `docker` keeping the build folder."""
    from click.testing import CliRunner
    from datasette.app import Datasette
    from datasette.cli import cli as datasette_cli

    work = tmp_path / "work"
    db = copy_archive(demo_db, work)
    (row,) = query(db, "select sha256, format, orientation from photos where file_name = 'BURST_1.JPG'")
    previews.cache_preview(db, row["sha256"], previews.preview_from_original(db, row["sha256"], row["format"], None))
    Path(f"{db}.private").unlink()  # never published
    for name in ("metadata.yml", "templates", "plugins"):
        (work / name).symlink_to(ROOT / name)
    image = tmp_path / "image"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f'#!/bin/sh\ncp -rL . "{image}"\n')
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.chdir(work)

    result = CliRunner().invoke(datasette_cli, ["package", "archive.db", *readme_publish_flags()])
    assert result.exit_code == 0, result.output

    dockerfile = (image / "Dockerfile").read_text()
    for expected in ("--metadata metadata.json", "--template-dir templates/", "--plugins-dir plugins/",
                     "--static archive.db.previews:archive.db.previews", "datasette-cluster-map",
                     "--setting suggest_facets off"):
        assert expected in dockerfile
    assert not (image / "archive.db.private").exists()
    assert (image / "archive.db.previews" / f"{row['sha256']}.webp").is_file()
    # What the image runs: `datasette serve -i archive.db --metadata metadata.json ...`
    packaged = Datasette(immutables=[str(image / "archive.db")],
                         metadata=json.loads((image / "metadata.json").read_text()),
                         template_dir=str(image / "templates"), plugins_dir=str(image / "plugins"),
                         static_mounts=[("archive.db.previews", str(image / "archive.db.previews"))])
    client = Site(image / "archive.db", ds=packaged)
    try:
        response = client.get(f"/-/preview/{row['sha256']}.webp")
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.content == (image / "archive.db.previews" / f"{row['sha256']}.webp").read_bytes()
        assert "car" in client.json("/archive/photos.json")["facet_results"]
        assert tiles(client.get("/archive/photos_of_car?car=42").text)
    finally:
        client.close()
