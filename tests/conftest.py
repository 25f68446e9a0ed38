"""Shared fixtures: the real camera corpus, generated photos, registers, CLI runs."""

from __future__ import annotations

import ctypes
import os
import sqlite3
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from ingest.cli import cli

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("PHOTO_ARCHIVE_CORPUS", ROOT.parent / "shared" / "corpus"))
IN_CI = os.environ.get("CI") == "true"


def require(available: bool, reason: str) -> None:
    """Skip with a reason on a user's machine; under CI a missing part is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must run, not skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The real camera files in ../shared/corpus/exif-samples (not part of the repository)."""
    path = CORPUS / "exif-samples"
    require(path.is_dir(), f"real camera corpus not found at {path} (it lives in ../shared beside a checkout)")
    return path


@pytest.fixture
def run_cli():
    """Invoke `photo-archive` in-process; returns click's Result (exit_code, stdout, stderr)."""

    def invoke(*args: str, **kwargs: Any):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, **kwargs)

    return invoke


def rows(db_path: Path | str, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    """Query a database file directly (a fresh connection, as Datasette would open it)."""
    conn = sqlite3.connect(str(db_path))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


@pytest.fixture
def photo(tmp_path: Path):
    """Write a generated photo with real metadata: photo("inbox/a/1.jpg", seed=1, meta=Meta(...))."""
    from ingest.sample_photos import Meta, save_photo, scene

    def make(relative: str, seed: int = 1, meta: "Meta | None" = None,
             size: tuple[int, int] = (640, 480), **kwargs: Any) -> Path:
        return save_photo(scene(seed, size), tmp_path / relative, meta, **kwargs)

    return make


PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def unprivileged() -> Callable[[], None] | None:
    """A preexec_fn under which root obeys file permissions; None when the tests run as a user.

    It drops the two capabilities that let root read anything (from the bounding
    set, so the program it runs never gets them back). Switching to `nobody`
    would do too, but nobody may not reach the interpreter: a venv's python is
    often a link into root's home (pyenv), which is 0700.
    """
    if os.geteuid() != 0:
        return None

    def drop() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
            if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")

    return drop
