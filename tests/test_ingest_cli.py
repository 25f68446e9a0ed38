"""`photo-archive ingest`: exit codes, exact messages and the rows written."""

from __future__ import annotations

import os
import pty
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import pytest

from ingest.sample_photos import Meta
from tests.conftest import rows

ROOT = Path(__file__).resolve().parent.parent

SUMMARY = re.compile(
    r"(\d+) new, (\d+) updated, (\d+) unchanged, (\d+) exact duplicates, (\d+) near duplicates, "
    r"(\d+) skipped, (\d+) failed in \d+\.\ds \(\d+\.\d photos/s\)"
)


def summary(stderr: str) -> tuple[int, ...]:
    match = SUMMARY.search(stderr.splitlines()[-1])
    assert match, stderr
    return tuple(int(n) for n in match.groups())


@pytest.fixture
def inbox(tmp_path: Path, photo) -> Path:
    """Two photographers' folders, one of each format, one video."""
    photo("inbox/rene-hey/2025/IMG_0001.JPG", 1, Meta(
        make="Canon", model="Canon EOS R5", serial="083024001234", lens="RF24-70mm F2.8 L IS USM",
        taken_at=datetime(2025, 9, 20, 9, 30), exposure_time=Fraction(1, 500), f_number=4.0,
        iso=200, focal_length=50.0, gps=(50.3356, 6.9475), artist="René Hey",
        copyright="© René Hey", iptc_title="Green Mamba at the Karussell",
        iptc_keywords=["Green Mamba", "Nordschleife"], xmp_subject=["Nordschleife", "1M"],
        xp_keywords=["Grüne Hölle"], xmp_description="Java Green 1M in the Karussell",
    ))
    photo("inbox/rene-hey/2025/IMG_0002.png", 2)
    photo("inbox/vos-photography/web/IMG_0003.webp", 3)
    photo("inbox/vos-photography/web/IMG_0004.tiff", 4)
    photo("inbox/vos-photography/web/IMG_0005.heic", 5, Meta(orientation=6))
    (tmp_path / "inbox/vos-photography/web/clip.MP4").write_bytes(b"\x00\x00\x00 ftypmp42")
    return tmp_path / "inbox"


def test_ingest_writes_one_row_per_photo(tmp_path: Path, inbox: Path, run_cli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("ingest", "inbox", "--db", "archive.db")
    assert result.exit_code == 0, result.stderr
    assert summary(result.stderr) == (5, 0, 0, 0, 0, 1, 0)
    photos = rows("archive.db", "select * from photos order by path")
    assert [(p["path"], p["format"]) for p in photos] == [
        ("inbox/rene-hey/2025/IMG_0001.JPG", "JPEG"),
        ("inbox/rene-hey/2025/IMG_0002.png", "PNG"),
        ("inbox/vos-photography/web/IMG_0003.webp", "WEBP"),
        ("inbox/vos-photography/web/IMG_0004.tiff", "TIFF"),
        ("inbox/vos-photography/web/IMG_0005.heic", "HEIF"),
    ]
    first = photos[0]
    assert {k: first[k] for k in (
        "file_name", "width", "height", "orientation", "taken_at", "camera_make", "camera_model",
        "camera_serial", "lens", "focal_length", "f_number", "exposure_time", "iso", "title",
        "caption", "keywords", "artist", "copyright",
    )} == {
        "file_name": "IMG_0001.JPG", "width": 640, "height": 480, "orientation": None,
        "taken_at": "2025-09-20T09:30:00", "camera_make": "Canon", "camera_model": "Canon EOS R5",
        "camera_serial": "083024001234", "lens": "RF24-70mm F2.8 L IS USM", "focal_length": 50.0,
        "f_number": 4.0, "exposure_time": 0.002, "iso": 200,
        "title": "Green Mamba at the Karussell", "caption": "Java Green 1M in the Karussell",
        "keywords": '["Green Mamba", "Nordschleife", "1M", "Grüne Hölle"]',
        "artist": "René Hey", "copyright": "© René Hey",
    }
    for p in photos:
        assert re.fullmatch(r"[0-9a-f]{64}", p["sha256"]) and re.fullmatch(r"[0-9a-f]{16}", p["phash"])
        assert p["thumbnail"][:4] == b"RIFF" and p["duplicate_of"] is None
        assert p["file_size"] == os.path.getsize(p["path"])
    assert rows("archive.db", "select path, error from ingest_errors") == []


def test_second_run_touches_nothing_and_says_so(tmp_path: Path, inbox: Path, run_cli) -> None:
    db = tmp_path / "archive.db"
    run_cli("ingest", inbox, "--db", db)
    before = rows(db, "select * from photos order by id")
    changes = rows(db, "select total_changes() as n")  # fresh connection: baseline
    mtime = os.path.getmtime(db)
    result = run_cli("ingest", inbox, "--db", db)
    assert result.exit_code == 0
    assert result.stderr.splitlines()[0] == "Nothing changed: every photo is already in the archive."
    assert summary(result.stderr) == (0, 0, 5, 0, 0, 1, 0)
    assert rows(db, "select * from photos order by id") == before
    assert os.path.getmtime(db) == mtime and changes == [{"n": 0}]


def test_changed_file_is_reread_in_place(tmp_path: Path, inbox: Path, run_cli, photo) -> None:
    db = tmp_path / "archive.db"
    run_cli("ingest", inbox, "--db", db)
    (old,) = rows(db, "select id, sha256 from photos where file_name = 'IMG_0002.png'")
    photo("inbox/rene-hey/2025/IMG_0002.png", 99)  # the photographer re-exported it
    result = run_cli("ingest", inbox, "--db", db)
    assert summary(result.stderr) == (0, 1, 4, 0, 0, 1, 0)
    (new,) = rows(db, "select id, sha256 from photos where file_name = 'IMG_0002.png'")
    assert new["id"] == old["id"] and new["sha256"] != old["sha256"]
    assert rows(db, "select count(*) n from photos") == [{"n": 5}]


def test_same_bytes_under_a_second_path_is_an_exact_duplicate(tmp_path: Path, inbox: Path, run_cli) -> None:
    db = tmp_path / "archive.db"
    run_cli("ingest", inbox, "--db", db)
    copy = tmp_path / "inbox/vos-photography/reshare/IMG_0001.JPG"
    copy.parent.mkdir(parents=True)
    shutil.copy(inbox / "rene-hey/2025/IMG_0001.JPG", copy)
    result = run_cli("ingest", inbox, "--db", db)
    assert summary(result.stderr) == (0, 0, 5, 1, 0, 1, 0)
    (photo_row,) = rows(db, "select id from photos where file_name = 'IMG_0001.JPG'")
    assert rows(db, "select path from photo_files where photo_id = ? order by path", (photo_row["id"],)) == [
        {"path": str(inbox / "rene-hey/2025/IMG_0001.JPG")},
        {"path": str(copy)},
    ]


def test_duplicate_within_one_run_keeps_both_paths(tmp_path: Path, photo, run_cli) -> None:
    first = photo("inbox/a/x.jpg", 5)
    shutil.copy(first, tmp_path / "inbox/a/y.jpg")
    result = run_cli("ingest", tmp_path / "inbox", "--db", tmp_path / "a.db")
    assert summary(result.stderr) == (1, 0, 0, 1, 0, 0, 0)
    assert [r["file_name"] for r in rows(tmp_path / "a.db", "select file_name from photo_files order by path")] == ["x.jpg", "y.jpg"]


def test_broken_files_are_listed_and_the_run_goes_on(tmp_path: Path, photo, run_cli) -> None:
    good = photo("inbox/good.jpg", 1)
    (tmp_path / "inbox/empty.jpg").write_bytes(b"")
    (tmp_path / "inbox/notes.jpg").write_text("shopping list")
    data = good.read_bytes()
    (tmp_path / "inbox/truncated.jpg").write_bytes(data[:600])
    db = tmp_path / "archive.db"
    result = run_cli("ingest", tmp_path / "inbox", "--db", db)
    assert result.exit_code == 0
    assert summary(result.stderr) == (1, 0, 0, 0, 0, 0, 3)
    errors = {Path(r["path"]).name: r["error"] for r in rows(db, "select * from ingest_errors")}
    assert errors["empty.jpg"] == "empty file (0 bytes): the copy probably failed, deliver it again"
    assert errors["notes.jpg"] == "not an image Pillow can read: the file's contents do not match its suffix"
    assert errors["truncated.jpg"].startswith("image data is damaged or truncated")
    assert f"failed: {tmp_path / 'inbox/empty.jpg'}: empty file (0 bytes)" in result.stderr
    assert "Traceback" not in result.stderr
    # Run again: the broken files are listed again, but nothing changed and the run says so.
    listed = rows(db, "select * from ingest_errors order by path")
    again = run_cli("ingest", tmp_path / "inbox", "--db", db)
    assert again.stderr.splitlines()[-2] == "Nothing changed: every photo is already in the archive."
    assert f"failed: {tmp_path / 'inbox/empty.jpg'}: empty file (0 bytes)" in again.stderr
    assert summary(again.stderr) == (0, 0, 1, 0, 0, 0, 3)
    assert rows(db, "select * from ingest_errors order by path") == listed
    # A fixed file leaves the error list.
    shutil.copy(good, tmp_path / "inbox/empty.jpg")
    run_cli("ingest", tmp_path / "inbox", "--db", db)
    assert "empty.jpg" not in {Path(r["path"]).name for r in rows(db, "select path from ingest_errors")}


def test_originals_are_never_modified(tmp_path: Path, inbox: Path, run_cli) -> None:
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in inbox.rglob("*") if p.is_file()}
    run_cli("ingest", inbox, "--db", tmp_path / "archive.db")
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in inbox.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["ingest", "nowhere", "--db", "a.db"], "Error: no such file or folder: nowhere"),
        (["ingest", ".", "--db", "no/such/dir/a.db"], None),
    ],
)
def test_fatal_problems_exit_1_with_one_line(tmp_path: Path, run_cli, monkeypatch, args, message) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli(*args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    expected = message or f"Error: cannot create database no/such/dir/a.db: folder {tmp_path}/no/such/dir does not exist"
    assert lines[0] == expected


def test_invalid_register_stops_before_the_database(tmp_path: Path, inbox: Path, run_cli) -> None:
    register = tmp_path / "register.yml"
    register.write_text("cars:\n  - id: \"0042\"\n    vn: WBS1J5C50BE000042\n")
    result = run_cli("ingest", inbox, "--db", tmp_path / "a.db", "--register", register)
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(f"Error: {register}, line 3, cars")
    assert "unknown key 'vn'" in result.stderr
    assert not (tmp_path / "a.db").exists()


def test_silent_prints_nothing(tmp_path: Path, inbox: Path, run_cli) -> None:
    result = run_cli("ingest", inbox, "--db", tmp_path / "a.db", "--silent")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_corpus_twice_gives_the_same_database(tmp_path: Path, corpus: Path, run_cli) -> None:
    db = tmp_path / "archive.db"
    first = run_cli("ingest", corpus, "--db", db)
    assert first.exit_code == 0 and "Traceback" not in first.stderr
    dump = rows(db, "select * from photos order by sha256")
    errors = rows(db, "select path, error from ingest_errors order by path")
    second = run_cli("ingest", corpus, "--db", db)
    assert second.exit_code == 0
    assert rows(db, "select * from photos order by sha256") == dump
    assert rows(db, "select path, error from ingest_errors order by path") == errors
    assert [Path(e["path"]).name for e in errors] == ["corrupted.jpg"]
    assert errors[0]["error"].startswith("damaged JPEG data (Corrupt JPEG data: premature end of data segment)")


def on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run photo-archive with stderr on a pseudo-terminal, as a person at a shell would."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "ingest.cli", *args], cwd=cwd, stdin=terminal,
                               stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the process has exited
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    return process.wait(timeout=60), output.decode("utf-8", "replace")


def test_progress_bar_moves_photo_by_photo_on_a_terminal(tmp_path: Path, photo) -> None:
    count = 24
    for i in range(count):
        photo(f"inbox/rene-hey/IMG_{i:04d}.JPG", i)
    code, output = on_a_terminal(["ingest", str(tmp_path / "inbox"), "--db", str(tmp_path / "a.db"),
                                  "--workers", "1"], ROOT)
    assert code == 0, output
    frames = [f for f in re.sub(r"\x1b\[\?25[lh]", "", output).split("\r") if f.startswith("Ingesting")]
    positions = {int(m.group(1)) for f in frames if (m := re.search(rf" (\d+)/{count}\b", f))}
    # One step per photo read, not one jump per committed batch of 64.
    assert sorted(positions) == list(range(count + 1)), frames
    # From the first photo on: the rate and the ETA, down to nothing left at the end.
    assert all(re.search(r"  \d+\.\d photos/s, ETA \d\d:\d\d:\d\d$", f) for f in frames[1:]), frames
    assert frames[-1].endswith(", ETA 00:00:00"), frames
    assert re.search(SUMMARY, output.splitlines()[-1]), output


def test_fatal_database_and_lock_problems_are_one_line(tmp_path: Path, inbox: Path, run_cli) -> None:
    (tmp_path / "a.db.lock").mkdir()
    result = run_cli("ingest", inbox, "--db", tmp_path / "a.db")
    assert (result.exit_code, result.stderr) == (
        1, f"Error: cannot open the writer lock {tmp_path / 'a.db.lock'}: Is a directory\n")

    other = tmp_path / "other.db"  # some other program's database, with a table of the same name
    with sqlite3.connect(other) as conn:
        conn.execute("create table ingest_errors (id integer primary key, path text, error text)")
    conn.close()
    result = run_cli("ingest", inbox, "--db", other)
    assert (result.exit_code, result.stderr) == (
        1, f"Error: {other} is not a photo archive: its table ingest_errors is keyed by id, not path\n")

    result = run_cli("ingest", inbox, "--db", tmp_path / "b.db", "--register", tmp_path)
    assert (result.exit_code, result.stderr) == (1, f"Error: {tmp_path}, file: cannot read: Is a directory\n")


def test_a_full_disk_is_one_line_not_a_traceback(tmp_path: Path, inbox: Path) -> None:
    def small_files() -> None:  # files may not grow past 64 KB, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    result = subprocess.run([sys.executable, "-m", "ingest.cli", "ingest", str(inbox), "--db",
                             str(tmp_path / "a.db")], cwd=ROOT, capture_output=True, text=True,
                            preexec_fn=small_files)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] in ("Error: database error: disk I/O error (is the disk full?)",
                                              "Error: database error: database or disk is full "
                                              "(free some space and run again: nothing written is lost)")
    assert "Traceback" not in result.stderr


def test_ingest_waits_for_another_programs_write(tmp_path: Path, inbox: Path, run_cli) -> None:
    """Another program (not photo-archive, so not our lock) writing: ingest waits instead of failing."""
    db = tmp_path / "a.db"
    run_cli("ingest", inbox / "rene-hey", "--db", db)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "c.execute('begin immediate'); print('locked', flush=True); time.sleep(2); c.execute('commit')"),
        str(db)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    (inbox / "empty.jpg").write_bytes(b"")  # a failure is recorded first: read, then write
    result = run_cli("ingest", inbox, "--db", db)
    holder.wait(timeout=30)
    assert result.exit_code == 0, result.stderr
    assert summary(result.stderr) == (3, 0, 2, 0, 0, 1, 1)
