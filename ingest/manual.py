"""Manual decisions: tags and duplicate verdicts a person made, kept in a YAML file.

The file sits beside the register (`tags.yml` next to `register.yml`), is
written by `photo-archive tag` and `photo-archive duplicates`, and is
replayed by every ingest and retag, so the database can always be rebuilt
from the inbox without losing a person's work. Photos are keyed by sha256:
a decision follows the photo's bytes through moves, renames and rebuilds.

    photos:
      3f2a…(64 hex):
        path: inbox/rene-hey/2025/IMG_0001.JPG   # for people; not used to match
        add: {cars: ["0042"], event: meet-2025, session: nordschleife-parade, photographer: rene-hey}
        remove: {cars: ["0104"]}
        duplicate_of: 9be1…(64 hex)               # this photo is a copy of that one
        not_duplicate_of: [77c0…]                 # ...and definitely not of these
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ArchiveError

KINDS = ("cars", "event", "session", "photographer")
SHA256 = re.compile(r"[0-9a-f]{64}")
HEADER = """\
# Manual decisions for the photo archive: tags a person added or removed, and
# duplicate verdicts. Written by `photo-archive tag` and `photo-archive
# duplicates`; replayed by every ingest and retag, so they survive rebuilding
# archive.db. Photos are keyed by the sha256 of their bytes.
"""


def manual_path(register_path: str | os.PathLike[str]) -> Path:
    """`tags.yml` in the register's folder."""
    return Path(register_path).resolve().parent / "tags.yml"


@dataclass
class PhotoDecisions:
    """What a person decided about one photo."""

    path: str | None = None
    add: dict[str, Any] = field(default_factory=dict)      # cars: [ids]; event/session/photographer: id
    remove: dict[str, Any] = field(default_factory=dict)
    duplicate_of: str | None = None
    not_duplicate_of: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.add or self.remove or self.duplicate_of or self.not_duplicate_of)

    def as_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path} if self.path else {}
        for key in ("add", "remove"):
            value = {k: v for k, v in getattr(self, key).items() if v not in (None, [], "")}
            if value:
                out[key] = value
        if self.duplicate_of:
            out["duplicate_of"] = self.duplicate_of
        if self.not_duplicate_of:
            out["not_duplicate_of"] = sorted(self.not_duplicate_of)
        return out


@dataclass
class Manual:
    """All manual decisions, by sha256."""

    path: Path | None = None
    photos: dict[str, PhotoDecisions] = field(default_factory=dict)

    def get(self, sha256: str) -> PhotoDecisions:
        return self.photos.get(sha256) or PhotoDecisions()

    def edit(self, sha256: str, path: str | None = None) -> PhotoDecisions:
        decisions = self.photos.setdefault(sha256, PhotoDecisions())
        if path:
            decisions.path = path
        return decisions

    def save(self) -> None:
        if self.path is None:
            raise ArchiveError("no register file given: manual tags are kept beside it (use --register)")
        data = {"photos": {sha: d.as_yaml() for sha, d in sorted(self.photos.items()) if not d.is_empty()}}
        text = HEADER + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
        atomic_write(self.path, text)


def atomic_write(path: Path, text: str) -> None:
    """Write-then-rename: a crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_manual(path: Path | None) -> Manual:
    """Read the decisions file; a missing file is an empty one."""
    if path is None or not path.exists():
        return Manual(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ArchiveError(f"cannot read manual tags {path}: {' '.join(str(e).split())}") from None
    photos = data.get("photos") or {} if isinstance(data, dict) else None
    if not isinstance(photos, dict):
        raise ArchiveError(f"{path}: expected a mapping 'photos:' of sha256 -> decisions")
    return Manual(path, {sha: parse_decisions(path, sha, entry) for sha, entry in photos.items()})


def parse_decisions(path: Path, sha: Any, entry: Any) -> PhotoDecisions:
    where = f"{path}, photo {sha}"
    if not isinstance(sha, str) or not SHA256.fullmatch(sha):
        raise ArchiveError(f"{where}: the key must be a photo's sha256 (64 hex digits)")
    if not isinstance(entry, dict):
        raise ArchiveError(f"{where}: expected a mapping of decisions")
    unknown = set(entry) - {"path", "add", "remove", "duplicate_of", "not_duplicate_of"}
    if unknown:
        raise ArchiveError(f"{where}: unknown key '{sorted(unknown)[0]}' (allowed: path, add, remove, duplicate_of, not_duplicate_of)")
    decisions = PhotoDecisions(path=entry.get("path"), duplicate_of=entry.get("duplicate_of"),
                               not_duplicate_of=list(entry.get("not_duplicate_of") or []))
    for key in ("add", "remove"):
        value = entry.get(key) or {}
        if not isinstance(value, dict) or set(value) - set(KINDS):
            raise ArchiveError(f"{where}: '{key}' takes cars, event, session, photographer")
        cars = value.get("cars") or []
        if not isinstance(cars, list):
            raise ArchiveError(f"{where}: '{key}.cars' must be a list of car ids")
        setattr(decisions, key, {**value, "cars": [str(c) for c in cars]})
    return decisions
