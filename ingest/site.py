"""Start Datasette on an archive with the project's site files.

The repository root is a Datasette configuration directory (metadata.yml,
templates/, plugins/); `datasette publish` has no such mode, so the files are
passed explicitly, the same way the README's publish command does.

metadata.yml configures the database `archive` (archive.db). Datasette names
a database after its file, so an archive in another file gets a copy of the
metadata with that section renamed.
"""

from __future__ import annotations

import ctypes
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .errors import ArchiveError

SITE_DIR = Path(__file__).resolve().parent.parent
DATABASE = "archive"  # the database metadata.yml configures
STOP_TIMEOUT_S = 10  # how long a stopping server may take before it is killed
PR_SET_PDEATHSIG = 1  # prctl option, from <linux/prctl.h>
# Datasette settings of the site (README's publish command passes the same).
SETTINGS = {
    # Suggestions count the distinct values of every column over the whole selection:
    # about 5 s per gallery page at 200,000 photos, for hints the gallery does not show.
    "suggest_facets": False,
}


def load_metadata(site_dir: Path = SITE_DIR) -> dict[str, Any]:
    metadata = site_dir / "metadata.yml"
    if not metadata.is_file():
        raise ArchiveError(f"site files not found: {metadata} is missing (run from a checkout)")
    try:
        return yaml.safe_load(metadata.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ArchiveError(f"{metadata} is not valid YAML: {' '.join(str(e).split())}") from None


def database_name(db: str | Path) -> str:
    """The name Datasette gives a database file: its name without the suffix."""
    return Path(db).stem


def metadata_for(db: str | Path, site_dir: Path = SITE_DIR) -> dict[str, Any]:
    """metadata.yml, with its `archive` section under the name Datasette will use for `db`."""
    metadata = load_metadata(site_dir)
    name = database_name(db)
    databases = metadata.get("databases") or {}
    if name != DATABASE and DATABASE in databases:
        metadata["databases"] = {(name if key == DATABASE else key): value for key, value in databases.items()}
    return metadata


def folder_args(site_dir: Path = SITE_DIR) -> list[str]:
    """--template-dir / --plugins-dir / --static for the site folders that exist."""
    args = []
    for option, folder in (("--template-dir", "templates"), ("--plugins-dir", "plugins"),
                           ("--static", "static")):
        if (site_dir / folder).is_dir():
            value = f"static:{site_dir / folder}" if option == "--static" else str(site_dir / folder)
            args += [option, value]
    return args


def site_args(db: str | Path = f"{DATABASE}.db", site_dir: Path = SITE_DIR,
              scratch: Path | None = None) -> list[str]:
    """Datasette options for serving `db` with the site files.

    When `db` is not named archive.db the renamed metadata is written to
    `scratch` (a folder the caller removes afterwards).
    """
    metadata = site_dir / "metadata.yml"
    renamed = metadata_for(db, site_dir)
    if database_name(db) != DATABASE and scratch is not None:
        metadata = scratch / "metadata.json"
        metadata.write_text(json.dumps(renamed, ensure_ascii=False), encoding="utf-8")
    settings = [arg for key, value in SETTINGS.items()
                for arg in ("--setting", key, ("on" if value else "off") if isinstance(value, bool) else str(value))]
    return ["--metadata", str(metadata), *folder_args(site_dir), *settings]


def serve(db: str, port: int = 8001, host: str = "127.0.0.1") -> int:
    """Run Datasette in the foreground; returns its exit code."""
    with tempfile.TemporaryDirectory(prefix="photo-archive-site-") as scratch:
        command = [sys.executable, "-m", "datasette", "serve", db, *site_args(db, scratch=Path(scratch)),
                   "--host", host, "--port", str(port)]
        return run_until_stopped(command)


def run_until_stopped(command: list[str]) -> int:
    """Run Datasette as a child that stops with us.

    SIGTERM or SIGHUP (a service manager, a closed terminal) is passed on, so
    no orphaned server keeps the port and the scratch metadata. Ctrl-C reaches
    the child from the terminal itself, so we only wait for it (a second SIGINT
    would make uvicorn skip its graceful shutdown). Killed outright, we take the
    child with us through the kernel (PR_SET_PDEATHSIG).
    """
    child = subprocess.Popen(command, preexec_fn=stop_when_parent_dies)
    forward = lambda signum, frame: child.send_signal(signum)  # noqa: E731
    stops = (signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, forward) for signum in stops}
    try:
        code = child.wait()
        return 0 if -code in stops else code  # uvicorn re-raises the signal it stopped on
    except KeyboardInterrupt:
        try:
            child.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_when_parent_dies() -> None:
    """In the child before exec: SIGTERM when the parent dies, however it dies (Linux only)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def datasette_app(db: str | Path, site_dir: Path = SITE_DIR, settings: dict[str, Any] | None = None):
    """The same site as `serve`, as an in-process Datasette instance (for tests and scripts)."""
    from datasette.app import Datasette

    static = site_dir / "static"
    return Datasette(
        [str(db)],
        metadata=metadata_for(db, site_dir),
        template_dir=str(site_dir / "templates"),
        plugins_dir=str(site_dir / "plugins"),
        static_mounts=[("static", str(static))] if static.is_dir() else None,
        settings={**SETTINGS, **(settings or {})},
    )
