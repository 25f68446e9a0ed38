"""Our metadata against exiftool's, over the real camera corpus.

`exiftool -json -n` is the reference reader: for every SPEC field that
exiftool finds in a corpus file, the photos row in archive.db must hold the
same value (GPS within 1e-5 degrees, exposure figures within 1%). A field we
fill that exiftool finds nowhere in the file counts too, as a disagreement.
At least 98% must agree, and every disagreement is listed in the failure
message as `file: field: ours != exiftool`. Files exiftool calls broken (an
Error or a Warning) must still end up as a photos row or an ingest_errors row.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from conftest import require, rows
from ingest.cli import cli

REQUIRED_AGREEMENT = 0.98

# Privacy rounds GPS outside every event geofence to 2 decimals (tagging.py),
# which would hide our real precision. One event whose geofence covers the
# whole Earth (20,100 km from 0,0 is more than half the circumference) and
# whose dates span every camera in the corpus keeps positions exact.
WORLD_REGISTER = """\
photographers: []
events:
  - id: world
    name: Everywhere, always
    start: 1990-01-01
    end: 2035-12-31
    timezone: UTC
    place: {name: Earth, lat: 0, lon: 0, radius_km: 20100}
cars: []
"""

# Groups whose values are not in the file as written, or not the photo's:
# - Composite: computed by exiftool (Canon's ISO from APEX values, Lens as a
#   focal range); GPS is the exception, see GPS_TAGS.
# - IFD1: the embedded thumbnail's own tags.
# - PictureInfo: the 1998 Olympus APP12 text block (olympus-d320l.jpg) that
#   predates EXIF. Its time is a Unix timestamp that exiftool renders in the
#   zone of the machine running the test, so there is no camera-clock value to
#   agree with, and the SPEC's taken_at is EXIF DateTimeOriginal.
IGNORED_GROUPS = {"Composite", "IFD1", "PictureInfo", "ExifTool", "System"}
# Where each standard keeps the field, in our documented order of preference
# (metadata.merge: EXIF for camera data, XMP before IPTC before EXIF for captions).
TEXT_TAGS: dict[str, tuple[str, ...]] = {
    "camera_make": ("IFD0:Make", "XMP-tiff:Make"),
    "camera_model": ("IFD0:Model", "XMP-tiff:Model"),
    "title": ("XMP-dc:Title", "IPTC:ObjectName"),
    "caption": ("XMP-dc:Description", "IPTC:Caption-Abstract", "IFD0:ImageDescription"),
    "artist": ("IFD0:Artist", "IPTC:By-line", "XMP-dc:Creator"),
    "copyright": ("IFD0:Copyright", "IPTC:CopyrightNotice", "XMP-dc:Rights"),
}
# The same tag name in maker notes (any group not listed above) counts after these.
MAKER_TEXT_TAGS: dict[str, tuple[tuple[str, ...], str]] = {
    # InternalSerialNumber is a circuit-board id, not the number on the body.
    "camera_serial": (("ExifIFD:SerialNumber", "IFD0:SerialNumber"), "SerialNumber"),
    "lens": (("ExifIFD:LensModel",), "LensModel"),
}
# Numbers with a relative tolerance. Maker-note figures are left out on purpose:
# Canon's are APEX-rounded recomputations (FNumber 2.83 for f/2.8), and with -n
# Canon's FocalLength is in raw focal units (346 for 10.8 mm).
NUMBER_TAGS: dict[str, tuple[tuple[str, ...], float]] = {
    "focal_length": (("ExifIFD:FocalLength", "XMP-exif:FocalLength"), 0.01),
    "f_number": (("ExifIFD:FNumber", "XMP-exif:FNumber"), 0.01),
    "exposure_time": (("ExifIFD:ExposureTime", "XMP-exif:ExposureTime"), 0.01),
}
# -n leaves GPS:GPSLatitude unsigned (the sign is in GPSLatitudeRef); the
# Composite tag is the signed value from the two.
GPS_TAGS = {"latitude": "Composite:GPSLatitude", "longitude": "Composite:GPSLongitude"}
GPS_TOLERANCE = 1e-5
INTEGER_TAGS: dict[str, tuple[str, ...]] = {
    "orientation": ("IFD0:Orientation", "XMP-tiff:Orientation"),
    # File: the JPEG frame / HEIF ispe; IFD0: a TIFF's own image. Never XMP-tiff
    # or ExifIFD sizes, which describe the original before a resize.
    "width": ("File:ImageWidth", "IFD0:ImageWidth"),
    "height": ("File:ImageHeight", "IFD0:ImageHeight"),
}
KEYWORD_TAGS = ("IPTC:Keywords", "XMP-dc:Subject", "IFD0:XPKeywords")
DATE_TAGS = ("ExifIFD:DateTimeOriginal", "XMP-exif:DateTimeOriginal")


@pytest.fixture(scope="module")
def exiftool() -> str:
    path = shutil.which("exiftool")
    require(path is not None, "exiftool is not installed (apt-get install libimage-exiftool-perl)")
    return path


@pytest.fixture(scope="module")
def archive(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The corpus ingested once through the CLI; returns the db and the CLI result."""
    folder = tmp_path_factory.mktemp("agreement")
    register = folder / "register.yml"
    register.write_text(WORLD_REGISTER, encoding="utf-8")
    db = folder / "archive.db"
    result = CliRunner().invoke(
        cli, ["ingest", str(corpus), "--db", str(db), "--register", str(register), "--silent"],
        catch_exceptions=False,
    )
    return db, result


def first_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON object hook: with -a a tag can repeat in one group; keep the first, as exiftool lists it."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


@pytest.fixture(scope="module")
def reference(exiftool: str, corpus: Path) -> dict[str, dict[str, Any]]:
    """exiftool's reading of every file, keyed by resolved path."""
    done = subprocess.run(
        [exiftool, "-json", "-n", "-G1", "-a", "-r", "-q", "-q", "-charset", "filename=utf8",
         str(corpus)],
        capture_output=True, check=False, timeout=300,
    )
    assert done.stdout, f"exiftool printed nothing: {done.stderr.decode(errors='replace')}"
    entries = json.loads(done.stdout, object_pairs_hook=first_pairs)
    return {str(Path(entry["SourceFile"]).resolve()): entry for entry in entries}


# --- what exiftool says, normalised to our columns ------------------------

def text(value: Any) -> str | None:
    """Text as a person reads it: whitespace-stripped, blank means absent.

    JSON turns a numeric-looking string ('3105364') into a number; str() brings
    it back (a string like '1.50' would lose its zero, none is in the corpus).
    """
    if value is None:
        return None
    if isinstance(value, list):  # XMP-dc:Creator and the like: the first one, as we publish
        return text(value[0]) if value else None
    stripped = str(value).strip()
    return stripped or None


def first_value(entry: dict[str, Any], tags: tuple[str, ...], read: Callable[[Any], Any]) -> Any:
    for tag in tags:
        value = read(entry.get(tag))
        if value is not None:
            return value
    return None


def maker_tags(entry: dict[str, Any], name: str) -> tuple[str, ...]:
    """`Group:name` keys of maker-note groups (neither a standard nor ignored)."""
    standard = {"IFD0", "ExifIFD", "GPS", "File", "IPTC", "JFIF", "ICC_Profile"} | IGNORED_GROUPS
    keys = []
    for key in entry:
        group, _, tag = key.partition(":")
        if tag == name and group not in standard and not group.startswith("XMP"):
            keys.append(key)
    return tuple(keys)


def number(value: Any) -> float | None:
    """A single number; exiftool's -n pairs like Nikon's ISO '0 200' are not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def exif_datetime(value: Any) -> str | None:
    """'2008:05:04 16:47:24+09:00' -> '2008-05-04T16:47:24' (camera clock, zone dropped)."""
    raw = text(value)
    if not raw or len(raw) < 19 or raw.startswith("0000"):
        return None
    return f"{raw[0:4]}-{raw[5:7]}-{raw[8:10]}T{raw[11:19]}"


def keyword_set(entry: dict[str, Any]) -> set[str] | None:
    """Keywords of every standard together, compared case-insensitively (we keep one
    spelling of 'Nürburgring' / 'nürburgring', as metadata.unique documents)."""
    words: set[str] = set()
    for tag in KEYWORD_TAGS:
        value = entry.get(tag)
        values = value if isinstance(value, list) else [value]
        if tag.endswith("XPKeywords"):
            values = [part for v in values if v is not None for part in str(v).split(";")]
        words |= {t.casefold() for t in map(text, values) if t}
    return words or None


def expected(entry: dict[str, Any]) -> dict[str, Any]:
    """Each SPEC column exiftool has a value for, in our column's terms."""
    out: dict[str, Any] = {"taken_at": first_value(entry, DATE_TAGS, exif_datetime)}
    for column, tags in TEXT_TAGS.items():
        out[column] = first_value(entry, tags, text)
    for column, (tags, name) in MAKER_TEXT_TAGS.items():
        out[column] = first_value(entry, tags + maker_tags(entry, name), text)
    for column, (tags, _) in NUMBER_TAGS.items():
        out[column] = first_value(entry, tags, number)
    # Maker ISO only where EXIF has none (Casio's 0x3014); Nikon's '0 200' is a
    # (mode, value) pair that `number` refuses, Canon's Composite:ISO is computed.
    out["iso"] = first_value(entry, ("ExifIFD:ISO", *maker_tags(entry, "ISO")), number)
    for column, tag in GPS_TAGS.items():
        out[column] = number(entry.get(tag))
    for column, tags in INTEGER_TAGS.items():
        out[column] = first_value(entry, tags, number)
    out["keywords"] = keyword_set(entry)
    return {column: value for column, value in out.items() if value is not None}


# --- agreement per field --------------------------------------------------

def agrees(column: str, ours: Any, theirs: Any) -> bool:
    if ours is None:
        return False
    if column == "keywords":
        return {k.strip().casefold() for k in json.loads(ours)} == theirs
    if column in GPS_TAGS:
        return abs(float(ours) - theirs) <= GPS_TOLERANCE
    if column in NUMBER_TAGS:
        return math.isclose(float(ours), theirs, rel_tol=NUMBER_TAGS[column][1])
    if column in INTEGER_TAGS or column == "iso":
        return int(ours) == round(theirs)
    return str(ours).strip() == theirs


COLUMNS = ("taken_at", *TEXT_TAGS, *MAKER_TEXT_TAGS, *NUMBER_TAGS, "iso", *GPS_TAGS,
           *INTEGER_TAGS, "keywords")


def ours(row: dict[str, Any], column: str) -> Any:
    """Our value, None when absent (an empty keyword list is no keywords)."""
    value = row[column]
    return None if column == "keywords" and value == "[]" else value


def shown(value: Any) -> Any:
    """exiftool's value as the message shows it: 4608, not 4608.0; keywords sorted."""
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def compare(reference: dict[str, dict[str, Any]], photos: list[dict[str, Any]],
            corpus: Path) -> tuple[int, list[str]]:
    """(fields compared, disagreements as 'file: field: ours != exiftool').

    A field counts when exiftool has a value for it, and also when only we
    have one: a value exiftool finds nowhere in the file (an artist '[]', a
    serial read from the wrong offset) is as wrong as a missing one.
    """
    compared, disagreements = 0, []
    for row in photos:
        entry = reference.get(str(Path(row["path"]).resolve()))
        if entry is None:
            continue  # exiftool did not recognise the file; nothing to agree with
        name = Path(row["path"]).resolve().relative_to(corpus.resolve())
        theirs = expected(entry)
        for column in COLUMNS:
            if column not in theirs and ours(row, column) is None:
                continue
            compared += 1
            if column not in theirs or not agrees(column, ours(row, column), theirs[column]):
                disagreements.append(
                    f"{name}: {column}: {row[column]!r} != {shown(theirs.get(column))!r}"
                )
    return compared, disagreements


def test_ingest_finishes(archive: tuple[Path, Any]) -> None:
    _, result = archive
    assert result.exit_code == 0, result.output


def test_agrees_with_exiftool(archive: tuple[Path, Any], reference: dict[str, dict[str, Any]],
                              corpus: Path) -> None:
    db, _ = archive
    photos = rows(db, "select * from photos")
    compared, disagreements = compare(reference, photos, corpus)
    assert compared > 0, "no field to compare: did the ingest or exiftool read nothing?"
    rate = 1 - len(disagreements) / compared
    print(f"exiftool agreement: {rate:.2%} of {compared} fields ({len(disagreements)} disagree)")
    for line in disagreements:
        print(line)
    assert rate >= REQUIRED_AGREEMENT, (
        f"{rate:.2%} of {compared} fields agree with exiftool (need {REQUIRED_AGREEMENT:.0%}):\n"
        + "\n".join(disagreements)
    )


def test_files_exiftool_calls_broken_are_accounted_for(
    archive: tuple[Path, Any], reference: dict[str, dict[str, Any]]
) -> None:
    db, _ = archive
    known = {str(Path(r["path"]).resolve()) for r in rows(db, "select path from photos")}
    known |= {str(Path(r["path"]).resolve()) for r in rows(db, "select path from ingest_errors")}
    broken = [path for path, entry in reference.items()
              if "ExifTool:Error" in entry or "ExifTool:Warning" in entry]
    assert broken, "exiftool reported no broken file: the corpus changed, this test lost its point"
    missing = [path for path in broken if path not in known]
    assert missing == [], "files exiftool calls broken are neither photos nor ingest_errors"
