"""The library's exceptions. Each carries one line a person can act on.

The CLI turns them into a one-line message and exit code 1; nothing below
`cli.py` prints or exits.
"""

from __future__ import annotations


class ArchiveError(Exception):
    """A fatal problem for the whole run (bad register, unwritable database)."""


class RegisterError(ArchiveError):
    """The register file is invalid: names the file, the line and the field."""

    def __init__(self, file: str, line: int | None, field: str, problem: str) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.problem = problem
        where = f"{file}, line {line}" if line else file
        super().__init__(f"{where}, {field}: {problem}")


class PhotoError(Exception):
    """One photo could not be read; the run records it and goes on."""


class UnsupportedFile(PhotoError):
    """Not a photo format we ingest (video, sidecar, document): skipped, not failed."""


class FileVanished(PhotoError):
    """The file was moved or deleted between the scan and the read: nothing to ingest."""
