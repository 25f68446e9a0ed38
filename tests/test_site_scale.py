"""What keeps the gallery fast on a large archive (benchmarks/scale.py times it at
200,000 photos): the SQL its pages run reads indexes, not the photos table, and
the facets counted that way agree with a plain join.

Query plans do not depend on the archive's size here (the archive has no
statistics), so the demo archive shows the plans a large one gets.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from ingest.site import datasette_app
from tests.site_helpers import Site, copy_archive, demo_archive, query

MAMBA = "0042"
SEARCH = "photos_fts match '\"Green\" \"Mamba\"'"


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """The demo with two duplicates and a second Java Green car beside the Green Mamba in one photo."""
    db = copy_archive(demo_archive(tmp_path_factory), tmp_path_factory.mktemp("scale"), ledger=False)
    with sqlite3.connect(db) as conn:
        original = conn.execute("select id from photos where file_name = 'BURST_1.JPG'").fetchone()[0]
        conn.execute("update photos set duplicate_of = ? where file_name in "
                     "('BURST_1-web.jpg', 'mamba-from-instagram.jpg')", [original])
        conn.execute("insert into cars (id, production_number, color) values ('9001', 9001, 'Java Green')")
        conn.execute("insert into photo_cars (photo_id, car_id, source, confidence) "
                     "select photo_id, '9001', 'keyword', 1.0 from photo_cars where car_id = ? limit 1", [MAMBA])
    conn.close()
    return db


@pytest.fixture(scope="module")
def site_(archive: Path):
    client = Site(archive, ds=datasette_app(archive, settings={"trace_debug": True}))
    yield client
    client.close()


def plans(site_: Site, path: str) -> list[tuple[str, list[str]]]:
    """(SQL, query plan lines) of every query a page ran on the archive."""
    traces = site_.json(f"{path}{'&' if '?' in path else '?'}_size=1&_trace=1")["_trace"]["traces"]
    conn = sqlite3.connect(site_.db)
    conn.create_function("car_label", 4, lambda *args: None)
    conn.create_function("escape_fts", 1, lambda text: text)
    try:
        return [(t["sql"], [row[3] for row in conn.execute(f"explain query plan {t['sql']}", t.get("params") or {})])
                for t in traces if t.get("database") == "archive" and "sqlite_master" not in t["sql"]]
    finally:
        conn.close()


WHOLE_GALLERY = ["/archive/photos.json", "/archive/photos.json?_facet=event_id", "/archive/photos.json?_duplicates=1"]


@pytest.mark.parametrize("path", WHOLE_GALLERY + [
    "/archive/photos.json?event_id=meet-2025", "/archive/photos.json?_search=Green+Mamba",
    f"/archive/photos.json?_car={MAMBA}", "/archive/photos.json?_colour=Java+Green",
    "/archive/photos_of_car.json?car=Green+Mamba", "/archive/photos_of_car.json?car=M-GM-1042",
])
def test_no_page_reads_the_photos_table_through(site_: Site, path: str) -> None:
    ran = plans(site_, path)
    assert ran
    for sql, plan in ran:
        assert not [line for line in plan if line in ("SCAN photos", "SCAN p", "SCAN photo_cars", "SCAN pc")], (sql, plan)
        if sql.lstrip().startswith("select id, sha256") and " order by " in sql and "_search" not in path \
                and "_car" not in path and "_colour" not in path:
            # The first 60 of the gallery come from an index in order, not from sorting every photo.
            assert not any("TEMP B-TREE FOR ORDER BY" in line for line in plan), (sql, plan)


@pytest.mark.parametrize("path", WHOLE_GALLERY)
def test_whole_gallery_counts_read_indexes_alone(site_: Site, path: str) -> None:
    """Counting every original through the table costs ~0.2 s at 200,000 photos: counts read
    covering or partial indexes; only the few duplicates may be looked up by id."""
    for sql, plan in plans(site_, path):
        if sql.lstrip().startswith("select id, sha256"):
            continue  # the page's rows: one page of them, in index order (see above)
        for line in plan:
            if line.startswith(("SCAN photos", "SEARCH photos")):
                assert ("COVERING INDEX" in line or "INDEX idx_photos_originals_" in line
                        or "INDEX idx_photos_duplicates_" in line
                        or ("INTEGER PRIMARY KEY" in line and "idx_photos_duplicates_duplicate_of" in str(plan))), (sql, line)


def test_photos_of_a_car_finds_the_car_first(site_: Site) -> None:
    """Inlined, the `wanted` cars were matched against the text once per photo (1 s, a 400)."""
    ((sql, plan),) = [(sql, plan) for sql, plan in plans(site_, "/archive/photos_of_car.json?car=Green+Mamba")
                      if "wanted" in sql]
    assert plan[0] == "MATERIALIZE wanted"
    assert "SEARCH pc USING COVERING INDEX idx_photo_cars_car_id_photo_id (car_id=?)" in plan


SELECTIONS = {  # gallery URL -> the photos it selects
    "/archive/photos.json": "duplicate_of is null",
    "/archive/photos.json?_duplicates=1": "1",
    "/archive/photos.json?event_id=meet-2025": "event_id = 'meet-2025' and duplicate_of is null",
    "/archive/photos.json?_search=Green+Mamba": f"rowid in (select rowid from photos_fts where {SEARCH}) "
                                                "and duplicate_of is null",
    "/archive/photos.json?_colour=Java+Green&_duplicates=1":
        "id in (select photo_id from photo_cars pc join cars c on c.id = pc.car_id where c.color = 'Java Green')",
}


@pytest.mark.parametrize("path", SELECTIONS)
def test_facets_agree_with_a_plain_join(site_: Site, archive: Path, path: str) -> None:
    where = SELECTIONS[path]
    data = site_.json(f"{path}&_facet_size=max" if "?" in path else f"{path}?_facet_size=max")
    got = {name: {r["value"]: r["count"] for r in facet["results"]} for name, facet in data["facet_results"].items()}
    counts = lambda sql: {r["value"]: r["n"] for r in query(archive, sql)}  # noqa: E731
    photos = f"select id from photos where {where}"
    expected = {column: counts(f"select {column} as value, count(*) as n from photos where ({where}) "
                               f"and {column} is not null group by 1")
                for column in ("event_id", "session_id", "photographer_id", "camera_model")}
    expected["car"] = counts(f"select car_id as value, count(*) as n from photo_cars "
                             f"where photo_id in ({photos}) group by 1")
    expected["colour"] = counts(f"select c.color as value, count(distinct pc.photo_id) as n from photo_cars pc "
                                f"join cars c on c.id = pc.car_id where pc.photo_id in ({photos}) "
                                f"and c.color is not null group by 1")  # the register's colour, not the copy
    assert got == expected
    assert data["filtered_table_rows_count"] == len(query(archive, photos))


def test_two_cars_of_one_colour_make_one_photo_of_that_colour(site_: Site, archive: Path) -> None:
    colours = {r["value"]: r["count"] for r in site_.json("/archive/photos.json")["facet_results"]["colour"]["results"]}
    mamba = query(archive, "select count(*) as n from photo_cars pc join photos p on p.id = pc.photo_id "
                           "where pc.car_id = ? and p.duplicate_of is null", (MAMBA,))[0]["n"]
    assert colours["Java Green"] == mamba  # the second Java Green car is in one of the Mamba's photos


def test_a_facet_asked_for_twice_is_counted_once(site_: Site) -> None:
    data = site_.json("/archive/photos.json?_facet=event_id&_facet=format")
    assert [name for name in data["facet_results"] if name.startswith("event_id")] == ["event_id"]
    assert data["facet_results"]["format"]["hideable"]  # a facet the page does not show is added
    html = site_.get("/archive/photos?_facet=event_id").text
    assert html.count('id="facet-event_id"') == 1


def test_connections_read_through_mmap(archive: Path) -> None:
    """A search looks up thousands of photos rows by id; mmap halves what each lookup costs."""
    ds = datasette_app(archive)
    sizes = asyncio.run(ds.execute("archive", "pragma mmap_size"))
    assert sizes.first()[0] > 0


@pytest.mark.parametrize("path", ["/archive/photos.json?_size=3", "/archive/photos.json?_size=3&_search=Green+Mamba"])
def test_next_pages_count_the_whole_selection(site_: Site, path: str) -> None:
    """Datasette would count only the photos after the page's cursor: slower (no index has
    them) and not what the page says ('N photos')."""
    first = site_.json(path)
    later = site_.json(first["next_url"].split("localhost", 1)[1])
    counts = lambda data: {name: [(r["value"], r["count"]) for r in facet["results"]]  # noqa: E731
                           for name, facet in data["facet_results"].items()}
    assert later["rows"] != first["rows"] and counts(later) == counts(first)


@pytest.mark.parametrize("path", ["/archive/photos.json?_search=Green+Mamba", f"/archive/photos.json?_car={MAMBA}"])
def test_a_selection_is_read_twice_for_its_facets(site_: Site, path: str) -> None:
    """Looking each selected photo up is most of a facet count (24,000 of them for a popular
    car): the column facets read the selection once, the cars and colours once, in parallel."""
    facets = [sql for sql, _ in plans(site_, path) if "with selected as materialized" in sql]
    assert len(facets) == 2, facets
    columns, cars = sorted(facets, key=lambda sql: "'car' as facet" in sql)
    assert "'car' as facet" not in columns and all(f"'{name}' as facet" in columns for name in
                                               ("event_id", "session_id", "photographer_id", "camera_model"))
    assert cars.startswith("with selected as materialized (select id from (")
    assert "'car' as facet" in cars and "'colour' as facet" in cars
