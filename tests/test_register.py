"""Tests for ingest.register: a real register loads into typed entries, and
every broken register fails with one exact line naming file, line and field."""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
import textwrap
import zoneinfo

import pytest

from ingest.errors import RegisterError
from ingest.register import (
    Camera,
    Car,
    Event,
    Photographer,
    Place,
    Register,
    Session,
    load_register,
)

VALID = """\
photographers:
  - id: rene-hey
    name: René Hey
    studio: Cannoneer Photography
    handle: "@cannoneer"
    aliases: ["Rene Hey", "Cannoneer"]
    cameras:
      - serial: "083024001234"
        clock_offset: "-01:00:00"
  - id: vos-photography
    name: VOS Photography
    cameras:
      - serial: "4012345"
        clock_offset: "+00:30:00"
      - serial: "4012346"
  - id: thomas-heiringhoff
    name: "  Thomas Heiringhoff  "
    credit: "Photo: Thomas Heiringhoff for the 1M Register"

events:
  - id: meet-2023
    name: 1M Register annual meeting 2023
    start: 2023-08-25
    end: 2023-08-27
    timezone: Europe/Berlin
  - id: meet-2024
    name: 1M Register annual meeting 2024
    start: "2024-08-23"
    end: "2024-08-25"
    timezone: Europe/Berlin
    place: {lat: 50.3356, lon: 6.9475, radius_km: 25.5}
  - id: meet-2025
    name: 1M Register annual meeting 2025
    start: 2025-09-19
    end: 2025-09-21
    timezone: Europe/Berlin
    place: {name: Nürburgring, lat: 50.3356, lon: 6.9475, radius_km: 30}
    aliases: ["1M Treffen 2025"]
    sessions:
      - id: nordschleife-parade
        name: Nordschleife parade
        start: 2025-09-20T09:00
        end: 2025-09-20T12:00
      - id: gp-circuit
        name: GP circuit
        start: 2025-09-21 09:00:00
        end: "2025-09-21T13:30"

cars:
  - id: "0042"
    vin: WBS1J5C50BE000042
    production_number: 42
    color: Java Green
    nickname: Green Mamba
    plates: ["NR 1M 42"]
    aliases: ["Segler's 1M"]
  - id: "0007"
    vin: wbs1j5c50be000007
    production_number: 0007
    color: Monte Carlo Blue
    plates: ["M KS 1", "M-KS-2"]
    public: yes
  - id: "0113"
    color: Atacama Yellow
    public: false
"""


def write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "register.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_register_loads(tmp_path: pathlib.Path) -> None:
    register = load_register(write(tmp_path, VALID))

    assert register.path == str(tmp_path / "register.yml")
    assert register.photographers == (
        Photographer(
            id="rene-hey",
            name="René Hey",
            studio="Cannoneer Photography",
            handle="@cannoneer",
            credit="Photo: René Hey / Cannoneer Photography",
            aliases=("Rene Hey", "Cannoneer"),
            cameras=(Camera("083024001234", datetime.timedelta(hours=-1)),),
        ),
        Photographer(
            id="vos-photography",
            name="VOS Photography",
            studio=None,
            handle=None,
            credit="Photo: VOS Photography",
            aliases=(),
            cameras=(
                Camera("4012345", datetime.timedelta(minutes=30)),
                Camera("4012346", None),
            ),
        ),
        Photographer(
            id="thomas-heiringhoff",
            name="Thomas Heiringhoff",
            studio=None,
            handle=None,
            credit="Photo: Thomas Heiringhoff for the 1M Register",
            aliases=(),
            cameras=(),
        ),
    )


def test_valid_events_and_sessions(tmp_path: pathlib.Path) -> None:
    register = load_register(write(tmp_path, VALID))

    assert [e.id for e in register.events] == ["meet-2023", "meet-2024", "meet-2025"]
    assert register.event("meet-2023") == Event(
        id="meet-2023",
        name="1M Register annual meeting 2023",
        start=datetime.date(2023, 8, 25),
        end=datetime.date(2023, 8, 27),
        timezone="Europe/Berlin",
        place=None,
        aliases=(),
        sessions=(),
    )
    # Dates given as quoted ISO strings load like YAML dates.
    meet_2024 = register.event("meet-2024")
    assert meet_2024 is not None
    assert (meet_2024.start, meet_2024.end) == (datetime.date(2024, 8, 23), datetime.date(2024, 8, 25))
    assert meet_2024.place == Place(name=None, lat=50.3356, lon=6.9475, radius_km=25.5)

    meet = register.event("meet-2025")
    assert meet is not None
    assert meet.place == Place(name="Nürburgring", lat=50.3356, lon=6.9475, radius_km=30.0)
    assert meet.aliases == ("1M Treffen 2025",)
    assert meet.tz == zoneinfo.ZoneInfo("Europe/Berlin")
    parade = Session(
        id="nordschleife-parade",
        event_id="meet-2025",
        name="Nordschleife parade",
        start=datetime.datetime(2025, 9, 20, 9, 0),
        end=datetime.datetime(2025, 9, 20, 12, 0),
    )
    gp = Session(
        id="gp-circuit",
        event_id="meet-2025",
        name="GP circuit",
        start=datetime.datetime(2025, 9, 21, 9, 0),
        end=datetime.datetime(2025, 9, 21, 13, 30),
    )
    assert meet.sessions == (parade, gp)
    assert register.sessions == (parade, gp)
    assert register.session("gp-circuit") == gp
    assert register.session("meet-2025") is None


def test_valid_cars(tmp_path: pathlib.Path) -> None:
    register = load_register(write(tmp_path, VALID))

    assert register.cars == (
        Car(
            id="0042",
            vin="WBS1J5C50BE000042",
            production_number=42,
            color="Java Green",
            nickname="Green Mamba",
            plates=("NR 1M 42",),
            aliases=("Segler's 1M",),
            public=True,
        ),
        Car(
            id="0007",
            vin="WBS1J5C50BE000007",  # lower case in the file, upper-cased
            production_number=7,  # 0007 is decimal here, not YAML 1.1 octal
            color="Monte Carlo Blue",
            nickname=None,
            plates=("M KS 1", "M-KS-2"),
            aliases=(),
            public=True,
        ),
        Car(
            id="0113",
            vin=None,
            production_number=None,
            color="Atacama Yellow",
            nickname=None,
            plates=(),
            aliases=(),
            public=False,
        ),
    )
    assert register.car("0113") == register.cars[2]
    assert register.car("42") is None
    assert register.photographer("rene-hey") == register.photographers[0]


def test_entries_are_frozen(tmp_path: pathlib.Path) -> None:
    register = load_register(write(tmp_path, VALID))
    with pytest.raises(dataclasses.FrozenInstanceError):
        register.cars[0].public = False  # type: ignore[misc]


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "photographers:\nevents: []\n"])
def test_empty_files_are_empty_registers(tmp_path: pathlib.Path, text: str) -> None:
    register = load_register(write(tmp_path, text))
    assert (register.photographers, register.events, register.cars) == ((), (), ())


def test_empty_register() -> None:
    register = Register.empty()
    assert (register.photographers, register.events, register.cars, register.sessions) == ((), (), (), ())
    assert register.photographer("rene-hey") is None
    assert register.session("gp-circuit") is None


# Each case: the file's text (None: no file at all) and the exact error line.
# The register is loaded as "register.yml" from inside tmp_path, so the file
# part of the message is the path exactly as given.
BROKEN = {
    "missing file": (
        None,
        "register.yml, file: cannot read: No such file or directory",
    ),
    "yaml syntax error": (
        """\
        cars:
          - id: "0042"
            plates: ["NR 1M 42"
            color: Java Green
        """,
        "register.yml, line 4, yaml: expected ',' or ']', but got '<scalar>'"
        " (while parsing a flow sequence, line 3)",
    ),
    "top level is a list": (
        """\
        - id: rene-hey
        """,
        "register.yml, line 1, register: must be a mapping of key: value, not a list",
    ),
    "unknown top-level key": (
        """\
        photographer:
          - id: rene-hey
            name: René Hey
        """,
        "register.yml, line 1, photographer: unknown key 'photographer'"
        " (allowed: photographers, events, cars)",
    ),
    "unknown key (typo)": (
        """\
        cars:
          - id: "0042"
            vn: WBS1J5C50BE000042
        """,
        'register.yml, line 3, cars["0042"].vn: unknown key \'vn\''
        " (allowed: id, vin, production_number, color, nickname, plates, aliases, public)",
    ),
    "duplicate key": (
        """\
        cars:
          - id: "0042"
            color: Java Green
            color: Green
        """,
        'register.yml, line 4, cars[0].color: duplicate key \'color\' (first at line 3)',
    ),
    "missing required field": (
        """\
        photographers:
          - id: vos-photography
            studio: VOS
        """,
        'register.yml, line 2, photographers["vos-photography"].name:'
        " missing required field 'name'",
    ),
    "missing id": (
        """\
        cars:
          - id: "0042"
          - color: Atacama Yellow
        """,
        "register.yml, line 3, cars[1].id: missing required field 'id'",
    ),
    "required field without a value": (
        """\
        photographers:
          - id: rene-hey
            name:
        """,
        'register.yml, line 3, photographers["rene-hey"].name:'
        " required field 'name' has no value",
    ),
    "duplicate id": (
        """\
        photographers:
          - id: rene-hey
            name: René Hey
          - id: rene-hey
            name: Rene Hey
        """,
        'register.yml, line 4, photographers["rene-hey"].id:'
        " duplicate id 'rene-hey' (first at line 2)",
    ),
    "duplicate session id across events": (
        """\
        events:
          - id: meet-2024
            name: Meeting 2024
            start: 2024-08-23
            end: 2024-08-25
            timezone: Europe/Berlin
            sessions:
              - {id: parade, name: Parade, start: 2024-08-24T09:00, end: 2024-08-24T12:00}
          - id: meet-2025
            name: Meeting 2025
            start: 2025-09-19
            end: 2025-09-21
            timezone: Europe/Berlin
            sessions:
              - {id: parade, name: Parade, start: 2025-09-20T09:00, end: 2025-09-20T12:00}
        """,
        'register.yml, line 15, events["meet-2025"].sessions["parade"].id:'
        " duplicate session id 'parade' (first at line 8,"
        " session ids must be unique across all events)",
    ),
    "non-string car id": (
        """\
        cars:
          - id: 0042
        """,
        "register.yml, line 2, cars[0].id: must be text, but YAML reads 0042 as a number;"
        ' put it in quotes: "0042"',
    ),
    "id with a space": (
        """\
        events:
          - id: meet 2025
        """,
        "register.yml, line 2, events[0].id: id 'meet 2025' must start with a letter or"
        " digit and contain only letters, digits, '-', '_' and '.'",
    ),
    "aliases is not a list": (
        """\
        photographers:
          - id: rene-hey
            name: René Hey
            aliases: Rene Hey
        """,
        'register.yml, line 4, photographers["rene-hey"].aliases:'
        ' must be a list (e.g. ["Rene Hey"]), not text',
    ),
    "alias is a number": (
        """\
        cars:
          - id: "0042"
            aliases: [Green Mamba, 42]
        """,
        'register.yml, line 3, cars["0042"].aliases[1]: must be text, but YAML reads 42'
        ' as a number; put it in quotes: "42"',
    ),
    "bad clock_offset": (
        """\
        photographers:
          - id: rene-hey
            name: René Hey
            cameras:
              - serial: "083024001234"
                clock_offset: -1h
        """,
        'register.yml, line 6, photographers["rene-hey"].cameras[0].clock_offset:'
        " '-1h' is not a clock offset; write [+-]HH:MM[:SS], e.g. \"-01:00:00\"",
    ),
    "duplicate camera serial across photographers": (
        """\
        photographers:
          - id: rene-hey
            name: René Hey
            cameras: [{serial: "083024001234"}]
          - id: vos-photography
            name: VOS Photography
            cameras: [{serial: "083024001234"}]
        """,
        'register.yml, line 7, photographers["vos-photography"].cameras[0].serial:'
        " duplicate camera serial '083024001234' (first at line 4)",
    ),
    "unknown time zone": (
        """\
        events:
          - id: meet-2025
            name: Meeting 2025
            start: 2025-09-19
            end: 2025-09-21
            timezone: Europe/Berln
        """,
        'register.yml, line 6, events["meet-2025"].timezone:'
        " unknown time zone 'Europe/Berln' (did you mean 'Europe/Berlin'?)",
    ),
    "impossible date": (
        """\
        events:
          - id: meet-2025
            name: Meeting 2025
            start: 2025-02-30
            end: 2025-03-02
            timezone: Europe/Berlin
        """,
        'register.yml, line 4, events["meet-2025"].start:'
        " '2025-02-30' is not a valid date (day is out of range for month)",
    ),
    "date in words": (
        """\
        events:
          - id: meet-2025
            name: Meeting 2025
            start: 2025-09-19
            end: next friday
            timezone: Europe/Berlin
        """,
        'register.yml, line 5, events["meet-2025"].end:'
        " 'next friday' is not a date; write YYYY-MM-DD, e.g. 2025-09-19",
    ),
    "event ends before it starts": (
        """\
        events:
          - id: meet-2025
            name: Meeting 2025
            start: 2025-09-19
            end: 2025-09-18
            timezone: Europe/Berlin
        """,
        'register.yml, line 5, events["meet-2025"].end: end 2025-09-18 is before start 2025-09-19',
    ),
    "bad lat": (
        """\
        events:
          - id: meet-2025
            name: Meeting 2025
            start: 2025-09-19
            end: 2025-09-21
            timezone: Europe/Berlin
            place: {name: Nürburgring, lat: 95, lon: 6.9475, radius_km: 30}
        """,
        'register.yml, line 7, events["meet-2025"].place.lat:'
        " latitude must be between -90 and 90, not 95",
    ),
    "place without radius": (
        """\
        events:
          - id: meet-2025
            name: Meeting 2025
            start: 2025-09-19
            end: 2025-09-21
            timezone: Europe/Berlin
            place:
              lat: 50.3356
              lon: 6.9475
        """,
        'register.yml, line 8, events["meet-2025"].place.radius_km:'
        " missing required field 'radius_km'",
    ),
    "session ends before it starts": (
        """\
        events:
          - id: meet-2025
            name: Meeting 2025
            start: 2025-09-19
            end: 2025-09-21
            timezone: Europe/Berlin
            sessions:
              - id: nordschleife-parade
                name: Nordschleife parade
                start: 2025-09-20T12:00
                end: 2025-09-20T09:00
        """,
        'register.yml, line 11, events["meet-2025"].sessions["nordschleife-parade"].end:'
        " end 2025-09-20T09:00 is not after start 2025-09-20T12:00",
    ),
    "session outside its event": (
        """\
        events:
          - id: meet-2025
            name: Meeting 2025
            start: 2025-09-19
            end: 2025-09-21
            timezone: Europe/Berlin
            sessions:
              - id: gp-circuit
                name: GP circuit
                start: 2025-09-21T16:00
                end: 2025-09-22T10:00
        """,
        'register.yml, line 11, events["meet-2025"].sessions["gp-circuit"].end:'
        " session 'gp-circuit' is outside its event (2025-09-19 .. 2025-09-21)",
    ),
    "session time with an offset": (
        """\
        events:
          - id: meet-2025
            name: Meeting 2025
            start: 2025-09-19
            end: 2025-09-21
            timezone: Europe/Berlin
            sessions:
              - id: gp-circuit
                name: GP circuit
                start: 2025-09-21 09:00:00+02:00
                end: 2025-09-21T13:00
        """,
        'register.yml, line 10, events["meet-2025"].sessions["gp-circuit"].start:'
        " '2025-09-21 09:00:00+02:00' has a UTC offset; session times are local to"
        " the event's timezone (Europe/Berlin), remove the offset",
    ),
    "session date without a time": (
        """\
        events:
          - id: meet-2025
            name: Meeting 2025
            start: 2025-09-19
            end: 2025-09-21
            timezone: Europe/Berlin
            sessions:
              - {id: gp-circuit, name: GP circuit, start: 2025-09-21, end: 2025-09-21}
        """,
        'register.yml, line 8, events["meet-2025"].sessions["gp-circuit"].start:'
        " '2025-09-21' is not a date and time; write YYYY-MM-DDTHH:MM, e.g. 2025-09-20T09:00",
    ),
    "VIN of 16 characters": (
        """\
        cars:
          - id: "0042"
            vin: WBS1J5C50BE00042
        """,
        'register.yml, line 3, cars["0042"].vin: VIN \'WBS1J5C50BE00042\' must be 17 characters, not 16',
    ),
    "VIN with the letter O": (
        """\
        cars:
          - id: "0042"
            vin: wbs1j5c50beoo0042
        """,
        'register.yml, line 3, cars["0042"].vin: VIN \'WBS1J5C50BEOO0042\' contains \'O\';'
        " VINs use only A-Z and 0-9 without I, O and Q",
    ),
    "duplicate VIN": (
        """\
        cars:
          - {id: "0042", vin: WBS1J5C50BE000042}
          - {id: "0043", vin: wbs1j5c50be000042}
        """,
        'register.yml, line 3, cars["0043"].vin: duplicate VIN \'WBS1J5C50BE000042\''
        " (first at line 2)",
    ),
    "duplicate plate, spelled differently": (
        """\
        cars:
          - {id: "0042", plates: ["NR 1M 42"]}
          - {id: "0043", plates: ["nr-1m-42"]}
        """,
        'register.yml, line 3, cars["0043"].plates[0]: duplicate plate \'nr-1m-42\''
        " (first at line 2)",
    ),
    "duplicate production number": (
        """\
        cars:
          - {id: "0042", production_number: 42}
          - {id: "0043", production_number: 42}
        """,
        'register.yml, line 3, cars["0043"].production_number: duplicate production number 42'
        " (first at line 2)",
    ),
    "production number zero": (
        """\
        cars:
          - id: "0042"
            production_number: 0
        """,
        'register.yml, line 3, cars["0042"].production_number:'
        " production number must be 1 or more, not 0",
    ),
    "public as text": (
        """\
        cars:
          - id: "0113"
            public: "no"
        """,
        'register.yml, line 3, cars["0113"].public: must be true or false, not text',
    ),
}


@pytest.mark.parametrize("text,expected", BROKEN.values(), ids=BROKEN.keys())
def test_broken_register(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, text: str | None, expected: str
) -> None:
    if text is not None:
        write(tmp_path, textwrap.dedent(text))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RegisterError) as excinfo:
        load_register("register.yml")
    assert str(excinfo.value) == expected


def test_error_carries_its_parts(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, 'cars:\n  - id: "0042"\n    vn: X\n')
    with pytest.raises(RegisterError) as excinfo:
        load_register(path)
    error = excinfo.value
    assert (error.file, error.line, error.field) == (str(path), 3, 'cars["0042"].vn')
    assert error.problem.startswith("unknown key 'vn'")
