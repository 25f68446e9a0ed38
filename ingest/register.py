"""Load and validate the human-edited register file (`register.yml`).

The register names the club's photographers, events (with their sessions) and
cars. It is edited by hand, so every problem is reported as a `RegisterError`
that names the file, the 1-based line and the field, and says what to change.

Field paths read like code: `cars["0042"].vin`,
`events["meet-2025"].sessions["gp-circuit"].start`,
`photographers["rene-hey"].cameras[0].clock_offset`, `cars[2].id`. An entry is
named by its id once that id has been validated, and by its 0-based position
in the list before that (or when it has no id, like a camera). Top-level keys
are named bare (`cars`).

We walk `yaml.compose`'s node tree instead of `yaml.safe_load`'s values so
that every value keeps its line number, and so that text fields see exactly
what the person typed: YAML 1.1 would otherwise turn `0042` into the octal
number 34 and `1:30` into 90.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import functools
import math
import os
import re
import zoneinfo
from collections.abc import Callable, Hashable
from typing import NoReturn, TypeVar

import yaml

from ingest.errors import RegisterError


@dataclasses.dataclass(frozen=True)
class Camera:
    serial: str
    # Add this to the camera's clock to get true local time; None: clock is right.
    clock_offset: datetime.timedelta | None


@dataclasses.dataclass(frozen=True)
class Photographer:
    id: str
    name: str
    studio: str | None
    handle: str | None
    credit: str
    aliases: tuple[str, ...]
    cameras: tuple[Camera, ...]


@dataclasses.dataclass(frozen=True)
class Place:
    name: str | None
    lat: float
    lon: float
    radius_km: float


@dataclasses.dataclass(frozen=True)
class Session:
    id: str
    event_id: str
    name: str
    start: datetime.datetime  # naive, local to the event's timezone
    end: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Event:
    id: str
    name: str
    start: datetime.date
    end: datetime.date  # inclusive
    timezone: str
    place: Place | None
    aliases: tuple[str, ...]
    sessions: tuple[Session, ...]

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


@dataclasses.dataclass(frozen=True)
class Car:
    id: str
    vin: str | None
    production_number: int | None
    color: str | None
    nickname: str | None
    plates: tuple[str, ...]
    aliases: tuple[str, ...]
    public: bool


@dataclasses.dataclass(frozen=True)
class Register:
    path: str
    photographers: tuple[Photographer, ...]
    events: tuple[Event, ...]
    cars: tuple[Car, ...]

    @classmethod
    def empty(cls) -> Register:
        """A register with no entries, for ingest runs without --register."""
        return cls(path="", photographers=(), events=(), cars=())

    # cached_property writes to the instance __dict__, which a frozen
    # dataclass allows; lookups then cost one dict access per photo.
    @functools.cached_property
    def sessions(self) -> tuple[Session, ...]:
        """Every session of every event, in file order."""
        return tuple(s for e in self.events for s in e.sessions)

    @functools.cached_property
    def _photographers(self) -> dict[str, Photographer]:
        return {p.id: p for p in self.photographers}

    @functools.cached_property
    def _events(self) -> dict[str, Event]:
        return {e.id: e for e in self.events}

    @functools.cached_property
    def _cars(self) -> dict[str, Car]:
        return {c.id: c for c in self.cars}

    @functools.cached_property
    def _sessions(self) -> dict[str, Session]:
        return {s.id: s for s in self.sessions}

    def photographer(self, id: str) -> Photographer | None:
        return self._photographers.get(id)

    def event(self, id: str) -> Event | None:
        return self._events.get(id)

    def car(self, id: str) -> Car | None:
        return self._cars.get(id)

    def session(self, id: str) -> Session | None:
        return self._sessions.get(id)


def load_register(path: str | os.PathLike[str]) -> Register:
    """Read, parse and validate a register file; raise RegisterError on any problem."""
    file = os.fspath(path)
    root = _compose(file, _read(file))
    if root is None:  # an empty file (or only comments) is an empty register
        return Register(path=file, photographers=(), events=(), cars=())
    reader = _Reader(file)
    top = reader.fields(root, "")
    reader.check_keys(top, ("photographers", "events", "cars"), ())
    return Register(
        path=file,
        photographers=reader.entries(top.get("photographers"), "photographers", _photographer),
        events=reader.entries(top.get("events"), "events", _event),
        cars=reader.entries(top.get("cars"), "cars", _car),
    )


def _read(file: str) -> str:
    try:
        # utf-8-sig: editors on Windows like to prepend a byte-order mark.
        with open(file, encoding="utf-8-sig") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise RegisterError(file, None, "file", f"cannot read: {reason}") from e


def _compose(file: str, text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        problem = e.problem or e.context or "invalid YAML"
        # The context ("while parsing a flow sequence") often points at the
        # line where the real mistake is, e.g. an unclosed bracket.
        if e.problem and e.context and e.context_mark and e.context_mark.line + 1 != line:
            problem += f" ({e.context}, line {e.context_mark.line + 1})"
        raise RegisterError(file, line, "yaml", problem) from e
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        raise RegisterError(file, line, "yaml", str(e).splitlines()[0]) from e
    except yaml.YAMLError as e:
        raise RegisterError(file, None, "yaml", str(e).splitlines()[0]) from e


# --- walking the node tree ------------------------------------------------

_TAG = "tag:yaml.org,2002:"
_KINDS = {
    "str": "text",
    "int": "a number",
    "float": "a number",
    "bool": "true/false",
    "null": "empty",
    "timestamp": "a date",
}
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

_T = TypeVar("_T")
# Entry parsers take (reader, node, list path, index) and return one typed entry.
_Parse = Callable[["_Reader", yaml.Node, str, int], _T]


@dataclasses.dataclass(frozen=True)
class _Spec:
    """The keys of one kind of entry, and the table its ids must be unique in."""

    allowed: tuple[str, ...]
    required: tuple[str, ...]
    table: str
    what: str = "id"
    note: str = ""


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _tag(node: yaml.Node) -> str:
    """'str', 'int', ... for scalars; 'seq' and 'map' for collections."""
    if isinstance(node, yaml.SequenceNode):
        return "seq"
    if isinstance(node, yaml.MappingNode):
        return "map"
    return node.tag.removeprefix(_TAG)


def _kind(node: yaml.Node) -> str:
    tag = _tag(node)
    return {"seq": "a list", "map": "a mapping"}.get(tag) or _KINDS.get(tag, f"!{tag}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@dataclasses.dataclass
class _Fields:
    """One YAML mapping: its node, its field path and its values by key."""

    node: yaml.MappingNode
    path: str
    values: dict[str, yaml.Node]
    keys: dict[str, yaml.Node]  # the key nodes, for errors about a key itself

    def at(self, key: str) -> str:
        return _join(self.path, key)

    def get(self, key: str) -> yaml.Node | None:
        """The value node, or None when the key is absent or has no value."""
        node = self.values.get(key)
        return None if node is None or _tag(node) == "null" else node


class _Reader:
    """Turns nodes into checked values; remembers what must be unique."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.seen: dict[str, dict[Hashable, int]] = {}

    def fail(self, node: yaml.Node | None, path: str, problem: str) -> NoReturn:
        raise RegisterError(self.file, _line(node) if node is not None else None, path, problem)

    def once(self, table: str, key: Hashable, node: yaml.Node, path: str, what: str,
             note: str = "") -> None:
        """Fail if `key` was already seen in `table` (ids, serials, plates, ...)."""
        seen = self.seen.setdefault(table, {})
        if key in seen:
            self.fail(node, path, f"duplicate {what} (first at line {seen[key]}{note})")
        seen[key] = _line(node)

    # -- collections --

    def fields(self, node: yaml.Node, path: str) -> _Fields:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, path or "register", f"must be a mapping of key: value, not {_kind(node)}")
        values: dict[str, yaml.Node] = {}
        keys: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problem = f"keys must be plain names, not {_kind(key_node)}"
                self.fail(key_node, path or "register", problem)
            key = key_node.value  # as typed: a key `on:` must not become True
            if key in values:
                problem = f"duplicate key '{key}' (first at line {_line(keys[key])})"
                self.fail(key_node, _join(path, key), problem)
            values[key], keys[key] = value_node, key_node
        return _Fields(node, path, values, keys)

    def check_keys(self, f: _Fields, allowed: tuple[str, ...], required: tuple[str, ...]) -> None:
        for key, key_node in f.keys.items():
            if key not in allowed:
                self.fail(key_node, f.at(key), f"unknown key '{key}' (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in f.values:
                self.fail(f.node, f.at(key), f"missing required field '{key}'")
            if f.get(key) is None:
                self.fail(f.values[key], f.at(key), f"required field '{key}' has no value")

    def items(self, node: yaml.Node | None, path: str) -> list[yaml.Node]:
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            example = f' (e.g. ["{node.value.strip()}"])' if _tag(node) == "str" else ""
            self.fail(node, path, f"must be a list{example}, not {_kind(node)}")
        return node.value

    def entries(self, node: yaml.Node | None, path: str, parse: _Parse[_T]) -> tuple[_T, ...]:
        """Parse each item of a list with `parse(reader, item, path, index)`."""
        return tuple(parse(self, n, path, i) for i, n in enumerate(self.items(node, path)))

    def entry(self, node: yaml.Node, path: str, index: int, spec: _Spec) -> tuple[str, _Fields]:
        """Check a list entry with an `id`; return the id and its fields, named by that id."""
        f = self.fields(node, f"{path}[{index}]")
        if f.get("id") is None:
            self.check_keys(f, spec.allowed, ("id",))
        ident = self.ident(f.values["id"], f.at("id"))
        f.path = f'{path}["{ident}"]'
        self.check_keys(f, spec.allowed, spec.required)
        self.once(spec.table, ident, f.values["id"], f.at("id"), f"{spec.what} '{ident}'", spec.note)
        return ident, f

    # -- scalars --

    def text(self, node: yaml.Node, path: str) -> str:
        """Non-empty text, stripped. Numbers, dates and booleans must be quoted."""
        if _tag(node) != "str":
            if isinstance(node, yaml.ScalarNode) and _tag(node) != "null":
                self.fail(node, path, f"must be text, but YAML reads {node.value} as {_kind(node)}; "
                                      f'put it in quotes: "{node.value}"')
            self.fail(node, path, f"must be text, not {_kind(node)}")
        value = node.value.strip()
        if not value:
            self.fail(node, path, "must not be empty")
        return value

    def optional_text(self, f: _Fields, key: str) -> str | None:
        node = f.get(key)
        # A blank string means "not given", like leaving the key out.
        if node is None or (_tag(node) == "str" and not node.value.strip()):
            return None
        return self.text(node, f.at(key))

    def texts(self, f: _Fields, key: str) -> tuple[str, ...]:
        path = f.at(key)
        return tuple(self.text(n, f"{path}[{i}]") for i, n in enumerate(self.items(f.get(key), path)))

    def ident(self, node: yaml.Node, path: str) -> str:
        value = self.text(node, path)
        if not _ID.fullmatch(value):
            self.fail(node, path, f"id '{value}' must start with a letter or digit and contain only "
                                  "letters, digits, '-', '_' and '.'")
        return value

    def number(self, node: yaml.Node, path: str) -> float:
        if _tag(node) not in ("int", "float"):
            self.fail(node, path, f"must be a number, not {_kind(node)}")
        value = float(self._construct(node, path))
        if not math.isfinite(value):
            self.fail(node, path, f"must be a finite number, not {node.value}")
        return value

    def whole(self, node: yaml.Node, path: str) -> int:
        if _tag(node) != "int":
            self.fail(node, path, f"must be a whole number, not {_kind(node)}")
        # Decimal digits are read as decimal: YAML 1.1 would read 0042 as octal 34.
        text = node.value.replace("_", "")
        return int(text, 10) if re.fullmatch(r"[-+]?[0-9]+", text) else int(self._construct(node, path))

    def flag(self, node: yaml.Node | None, path: str, default: bool) -> bool:
        if node is None:
            return default
        if _tag(node) != "bool":
            self.fail(node, path, f"must be true or false, not {_kind(node)}")
        return bool(self._construct(node, path))

    def date(self, node: yaml.Node, path: str) -> datetime.date:
        # Parse the text ourselves: YAML's own constructor crashes on 2025-02-30.
        text = node.value.strip() if _tag(node) in ("str", "timestamp") else None
        if text is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            shown = f"'{text}'" if text is not None else _kind(node)
            self.fail(node, path, f"{shown} is not a date; write YYYY-MM-DD, e.g. 2025-09-19")
        try:
            return datetime.date.fromisoformat(text)
        except ValueError as e:
            self.fail(node, path, f"'{text}' is not a valid date ({e})")

    def local_time(self, node: yaml.Node, path: str, tz: str) -> datetime.datetime:
        text = node.value.strip() if _tag(node) in ("str", "timestamp") else None
        pattern = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?"
        if text is None or not re.fullmatch(pattern, text):
            shown = f"'{text}'" if text is not None else _kind(node)
            self.fail(node, path, f"{shown} is not a date and time; write YYYY-MM-DDTHH:MM, "
                                  "e.g. 2025-09-20T09:00")
        try:
            value = datetime.datetime.fromisoformat(re.sub(r"\s+(?=[Z+-])", "", text))
        except ValueError as e:
            self.fail(node, path, f"'{text}' is not a valid date and time ({e})")
        if value.tzinfo is not None:
            self.fail(node, path, f"'{text}' has a UTC offset; session times are local to "
                                  f"the event's timezone ({tz}), remove the offset")
        return value

    def _construct(self, node: yaml.Node, path: str) -> object:
        try:
            return yaml.SafeLoader("").construct_object(node, deep=True)
        except (ValueError, yaml.YAMLError) as e:
            self.fail(node, path, f"cannot read '{node.value}': {e}")


# --- photographers --------------------------------------------------------

_PHOTOGRAPHER = _Spec(
    allowed=("id", "name", "studio", "handle", "credit", "aliases", "cameras"),
    required=("id", "name"),
    table="photographers",
)
_CAMERA_KEYS = ("serial", "clock_offset")
_OFFSET = re.compile(r"([+-]?)(\d{1,2}):(\d{2})(?::(\d{2}))?")


def _photographer(r: _Reader, node: yaml.Node, path: str, index: int) -> Photographer:
    ident, f = r.entry(node, path, index, _PHOTOGRAPHER)
    name = r.text(f.values["name"], f.at("name"))
    studio = r.optional_text(f, "studio")
    return Photographer(
        id=ident,
        name=name,
        studio=studio,
        handle=r.optional_text(f, "handle"),
        credit=r.optional_text(f, "credit") or _credit(name, studio),
        aliases=r.texts(f, "aliases"),
        cameras=r.entries(f.get("cameras"), f.at("cameras"), _camera),
    )


def _credit(name: str, studio: str | None) -> str:
    return f"Photo: {name} / {studio}" if studio else f"Photo: {name}"


def _camera(r: _Reader, node: yaml.Node, path: str, index: int) -> Camera:
    f = r.fields(node, f"{path}[{index}]")
    r.check_keys(f, _CAMERA_KEYS, ("serial",))
    serial_node = f.values["serial"]
    serial = r.text(serial_node, f.at("serial"))
    # A serial tags the photographer, so it must point at exactly one person.
    r.once("serials", serial.casefold(), serial_node, f.at("serial"), f"camera serial '{serial}'")
    offset = f.get("clock_offset")
    return Camera(serial, _clock_offset(r, offset, f.at("clock_offset")) if offset else None)


def _clock_offset(r: _Reader, node: yaml.Node, path: str) -> datetime.timedelta:
    # Read the text as typed: unquoted 1:30:00 is a YAML 1.1 base-60 integer.
    text = node.value.strip() if _tag(node) in ("str", "int") else ""
    match = _OFFSET.fullmatch(text)
    if not match or int(match[3]) > 59 or int(match[4] or 0) > 59:
        shown = f"'{text}'" if text else _kind(node)
        r.fail(node, path, f'{shown} is not a clock offset; write [+-]HH:MM[:SS], e.g. "-01:00:00"')
    sign, hours, minutes, seconds = match.groups()
    delta = datetime.timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds or 0))
    return -delta if sign == "-" else delta


# --- events ---------------------------------------------------------------

_EVENT = _Spec(
    allowed=("id", "name", "start", "end", "timezone", "place", "aliases", "sessions"),
    required=("id", "name", "start", "end", "timezone"),
    table="events",
)
# Session ids share one table across events so that photos.session_id is unambiguous.
_SESSION = _Spec(
    allowed=("id", "name", "start", "end"),
    required=("id", "name", "start", "end"),
    table="sessions",
    what="session id",
    note=", session ids must be unique across all events",
)
_PLACE_KEYS = ("name", "lat", "lon", "radius_km")


def _event(r: _Reader, node: yaml.Node, path: str, index: int) -> Event:
    ident, f = r.entry(node, path, index, _EVENT)
    name = r.text(f.values["name"], f.at("name"))
    start = r.date(f.values["start"], f.at("start"))
    end = r.date(f.values["end"], f.at("end"))
    if end < start:
        r.fail(f.values["end"], f.at("end"), f"end {end} is before start {start}")
    place = f.get("place")
    event = Event(
        id=ident,
        name=name,
        start=start,
        end=end,
        timezone=_timezone(r, f.values["timezone"], f.at("timezone")),
        place=_place(r, place, f.at("place")) if place else None,
        aliases=r.texts(f, "aliases"),
        sessions=(),
    )
    # Sessions are checked against the event's dates, so they are read last.
    sessions = r.entries(f.get("sessions"), f.at("sessions"), functools.partial(_session, event=event))
    return dataclasses.replace(event, sessions=sessions)


def _timezone(r: _Reader, node: yaml.Node, path: str) -> str:
    name = r.text(node, path)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, zoneinfo.available_timezones(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else " (use an IANA name like Europe/Berlin)"
        r.fail(node, path, f"unknown time zone '{name}'{hint}")
    return name


def _place(r: _Reader, node: yaml.Node, path: str) -> Place:
    f = r.fields(node, path)
    r.check_keys(f, _PLACE_KEYS, ("lat", "lon", "radius_km"))
    return Place(
        name=r.optional_text(f, "name"),
        lat=_checked(r, f, "lat", lambda v: -90 <= v <= 90, "latitude must be between -90 and 90"),
        lon=_checked(r, f, "lon", lambda v: -180 <= v <= 180, "longitude must be between -180 and 180"),
        radius_km=_checked(r, f, "radius_km", lambda v: v > 0, "radius_km must be above 0"),
    )


def _checked(r: _Reader, f: _Fields, key: str, ok: Callable[[float], bool], rule: str) -> float:
    node = f.values[key]
    value = r.number(node, f.at(key))
    if not ok(value):
        r.fail(node, f.at(key), f"{rule}, not {node.value}")
    return value


def _session(r: _Reader, node: yaml.Node, path: str, index: int, event: Event) -> Session:
    ident, f = r.entry(node, path, index, _SESSION)
    start = r.local_time(f.values["start"], f.at("start"), event.timezone)
    end = r.local_time(f.values["end"], f.at("end"), event.timezone)
    if end <= start:
        r.fail(f.values["end"], f.at("end"), f"end {_minutes(end)} is not after start {_minutes(start)}")
    for key, moment in (("start", start), ("end", end)):
        if not event.start <= moment.date() <= event.end:
            outside = f"session '{ident}' is outside its event ({event.start} .. {event.end})"
            r.fail(f.values[key], f.at(key), outside)
    name = r.text(f.values["name"], f.at("name"))
    return Session(id=ident, event_id=event.id, name=name, start=start, end=end)


def _minutes(moment: datetime.datetime) -> str:
    spec = "minutes" if not moment.second and not moment.microsecond else "auto"
    return moment.isoformat(timespec=spec)


# --- cars -----------------------------------------------------------------

_CAR = _Spec(
    allowed=("id", "vin", "production_number", "color", "nickname", "plates", "aliases", "public"),
    required=("id",),
    table="cars",
)
_VIN_CHARS = set("ABCDEFGHJKLMNPRSTUVWXYZ0123456789")


def _car(r: _Reader, node: yaml.Node, path: str, index: int) -> Car:
    ident, f = r.entry(node, path, index, _CAR)
    return Car(
        id=ident,
        vin=_vin(r, f.get("vin"), f.at("vin")),
        production_number=_production_number(r, f.get("production_number"), f.at("production_number")),
        color=r.optional_text(f, "color"),
        nickname=r.optional_text(f, "nickname"),
        plates=_plates(r, f),
        aliases=r.texts(f, "aliases"),
        public=r.flag(f.get("public"), f.at("public"), default=True),
    )


def _vin(r: _Reader, node: yaml.Node | None, path: str) -> str | None:
    if node is None:
        return None
    vin = r.text(node, path).upper()
    if len(vin) != 17:
        r.fail(node, path, f"VIN '{vin}' must be 17 characters, not {len(vin)}")
    bad = sorted(set(vin) - _VIN_CHARS)
    if bad:
        listed = ", ".join(f"'{c}'" for c in bad)
        rule = "VINs use only A-Z and 0-9 without I, O and Q"
        r.fail(node, path, f"VIN '{vin}' contains {listed}; {rule}")
    r.once("vins", vin, node, path, f"VIN '{vin}'")
    return vin


def _production_number(r: _Reader, node: yaml.Node | None, path: str) -> int | None:
    if node is None:
        return None
    number = r.whole(node, path)
    if number < 1:
        r.fail(node, path, f"production number must be 1 or more, not {number}")
    r.once("production numbers", number, node, path, f"production number {number}")
    return number


def _plates(r: _Reader, f: _Fields) -> tuple[str, ...]:
    plates = r.texts(f, "plates")
    for i, (plate, node) in enumerate(zip(plates, r.items(f.get("plates"), f.at("plates")))):
        # Tagging ignores spaces, dashes and case, so "NR-1M-42" is the same plate as "NR 1M 42".
        key = re.sub(r"[\s-]+", "", plate).casefold()
        r.once("plates", key, node, f"{f.at('plates')}[{i}]", f"plate '{plate}'")
    return plates
