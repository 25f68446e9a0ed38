"""The register on the command line: a bad one stops ingest before the database; a good one
lands in the photographers, events, sessions and cars tables, and edits reach them. Also the
views that answer members' questions (to go into db.ensure_db_shape; prototyped here)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from ingest.sample_photos import Meta
from tests.conftest import rows
from tests.test_tagging import REGISTER

def ingest(run_cli, *extra: str):
    return run_cli("ingest", "inbox", "--db", "archive.db", "--register", "register.yml", "--workers", "1", *extra)


@pytest.fixture
def inbox(tmp_path: Path, photo, monkeypatch) -> Path:
    photo("inbox/rene-hey/2025/IMG_0001.JPG", 1, Meta(taken_at=datetime(2025, 9, 20, 9, 40),
                                                      iptc_keywords=["Green Mamba"]))
    photo("inbox/vos-photography/2025/IMG_0002.JPG", 2, Meta(taken_at=datetime(2025, 9, 20, 10, 30),
                                                             xmp_title="Segler's 1M and #4096"))
    photo("inbox/members/phone/IMG_0003.JPG", 3, Meta(make="Apple", model="iPhone 15", serial="F2LX1234"))
    photo("inbox/handed-over/IMG_0004.JPG", 4, Meta(taken_at=datetime(2025, 7, 12, 10, 0),
                                                    xmp_creator=["KL Pictures"], xmp_subject=["NR-1M-42"]))
    photo("inbox/handed-over/IMG_0005.JPG", 5, Meta(taken_at=datetime(2025, 9, 20, 10, 0),
                                                    artist="John Smith", xmp_subject=["green mamba"]))
    (tmp_path / "register.yml").write_text(REGISTER, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "inbox"


# --- a broken register: one line, exit 1, the database untouched ---------------------------------

BROKEN = [
    ("    color: Java Green\n", "    colour: Java Green\n",
     "line 50, cars[\"0042\"].colour: unknown key 'colour' (allowed: id, vin, production_number, color, "
     "nickname, plates, aliases, public)"),
    ('  - id: "0104"\n', '  - id: "0042"\n', "line 53, cars[\"0042\"].id: duplicate id '0042' (first at line 47)"),
    ("vin: WBS1J5C50BE000042", "vin: WBS1J5C50BE00004",
     "line 48, cars[\"0042\"].vin: VIN 'WBS1J5C50BE00004' must be 17 characters, not 16"),
    ("vin: WBS1J5C50BE000042", "vin: WBS1J5C5OBE000042",
     "line 48, cars[\"0042\"].vin: VIN 'WBS1J5C5OBE000042' contains 'O'; VINs use only A-Z and 0-9 "
     "without I, O and Q"),
    ("timezone: Europe/London", "timezone: Europe/Londn",
     "line 39, events[\"goodwood-2025\"].timezone: unknown time zone 'Europe/Londn' (did you mean "
     "'Europe/London'?)"),
    ("end: 2025-09-20T12:00", "end: 2025-09-22T12:00",
     "line 34, events[\"meet-2025\"].sessions[\"nordschleife-parade\"].end: session 'nordschleife-parade' "
     "is outside its event (2025-09-19 .. 2025-09-21)"),
    ("start: 2025-07-11", "start: 2025-02-30",
     "line 37, events[\"goodwood-2025\"].start: '2025-02-30' is not a valid date (day is out of range for month)"),
    ("start: 2025-07-11", "start: 11.07.2025",
     "line 37, events[\"goodwood-2025\"].start: '11.07.2025' is not a date; write YYYY-MM-DD, e.g. 2025-09-19"),
]


def break_register(old: str, new: str) -> None:
    assert old in REGISTER
    Path("register.yml").write_text(REGISTER.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("old, new, where", BROKEN)
def test_broken_register_stops_ingest_before_the_database(inbox: Path, run_cli, old, new, where) -> None:
    break_register(old, new)
    result = ingest(run_cli)
    assert result.exit_code == 1
    assert result.stderr == f"Error: register.yml, {where}\n"
    assert sorted(p.name for p in Path(".").iterdir()) == ["inbox", "register.yml"]  # no db, ledger or lock


@pytest.mark.parametrize("old, new, where", BROKEN[:3])
def test_broken_register_leaves_an_existing_archive_as_it_was(inbox: Path, run_cli, old, new, where) -> None:
    assert ingest(run_cli).exit_code == 0
    files = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in Path(".").glob("archive.db*")}
    break_register(old, new)
    result = ingest(run_cli)
    assert (result.exit_code, result.stderr) == (1, f"Error: register.yml, {where}\n")
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in Path(".").glob("archive.db*")} == files


def test_broken_tags_file_stops_ingest_too(inbox: Path, run_cli) -> None:
    Path("tags.yml").write_text("photos:\n  not-a-sha: {}\n", encoding="utf-8")
    result = ingest(run_cli)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {Path('tags.yml').resolve()}, photo not-a-sha: the key must be a "
                             "photo's sha256 (64 hex digits)\n")
    assert not Path("archive.db").exists()


# --- the register's tables ------------------------------------------------------------------

def test_register_lands_in_its_tables(inbox: Path, run_cli) -> None:
    assert ingest(run_cli).exit_code == 0
    assert rows("archive.db", "select * from photographers order by id") == [
        {"id": "kai-lindqvist", "name": "Kai Lindqvist", "studio": None, "handle": None,
         "credit": "Photo: Kai Lindqvist", "aliases": '["KL Pictures"]'},
        {"id": "rene-hey", "name": "René Hey", "studio": "Cannoneer Photography", "handle": "@cannoneer",
         "credit": "Photo: René Hey / Cannoneer Photography", "aliases": '["Rene Hey"]'},
        {"id": "vos-photography", "name": "VOS Photography", "studio": None, "handle": None,
         "credit": "Photo: VOS Photography", "aliases": "[]"},
    ]
    assert rows("archive.db", "select * from events order by id") == [
        {"id": "goodwood-2025", "name": "Goodwood gathering 2025", "start": "2025-07-11", "end": "2025-07-13",
         "timezone": "Europe/London", "place_name": None, "latitude": None, "longitude": None,
         "radius_km": None, "aliases": "[]"},
        {"id": "meet-2025", "name": "1M Register annual meeting 2025", "start": "2025-09-19", "end": "2025-09-21",
         "timezone": "Europe/Berlin", "place_name": "Nürburgring", "latitude": 50.3356, "longitude": 6.9475,
         "radius_km": 30.0, "aliases": '["1M Treffen 2025"]'},
    ]
    assert rows("archive.db", "select * from sessions order by start") == [
        {"id": "hill-climb", "event_id": "goodwood-2025", "name": "Hill climb",
         "start": "2025-07-12T09:00:00", "end": "2025-07-12T12:00:00"},
        {"id": "breakfast", "event_id": "meet-2025", "name": "Breakfast at the Lindner",
         "start": "2025-09-20T07:00:00", "end": "2025-09-20T09:00:00"},
        {"id": "nordschleife-parade", "event_id": "meet-2025", "name": "Nordschleife parade",
         "start": "2025-09-20T09:00:00", "end": "2025-09-20T12:00:00"},
    ]
    assert rows("archive.db", "select * from cars order by id") == [  # the private car 0333 is not there
        {"id": "0042", "vin": "WBS1J5C50BE000042", "vin_last7": "E000042", "production_number": 42,
         "color": "Java Green", "nickname": "Green Mamba", "plates": '["NR 1M 42"]', "aliases": "[]"},
        {"id": "0104", "vin": "WBS1J5C58BE000104", "vin_last7": "E000104", "production_number": 104,
         "color": None, "nickname": None, "plates": '["M KS 104"]', "aliases": '["Segler\'s 1M"]'},
        {"id": "0203", "vin": None, "vin_last7": None, "production_number": 203, "color": None,
         "nickname": None, "plates": "[]", "aliases": "[]"},
        {"id": "1203", "vin": None, "vin_last7": None, "production_number": 1203, "color": None,
         "nickname": None, "plates": '["NR 1M 203"]', "aliases": "[]"},
        {"id": "4096", "vin": None, "vin_last7": None, "production_number": 4096, "color": None,
         "nickname": "Grüne Hölle", "plates": "[]", "aliases": "[]"},
    ]


EDITS = [
    ("name: Goodwood gathering 2025", "name: Goodwood Revival gathering"),     # renamed
    ("      - id: breakfast\n        name: Breakfast at the Lindner\n        start: 2025-09-20T07:00\n"
     "        end: 2025-09-20T09:00\n", ""),                                     # a session dropped
    ('    plates: ["M KS 104"]\n', '    plates: ["M KS 1040"]\n    color: Le Mans Blue\n'),
    ("    nickname: Green Mamba\n", "    nickname: Green Mamba\n    public: false\n"),  # made private
    ("  - id: kai-lindqvist\n    name: Kai Lindqvist\n    aliases: [\"KL Pictures\"]\n", ""),  # left the club
    ("cars:\n", 'cars:\n  - id: "0007"\n    production_number: 7\n    nickname: MotoGP Safety Car\n'),
]


def test_editing_the_register_and_re_running_updates_the_tables(inbox: Path, run_cli) -> None:
    assert ingest(run_cli).exit_code == 0
    text = REGISTER
    for old, new in EDITS:
        assert old in text
        text = text.replace(old, new, 1)
    Path("register.yml").write_text(text, encoding="utf-8")
    assert ingest(run_cli).exit_code == 0
    assert [r["id"] for r in rows("archive.db", "select id from photographers order by id")] == [
        "rene-hey", "vos-photography"]
    assert rows("archive.db", "select name from events where id = 'goodwood-2025'") == [
        {"name": "Goodwood Revival gathering"}]
    assert [r["id"] for r in rows("archive.db", "select id from sessions order by id")] == [
        "hill-climb", "nordschleife-parade"]
    assert rows("archive.db", "select id, color, plates from cars order by id") == [
        {"id": "0007", "color": None, "plates": "[]"},
        {"id": "0104", "color": "Le Mans Blue", "plates": '["M KS 1040"]'},
        {"id": "0203", "color": None, "plates": "[]"},
        {"id": "1203", "color": None, "plates": '["NR 1M 203"]'},
        {"id": "4096", "color": None, "plates": "[]"},
    ]
    # Nothing points at what left the register.
    assert rows("archive.db", "select count(*) n from photo_cars where car_id = '0042'") == [{"n": 0}]
    assert rows("archive.db", """select file_name, photographer_id, credit from photos
                                 where file_name = 'IMG_0004.JPG'""") == [
        # Re-decided on the next ingest: the file still names its author, now outside the register.
        {"file_name": "IMG_0004.JPG", "photographer_id": None, "credit": "Photo: KL Pictures"}]
    assert rows("archive.db", "pragma foreign_key_check") == []


# --- views ---------------------------------------------------------------------------------------

def test_views_answer_the_members_questions(inbox: Path, run_cli) -> None:
    assert ingest(run_cli).exit_code == 0
    assert rows("archive.db", "select * from event_attendance") == [
        {"event_id": "goodwood-2025", "event_name": "Goodwood gathering 2025", "car_id": "0042",
         "nickname": "Green Mamba", "color": "Java Green", "photos": 1},
        {"event_id": "meet-2025", "event_name": "1M Register annual meeting 2025", "car_id": "0042",
         "nickname": "Green Mamba", "color": "Java Green", "photos": 2},
        {"event_id": "meet-2025", "event_name": "1M Register annual meeting 2025", "car_id": "0104",
         "nickname": None, "color": None, "photos": 1},
        {"event_id": "meet-2025", "event_name": "1M Register annual meeting 2025", "car_id": "4096",
         "nickname": "Grüne Hölle", "color": None, "photos": 1},
    ]
    assert [r["car_id"] for r in rows("archive.db", "select * from cars_without_photos")] == ["0203", "1203"]
    assert [(r["file_name"], r["camera_serial"], r["artist"], r["credit"]) for r in
            rows("archive.db", "select * from photos_without_photographer")] == [
        ("IMG_0005.JPG", None, "John Smith", "Photo: John Smith"),
        ("IMG_0003.JPG", "F2LX1234", None, "Photographer unknown"),
    ]


def test_attendance_counts_a_picture_once_however_many_copies(inbox: Path, run_cli) -> None:
    assert ingest(run_cli).exit_code == 0
    conn = sqlite3.connect("archive.db")
    with conn:  # as dedupe would mark it: IMG_0005 is a copy of IMG_0001
        conn.execute("""update photos set duplicate_of = (select id from photos where file_name = 'IMG_0001.JPG')
                        where file_name = 'IMG_0005.JPG'""")
    conn.close()
    counted = "select photos from event_attendance where event_id = 'meet-2025' and car_id = '0042'"
    assert rows("archive.db", counted) == [{"photos": 1}]
