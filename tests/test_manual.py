"""tags.yml: manual decisions a person can read, that survive every rebuild."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ingest.errors import ArchiveError
from ingest.manual import Manual, PhotoDecisions, load_manual, manual_path
from ingest.register import load_register
from ingest.retag import record_decision
from ingest.tagging import Tagger
from tests.test_tagging import REGISTER

SHA_A, SHA_B = "a" * 64, "b" * 64


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tags.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_manual_path_is_beside_the_register(tmp_path: Path) -> None:
    assert manual_path(tmp_path / "club" / "register.yml") == (tmp_path / "club" / "tags.yml").resolve()


def test_missing_file_is_no_decisions(tmp_path: Path) -> None:
    manual = load_manual(tmp_path / "tags.yml")
    assert manual.photos == {} and manual.get(SHA_A) == PhotoDecisions()


def test_save_and_load_round_trip_in_a_readable_file(tmp_path: Path) -> None:
    manual = Manual(tmp_path / "tags.yml")
    decisions = manual.edit(SHA_A, "inbox/rene-hey/IMG_0001.JPG")
    decisions.add.update({"cars": ["0042"], "session": "nordschleife-parade"})
    decisions.remove.update({"cars": ["0104"]})
    manual.edit(SHA_B).add["cars"] = []  # nothing decided: not written
    manual.save()
    text = (tmp_path / "tags.yml").read_text(encoding="utf-8")
    assert text.startswith("# Manual decisions for the photo archive")
    assert yaml.safe_load(text) == {"photos": {SHA_A: {
        "path": "inbox/rene-hey/IMG_0001.JPG",
        "add": {"cars": ["0042"], "session": "nordschleife-parade"},
        "remove": {"cars": ["0104"]},
    }}}
    again = load_manual(tmp_path / "tags.yml")
    assert again.get(SHA_A) == decisions and SHA_B not in again.photos
    assert [p.name for p in tmp_path.iterdir()] == ["tags.yml"]  # no temporary file left behind


@pytest.mark.parametrize("entry, expected", [
    # Hand-written ids stay text: 0042 is car "0042", not the octal number 34.
    ("add: {cars: [0042, 0104]}", PhotoDecisions(add={"cars": ["0042", "0104"]})),
    ("add: {cars: 0042}", PhotoDecisions(add={"cars": ["0042"]})),
    ("add: {event: meet-2025, session: ~, photographer: null}", PhotoDecisions(add={"event": "meet-2025"})),
    ("remove: {cars: []}", PhotoDecisions()),
    ("add:\nremove:", PhotoDecisions()),
    ("duplicate_of: " + SHA_B + "\nnot_duplicate_of: [" + SHA_B + "]",
     PhotoDecisions(duplicate_of=SHA_B, not_duplicate_of=[SHA_B])),
])
def test_hand_written_entries(tmp_path: Path, entry: str, expected: PhotoDecisions) -> None:
    indented = "\n".join("    " + line for line in entry.splitlines())
    manual = load_manual(write(tmp_path, f"photos:\n  {SHA_A}:\n{indented}\n"))
    assert manual.get(SHA_A) == expected


def test_upper_case_sha_is_the_same_photo(tmp_path: Path) -> None:
    manual = load_manual(write(tmp_path, f"photos:\n  {SHA_A.upper()}:\n    add: {{cars: ['0042']}}\n"))
    assert manual.get(SHA_A).add == {"cars": ["0042"]}


@pytest.mark.parametrize("text, message", [
    ("- a list", "expected a mapping 'photos:' of sha256 -> decisions"),
    ("photos: [1, 2]", "expected a mapping 'photos:' of sha256 -> decisions"),
    ("photos:\n  abc123: {}", "photo abc123: the key must be a photo's sha256 (64 hex digits)"),
    (f"photos:\n  {SHA_A}: [0042]", f"photo {SHA_A}: expected a mapping of decisions"),
    (f"photos:\n  {SHA_A}: {{tags: x}}", f"photo {SHA_A}: unknown key 'tags' (allowed: path, add, remove, "
                                         "duplicate_of, not_duplicate_of)"),
    (f"photos:\n  {SHA_A}: {{add: {{car: '0042'}}}}", f"photo {SHA_A}: 'add' takes cars, event, session, photographer"),
    (f"photos:\n  {SHA_A}: {{add: {{cars: {{a: b}}}}}}", f"photo {SHA_A}: 'add.cars' must be a list of ids"),
    (f"photos:\n  {SHA_A}: {{remove: {{event: [a, b]}}}}",
     f"photo {SHA_A}: 'remove.event' must be a single value, not a list or mapping"),
])
def test_broken_file_is_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ArchiveError) as error:
        load_manual(path)
    assert str(error.value) in (f"{path}: {message}", f"{path}, {message}")
    assert "\n" not in str(error.value)


def test_unparsable_yaml_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "photos: {unclosed: [")
    with pytest.raises(ArchiveError, match=f"^cannot read manual tags {path}: ") as error:
        load_manual(path)
    assert "\n" not in str(error.value)


def test_save_without_a_register_says_what_to_do() -> None:
    with pytest.raises(ArchiveError, match="manual tags are kept beside it \\(use --register\\)"):
        Manual(None, {SHA_A: PhotoDecisions(add={"cars": ["0042"]})}).save()


@pytest.mark.parametrize("photos, expected, copied", [
    ({SHA_A: PhotoDecisions(path="x.jpg", add={"cars": ["0042"]}, remove={"event": "meet-2025"})},
     PhotoDecisions(path="x.jpg", add={"cars": ["0042"]}, remove={"event": "meet-2025"}), True),
    ({}, PhotoDecisions(), False),
    ({SHA_A: PhotoDecisions(add={"cars": ["0042"]}), SHA_B: PhotoDecisions(add={"cars": ["0104"]})},
     PhotoDecisions(add={"cars": ["0104"]}), False),  # the new bytes' own decisions win
])
def test_follow_keeps_decisions_of_a_re_exported_file(photos, expected, copied) -> None:
    manual = Manual(None, dict(photos))
    assert manual.follow(SHA_A, SHA_B) is copied
    assert manual.get(SHA_B) == expected
    if copied:
        manual.get(SHA_B).add["cars"].append("4096")
        assert manual.get(SHA_A).add == {"cars": ["0042"]}  # a copy, not the same lists


# --- record_decision: what `photo-archive tag` writes ---------------------------------

@pytest.fixture
def tagger(tmp_path: Path) -> Tagger:
    register = tmp_path / "register.yml"
    register.write_text(REGISTER, encoding="utf-8")
    return Tagger(load_register(register), Manual(manual_path(register)))


@pytest.mark.parametrize("steps, add, remove", [
    ([("car", "0042", False)], {"cars": ["0042"]}, {}),
    ([("car", "0042", False), ("car", "0104", False)], {"cars": ["0042", "0104"]}, {}),
    ([("car", "0042", False), ("car", "0042", True)], {"cars": []}, {"cars": ["0042"]}),
    ([("car", "0042", True), ("car", "0042", False)], {"cars": ["0042"]}, {"cars": []}),
    ([("photographer", "rene-hey", False), ("photographer", "vos-photography", False)],
     {"photographer": "vos-photography"}, {}),
    ([("photographer", "rene-hey", False), ("photographer", "rene-hey", True)], {}, {"photographer": "rene-hey"}),
    # A session implies its event; the latest event or session decision wins over one it contradicts.
    ([("session", "breakfast", False)], {"session": "breakfast"}, {}),
    ([("event", "goodwood-2025", False), ("session", "breakfast", False)],
     {"event": "meet-2025", "session": "breakfast"}, {}),
    ([("session", "breakfast", False), ("event", "goodwood-2025", False)], {"event": "goodwood-2025"}, {}),
    ([("session", "breakfast", False), ("event", "meet-2025", False)],
     {"session": "breakfast", "event": "meet-2025"}, {}),
    ([("session", "breakfast", False), ("event", "meet-2025", True)], {}, {"event": "meet-2025"}),
    ([("event", "meet-2025", True), ("session", "breakfast", False)], {"session": "breakfast"}, {}),
])
def test_record_decision(tagger: Tagger, steps, add, remove) -> None:
    for kind, value, removing in steps:
        record_decision(tagger, SHA_A, "inbox/x.jpg", kind, value, removing)
    decisions = load_manual(tagger.manual.path).get(SHA_A)
    assert (decisions.add, decisions.remove) == ({k: v for k, v in add.items() if v},
                                                 {k: v for k, v in remove.items() if v})
    assert decisions.path == "inbox/x.jpg"
