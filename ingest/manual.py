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

import copy
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
        return not set(self.as_yaml()) - {"path"}

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

    def follow(self, old_sha256: str, new_sha256: str, path: str | None = None) -> bool:
        """A re-exported file (same path, new bytes) keeps the decisions made about its old bytes.

        Returns True when decisions were copied (then `save()`); the old entry
        stays, in case the old bytes turn up again elsewhere.
        """
        old = self.photos.get(old_sha256)
        if old is None or old.is_empty() or not self.get(new_sha256).is_empty():
            return False
        self.photos[new_sha256] = PhotoDecisions(
            path=path or old.path, add=copy.deepcopy(old.add), remove=copy.deepcopy(old.remove))
        return True

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
    """Read the decisions file; a missing file is an empty one.

    Every value is read as the text typed (YAML's BaseLoader): a hand-written
    `cars: [0042]` is car "0042", not the octal number 34.
    """
    if path is None or not path.exists():
        return Manual(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ArchiveError(f"cannot read manual tags {path}: {' '.join(str(e).split())}") from None
    photos = (data.get("photos") or {}) if isinstance(data, dict) else None
    if not isinstance(photos, dict):
        raise ArchiveError(f"{path}: expected a mapping 'photos:' of sha256 -> decisions")
    return Manual(path, {str(sha).lower(): parse_decisions(path, str(sha).lower(), entry)
                         for sha, entry in photos.items()})


ENTRY_KEYS = ("path", "add", "remove", "duplicate_of", "not_duplicate_of")
NULLS = ("", "~", "null", "Null", "NULL")


def scalar(where: str, key: str, value: Any) -> str | None:
    """One id (or path) as text; YAML's spellings of null are no value."""
    if value is None or value in NULLS:
        return None
    if not isinstance(value, str):
        raise ArchiveError(f"{where}: '{key}' must be a single value, not a list or mapping")
    return value.strip() or None


def id_list(where: str, key: str, value: Any) -> list[str]:
    if value is None or value in NULLS:
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ArchiveError(f"{where}: '{key}' must be a list of ids")
    return [v.strip() for v in value if v.strip() and v not in NULLS]


def parse_tags(where: str, key: str, value: Any) -> dict[str, Any]:
    """`add:` or `remove:`: cars (a list) and one event, session and photographer."""
    if value is None or value in NULLS:
        return {}
    if not isinstance(value, dict) or set(value) - set(KINDS):
        raise ArchiveError(f"{where}: '{key}' takes cars, event, session, photographer")
    tags: dict[str, Any] = {"cars": id_list(where, f"{key}.cars", value.get("cars"))}
    for kind in KINDS[1:]:
        tags[kind] = scalar(where, f"{key}.{kind}", value.get(kind))
    return {k: v for k, v in tags.items() if v}


def parse_decisions(path: Path, sha: Any, entry: Any) -> PhotoDecisions:
    where = f"{path}, photo {sha}"
    if not isinstance(sha, str) or not SHA256.fullmatch(sha):
        raise ArchiveError(f"{where}: the key must be a photo's sha256 (64 hex digits)")
    if not isinstance(entry, dict):
        raise ArchiveError(f"{where}: expected a mapping of decisions")
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise ArchiveError(f"{where}: unknown key '{unknown[0]}' (allowed: {', '.join(ENTRY_KEYS)})")
    return PhotoDecisions(
        path=scalar(where, "path", entry.get("path")),
        add=parse_tags(where, "add", entry.get("add")),
        remove=parse_tags(where, "remove", entry.get("remove")),
        duplicate_of=scalar(where, "duplicate_of", entry.get("duplicate_of")),
        not_duplicate_of=id_list(where, "not_duplicate_of", entry.get("not_duplicate_of")),
    )
