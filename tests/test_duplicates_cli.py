"""`photo-archive duplicates` and near-duplicates through ingest: clusters, re-pointing, verdicts."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from PIL import Image

from ingest.sample_photos import Meta, save_photo, scene

from tests.conftest import rows

REGISTER = """\
photographers:
  - id: rene-hey
    name: René Hey
    credit: "Photo: René Hey"
  - id: member
    name: A Member
events: []
cars: []
"""


def camera(second: int = 0) -> Meta:
    return Meta(make="Nikon", model="D850", serial="083024001234",
                taken_at=datetime(2025, 9, 20, 10, 0, second), artist="René Hey")


@pytest.fixture
def club(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A club folder, the current directory: paths in the archive are relative, as users give them."""
    (tmp_path / "register.yml").write_text(REGISTER, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def photo_rows(db: Path) -> dict[str, dict]:
    return {r["file_name"]: r for r in rows(db, "select id, file_name, duplicate_of, photographer_id, "
                                            "photographer_source, credit, own_photographer_id from photos")}


def ingest(run_cli, club: Path, *paths: Path):
    relative = [p.relative_to(club) for p in paths]
    result = run_cli("ingest", *relative, "--db", "archive.db", "--register", "register.yml", "--workers", "1")
    assert result.exit_code == 0, result.output
    return result


def near_duplicates(result) -> int:
    """The count in the ingest summary line: photos that became a near duplicate in that run."""
    match = re.search(r"(\d+) exact duplicates, (\d+) near duplicates, ", result.stderr.splitlines()[-1])
    assert match, result.stderr
    return int(match.group(2))


def test_a_copy_ingested_first_is_repointed_when_the_original_arrives(run_cli, club: Path) -> None:
    original = scene(51, (2400, 1600))
    inbox = club / "inbox"
    # A member's re-share: cropped, smaller, recompressed, no metadata, in the member's folder.
    save_photo(original.crop((120, 0, 2400, 1520)).resize((1080, 720)), inbox / "member" / "reshare.jpg",
               quality=75)
    assert near_duplicates(ingest(run_cli, club, inbox)) == 0
    assert photo_rows(club / "archive.db")["reshare.jpg"]["duplicate_of"] is None

    save_photo(original, inbox / "rene-hey" / "DSC_0001.jpg", camera(0), quality=92)
    save_photo(scene(51, (2400, 1600), car_shift=0.15), inbox / "rene-hey" / "DSC_0002.jpg", camera(1))
    # The re-share from the first run is now a near duplicate; the burst frame is not.
    assert near_duplicates(ingest(run_cli, club, inbox)) == 1
    photos = photo_rows(club / "archive.db")
    first = photos["DSC_0001.jpg"]
    assert photos["reshare.jpg"] == {
        "id": photos["reshare.jpg"]["id"], "file_name": "reshare.jpg", "duplicate_of": first["id"],
        "photographer_id": "rene-hey", "photographer_source": f"duplicate of #{first['id']}",
        "credit": "Photo: René Hey", "own_photographer_id": "member"}
    assert first["duplicate_of"] is None and first["photographer_source"] == "inbox folder"
    assert photos["DSC_0002.jpg"]["duplicate_of"] is None  # the next frame of the burst
    links = rows(club / "archive.db", "select photo_id, other_id from duplicate_links")
    assert links == [{"photo_id": photos["reshare.jpg"]["id"], "other_id": first["id"]}]


def test_the_listing_shows_each_original_with_its_duplicates(run_cli, club: Path) -> None:
    original = scene(52, (2400, 1600))
    save_photo(original, club / "inbox" / "rene-hey" / "big.jpg", camera(), quality=92)
    save_photo(original.resize((1080, 720)), club / "inbox" / "member" / "web.webp", quality=80)
    save_photo(scene(53, (2400, 1600)), club / "inbox" / "rene-hey" / "other.jpg", camera(5))
    assert near_duplicates(ingest(run_cli, club, club / "inbox")) == 1  # found within one run
    result = run_cli("duplicates", "--db", club / "archive.db", "--register", club / "register.yml")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    ids = {name: r["id"] for name, r in photo_rows(club / "archive.db").items()}
    assert lines[0] == f"#{ids['big.jpg']} inbox/rene-hey/big.jpg (2400x1600) credit: Photo: René Hey"
    assert lines[1].startswith(f"    #{ids['web.webp']} inbox/member/web.webp (1080x720; distance ")
    assert len(lines) == 2
    assert result.stderr.strip().endswith("1 cluster, 1 duplicate")


def test_verdicts_are_kept_in_tags_yml_and_survive_a_rebuild(run_cli, club: Path) -> None:
    original = scene(54, (2400, 1600))
    inbox = club / "inbox"
    save_photo(original, inbox / "rene-hey" / "a.jpg", camera(), quality=92)
    save_photo(original.resize((1200, 800)), inbox / "member" / "b.jpg", quality=80)
    save_photo(scene(55, (2400, 1600)), inbox / "member" / "c.jpg")
    ingest(run_cli, club, inbox)
    db, register = club / "archive.db", club / "register.yml"

    result = run_cli("duplicates", "--not-duplicate", "b.jpg", "a.jpg", "--db", db, "--register", register)
    assert result.exit_code == 0, result.output
    ids = {name: r["id"] for name, r in photo_rows(db).items()}
    assert (f"#{ids['b.jpg']} (inbox/member/b.jpg) is not a duplicate of #{ids['a.jpg']} "
            "(inbox/rene-hey/a.jpg)") in result.stdout
    assert f"#{ids['b.jpg']} is now an original" in result.stdout
    result = run_cli("duplicates", "--duplicate-of", "c.jpg", str(ids["a.jpg"]), "--db", db,
                     "--register", register)
    assert result.exit_code == 0, result.output

    def state() -> dict[str, tuple]:
        return {name: (r["duplicate_of"], r["photographer_id"], r["credit"])
                for name, r in photo_rows(db).items()}

    expected = {"a.jpg": (None, "rene-hey", "Photo: René Hey"), "b.jpg": (None, "member", "Photo: A Member"),
                "c.jpg": (ids["a.jpg"], "rene-hey", "Photo: René Hey")}
    assert state() == expected
    saved = yaml.safe_load((club / "tags.yml").read_text(encoding="utf-8"))["photos"]
    sha = {r["file_name"]: r["sha256"] for r in rows(db, "select file_name, sha256 from photos")}
    assert saved[sha["b.jpg"]]["not_duplicate_of"] == [sha["a.jpg"]]
    assert saved[sha["c.jpg"]]["duplicate_of"] == sha["a.jpg"]

    (club / "archive.db").unlink()
    (club / "archive.db.private").unlink()
    ingest(run_cli, club, inbox)
    ids = {name: r["id"] for name, r in photo_rows(db).items()}
    expected["c.jpg"] = (ids["a.jpg"], *expected["c.jpg"][1:])
    assert state() == expected

    # Turned round: b is a duplicate after all.
    result = run_cli("duplicates", "--duplicate-of", "b.jpg", "a.jpg", "--db", db, "--register", register)
    assert result.exit_code == 0
    assert state()["b.jpg"] == (ids["a.jpg"], "rene-hey", "Photo: René Hey")
    saved = yaml.safe_load((club / "tags.yml").read_text(encoding="utf-8"))["photos"]
    assert "not_duplicate_of" not in saved[sha["b.jpg"]]


def test_recluster_rebuilds_links_from_stored_signatures(run_cli, club: Path) -> None:
    original = scene(56, (2400, 1600))
    save_photo(original, club / "inbox" / "rene-hey" / "a.jpg", camera(), quality=92)
    save_photo(original.resize((1080, 720)), club / "inbox" / "member" / "b.jpg", quality=70)
    ingest(run_cli, club, club / "inbox")
    db = club / "archive.db"
    before = rows(db, "select * from duplicate_links")
    result = run_cli("duplicates", "--recluster", "--db", db, "--register", club / "register.yml")
    assert result.exit_code == 0, result.output
    assert "2 photos searched, 1 duplicate pairs verified, 0 photos re-pointed" in result.stderr
    assert rows(db, "select * from duplicate_links") == before


@pytest.mark.parametrize("args, message", [
    (["--not-duplicate", "1", "2", "--duplicate-of", "1", "2"],
     "give one of --not-duplicate and --duplicate-of, not both"),
    (["--not-duplicate", "1", "999"], "no photo matches '999'"),
    (["--duplicate-of", "1", "1"], "'1' and '1' are the same photo (#1)"),
    (["--recluster", "--duplicate-of", "1", "2"], "--recluster re-decides every cluster: run it on its own"),
])
def test_bad_verdicts_are_one_line_errors(run_cli, club: Path, args: list[str], message: str) -> None:
    save_photo(scene(57), club / "inbox" / "rene-hey" / "a.jpg", camera())
    ingest(run_cli, club, club / "inbox")
    result = run_cli("duplicates", *args, "--db", club / "archive.db", "--register", club / "register.yml")
    assert result.exit_code in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_no_archive_is_a_clear_error(run_cli, tmp_path: Path) -> None:
    result = run_cli("duplicates", "--db", tmp_path / "none.db")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: no archive at {tmp_path / 'none.db'}: run `photo-archive ingest` first"


def test_exact_copies_are_not_near_duplicates(run_cli, club: Path) -> None:
    """The same bytes twice are one photo with two files, not a cluster."""
    path = save_photo(scene(58), club / "inbox" / "rene-hey" / "a.jpg", camera())
    (club / "inbox" / "member").mkdir(parents=True)
    (club / "inbox" / "member" / "a-copy.jpg").write_bytes(path.read_bytes())
    result = ingest(run_cli, club, club / "inbox")
    assert "1 exact duplicates, 0 near duplicates" in result.stderr.splitlines()[-1]
    assert rows(club / "archive.db", "select count(*) as n from photos") == [{"n": 1}]
    assert rows(club / "archive.db", "select count(*) as n from duplicate_links") == [{"n": 0}]
    assert Image.open(path).size == (640, 480)
