"""Tagging decisions as tables (pure functions), then the same rules on a real inbox, row by row."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ingest.manual import PhotoDecisions
from ingest.register import Register, load_register
from ingest.sample_photos import Meta
from ingest.tagging import (
    NO_DECISION,
    UNKNOWN_CREDIT,
    CarIndex,
    Decision,
    Tagger,
    When,
    compact,
    credit_line,
    decide_cars,
    decide_photographer,
    decide_when,
    fold,
    local_for,
    local_time,
    manual_cars,
    manual_photographer,
    manual_when,
    normalize,
    private_codes,
    published_location,
    scrub,
)
from tests.conftest import rows

ROOT = Path(__file__).resolve().parent.parent

REGISTER = """\
photographers:
  - id: rene-hey
    name: René Hey
    studio: Cannoneer Photography
    handle: "@cannoneer"
    aliases: ["Rene Hey"]
    cameras:
      - serial: "083024001234"
        clock_offset: "+01:00:00"     # left on winter time
  - id: vos-photography
    name: VOS Photography
    cameras:
      - serial: "4012345"
  - id: kai-lindqvist
    name: Kai Lindqvist
    aliases: ["KL Pictures"]

events:
  - id: meet-2025
    name: 1M Register annual meeting 2025
    start: 2025-09-19
    end: 2025-09-21
    timezone: Europe/Berlin
    place: {name: Nürburgring, lat: 50.3356, lon: 6.9475, radius_km: 30}
    aliases: ["1M Treffen 2025"]
    sessions:
      - id: breakfast
        name: Breakfast at the Lindner
        start: 2025-09-20T07:00
        end: 2025-09-20T09:00
      - id: nordschleife-parade
        name: Nordschleife parade
        start: 2025-09-20T09:00
        end: 2025-09-20T12:00
  - id: goodwood-2025
    name: Goodwood gathering 2025
    start: 2025-07-11
    end: 2025-07-13
    timezone: Europe/London
    sessions:
      - id: hill-climb
        name: Hill climb
        start: 2025-07-12T09:00
        end: 2025-07-12T12:00

cars:
  - id: "0042"
    vin: WBS1J5C50BE000042
    production_number: 42
    color: Java Green
    nickname: Green Mamba
    plates: ["NR 1M 42"]
  - id: "0104"
    vin: WBS1J5C58BE000104
    production_number: 104
    aliases: ["Segler's 1M"]
    plates: ["M KS 104"]
  - id: "1203"
    production_number: 1203
    plates: ["NR 1M 203"]
  - id: "0203"
    production_number: 203
  - id: "4096"
    production_number: 4096
    nickname: Grüne Hölle
  - id: "0333"
    vin: WBS1J5C52BE000333
    production_number: 333
    nickname: Yellow Submarine
    plates: ["HH YS 333"]
    public: false
"""


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Register:
    path = tmp_path_factory.mktemp("register") / "register.yml"
    path.write_text(REGISTER, encoding="utf-8")
    return load_register(path)


@pytest.fixture(scope="module")
def index(register: Register) -> CarIndex:
    return CarIndex(register.cars)


# --- text ------------------------------------------------------------------

@pytest.mark.parametrize("text, folded, compacted", [
    ("René-Hey", " rene hey ", "renehey"),
    ("GRÜNE  Hölle", " grune holle ", "gruneholle"),
    ("Segler’s 1M", " segler s 1m ", "seglers1m"),
    ("Project Ørsted", " project ørsted ", "projectørsted"),  # letters NFKD cannot take apart stay letters
    ("NR_1M-42", " nr 1m 42 ", "nr1m42"),
    ("", "  ", ""),
])
def test_fold_and_compact(text: str, folded: str, compacted: str) -> None:
    assert (fold(text), compact(text)) == (folded, compacted)


def test_normalize_maps_back_to_the_original_characters() -> None:
    folded = normalize("Cre\u0300me Brûlée")  # a decomposed è, a precomposed û
    assert folded.text == "creme brulee"
    assert [folded.origin[i] for i in (2, 3, 4)] == [2, 4, 5]  # the combining accent has no folded character


# --- cars: what counts as naming a car ----------------------------------------

@pytest.mark.parametrize("text, expected", [
    # VINs and their last 7 are matched whole, in any case.
    ("WBS1J5C50BE000042", {("0042", "vin")}),
    ("wbs1j5c50be000042", {("0042", "vin")}),
    ("1M E000042 at the pits", {("0042", "vin_last7")}),
    ("BE000042", set()),
    ("WBS1J5C50BE0000421", set()),
    ("WBS1J5C50BE00004", set()),
    # Production numbers need their marker.
    ("#42", {("0042", "production_number")}),
    ("# 42", {("0042", "production_number")}),
    ("#0042", {("0042", "production_number")}),
    ("No. 42", {("0042", "production_number")}),
    ("no 42", {("0042", "production_number")}),
    ("Nr.42", {("0042", "production_number")}),
    ("Nº 42", {("0042", "production_number")}),
    ("1M-42", {("0042", "production_number")}),
    ("1M #42", {("0042", "production_number")}),
    ("1M - 42,", {("0042", "production_number")}),
    ("(#42)", {("0042", "production_number")}),
    ("DSC_0042", set()),
    ("IMG_42", set()),
    ("42 laps", set()),
    ("lap 42 of 60", set()),
    ("1M 42", set()),          # a year or a plate part, not a production number: '1M 2011'
    ("#420", set()),
    ("#42a", set()),
    ("car42", set()),
    ("casino 42", set()),
    ("No. 9999", set()),       # no such car
    # Plates: spaces, dashes, underscores and case ignored; matched whole.
    ("NR 1M 42", {("0042", "plate")}),
    ("nr-1m-42", {("0042", "plate")}),
    ("NR1M42", {("0042", "plate")}),
    ("nr 1m42", {("0042", "plate")}),
    ("NR – 1M – 42", {("0042", "plate")}),
    ("NR_1M_42", {("0042", "plate")}),
    ("XNR1M42", set()),
    ("NR1M421", set()),
    ("NR, 1M, 42", set()),
    # An identifier inside a longer one of another car belongs to that car.
    ("NR-1M-203", {("1203", "plate")}),
    ("1M-203", {("0203", "production_number")}),
    # Nicknames and aliases: case, accents, spaces and dashes ignored; whole words.
    ("Green Mamba", {("0042", "nickname")}),
    ("GREEN MAMBA", {("0042", "nickname")}),
    ("green-mamba", {("0042", "nickname")}),
    ("GreenMamba", {("0042", "nickname")}),
    ("green_mamba.jpg", {("0042", "nickname")}),
    ("Green Mambas", set()),
    ("Green", set()),
    ("Green, Mamba", set()),
    ("Segler's 1M", {("0104", "alias")}),
    ("SEGLER’S 1M", {("0104", "alias")}),
    ("Seglers 1M", {("0104", "alias")}),
    ("Grune Holle", {("4096", "nickname")}),
    ("GRÜNE-HÖLLE", {("4096", "nickname")}),
    # Several cars in one text.
    ("Green Mamba and #104 behind M-KS-104", {("0042", "nickname"), ("0104", "production_number"),
                                             ("0104", "plate")}),
    # The index knows private cars too (tagging leaves them out, scrubbing uses them).
    ("Yellow Submarine", {("0333", "nickname")}),
])
def test_car_identifiers(index: CarIndex, text: str, expected: set[tuple[str, str]]) -> None:
    assert {(hit.car_id, hit.kind) for hit in index.find(text)} == expected


def record(**fields) -> dict:
    """A metadata record as metadata.read_metadata makes it, with only the given fields."""
    sources = fields.pop("sources", {})
    return {"keywords": [], "sources": {"exif": {}, "iptc": {}, "xmp": {}, **sources}, **fields}


@pytest.mark.parametrize("path, rec, expected", [
    ("inbox/a/IMG_1.jpg", record(keywords=["Green Mamba"]), [("0042", "keyword", 0.8)]),
    # The strongest identifier decides, wherever it is.
    ("inbox/a/IMG_1.jpg", record(keywords=["Green Mamba"], title="1M #42 on track"),
     [("0042", "title", 0.85)]),
    ("inbox/a/IMG_1.jpg", record(caption="Spotted NR-1M-42 near the pits"), [("0042", "caption", 0.95)]),
    ("inbox/rene-hey/NR 1M 42/IMG_1.jpg", record(), [("0042", "folder name", 0.95)]),
    ("inbox/a/WBS1J5C50BE000042.jpg", record(), [("0042", "file name", 1.0)]),
    ("inbox/a/Green Mamba No. 104.jpg", record(), [("0042", "file name", 0.8), ("0104", "file name", 0.85)]),
    # A tie goes to the more deliberate place.
    ("inbox/Green Mamba/IMG_1.jpg", record(keywords=["green mamba"]), [("0042", "keyword", 0.8)]),
    # Every standard's own field counts, not only the merged one.
    ("inbox/a/IMG_1.jpg", record(caption="XMP says nothing", sources={"iptc": {"caption": "IPTC says #104"}}),
     [("0104", "caption", 0.85)]),
    ("inbox/a/IMG_1.jpg", record(sources={"xmp": {"title": "Segler's 1M"}}), [("0104", "title", 0.8)]),
    ("inbox/a/IMG_1.jpg", record(sources={"exif": {"xp_keywords": ["Grüne Hölle"]}}),
     [("4096", "keyword", 0.8)]),
    # Distractors.
    ("inbox/a/DSC_0042.JPG", record(caption="42 laps", keywords=["XNR1M42", "BE000042"]), []),
    # Private cars are never tagged.
    ("inbox/a/Yellow Submarine.jpg", record(keywords=["HH-YS-333", "#333"]), []),
])
def test_decide_cars(register: Register, index: CarIndex, path: str, rec: dict, expected: list) -> None:
    public = {car.id for car in register.cars if car.public}
    tags = decide_cars(index, public, path, rec)
    assert [(t["car_id"], t["source"], t["confidence"]) for t in tags] == expected


# --- photographer --------------------------------------------------------------

@pytest.mark.parametrize("path, rec, expected", [
    ("inbox/rene-hey/2025/IMG_1.jpg", record(), ("rene-hey", "inbox folder")),
    ("inbox/Rene-Hey/IMG_1.jpg", record(), ("rene-hey", "inbox folder")),
    ("handed/IMG_1.jpg", record(camera_serial="083024001234"), ("rene-hey", "camera serial")),
    ("handed/IMG_1.jpg", record(sources={"exif": {"artist": "RENE HEY"}}), ("rene-hey", "EXIF")),
    ("handed/IMG_1.jpg", record(sources={"exif": {"copyright": "© 2025 Cannoneer Photography"}}),
     ("rene-hey", "EXIF")),
    ("handed/IMG_1.jpg", record(sources={"iptc": {"byline": ["VOS photography"]}}), ("vos-photography", "IPTC")),
    ("handed/IMG_1.jpg", record(sources={"iptc": {"credit": "@Cannoneer"}}), ("rene-hey", "IPTC")),
    ("handed/IMG_1.jpg", record(sources={"xmp": {"creator": ["KL Pictures"]}}), ("kai-lindqvist", "XMP")),
    # SPEC order: inbox folder, serial, EXIF, IPTC, XMP.
    ("inbox/vos-photography/IMG_1.jpg", record(camera_serial="083024001234"), ("vos-photography", "inbox folder")),
    ("handed/IMG_1.jpg", record(camera_serial="4012345", sources={"exif": {"artist": "René Hey"}}),
     ("vos-photography", "camera serial")),
    ("handed/IMG_1.jpg", record(sources={"exif": {"artist": "Kai Lindqvist"}, "iptc": {"byline": ["René Hey"]}}),
     ("kai-lindqvist", "EXIF")),
    # Nothing known: no photographer.
    ("handed/IMG_1.jpg", record(sources={"exif": {"artist": "John Smith"}}), (None, None)),
    ("inbox/rene-heyx/IMG_1.jpg", record(), (None, None)),
    ("inbox/members/phone/IMG_1.jpg", record(camera_serial="999"), (None, None)),
])
def test_decide_photographer(register: Register, path: str, rec: dict, expected: tuple) -> None:
    decision = decide_photographer(register, path, rec)
    assert (decision.value, decision.source) == expected


@pytest.mark.parametrize("photographer_id, rec, expected", [
    ("rene-hey", record(), "Photo: René Hey / Cannoneer Photography"),
    ("kai-lindqvist", record(), "Photo: Kai Lindqvist"),
    (None, record(sources={"exif": {"artist": "John Smith"}}), "Photo: John Smith"),
    (None, record(sources={"xmp": {"creator": ["Jane Doe"]}}), "Photo: Jane Doe"),
    (None, record(sources={"exif": {"artist": "René Hey"}}), UNKNOWN_CREDIT),  # removed by hand
    (None, record(), UNKNOWN_CREDIT),
])
def test_credit_line(register: Register, photographer_id, rec: dict, expected: str) -> None:
    assert credit_line(register, photographer_id, rec) == expected


# --- time, event, session --------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize("camera, correction, offset, expected", [
    ("2025-09-20T08:20:00", timedelta(hours=1), None, "2025-09-20T09:20:00"),   # register clock_offset
    ("2025-09-20T08:20:00", None, "+01:00", "2025-09-20T09:20:00"),             # winter time, said in EXIF
    ("2025-09-20T07:20:00", None, "+00:00", "2025-09-20T09:20:00"),             # camera on UTC
    ("2025-09-20T08:20:00", timedelta(hours=1), "+01:00", "2025-09-20T09:20:00"),  # not counted twice
    ("2025-09-20T09:20:00", None, "+02:00", "2025-09-20T09:20:00"),
    ("2025-09-20T09:20:00", None, None, "2025-09-20T09:20:00"),
    ("2025-09-20T09:20:00", None, "02:00", "2025-09-20T09:20:00"),              # not an offset: ignored
    ("2025-09-19T23:30:00", None, "-04:00", "2025-09-20T05:30:00"),             # a visitor's camera on New York time
])
def test_local_time(camera: str, correction, offset, expected: str) -> None:
    moment = local_time(datetime.fromisoformat(camera), correction, offset, BERLIN)
    assert moment.isoformat() == expected


NURBURGRING = (50.3346, 6.9423)
MUNICH = (48.137154, 11.576124)


def shot(taken: str | None, serial: str | None = None, offset: str | None = None,
         gps: tuple[float, float] | None = None, keywords: list[str] | None = None) -> dict:
    lat, lon = gps or (None, None)
    return record(taken_at=taken, camera_serial=serial, offset=offset, latitude=lat, longitude=lon,
                  keywords=keywords or [])


@pytest.mark.parametrize("path, rec, expected", [
    # The camera on winter time: its clock says 08:20 (breakfast), the parade was at 09:20.
    ("x/IMG.jpg", shot("2025-09-20T08:20:00", "083024001234"),
     ("meet-2025", "capture time", "nordschleife-parade", "2025-09-20T09:20:00")),
    ("x/IMG.jpg", shot("2025-09-20T08:20:00"), ("meet-2025", "capture time", "breakfast", "2025-09-20T08:20:00")),
    ("x/IMG.jpg", shot("2025-09-20T08:20:00", offset="+01:00"),
     ("meet-2025", "capture time", "nordschleife-parade", "2025-09-20T09:20:00")),
    ("x/IMG.jpg", shot("2025-09-20T07:30:00", offset="+00:00"),
     ("meet-2025", "capture time", "nordschleife-parade", "2025-09-20T09:30:00")),
    # Session bounds: start inclusive, end exclusive.
    ("x/IMG.jpg", shot("2025-09-20T09:00:00"),
     ("meet-2025", "capture time", "nordschleife-parade", "2025-09-20T09:00:00")),
    ("x/IMG.jpg", shot("2025-09-20T11:59:59"),
     ("meet-2025", "capture time", "nordschleife-parade", "2025-09-20T11:59:59")),
    ("x/IMG.jpg", shot("2025-09-20T12:00:00"), ("meet-2025", "capture time", None, "2025-09-20T12:00:00")),
    # Event dates are inclusive, in the event's timezone.
    ("x/IMG.jpg", shot("2025-09-19T20:00:00"), ("meet-2025", "capture time", None, "2025-09-19T20:00:00")),
    ("x/IMG.jpg", shot("2025-09-21T23:59:00"), ("meet-2025", "capture time", None, "2025-09-21T23:59:00")),
    ("x/IMG.jpg", shot("2025-09-22T00:10:00"), (None, None, None, "2025-09-22T00:10:00")),
    ("x/IMG.jpg", shot("2025-09-21T23:10:00", offset="+00:00"), (None, None, None, "2025-09-21T23:10:00")),
    ("x/IMG.jpg", shot("2025-07-12T08:30:00", offset="+00:00"),
     ("goodwood-2025", "capture time", "hill-climb", "2025-07-12T09:30:00")),
    # Geofence: GPS inside passes, far away does not.
    ("x/IMG.jpg", shot("2025-09-20T10:00:00", gps=NURBURGRING),
     ("meet-2025", "capture time", "nordschleife-parade", "2025-09-20T10:00:00")),
    ("x/IMG.jpg", shot("2025-09-20T10:00:00", gps=MUNICH), (None, None, None, "2025-09-20T10:00:00")),
    # Without a capture time: the event id or alias in the folders or keywords; a session id implies its event.
    ("inbox/vos/meet-2025/scans/IMG.tif", shot(None), ("meet-2025", "folder name", None, None)),
    ("inbox/vos/scans/IMG.tif", shot(None, keywords=["1M Treffen 2025"]), ("meet-2025", "keyword", None, None)),
    ("inbox/vos/nordschleife-parade/IMG.tif", shot(None),
     ("meet-2025", "folder name", "nordschleife-parade", None)),
    ("inbox/vos/goodwood-2025/nordschleife-parade/IMG.tif", shot(None),
     ("goodwood-2025", "folder name", None, None)),
    ("inbox/vos/scans/IMG.tif", shot(None), (None, None, None, None)),
    # A capture time that fits no event is not overruled by a folder name.
    ("inbox/vos/meet-2025/IMG.jpg", shot("2025-06-01T12:00:00"), (None, None, None, "2025-06-01T12:00:00")),
    ("inbox/vos/meet-2025/IMG.jpg", shot("2025-09-20T10:00:00", gps=MUNICH), (None, None, None, "2025-09-20T10:00:00")),
    # The register's correction applies to taken_at_local at no event, too.
    ("x/IMG.jpg", shot("2025-06-01T12:00:00", "083024001234"), (None, None, None, "2025-06-01T13:00:00")),
])
def test_decide_when(register: Register, path: str, rec: dict, expected: tuple) -> None:
    when = decide_when(register, path, rec)
    assert (when.event.value, when.event.source, when.session.value, when.local) == expected


# --- manual decisions ---------------------------------------------------------------

RENE, VOS = Decision("rene-hey", "EXIF"), Decision("vos-photography", "inbox folder")


@pytest.mark.parametrize("auto, add, remove, expected", [
    (RENE, {}, {}, RENE),
    (RENE, {"photographer": "vos-photography"}, {}, Decision("vos-photography", "manual")),
    (NO_DECISION, {"photographer": "kai-lindqvist"}, {}, Decision("kai-lindqvist", "manual")),
    (RENE, {}, {"photographer": "rene-hey"}, NO_DECISION),
    (VOS, {}, {"photographer": "rene-hey"}, VOS),
    (RENE, {"photographer": "gone-from-register"}, {}, RENE),
])
def test_manual_photographer(register: Register, auto, add, remove, expected) -> None:
    assert manual_photographer(register, auto, PhotoDecisions(add=add, remove=remove)) == expected


AT_PARADE = When(Decision("meet-2025", "capture time"), Decision("nordschleife-parade", "capture time"),
                 "2025-09-20T10:00:00")
NOWHERE = When(NO_DECISION, NO_DECISION, "2025-07-12T10:00:00")


@pytest.mark.parametrize("auto, add, remove, expected", [
    (AT_PARADE, {}, {}, ("meet-2025", "capture time", "nordschleife-parade", "capture time")),
    (AT_PARADE, {"session": "breakfast"}, {}, ("meet-2025", "manual", "breakfast", "manual")),
    (NOWHERE, {"session": "hill-climb"}, {}, ("goodwood-2025", "manual", "hill-climb", "manual")),
    (AT_PARADE, {"event": "meet-2025"}, {}, ("meet-2025", "manual", "nordschleife-parade", "capture time")),
    # A manual event finds the session its (corrected) time falls in, if any.
    (NOWHERE, {"event": "goodwood-2025"}, {}, ("goodwood-2025", "manual", "hill-climb", "capture time")),
    (AT_PARADE, {"event": "goodwood-2025"}, {}, ("goodwood-2025", "manual", "hill-climb", "capture time")),
    (AT_PARADE, {}, {"event": "meet-2025"}, (None, None, None, None)),
    (AT_PARADE, {}, {"session": "nordschleife-parade"}, ("meet-2025", "capture time", None, None)),
    (AT_PARADE, {}, {"event": "goodwood-2025"}, ("meet-2025", "capture time", "nordschleife-parade", "capture time")),
    (AT_PARADE, {"event": "no-such-event"}, {}, ("meet-2025", "capture time", "nordschleife-parade", "capture time")),
])
def test_manual_when(register: Register, auto: When, add, remove, expected) -> None:
    at = local_for(register, record(taken_at="2025-07-12T10:00:00"))
    when = manual_when(register, auto, PhotoDecisions(add=add, remove=remove), at)
    assert (when.event.value, when.event.source, when.session.value, when.session.source) == expected


AUTO = [{"car_id": "0042", "source": "keyword", "confidence": 0.8},
        {"car_id": "0104", "source": "file name", "confidence": 0.85}]


@pytest.mark.parametrize("add, remove, expected", [
    ([], [], [("0042", "keyword"), ("0104", "file name")]),
    (["4096"], [], [("0042", "keyword"), ("0104", "file name"), ("4096", "manual")]),
    (["0042"], [], [("0042", "manual"), ("0104", "file name")]),   # confirmed by a person
    ([], ["0104"], [("0042", "keyword")]),
    (["0333"], [], [("0042", "keyword"), ("0104", "file name")]),  # private: never published
    (["gone"], [], [("0042", "keyword"), ("0104", "file name")]),
])
def test_manual_cars(register: Register, add, remove, expected) -> None:
    public = {car.id for car in register.cars if car.public}
    tags = manual_cars(public, AUTO, PhotoDecisions(add={"cars": add}, remove={"cars": remove}))
    assert [(t["car_id"], t["source"]) for t in tags] == expected


# --- privacy ------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Yellow Submarine at the Ring", "[private] at the Ring"),
    ("yellow-submarine.jpg", "[private].jpg"),
    ("YÉLLOW SUBMARINE and Grüne Hölle", "[private] and Grüne Hölle"),  # accents elsewhere are kept
    ("HH-YS-333 behind NR 1M 42", "[private] behind NR 1M 42"),
    ("WBS1J5C52BE000333", "[private]"),
    ("last 7: E000333.", "last 7: [private]."),
    ("1M #333 in the rain", "1M [private] in the rain"),
    ("XHHYS3339", "X[private]9"),          # stricter than tagging: a private plate inside a word
    ("BE000333x", "B[private]x"),
    ("inbox/vos/Yellow Submarine HH-YS-333.JPG", "inbox/vos/[private] [private].JPG"),
    ("333 laps", "333 laps"),              # a bare number is nobody's identifier
    ("Green Mamba", "Green Mamba"),
    ("", ""),
    (None, None),
])
def test_scrub(register: Register, index: CarIndex, text, expected) -> None:
    private = {car.id for car in register.cars if not car.public}
    assert scrub(text, index, private, private_codes(register.cars)) == expected


@pytest.mark.parametrize("lat, lon, expected", [
    (50.334612, 6.942345, (50.334612, 6.942345, 0)),   # inside the Nürburgring geofence
    (48.137154, 11.576124, (48.14, 11.58, 1)),          # at home: about 1 km
    (-33.868820, 151.209296, (-33.87, 151.21, 1)),
    (None, None, (None, None, None)),
])
def test_published_location(register: Register, lat, lon, expected) -> None:
    assert published_location(register, lat, lon) == expected


def test_tagger_row_is_scrubbed_everywhere(register: Register) -> None:
    rec = record(title="Yellow Submarine and Green Mamba", caption="HH YS 333 at the pits",
                 keywords=["Yellow Submarine", "Green Mamba"], artist="Owner of WBS1J5C52BE000333",
                 copyright=None, latitude=48.137154, longitude=11.576124)
    row, cars = Tagger(register).decide("inbox/x/Yellow-Submarine/IMG_1 #333.jpg", rec, "0" * 64)
    assert {k: row[k] for k in ("path", "file_name", "title", "caption", "keywords", "artist",
                                "latitude", "longitude", "location_rounded", "car_names")} == {
        "path": "inbox/x/[private]/IMG_1 [private].jpg", "file_name": "IMG_1 [private].jpg",
        "title": "[private] and Green Mamba", "caption": "[private] at the pits",
        "keywords": '["[private]", "Green Mamba"]', "artist": "Owner of [private]",
        "latitude": 48.14, "longitude": 11.58, "location_rounded": 1, "car_names": "Green Mamba; Java Green",
    }
    assert [c["car_id"] for c in cars] == ["0042"]


def test_fingerprint_follows_register_and_manual_tags(register: Register) -> None:
    from dataclasses import replace

    from ingest.manual import Manual

    base = Tagger(register).fingerprint()
    assert Tagger(replace(register, path="elsewhere.yml")).fingerprint() == base
    edited = replace(register, cars=register.cars[:-1])
    assert Tagger(edited).fingerprint() != base
    manual = Manual(None, {"a" * 64: PhotoDecisions(add={"cars": ["0042"]})})
    assert Tagger(register, manual).fingerprint() != base


# --- a real inbox, row by row ----------------------------------------------------------

def write_inbox(photo) -> None:
    """Photos with real EXIF, IPTC and XMP, folders named after cars and events."""
    at = datetime(2025, 9, 20, 9, 40)
    photo("inbox/rene-hey/2025/IMG_0001.JPG", 1, Meta(   # inbox folder; IPTC keywords
        make="Canon", model="EOS R5", taken_at=at, artist="Someone Else",
        iptc_keywords=["Green Mamba", "Nürburgring"], iptc_byline="René Hey"))
    photo("inbox/handed-over/card-2/IMG_0002.JPG", 2, Meta(  # camera serial on winter time
        make="Canon", model="EOS R5", serial="083024001234", taken_at=datetime(2025, 9, 20, 8, 20),
        xmp_subject=["Segler’s 1M"]))
    photo("inbox/handed-over/usb/IMG_0003.JPG", 3, Meta(  # EXIF Artist, accents and case ignored
        artist="RENE HEY", taken_at=datetime(2025, 9, 20, 7, 30), offset="+00:00",
        iptc_title="1M #104 and NR-1M-42 on the Döttinger Höhe"))
    photo("inbox/handed-over/usb/IMG_0004.JPG", 4, Meta(  # IPTC By-line
        iptc_byline="VOS Photography", taken_at=datetime(2025, 9, 21, 10, 0),
        iptc_caption="Grune Holle in the rain"))
    photo("inbox/handed-over/kai/Green Mamba/DSC_0042.JPG", 5, Meta(  # XMP dc:creator; a folder named after a car
        xmp_creator=["KL Pictures"], taken_at=datetime(2025, 9, 20, 10, 15), gps=NURBURGRING,
        xmp_description="42 laps, no marker"))
    photo("inbox/members/phone/IMG_4410.JPG", 6, Meta(  # a phone: no credit anywhere
        make="Apple", model="iPhone 15 Pro", taken_at=datetime(2025, 9, 20, 11, 5), offset="+02:00",
        gps=MUNICH))
    photo("inbox/vos-photography/meet-2025/scans/WBS1J5C58BE000104.tif", 7,  # no capture time
          Meta(xmp_subject=["Yellow Submarine"]))


def test_real_inbox_tags_and_sources_row_by_row(tmp_path: Path, photo, run_cli, monkeypatch) -> None:
    write_inbox(photo)
    (tmp_path / "register.yml").write_text(REGISTER, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = run_cli("ingest", "inbox", "--db", "archive.db", "--register", "register.yml")
    assert result.exit_code == 0, result.stderr
    photos = rows("archive.db", """select path, photographer_id, photographer_source, credit, event_id,
        event_source, session_id, session_source, taken_at, taken_at_local, latitude, location_rounded
        from photos order by path""")
    rene, parade = "Photo: René Hey / Cannoneer Photography", ("nordschleife-parade", "capture time")
    assert [tuple(p.values()) for p in photos] == [
        ("inbox/handed-over/card-2/IMG_0002.JPG", "rene-hey", "camera serial", rene, "meet-2025",
         "capture time", *parade, "2025-09-20T08:20:00", "2025-09-20T09:20:00", None, None),
        ("inbox/handed-over/kai/Green Mamba/DSC_0042.JPG", "kai-lindqvist", "XMP", "Photo: Kai Lindqvist",
         "meet-2025", "capture time", *parade, "2025-09-20T10:15:00", "2025-09-20T10:15:00", 50.3346, 0),
        ("inbox/handed-over/usb/IMG_0003.JPG", "rene-hey", "EXIF", rene, "meet-2025",
         "capture time", *parade, "2025-09-20T07:30:00", "2025-09-20T09:30:00", None, None),
        ("inbox/handed-over/usb/IMG_0004.JPG", "vos-photography", "IPTC", "Photo: VOS Photography",
         "meet-2025", "capture time", None, None, "2025-09-21T10:00:00", "2025-09-21T10:00:00", None, None),
        ("inbox/members/phone/IMG_4410.JPG", None, None, UNKNOWN_CREDIT, None, None, None, None,
         "2025-09-20T11:05:00", "2025-09-20T11:05:00", 48.14, 1),
        ("inbox/rene-hey/2025/IMG_0001.JPG", "rene-hey", "inbox folder", rene, "meet-2025",
         "capture time", *parade, "2025-09-20T09:40:00", "2025-09-20T09:40:00", None, None),
        ("inbox/vos-photography/meet-2025/scans/WBS1J5C58BE000104.tif", "vos-photography", "inbox folder",
         "Photo: VOS Photography", "meet-2025", "folder name", None, None, None, None, None, None),
    ]
    tags = rows("archive.db", """select p.file_name, c.car_id, c.source, c.confidence
        from photo_cars c join photos p on p.id = c.photo_id order by p.path, c.car_id""")
    assert [tuple(t.values()) for t in tags] == [
        ("IMG_0002.JPG", "0104", "keyword", 0.8),
        ("DSC_0042.JPG", "0042", "folder name", 0.8),
        ("IMG_0003.JPG", "0042", "title", 0.95),
        ("IMG_0003.JPG", "0104", "title", 0.85),
        ("IMG_0004.JPG", "4096", "caption", 0.8),
        ("IMG_0001.JPG", "0042", "keyword", 0.8),
        ("WBS1J5C58BE000104.tif", "0104", "file name", 1.0),
    ]
    (scan,) = rows("archive.db", "select keywords from photos where file_name like '%.tif'")
    assert json.loads(scan["keywords"]) == ["[private]"]


# --- the benchmark, small -------------------------------------------------------------------

def load_benchmark():
    spec = importlib.util.spec_from_file_location("tagging_accuracy", ROOT / "benchmarks" / "tagging_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_benchmark_finds_every_tag_and_invents_none(tmp_path: Path) -> None:
    benchmark = load_benchmark()
    report = benchmark.run(tmp_path, photos=90, seed=3, workers=2)
    assert (report.precision, report.recall) == (1.0, 1.0), report.mistakes
    assert report.mistakes == []
    assert report.car_tp > 90
    assert (report.private_tags, report.unrounded_off_event) == (0, 0)
    assert report.leaks == {}
