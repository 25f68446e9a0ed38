"""ingest.errors: which problems stop a run and which do not, and the one line each carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import ArchiveError, FileVanished, PhotoError, RegisterError, UnsupportedFile
from ingest.register import load_register


@pytest.mark.parametrize("line, expected", [
    (12, "register.yml, line 12, cars[1].vin: must be 17 characters"),
    (None, "register.yml, cars[1].vin: must be 17 characters"),
])
def test_register_error_names_file_line_and_field(line: int | None, expected: str) -> None:
    error = RegisterError("register.yml", line, "cars[1].vin", "must be 17 characters")
    assert str(error) == expected
    assert (error.file, error.line, error.field, error.problem) == (
        "register.yml", line, "cars[1].vin", "must be 17 characters")


@pytest.mark.parametrize("kind", [PhotoError, UnsupportedFile, FileVanished])
def test_photo_problems_are_not_archive_errors(kind: type[PhotoError]) -> None:
    """One unreadable photo must never be caught as a fatal error of the whole run."""
    error = kind("file vanished before it could be read (moved or deleted)")
    assert isinstance(error, PhotoError) and not isinstance(error, ArchiveError)
    assert str(error) == "file vanished before it could be read (moved or deleted)"


def test_archive_errors_are_not_photo_errors() -> None:
    for kind in (ArchiveError, RegisterError):
        assert not issubclass(kind, PhotoError)


def test_the_cli_prints_the_library_line_as_it_is(tmp_path: Path, run_cli) -> None:
    """The message made in the library is the whole of what the user sees: `Error: ` + it, exit 1."""
    register = tmp_path / "register.yml"
    register.write_text("cars:\n  - id: \"0042\"\n    colour: green\n", encoding="utf-8")
    with pytest.raises(RegisterError) as caught:
        load_register(register)
    assert caught.value.line == 3 and "\n" not in str(caught.value)
    (tmp_path / "inbox").mkdir()
    result = run_cli("ingest", tmp_path / "inbox", "--db", tmp_path / "a.db", "--register", register)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", f"Error: {caught.value}\n")


def test_an_unexpected_error_is_one_line_unless_debugging(tmp_path: Path, run_cli, monkeypatch, photo) -> None:
    """A bug of ours must not print a traceback at the admin; PHOTO_ARCHIVE_DEBUG=1 shows it for the report."""
    import ingest.cli

    photo("inbox/a.jpg", 1)
    run_cli("ingest", tmp_path / "inbox", "--db", tmp_path / "a.db")

    def broken(*args, **kwargs):  # no real input reaches this path: a stand-in for a bug
        raise KeyError("photographer_source")

    monkeypatch.setattr(ingest.cli, "retag_archive", broken)
    result = run_cli("retag", "--db", tmp_path / "a.db")
    assert (result.exit_code, result.stderr) == (1, (
        "Error: internal error (KeyError: 'photographer_source'); please report it, "
        "with the traceback that PHOTO_ARCHIVE_DEBUG=1 shows\n"))
    monkeypatch.setenv("PHOTO_ARCHIVE_DEBUG", "1")
    with pytest.raises(KeyError):
        run_cli("retag", "--db", tmp_path / "a.db")
