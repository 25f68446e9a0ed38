"""`photo-archive tag` and `retag`: manual tags win and are never lost; retag says what changed."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from ingest.manual import load_manual
from ingest.register import load_register
from ingest.retag import refresh
from ingest.sample_photos import Meta
from ingest.state import open_archive
from ingest.tagging import Tagger
from tests.conftest import rows
from tests.test_tagging import REGISTER

PARADE = datetime(2025, 9, 20, 9, 40)


@pytest.fixture
def archive(tmp_path: Path, photo, run_cli, monkeypatch) -> Path:
    """A small inbox ingested with the test register; the working directory is tmp_path."""
    photo("inbox/rene-hey/2025/IMG_0001.JPG", 1, Meta(taken_at=PARADE, iptc_keywords=["Green Mamba"],
                                                      iptc_title="Green Mamba at the Karussell"))
    photo("inbox/vos-photography/2025/IMG_0002.JPG", 2, Meta(
        taken_at=datetime(2025, 9, 20, 10, 30), xmp_title="Segler's 1M"))
    photo("inbox/members/phone/IMG_0003.JPG", 3, Meta(make="Apple", model="iPhone 15"))
    photo("inbox/vos-photography/2025/Yellow Submarine/IMG_0004.JPG", 4, Meta(
        taken_at=datetime(2025, 9, 20, 11, 30), iptc_keywords=["Grüne Hölle", "Yellow Submarine"]))
    photo("inbox/kai/IMG_0001.JPG", 5, Meta(taken_at=datetime(2025, 6, 1, 12, 0)))
    (tmp_path / "register.yml").write_text(REGISTER, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    ingest(run_cli)
    return tmp_path / "archive.db"


def ingest(run_cli) -> None:
    result = run_cli("ingest", "inbox", "--db", "archive.db", "--register", "register.yml", "--workers", "1")
    assert result.exit_code == 0, result.stderr


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def state(db: Path) -> dict[str, tuple]:
    """Every decision, by sha256 (rebuilding the database renumbers photos)."""
    photos = rows(db, """select id, sha256, path, photographer_id, photographer_source, credit, event_id,
                         event_source, session_id from photos""")
    cars = rows(db, "select photo_id, car_id, source from photo_cars order by car_id")
    return {p["sha256"]: (p["path"], p["photographer_id"], p["photographer_source"], p["credit"],
                          p["event_id"], p["event_source"], p["session_id"],
                          [(c["car_id"], c["source"]) for c in cars if c["photo_id"] == p["id"]])
            for p in photos}


def photo_id(db: Path, file: str) -> int:
    (row,) = rows(db, "select id from photos where path = ?", (file,))
    return row["id"]


IMG1 = "inbox/rene-hey/2025/IMG_0001.JPG"
IMG3 = "inbox/members/phone/IMG_0003.JPG"


@pytest.mark.parametrize("selector", ["id", "sha", "path", "absolute path"])
def test_tag_finds_the_photo_by_id_sha_or_path(archive: Path, run_cli, selector: str) -> None:
    pid = photo_id(archive, IMG1)
    given = {"id": str(pid), "sha": sha(IMG1)[:8], "path": IMG1, "absolute path": os.path.abspath(IMG1)}[selector]
    result = run_cli("tag", given, "--car", "4096")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"car 4096 added to photo {pid} ({IMG1}): cars: 0042 -> 0042, 4096\n"
    assert rows(archive, "select car_id, source, confidence from photo_cars where photo_id = ? order by car_id",
                (pid,)) == [{"car_id": "0042", "source": "keyword", "confidence": 0.8},
                            {"car_id": "4096", "source": "manual", "confidence": 1.0}]
    saved = yaml.safe_load(Path("tags.yml").read_text(encoding="utf-8"))
    assert saved == {"photos": {sha(IMG1): {"path": IMG1, "add": {"cars": ["4096"]}}}}


@pytest.mark.parametrize("args, code, message", [
    (["tag", "1", "--car", "9999"], 1, "Error: unknown car '9999': it is not in register.yml"),
    (["tag", "1", "--session", "lunch"], 1, "Error: unknown session 'lunch': it is not in register.yml"),
    (["tag", "4242", "--car", "0042"], 1,
     "Error: no photo matches '4242' (give its id, a sha256 prefix, its path or file name)"),
    (["tag", "IMG_0001.JPG", "--car", "0042"], 1,
     "Error: 'IMG_0001.JPG' matches 2 photos: give its id, its path or more of the sha256"),
    (["tag", "1"], 2, "Error: give exactly one of --car, --event, --session, --photographer"),
    (["tag", "1", "--car", "0042", "--event", "meet-2025"], 2,
     "Error: give exactly one of --car, --event, --session, --photographer"),
    (["tag", "1", "--car", "0042", "--db", "other.db"], 1,
     "Error: no archive at other.db: run `photo-archive ingest` first"),
])
def test_tag_mistakes_are_one_line(archive: Path, run_cli, args, code: int, message: str) -> None:
    before = state(archive)
    result = run_cli(*args)
    assert result.exit_code == code
    assert result.stderr.strip().splitlines()[-1] == message
    assert "Traceback" not in result.stderr
    assert state(archive) == before and not Path("tags.yml").exists()


def tag_everything(run_cli, db: Path) -> None:
    """One manual decision of each kind, including removals of automatic tags."""
    for args in (
        [IMG1, "--car", "4096"],                      # added
        [IMG1, "--car", "0042", "--remove"],          # an automatic tag removed
        [IMG3, "--photographer", "kai-lindqvist"],    # the phone photo, credited by hand
        [IMG3, "--session", "breakfast"],             # implies its event
        ["inbox/vos-photography/2025/IMG_0002.JPG", "--event", "meet-2025", "--remove"],
        [IMG1, "--car", "0333"],                      # private: kept in tags.yml, never published
    ):
        result = run_cli("tag", *args)
        assert result.exit_code == 0, result.stderr


def expected_after_tagging() -> dict[str, tuple]:
    return {
        sha(IMG1): (IMG1, "rene-hey", "inbox folder", "Photo: René Hey / Cannoneer Photography", "meet-2025",
                    "capture time", "nordschleife-parade", [("4096", "manual")]),
        sha("inbox/vos-photography/2025/IMG_0002.JPG"): (
            "inbox/vos-photography/2025/IMG_0002.JPG", "vos-photography", "inbox folder", "Photo: VOS Photography",
            None, None, None, [("0104", "title")]),
        sha(IMG3): (IMG3, "kai-lindqvist", "manual", "Photo: Kai Lindqvist", "meet-2025", "manual", "breakfast", []),
        sha("inbox/vos-photography/2025/Yellow Submarine/IMG_0004.JPG"): (
            "inbox/vos-photography/2025/[private]/IMG_0004.JPG", "vos-photography", "inbox folder",
            "Photo: VOS Photography", "meet-2025", "capture time", "nordschleife-parade", [("4096", "keyword")]),
        sha("inbox/kai/IMG_0001.JPG"): ("inbox/kai/IMG_0001.JPG", None, None, "Photographer unknown",
                                        None, None, None, []),
    }


def test_manual_tags_win_and_survive_reingest_retag_and_rebuild(archive: Path, run_cli) -> None:
    tag_everything(run_cli, archive)
    assert state(archive) == expected_after_tagging()

    ingest(run_cli)                                    # re-ingest: nothing changes
    assert state(archive) == expected_after_tagging()

    result = run_cli("retag", "--register", "register.yml")
    assert (result.stdout, result.stderr) == ("", "0 photos changed (0 tag changes)\n")
    assert state(archive) == expected_after_tagging()

    for name in ("archive.db", "archive.db.private"):  # rebuild from the inbox and tags.yml
        Path(name).unlink()
    ingest(run_cli)
    assert state(archive) == expected_after_tagging()
    assert load_manual(Path("tags.yml").resolve()).get(sha(IMG1)).add == {"cars": ["0333", "4096"]}


def test_tagging_a_private_car_says_it_stays_private(archive: Path, run_cli) -> None:
    pid = photo_id(archive, IMG1)
    result = run_cli("tag", IMG1, "--car", "0333")
    assert result.stdout == (f"car 0333 added to photo {pid} ({IMG1}) (a private car: kept in tags.yml, "
                             "never published): no change in the archive\n")
    assert rows(archive, "select count(*) n from photo_cars where car_id = '0333'") == [{"n": 0}]


def edit_register(old: str, new: str) -> None:
    text = Path("register.yml").read_text(encoding="utf-8")
    assert old in text
    Path("register.yml").write_text(text.replace(old, new), encoding="utf-8")


def test_retag_after_a_car_is_made_private(archive: Path, run_cli) -> None:
    pid1, pid4 = photo_id(archive, IMG1), photo_id(archive, "inbox/vos-photography/2025/[private]/IMG_0004.JPG")
    edit_register("    nickname: Green Mamba\n", "    nickname: Green Mamba\n    public: false\n")
    result = run_cli("retag", "--register", "register.yml")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"photo {pid1} ({IMG1}): title: Green Mamba at the Karussell -> [private] at the Karussell",
        f'photo {pid1} ({IMG1}): keywords: ["Green Mamba"] -> ["[private]"]',
        f"photo {pid1} ({IMG1}): cars: 0042 -> none",
    ]
    assert result.stderr == "1 photo changed (3 tag changes)\n"
    assert rows(archive, "select count(*) n from photo_cars where car_id = '0042'") == [{"n": 0}]
    assert rows(archive, "select id from cars where id = '0042'") == []
    assert rows(archive, "select title, keywords, car_names from photos where id = ?", (pid1,)) == [
        {"title": "[private] at the Karussell", "keywords": '["[private]"]', "car_names": None}]
    # A second private car in the same photo's texts: both stay scrubbed.
    assert rows(archive, "select path, keywords from photos where id = ?", (pid4,)) == [
        {"path": "inbox/vos-photography/2025/[private]/IMG_0004.JPG", "keywords": '["Grüne Hölle", "[private]"]'}]
    # Nor is the old text left anywhere in the file: not in the search index's segments
    # (readable with SQL through photos_fts_data), not in free pages.
    assert rows(archive, "select count(*) n from photos_fts_data where instr(lower(cast(block as text)), 'mamba')")\
        == [{"n": 0}]
    with sqlite3.connect(archive) as conn:
        conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    assert b"mamba" not in archive.read_bytes().lower()


def test_retag_after_a_session_time_is_corrected(archive: Path, run_cli) -> None:
    pid1 = photo_id(archive, IMG1)
    edit_register("start: 2025-09-20T09:00\n", "start: 2025-09-20T09:45\n")   # the parade started late
    edit_register("end: 2025-09-20T09:00\n", "end: 2025-09-20T09:45\n")
    result = run_cli("retag", "--register", "register.yml")
    assert result.stdout.splitlines() == [f"photo {pid1} ({IMG1}): session_id: nordschleife-parade -> breakfast"]
    assert rows(archive, "select session_id, session_name from photos where id = ?", (pid1,)) == [
        {"session_id": "breakfast", "session_name": "Breakfast at the Lindner"}]
    assert rows(archive, "select start, end from sessions where id = 'nordschleife-parade'") == [
        {"start": "2025-09-20T09:45:00", "end": "2025-09-20T12:00:00"}]
    again = run_cli("retag", "--register", "register.yml")
    assert again.stdout == "" and again.stderr == "0 photos changed (0 tag changes)\n"


def test_ingest_after_a_register_edit_says_what_it_retagged(archive: Path, run_cli) -> None:
    edit_register("start: 2025-09-20T09:00\n", "start: 2025-09-20T09:45\n")   # the parade started late
    edit_register("end: 2025-09-20T09:00\n", "end: 2025-09-20T09:45\n")
    result = run_cli("ingest", "inbox", "--db", "archive.db", "--register", "register.yml")
    assert result.exit_code == 0
    assert result.stderr.splitlines()[0] == (
        "The register or tags.yml changed: 1 photo changed (1 tag changes) (`photo-archive retag` lists each change)")
    assert "Nothing changed" not in result.stderr
    again = run_cli("ingest", "inbox", "--db", "archive.db", "--register", "register.yml")
    assert again.stderr.splitlines()[0] == "Nothing changed: every photo is already in the archive."


def test_retag_keeps_manual_tags_over_a_register_edit(archive: Path, run_cli) -> None:
    run_cli("tag", IMG1, "--session", "nordschleife-parade")
    edit_register("start: 2025-09-20T09:00\n", "start: 2025-09-20T09:45\n")
    edit_register("end: 2025-09-20T09:00\n", "end: 2025-09-20T09:45\n")
    result = run_cli("retag", "--register", "register.yml")
    assert result.stdout == ""
    assert rows(archive, "select session_id, event_source, session_source from photos where path = ?",
                (IMG1,)) == [{"session_id": "nordschleife-parade", "event_source": "manual",
                              "session_source": "manual"}]


def test_retag_scrubs_file_paths_of_a_car_made_private(archive: Path, run_cli, photo) -> None:
    """photo_files lists every path of a photo; retag publishes them scrubbed like photos.path."""
    photo("inbox/kai/Green Mamba/IMG_0006.JPG", 6)
    ingest(run_cli)
    pid = photo_id(archive, "inbox/kai/Green Mamba/IMG_0006.JPG")
    edit_register("    nickname: Green Mamba\n", "    nickname: Green Mamba\n    public: false\n")
    result = run_cli("retag", "--register", "register.yml")
    assert [line for line in result.stdout.splitlines() if line.startswith(f"photo {pid} ")] == [
        f"photo {pid} (inbox/kai/Green Mamba/IMG_0006.JPG): path: inbox/kai/Green Mamba/IMG_0006.JPG -> "
        "inbox/kai/[private]/IMG_0006.JPG",
        f"photo {pid} (inbox/kai/Green Mamba/IMG_0006.JPG): cars: 0042 -> none",
        f"photo {pid} (inbox/kai/[private]/IMG_0006.JPG): files: inbox/kai/Green Mamba/IMG_0006.JPG -> "
        "inbox/kai/[private]/IMG_0006.JPG",
    ]
    assert rows(archive, "select path, file_name from photo_files where photo_id = ?", (pid,)) == [
        {"path": "inbox/kai/[private]/IMG_0006.JPG", "file_name": "IMG_0006.JPG"}]


def test_ingest_never_writes_a_private_name_in_a_path(archive: Path, photo, run_cli) -> None:
    Path("inbox/vos-photography/2025/Yellow Submarine/broken.jpg").write_bytes(b"not a photo")
    ingest(run_cli)
    cells = rows(archive, "select path from photos union all select path from photo_files "
                          "union all select path from ingest_errors")
    assert len(cells) == 5 + 5 + 1 and cells[-1]["path"] == "inbox/vos-photography/2025/[private]/broken.jpg"
    assert not [c for c in cells if re.search("yellow", c["path"], re.I)]


def test_without_the_ledger_retag_still_applies_privacy(archive: Path, run_cli) -> None:
    """The private ledger was deleted: no raw metadata to re-decide from, but nothing private stays published."""
    Path("archive.db.private").unlink()
    pid1 = photo_id(archive, IMG1)
    edit_register("    nickname: Green Mamba\n", "    nickname: Green Mamba\n    public: false\n")
    result = run_cli("retag", "--register", "register.yml")
    assert result.stdout.splitlines() == [
        f"photo {pid1} ({IMG1}): title: Green Mamba at the Karussell -> [private] at the Karussell",
        f'photo {pid1} ({IMG1}): keywords: ["Green Mamba"] -> ["[private]"]',
    ]
    assert rows(archive, "select count(*) n from photo_cars where car_id = '0042'") == [{"n": 0}]
    assert rows(archive, "select car_names from photos where id = ?", (pid1,)) == [{"car_names": None}]
    tagged = run_cli("tag", IMG1, "--car", "4096")
    assert tagged.stdout == (f"car 4096 added to photo {pid1} ({IMG1}): saved in tags.yml; its metadata is not "
                             "in the private ledger: run ingest, then retag\n")
    ingest(run_cli)
    assert run_cli("retag", "--register", "register.yml").stdout == f"photo {pid1} ({IMG1}): cars: none -> 4096\n"


def test_retag_leaves_a_duplicates_inherited_credit(archive: Path, run_cli) -> None:
    """dedupe.py gives a copy its original's credit and keeps the copy's own in own_* columns."""
    import sqlite3

    original, copy = photo_id(archive, IMG1), photo_id(archive, "inbox/kai/IMG_0001.JPG")
    conn = sqlite3.connect("archive.db")
    with conn:  # the own_* columns come from db.py's schema
        conn.execute("""update photos set duplicate_of = ?, photographer_id = 'rene-hey',
                        photographer_source = 'duplicate of #' || ?, credit = 'Photo: René Hey / Cannoneer Photography'
                        where id = ?""", (original, original, copy))
    conn.close()
    result = run_cli("retag", "--register", "register.yml")
    assert result.stdout == ""  # members see the original's credit, unchanged; the copy's own is kept aside
    assert rows(archive, """select photographer_id, photographer_source, credit, own_photographer_id,
                            own_credit from photos where id = ?""", (copy,)) == [
        {"photographer_id": "rene-hey", "photographer_source": f"duplicate of #{original}",
         "credit": "Photo: René Hey / Cannoneer Photography", "own_photographer_id": None,
         "own_credit": "Photographer unknown"}]


def test_refresh_re_decides_only_when_the_setup_changed(archive: Path) -> None:
    """What ingest runs first (once pipeline.py calls it): register edits reach the archive without retag."""
    archive_db, ledger = open_archive(archive)
    try:
        tagger = Tagger(load_register("register.yml"), load_manual(Path("tags.yml").resolve()))
        assert refresh(archive_db, ledger, tagger, "2025-01-01T00:00:00Z") == []  # stores the fingerprint
        assert refresh(archive_db, ledger, tagger, "2025-01-01T00:00:00Z") == []
        edit_register("    nickname: Green Mamba\n", "    nickname: Green Mamba\n    public: false\n")
        edited = Tagger(load_register("register.yml"), load_manual(Path("tags.yml").resolve()))
        assert [c.what for c in refresh(archive_db, ledger, edited, "2025-01-01T00:00:00Z")] == [
            "title", "keywords", "cars"]
    finally:
        archive_db.close()
        ledger.close()


def test_ingest_alone_applies_a_register_edit(archive: Path, run_cli) -> None:
    edit_register("    nickname: Green Mamba\n", "    nickname: Green Mamba\n    public: false\n")
    ingest(run_cli)
    assert rows(archive, "select title from photos where path = ?", (IMG1,)) == [
        {"title": "[private] at the Karussell"}]


def test_manual_tag_follows_a_re_exported_file(archive: Path, run_cli, photo) -> None:
    run_cli("tag", IMG1, "--car", "4096")
    photo(IMG1, 1, Meta(taken_at=PARADE, iptc_keywords=["Green Mamba", "fixed keyword"]))
    ingest(run_cli)
    assert ("4096", "manual") in state(archive)[sha(IMG1)][-1]
