"""Start Datasette on an archive with the project's site files.

The repository root is a Datasette configuration directory (metadata.yml,
templates/, plugins/); `datasette publish` has no such mode, so the files are
passed explicitly, the same way the README's publish command does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .errors import ArchiveError

SITE_DIR = Path(__file__).resolve().parent.parent


def site_args(site_dir: Path = SITE_DIR) -> list[str]:
    """--metadata / --template-dir / --plugins-dir for the site files that exist."""
    metadata = site_dir / "metadata.yml"
    if not metadata.is_file():
        raise ArchiveError(f"site files not found: {metadata} is missing (run from a checkout)")
    args = ["--metadata", str(metadata)]
    for option, folder in (("--template-dir", "templates"), ("--plugins-dir", "plugins"),
                           ("--static", "static")):
        if (site_dir / folder).is_dir():
            value = f"static:{site_dir / folder}" if option == "--static" else str(site_dir / folder)
            args += [option, value]
    return args


def serve(db: str, port: int = 8001, host: str = "127.0.0.1") -> int:
    """Run Datasette in the foreground; returns its exit code."""
    command = [sys.executable, "-m", "datasette", "serve", db, *site_args(),
               "--host", host, "--port", str(port)]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0
