"""Back up what cannot be regenerated: the register and the manual decisions.

Everything else in archive.db is rebuilt from the inbox by ingest (see the
README's "Backup and rebuild"). The backup is a plain .tar.gz a person can
open; restoring is extracting it beside the inbox.
"""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

from .errors import ArchiveError
from .manual import manual_path


def backup_members(register: Path) -> list[Path]:
    """The files that hold human work: register.yml and tags.yml (if any tag was made)."""
    if not register.is_file():
        raise ArchiveError(f"no register at {register}: nothing to back up")
    tags = manual_path(register)
    return [register] + ([tags] if tags.is_file() else [])


def write_backup(register: Path, out: Path) -> list[str]:
    """Write the backup archive; returns the names stored in it."""
    members = backup_members(register)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for member in members:
            data = member.read_bytes()
            info = tarfile.TarInfo(member.name)
            info.size, info.mtime, info.mode = len(data), int(member.stat().st_mtime), 0o644
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(out)  # never a half-written backup under the real name
    return [m.name for m in members]


def default_backup_name() -> str:
    return time.strftime("photo-archive-backup-%Y%m%d-%H%M%S.tar.gz")
