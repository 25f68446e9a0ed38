"""ingest.retag: finding a photo, re-deciding the archive after a register edit, and when ingest does it."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Iterator

import pytest

from ingest.errors import ArchiveError
from ingest.pipeline import Ingest
from ingest.register import load_register
from ingest.retag import Change, find_photo, fmt, refresh, retag_all, stored_fingerprint
from ingest.sample_photos import Meta, save_photo, scene
from ingest.state import Ledger, open_archive
from ingest.tagging import Tagger
from tests.conftest import rows
from tests.test_tagging import REGISTER

KAI = "inbox/kai/IMG_0001.JPG"
RENE = "inbox/rene-hey/IMG_0001.JPG"
VOS = "inbox/vos-photography/IMG_0002.JPG"
NOW = "2030-01-01T00:00:00Z"

# Car 0104 leaves the register, a new car whose nickname one photo already carries joins it.
CAR_0104 = '''  - id: "0104"
    vin: WBS1J5C58BE000104
    production_number: 104
    aliases: ["Segler's 1M"]
    plates: ["M KS 104"]
'''
CAR_0777 = '''  - id: "0777"
    production_number: 777
    nickname: Red Baron
'''


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An inbox ingested once with the test register; tests work on copies of its databases."""
    root = tmp_path_factory.mktemp("retag")
    save_photo(scene(1, (320, 240)), root / RENE, Meta(taken_at=datetime(2025, 9, 20, 9, 40),
                                                       iptc_keywords=["Green Mamba"]))
    save_photo(scene(2, (320, 240)), root / VOS, Meta(xmp_title="Segler's 1M"))
    save_photo(scene(5, (320, 240)), root / KAI, Meta(iptc_keywords=["Red Baron"]))
    (root / "register.yml").write_text(REGISTER, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # paths as given, relative, like a club's admin runs it
        run = Ingest("archive.db", Tagger(load_register("register.yml")), workers=1)
        try:
            assert run.run(["inbox"]).counts["new"] == 3
        finally:
            run.close()
    return root


@pytest.fixture
def db(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("archive.db", "archive.db.private"):
        shutil.copy(template / name, tmp_path / name)
    monkeypatch.chdir(template)
    return tmp_path / "archive.db"


@pytest.fixture
def opened(db: Path) -> Iterator[tuple]:
    archive, ledger = open_archive(db)
    yield archive, ledger
    archive.close()
    ledger.close()


def tagger(text: str = REGISTER, folder: Path | None = None) -> Tagger:
    path = (folder or Path.cwd()) / "register.yml"
    if text != REGISTER:
        path.write_text(text, encoding="utf-8")
    return Tagger(load_register(path))


def edited(tmp_path: Path) -> Tagger:
    assert CAR_0104 in REGISTER
    return tagger(REGISTER.replace(CAR_0104, CAR_0777), tmp_path)


def photo_row(db: Path, path: str) -> dict:
    (row,) = rows(db, "select id, sha256, path from photos where path = ?", (path,))
    return row


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- find_photo ----------------------------------------------------------------------------

@pytest.mark.parametrize("selector", [
    lambda row: str(row["id"]),
    lambda row: row["sha256"][:8],
    lambda row: row["sha256"][:12].upper(),
    lambda row: VOS,
    lambda row: "IMG_0002.JPG",
    lambda row: os.path.abspath(VOS),
    lambda row: "./inbox/vos-photography/IMG_0002.JPG",  # another spelling: found through the ledger
], ids=["id", "sha prefix", "upper-case sha prefix", "path", "file name", "absolute path", "dotted path"])
def test_find_photo(db: Path, opened, selector) -> None:
    row = photo_row(db, VOS)
    assert row["sha256"] == sha(VOS)
    assert find_photo(*opened, selector(row)) == (row["id"], row["sha256"], VOS)


@pytest.mark.parametrize("selector, message", [
    ("4242", "no photo matches '4242' (give its id, a sha256 prefix, its path or file name)"),
    ("abc", "no photo matches 'abc' (give its id, a sha256 prefix, its path or file name)"),
    ("inbox/kai/IMG_0009.JPG",
     "no photo matches 'inbox/kai/IMG_0009.JPG' (give its id, a sha256 prefix, its path or file name)"),
    ("IMG_0001.JPG", "'IMG_0001.JPG' matches 2 photos: give its id, its path or more of the sha256"),
])
def test_find_photo_says_why_not(opened, selector: str, message: str) -> None:
    with pytest.raises(ArchiveError) as caught:
        find_photo(*opened, selector)
    assert str(caught.value) == message


# --- what a change says ----------------------------------------------------------------------

@pytest.mark.parametrize("value, shown", [
    (None, "none"), ([], "none"), (["0042", "4096"], "0042, 4096"), ("breakfast", "breakfast"), (0.8, "0.8"),
])
def test_fmt(value, shown: str) -> None:
    assert fmt(value) == shown


def test_change_line() -> None:
    assert Change(7, "inbox/a.jpg", "cars", [], ["0042"]).line() == "photo 7 (inbox/a.jpg): cars: none -> 0042"
    assert Change(7, "inbox/a.jpg", "session_id", "nordschleife-parade", None).line() == (
        "photo 7 (inbox/a.jpg): session_id: nordschleife-parade -> none")


# --- retag_all -------------------------------------------------------------------------------

def test_retag_all_after_a_register_edit_says_exactly_what_changed(db: Path, opened, tmp_path: Path) -> None:
    archive, ledger = opened
    kai, rene, vos = (photo_row(db, p)["id"] for p in (KAI, RENE, VOS))
    before = {r["id"]: r["updated_at"] for r in rows(db, "select id, updated_at from photos")}
    changes = retag_all(archive, ledger, edited(tmp_path), NOW)
    assert [c.line() for c in changes] == [
        f"photo {kai} ({KAI}): cars: none -> 0777",
        f"photo {vos} ({VOS}): cars: 0104 -> none",
    ]
    assert rows(db, "select photo_id, car_id, source from photo_cars order by photo_id") == [
        {"photo_id": kai, "car_id": "0777", "source": "keyword"},
        {"photo_id": rene, "car_id": "0042", "source": "keyword"},
    ]
    assert rows(db, "select id, car_names, updated_at from photos order by id") == [
        {"id": kai, "car_names": "Red Baron", "updated_at": NOW},
        {"id": rene, "car_names": "Green Mamba; Java Green", "updated_at": before[rene]},  # untouched
        {"id": vos, "car_names": None, "updated_at": NOW},
    ]
    assert "0104" not in {r["id"] for r in rows(db, "select id from cars")}
    assert "0777" in {r["id"] for r in rows(db, "select id from cars")}
    assert retag_all(archive, ledger, edited(tmp_path), NOW) == []  # done: a second pass finds nothing


def test_retag_all_with_the_same_register_changes_nothing(db: Path, opened) -> None:
    archive, ledger = opened
    before = rows(db, "select * from photos order by id")
    assert retag_all(archive, ledger, tagger(), NOW) == []
    assert rows(db, "select * from photos order by id") == before


def test_retag_all_lists_every_file_of_a_photo_again(db: Path, opened) -> None:
    """photo_files follows the ledger: a path missing from archive.db comes back, with when it was first seen."""
    archive, ledger = opened
    row = photo_row(db, RENE)
    (listed,) = rows(db, "select path, first_seen from photo_files where photo_id = ?", (row["id"],))
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("delete from photo_files where photo_id = ?", (row["id"],))
    conn.close()
    changes = retag_all(archive, ledger, tagger(), NOW)
    assert [c.line() for c in changes] == [f"photo {row['id']} ({RENE}): files: none -> {RENE}"]
    assert rows(db, "select path, first_seen from photo_files where photo_id = ?", (row["id"],)) == [listed]


# --- refresh: what ingest runs first ----------------------------------------------------------

def tamper(db: Path) -> int:
    """Set a decision by hand and drop a register entry no photo uses, behind the archive's back."""
    rene = photo_row(db, RENE)["id"]
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("update photos set session_id = 'breakfast' where id = ?", (rene,))
        conn.execute("delete from cars where id = '1203'")
    conn.close()
    return rene


def test_refresh_with_an_unchanged_setup_re_decides_nothing(db: Path, opened) -> None:
    archive, ledger = opened
    same = tagger()
    assert stored_fingerprint(ledger) == same.fingerprint()  # remembered by the ingest that built it
    rene = tamper(db)
    assert refresh(archive, ledger, same, NOW) == []
    assert rows(db, "select session_id from photos where id = ?", (rene,)) == [{"session_id": "breakfast"}]
    # The register's own tables are written each time all the same.
    assert rows(db, "select id from cars where id = '1203'") == [{"id": "1203"}]


def test_refresh_after_a_register_edit_re_decides_every_photo_once(db: Path, opened, tmp_path: Path) -> None:
    archive, ledger = opened
    rene = tamper(db)
    changed = edited(tmp_path)
    changes = refresh(archive, ledger, changed, NOW)
    assert f"photo {rene} ({RENE}): session_id: breakfast -> nordschleife-parade" in [c.line() for c in changes]
    assert [c.what for c in changes] == ["cars", "session_id", "cars"]
    assert stored_fingerprint(ledger) == changed.fingerprint()
    assert refresh(archive, ledger, changed, NOW) == []


def test_a_fresh_ledger_has_no_fingerprint(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "archive.db", "some-archive")
    try:
        assert stored_fingerprint(ledger) is None
    finally:
        ledger.close()


def test_retag_an_archive_with_near_duplicates(tmp_path_factory, tmp_path: Path, run_cli) -> None:
    """Duplicates keep their own photographer in own_* columns; retag must handle them, not crash."""
    from tests.site_helpers import copy_archive, demo_archive

    demo = demo_archive(tmp_path_factory)
    db = copy_archive(demo, tmp_path)
    register = tmp_path / "register.yml"
    text = (demo.parent / "register.yml").read_text(encoding="utf-8")
    register.write_text(text.replace("    studio: Cannoneer Photography\n",
                                     "    studio: Cannoneer Photography\n    credit: \"Photo: René Hey\"\n"),
                        encoding="utf-8")
    result = run_cli("retag", "--db", db, "--register", register)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    originals = rows(db, "select id, path from photos where photographer_id = 'rene-hey' and duplicate_of is null")
    # One line per original: a duplicate shows its original's credit, its own is not reported.
    assert sorted(lines) == sorted(f"photo {p['id']} ({p['path']}): credit: Photo: René Hey / Cannoneer "
                                   "Photography -> Photo: René Hey" for p in originals)
    assert result.stderr == f"{len(lines)} photos changed ({len(lines)} tag changes)\n"
    renes = rows(db, "select count(*) n from photos where coalesce(own_photographer_id, photographer_id) = 'rene-hey'")
    assert rows(db, "select count(*) n from photos where credit = 'Photo: René Hey'") == renes
    duplicates = rows(db, """select d.credit, o.credit original_credit from photos d
                             join photos o on o.id = d.duplicate_of""")
    assert duplicates and all(d["credit"] == d["original_credit"] == "Photo: René Hey" for d in duplicates)
