"""scan.py: which files under a folder are photos, skipped, or unreadable."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.scan import Found, display_path, is_ignored, scan


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def kinds(founds: list[Found], root: Path) -> dict[str, tuple[str, str | None]]:
    return {os.path.relpath(f.path, root): (f.kind, f.format) for f in founds}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("IMG_0001.JPG", ("photo", "JPEG")),
        ("img_0002.jpeg", ("photo", "JPEG")),
        ("IMG_5195.HEIC", ("photo", "HEIF")),
        ("pixel.heif", ("photo", "HEIF")),
        ("scan.TIF", ("photo", "TIFF")),
        ("scan.tiff", ("photo", "TIFF")),
        ("web.WebP", ("photo", "WEBP")),
        ("screen.PNG", ("photo", "PNG")),
        ("DSC_0042.NEF", ("photo", "NEF")),
        ("IMG_1.CR2", ("photo", "CR2")),
        ("IMG_2.cr3", ("photo", "CR3")),
        ("DSC1.ARW", ("photo", "ARW")),
        ("L1000.DNG", ("photo", "DNG")),
        ("DSCF1.RAF", ("photo", "RAF")),
        ("P1.ORF", ("photo", "ORF")),
        ("clip.MP4", ("skipped", None)),
        ("notes.txt", ("skipped", None)),
        ("IMG_0001.xmp", ("skipped", None)),
        ("README", ("skipped", None)),
    ],
)
def test_suffixes_are_case_insensitive(tmp_path: Path, name: str, expected: tuple) -> None:
    touch(tmp_path / name)
    assert kinds(list(scan([str(tmp_path)])), tmp_path) == {name: expected}


@pytest.mark.parametrize(
    "name, ignored",
    [
        (".DS_Store", True), ("._IMG_0001.JPG", True), ("IMG_0001.JPG.part", True),
        ("IMG_0001.jpg.tmp", True), ("IMG_1.JPG.crdownload", True), ("IMG_0001.JPG", False),
        ("part.jpg", False),
    ],
)
def test_hidden_and_partial_files_are_ignored(name: str, ignored: bool) -> None:
    assert is_ignored(name) is ignored


def test_recursive_sorted_and_hidden_folders_skipped(tmp_path: Path) -> None:
    touch(tmp_path / "b" / "2.jpg")
    touch(tmp_path / "a" / "deep" / "er" / "1.jpg")
    touch(tmp_path / ".thumbnails" / "x.jpg")
    touch(tmp_path / "a" / "upload.jpg.part")
    paths = [os.path.relpath(f.path, tmp_path) for f in scan([str(tmp_path)])]
    assert paths == ["a/deep/er/1.jpg", "b/2.jpg"]


def test_paths_keep_the_form_they_were_given_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path / "inbox" / "rene-hey" / "IMG_1.JPG")
    monkeypatch.chdir(tmp_path)
    assert [f.path for f in scan(["inbox"])] == ["inbox/rene-hey/IMG_1.JPG"]


def test_symlinks_followed_once_and_loops_end(tmp_path: Path) -> None:
    touch(tmp_path / "real" / "1.jpg")
    (tmp_path / "real" / "loop").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "again").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "link.jpg").symlink_to(tmp_path / "real" / "1.jpg")
    founds = list(scan([str(tmp_path)]))
    # The directory is walked once whichever link reaches it first; the file link is a file.
    assert kinds(founds, tmp_path) == {"again/1.jpg": ("photo", "JPEG"), "link.jpg": ("photo", "JPEG")}


def test_broken_and_self_symlinks_are_errors_not_crashes(tmp_path: Path) -> None:
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "missing.jpg")
    (tmp_path / "self.jpg").symlink_to(tmp_path / "self.jpg")
    founds = {os.path.basename(f.path): (f.kind, f.reason) for f in scan([str(tmp_path)])}
    assert founds == {
        "gone.jpg": ("error", "no such file or folder (broken symlink, or removed during the scan)"),
        "self.jpg": ("error", "symlink loop: the link points back at itself"),
    }


def without_root_powers() -> None:
    """preexec_fn: drop the capabilities that let root read any folder, as an ordinary user runs."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP: gone for the program run
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_unreadable_folder_is_an_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    touch(locked / "1.jpg")
    locked.chmod(0)
    # In a process of its own: as root (CI), scan runs without root's power to read anything.
    code = "import json, sys; from ingest.scan import scan; print(json.dumps([[f.kind, f.reason] for f in scan(sys.argv[1:])]))"
    try:
        result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                                preexec_fn=without_root_powers if os.geteuid() == 0 else None, timeout=60)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        ["error", "permission denied: cannot read it (check the file's permissions)"]
    ]


def test_single_file_and_missing_path(tmp_path: Path) -> None:
    photo = touch(tmp_path / "one.jpg")
    assert [f.kind for f in scan([str(photo)])] == ["photo"]
    missing = list(scan([str(tmp_path / "nope")]))
    assert [(f.kind, f.reason) for f in missing] == [
        ("error", "no such file or folder (broken symlink, or removed during the scan)")
    ]


def test_undecodable_file_names_are_displayed_not_crashing(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9 \xf0\x9f\x9a\x97\nline.jpg"
    with open(raw, "wb") as handle:
        handle.write(b"x")
    (found,) = scan([str(tmp_path)])
    shown = display_path(found.path)
    assert shown.endswith("caf\\xe9 \U0001f697\nline.jpg")
    shown.encode("utf-8")  # storable in SQLite as text
