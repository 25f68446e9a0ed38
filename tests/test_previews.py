"""ingest/previews.py: large previews made from the originals, clean and cached."""

from __future__ import annotations

import hashlib
import io
import shutil
import sqlite3
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from ingest import previews, sample_photos
from ingest.cli import cli
from ingest.errors import ArchiveError, PhotoError
from ingest.sample_photos import Meta, save_photo, scene
from tests.conftest import rows

GPS_HOME = (52.520008, 13.404954)


def riff_chunks(webp: bytes) -> list[bytes]:
    """The chunk names of a WebP file (VP8, VP8L, VP8X, EXIF, XMP , ICCP...)."""
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    names, at = [], 12
    while at + 8 <= len(webp):
        name, size = webp[at:at + 4], struct.unpack("<I", webp[at + 4:at + 8])[0]
        names.append(name)
        at += 8 + size + (size & 1)
    return names


def assert_clean_webp(webp: bytes) -> Image.Image:
    """A WebP with pixels only: no EXIF, XMP or ICC chunk, nothing Pillow reads as metadata."""
    assert not {b"EXIF", b"XMP ", b"ICCP"} & set(riff_chunks(webp))
    image = Image.open(io.BytesIO(webp))
    assert image.format == "WEBP"
    assert not dict(image.getexif())
    assert not {"exif", "xmp", "icc_profile"} & set(image.info)
    return image


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A tiny archive of generated photos, built once; returns (db, {file name: photos row}).

    Tests must not change it: copy it with `moved` first.
    """
    root = tmp_path_factory.mktemp("previews")
    inbox = root / "inbox" / "someone"
    # Generated small and enlarged: a large scene() is slow, and only the size matters here.
    save_photo(scene(1, (600, 400)).resize((2400, 1600)), inbox / "big.jpg",
               Meta(make="Canon", model="EOS R5", gps=GPS_HOME, artist="A. Person",
                    iptc_keywords=["Secret Place"], xmp_description="at home"))
    save_photo(scene(2, (900, 600)), inbox / "turned.jpg", Meta(orientation=6))
    save_photo(scene(3, (300, 200)), inbox / "small.png")
    save_photo(scene(4, (480, 320)), inbox / "phone.heic", Meta(make="Apple", gps=GPS_HOME))
    db = root / "archive.db"
    result = CliRunner().invoke(cli, ["ingest", str(root / "inbox"), "--db", str(db), "--silent"])
    assert result.exit_code == 0, result.output
    photos = {row["file_name"]: row for row in rows(db, "select * from photos")}
    assert set(photos) == {"big.jpg", "turned.jpg", "small.png", "phone.heic"}
    return db, photos


def moved(db: Path, folder: Path, **paths: str) -> Path:
    """A copy of the archive and its ledger in `folder`, with ledger paths replaced: {sha256: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "archive.db"
    for source, target in ((db, copy), (Path(f"{db}.private"), Path(f"{copy}.private"))):
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        src.close()
        dst.close()
    with sqlite3.connect(f"{copy}.private") as ledger:
        for sha256, path in paths.items():
            # `key` is unique (and absolute); a key that is no file leaves `path` to be tried.
            ledger.execute("update files set key = ?, path = ? where sha256 = ?",
                           [f"{folder}/moved-{sha256}", path, sha256])
    ledger.close()
    return copy


@pytest.mark.parametrize("text, ok", [
    ("0" * 64, True),
    ("ab" * 32, True),
    ("AB" * 32, False),          # upper case is not how the archive spells it
    ("0" * 63, False),
    ("0" * 65, False),
    ("../" + "0" * 61, False),
    ("0" * 64 + "\n", False),
    ("", False),
])
def test_only_sha256_names_a_preview(text: str, ok: bool) -> None:
    assert previews.is_sha256(text) is ok
    if not ok:
        with pytest.raises(ValueError):
            previews.preview_path("archive.db", text)


def test_previews_live_beside_the_archive() -> None:
    sha = "ab" * 32
    assert previews.previews_dir("demo/archive.db") == Path("demo/archive.db.previews")
    assert previews.preview_path("demo/archive.db", sha) == Path(f"demo/archive.db.previews/{sha}.webp")


def test_preview_is_upright_clean_and_at_most_1600px(archive) -> None:
    db, photos = archive
    big = photos["big.jpg"]
    webp = previews.preview_from_original(db, big["sha256"], big["format"], big["orientation"])
    image = assert_clean_webp(webp)
    assert image.size == (1600, 1067)
    for private in (b"GPS", b"Secret Place", b"at home", b"A. Person", b"52.52", b"Canon"):
        assert private not in webp


def test_preview_turns_the_photo_like_its_thumbnail(archive) -> None:
    db, photos = archive
    turned = photos["turned.jpg"]
    assert (turned["width"], turned["height"], turned["orientation"]) == (900, 600, 6)
    image = assert_clean_webp(previews.preview_from_original(db, turned["sha256"], turned["format"], 6))
    thumb = Image.open(io.BytesIO(turned["thumbnail"]))
    assert image.size == (600, 900)  # upright, never enlarged
    assert thumb.size[0] < thumb.size[1]


def test_small_photos_are_not_enlarged(archive) -> None:
    db, photos = archive
    small = photos["small.png"]
    image = assert_clean_webp(previews.preview_from_original(db, small["sha256"], small["format"], None))
    assert image.size == (300, 200)


def test_heic_original_displays_through_its_preview(archive) -> None:
    db, photos = archive
    heic = photos["phone.heic"]
    assert heic["format"] == "HEIF"
    webp = previews.preview_from_original(db, heic["sha256"], heic["format"], heic["orientation"])
    assert assert_clean_webp(webp).size == (480, 320)
    assert b"Apple" not in webp


def test_raw_original_displays_through_its_embedded_preview(tmp_path: Path, run_cli) -> None:
    if not hasattr(sample_photos, "save_raw_like"):
        pytest.skip("sample_photos.save_raw_like (synthetic RAW files) is not available")
    sample_photos.save_raw_like(scene(5, (900, 600)), tmp_path / "inbox/someone/DSC_0001.NEF",
                                Meta(make="NIKON CORPORATION", model="NIKON Z 6_2", gps=GPS_HOME))
    db = tmp_path / "archive.db"
    assert run_cli("ingest", str(tmp_path / "inbox"), "--db", str(db), "--silent").exit_code == 0
    (raw,) = rows(db, "select sha256, format, orientation, thumbnail_width, thumbnail_height from photos")
    assert raw["format"] == "NEF"
    webp = previews.preview_from_original(db, raw["sha256"], raw["format"], raw["orientation"])
    image = assert_clean_webp(webp)
    assert image.width / image.height == pytest.approx(raw["thumbnail_width"] / raw["thumbnail_height"], rel=0.02)
    assert b"NIKON" not in webp


def test_an_original_that_changed_is_not_used(archive, tmp_path: Path) -> None:
    """The ledger points at a path; the bytes there must still be the archived photo's."""
    db, photos = archive
    big, small = photos["big.jpg"], photos["small.png"]
    elsewhere = previews.ledger_paths(db, small["sha256"])[0]  # another picture sits there now
    copy = moved(db, tmp_path, **{big["sha256"]: elsewhere})
    assert elsewhere in previews.ledger_paths(copy, big["sha256"])
    assert previews.read_original(copy, big["sha256"]) is None
    assert previews.preview_from_original(copy, big["sha256"], big["format"], None) is None


def test_no_ledger_means_no_original(archive, tmp_path: Path) -> None:
    db, photos = archive
    alone = tmp_path / "archive.db"
    shutil.copyfile(db, alone)
    assert previews.ledger_paths(alone, photos["big.jpg"]["sha256"]) == []
    assert previews.read_original(alone, photos["big.jpg"]["sha256"]) is None


def test_undecodable_original_is_a_photo_error() -> None:
    with pytest.raises(PhotoError):
        previews.render_preview(b"\xff\xd8\xff\xe0 not really a jpeg", "JPEG", None)


def test_build_previews_makes_each_once(archive, tmp_path: Path) -> None:
    db, photos = archive
    copy = moved(db, tmp_path)
    made = []
    summary = previews.build_previews(copy, workers=2, on_photo=lambda sha, outcome: made.append(outcome))
    assert summary.counts == {"made": 4, "cached": 0, "missing": 0, "failed": 0}
    assert sorted(made) == ["made"] * 4
    for row in photos.values():
        assert_clean_webp(previews.preview_path(copy, row["sha256"]).read_bytes())
    again = previews.build_previews(copy)
    assert again.counts == {"made": 0, "cached": 4, "missing": 0, "failed": 0}
    assert "0 previews made, 4 already cached" in again.line()
    assert not list(previews.previews_dir(copy).glob(".*"))  # no temporary files left


def test_build_previews_reports_missing_originals(archive, tmp_path: Path) -> None:
    db, photos = archive
    gone = photos["small.png"]["sha256"]
    copy = moved(db, tmp_path, **{gone: str(tmp_path / "deleted.png")})
    summary = previews.build_previews(copy)
    assert summary.counts == {"made": 3, "cached": 0, "missing": 1, "failed": 0}
    assert summary.missing == [gone]
    assert "1 without an original" in summary.line()
    assert not previews.preview_path(copy, gone).exists()


def test_cache_preview_keeps_a_whole_file(archive, tmp_path: Path) -> None:
    db, photos = archive
    copy = moved(db, tmp_path)
    sha = photos["big.jpg"]["sha256"]
    assert previews.cache_preview(copy, sha, b"RIFF....WEBP")
    assert previews.preview_path(copy, sha).read_bytes() == b"RIFF....WEBP"
    # Readable by a Datasette run as another user (mkstemp alone makes it 0600).
    assert previews.preview_path(copy, sha).stat().st_mode & 0o777 == 0o644


def test_build_previews_needs_an_archive(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no archive at"):
        previews.build_previews(tmp_path / "missing.db")


def test_ledger_paths_hold_the_originals(archive) -> None:
    db, photos = archive
    for row in photos.values():
        paths = previews.ledger_paths(db, row["sha256"])
        assert paths and all(hashlib.sha256(Path(p).read_bytes()).hexdigest() == row["sha256"] for p in paths)


def test_build_previews_names_the_photos_it_cannot_make(archive, tmp_path: Path, monkeypatch) -> None:
    db, photos = archive
    copy = moved(db, tmp_path)

    def refuse(data: bytes, fmt: str, orientation: int | None, size: int = previews.PREVIEW_SIZE) -> bytes:
        raise PhotoError("image data is damaged or truncated: broken data stream")

    monkeypatch.setattr(previews, "render_preview", refuse)
    planned = []
    summary = previews.build_previews(copy, workers=1, on_plan=planned.append)
    assert planned == [4]
    assert summary.counts == {"made": 0, "cached": 0, "missing": 0, "failed": 4}
    big = photos["big.jpg"]["sha256"]
    assert (f"big.jpg ({big[:12]})", "image data is damaged or truncated: broken data stream") in summary.failures


def test_previews_command(archive, tmp_path: Path) -> None:
    """`photo-archive previews --db archive.db`: makes the missing previews, says so, is idempotent."""
    if "previews" not in cli.commands:
        pytest.skip("cli.py has no `previews` command yet (see ingest/previews.build_previews)")
    db, photos = archive
    copy = moved(db, tmp_path)
    first = CliRunner().invoke(cli, ["previews", "--db", str(copy)])
    assert first.exit_code == 0, first.output
    assert first.stderr.strip().splitlines()[-1] == (
        "4 previews made, 0 already cached, 0 without an original (their thumbnail is shown), 0 failed")
    assert sorted(p.name for p in previews.previews_dir(copy).iterdir()) == sorted(
        f"{row['sha256']}.webp" for row in photos.values())
    again = CliRunner().invoke(cli, ["previews", "--db", str(copy)])
    assert again.exit_code == 0 and "0 previews made, 4 already cached" in again.stderr
    missing = CliRunner().invoke(cli, ["previews", "--db", str(tmp_path / "nowhere.db")])
    assert missing.exit_code == 1
    assert missing.stderr.strip() == f"Error: no archive at {tmp_path / 'nowhere.db'}: run `photo-archive ingest` first"
