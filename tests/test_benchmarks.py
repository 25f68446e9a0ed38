"""Smoke tests for benchmarks/: the corpus generator and the runner, on tiny inputs.

The figures themselves come from `python benchmarks/run.py` on full-size
photos (see README, Performance); these tests only keep the tools working.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from PIL.ExifTags import IFD

from conftest import ROOT, require

BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import corpus  # noqa: E402
import measure  # noqa: E402

SMALL = (600, 400)


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_jpeg_corpus_is_deterministic_and_camera_like(tmp_path: Path) -> None:
    first = corpus.generate(tmp_path / "a", "jpeg", 3, seed=5, size=SMALL, workers=1)
    second = corpus.generate(tmp_path / "b", "jpeg", 3, seed=5, size=SMALL, workers=1)
    assert tree_bytes(first.inbox) == tree_bytes(second.inbox)
    assert first.register.read_text(encoding="utf-8") == corpus.register_yaml()

    files = first.files()
    assert sorted(f.name for f in files) == ["DSC_0001.JPG", "DSC_0002.JPG", "DSC_0003.JPG"]
    assert {f.relative_to(first.inbox).parts[0] for f in files} == {p[0] for p in corpus.PHOTOGRAPHERS}
    third = next(f for f in files if f.name == "DSC_0003.JPG")
    with Image.open(third) as image:
        exif = image.getexif()
        assert image.size == SMALL  # stored landscape, turned by its tag
        assert exif[0x0112] == 6
        assert exif[0x010F] == "NIKON CORPORATION"
        sub = exif.get_ifd(0x8769)
        assert sub[0x927C].startswith(b"Nikon\0\x02")  # a Nikon type-3 maker note
        assert exif.get_ifd(IFD.IFD1)[0x0201]  # IFD1: the embedded thumbnail
    from ingest.metadata import read_metadata

    data = third.read_bytes()
    with Image.open(third) as image:
        record = read_metadata(data, image)
    assert record["orientation"] == 6
    assert record["camera_serial"] == corpus.PHOTOGRAPHERS[2][2]
    assert record["taken_at"] == "2025-09-21T09:00:16"
    assert "#104" in record["keywords"]  # captioned as a culling tool does


def test_corpus_is_reused_when_its_parameters_match(tmp_path: Path) -> None:
    made = corpus.generate(tmp_path / "c", "small", 4, seed=1, workers=1)
    stamp = (made.root / "manifest.json").stat().st_mtime_ns
    again = corpus.generate(tmp_path / "c", "small", 4, seed=1, workers=1)
    assert again.total_bytes == made.total_bytes
    assert (made.root / "manifest.json").stat().st_mtime_ns == stamp
    other = corpus.generate(tmp_path / "c", "small", 5, seed=1, workers=1)
    assert len(other.files()) == 5


@pytest.mark.parametrize("kind, fmt", [("heic", "HEIF"), ("dng", "DNG")])
def test_heic_and_dng_are_read_by_ingest(tmp_path: Path, kind: str, fmt: str) -> None:
    from ingest.reader import read_photo

    made = corpus.generate(tmp_path / kind, kind, 1, size=(320, 240), workers=1)
    path = made.files()[0]
    read = read_photo(str(path), fmt)
    assert (read.fingerprint.format, read.fingerprint.width, read.fingerprint.height) == (fmt, 320, 240)
    assert read.metadata["camera_model"] in {"iPhone 15 Pro", "NIKON Z 6_2"}


def test_measure_counts_the_tree(tmp_path: Path) -> None:
    code = "import time; x = bytearray(80 * 1024 * 1024); time.sleep(0.3); sum(range(3_000_000))"
    measured = measure.run(["sh", "-c", f'{sys.executable} -c "{code}"; true'])
    assert measured.check().returncode == 0
    assert measured.peak_rss > 70 * 1024 * 1024
    assert 0.0 < measured.cpu < measured.wall + 1.0
    assert measured.wall >= 0.3


def test_runner_smoke(tmp_path: Path) -> None:
    require(shutil.which("djpeg") is not None and shutil.which("openssl") is not None,
            "djpeg (libjpeg-turbo-progs) and openssl are needed for the benchmark's floor")
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--parts", "jpeg,progress,formats,rerun,archive",
         "--size", "600x400", "--photos", "6", "--repeat", "1", "--heic", "1", "--raw", "1",
         "--rerun-files", "12", "--archive-photos", "300", "--page-repeat", "1", "--dup-hashes", "5000",
         "--imagededup", "skip", "--wait-idle", "0", "--data", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for heading in ("== 6 camera-like JPEGs", "== progress bar", "== other formats",
                    "== 12 files ingested", "== synthetic archive: 300 photos", "== targets"):
        assert heading in out
    assert "photo-archive ingest" in out and "floor: djpeg -scale 1/8" in out

    results = json.loads((tmp_path / "results" / "latest.json").read_text())
    assert results["machine"]["cpus"] >= 1
    jpeg = results["jpeg"]
    assert jpeg["corpus"]["files"] == 6
    assert jpeg["ratios"]["ingest_floor_wall"] > 0 and jpeg["ratios"]["ingest_floor_cpu"] > 0
    assert jpeg["median"]["ingest"]["peak_rss_mb"] > 10
    assert results["rerun"]["photo_files_opened"] in (0, None)
    assert results["rerun"]["reruns"][0]["extra"]["summary"]["unchanged"] == 12
    assert set(results["formats"]) == {"heic", "dng"}
    assert all(page["status"] == 200 for page in results["archive"]["pages"])
    assert results["archive"]["duplicate_check"][-1]["hashes"] == 5000
    assert (tmp_path / "results" / "latest.txt").read_text().startswith("photo-archive benchmarks")
