"""Two ingests at once, and Datasette reading while ingest writes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.canonical import canonical_dump, integrity_ok
from tests.conftest import rows
from tests.site_helpers import served

PHOTOS = 120


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ingest.sample_photos import Meta, save_photo, scene

    root = tmp_path_factory.mktemp("concurrency") / "inbox"
    for i in range(PHOTOS):
        save_photo(scene(1000 + i, (480, 320)), root / "vos-photography" / f"DSC_{i:04d}.JPG",
                   Meta(xmp_subject=["parade"]), quality=85)
    return root


def ingest(inbox: Path, db: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "ingest", str(inbox), "--db", str(db), "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_ingests_at_once_wait_for_each_other(inbox: Path, tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    first = ingest(inbox, db)
    time.sleep(1.0)  # the first holds the writer lock by now
    second = ingest(inbox, db)
    out1, out2 = first.communicate(timeout=300), second.communicate(timeout=300)
    assert (first.returncode, second.returncode) == (0, 0), (out1, out2)
    assert out2[1].splitlines()[0] == f"Waiting for another photo-archive process to finish writing {db} ..."
    assert "database is locked" not in out1[1] + out2[1]
    assert out2[1].splitlines()[-1].startswith(f"0 new, 0 updated, {PHOTOS} unchanged")
    assert integrity_ok(db)
    assert rows(db, "select count(*) n, count(distinct sha256) d from photos") == [{"n": PHOTOS, "d": PHOTOS}]
    reference = tmp_path / "reference.db"
    single = ingest(inbox, reference)
    single.communicate(timeout=300)
    assert canonical_dump(db) == canonical_dump(reference)


def test_the_site_serves_while_ingest_writes(inbox: Path, tmp_path: Path) -> None:
    """`photo-archive serve` (the project's plugins and templates) reading while ingest writes."""
    db = tmp_path / "archive.db"
    subprocess.run([sys.executable, "-m", "ingest.cli", "ingest", str(inbox / "vos-photography/DSC_0000.JPG"),
                    "--db", str(db), "--silent"], check=True)
    counts: list[int] = []
    failures: list[str] = []
    with served(db) as base:
        writer = ingest(inbox, db)
        stop = threading.Event()

        def poll() -> None:
            count_url = f"{base}/archive.json?sql=select+count(*)+n+from+photos&_shape=array"
            while not stop.is_set():
                try:
                    with urllib.request.urlopen(count_url, timeout=10) as response:
                        counts.append(json.load(response)[0]["n"])
                    with urllib.request.urlopen(f"{base}/archive/photos", timeout=10) as response:
                        if 'class="gallery' not in response.read().decode():  # the gallery, with its facets
                            failures.append("the gallery page came without its gallery")
                except Exception as e:  # any failed read is what this test is looking for
                    failures.append(repr(e))
                time.sleep(0.05)

        poller = threading.Thread(target=poll)
        poller.start()
        _, err = writer.communicate(timeout=300)
        stop.set()
        poller.join()
        assert writer.returncode == 0, err
    assert failures == []
    assert len(counts) > 5 and counts == sorted(counts)  # readers see whole photos appear, never vanish
    assert counts[-1] == PHOTOS
    assert integrity_ok(db)
