"""demo.py and `photo-archive demo`: a sample archive built offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.demo import write_demo
from ingest.register import load_register
from tests.conftest import rows


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from click.testing import CliRunner

    from ingest.cli import cli

    root = tmp_path_factory.mktemp("demo") / "demo"
    result = CliRunner().invoke(cli, ["demo", "--dir", str(root), "--no-serve"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return root


def test_demo_register_is_valid_and_describes_the_club(demo: Path) -> None:
    register = load_register(demo / "register.yml")
    assert [p.id for p in register.photographers] == ["rene-hey", "vos-photography", "thomas-heiringhoff"]
    assert [e.id for e in register.events] == ["meet-2023", "meet-2024", "meet-2025"]
    assert len(register.cars) == 12
    assert {c.color for c in register.cars} >= {"Java Green", "Monte Carlo Blue", "Atacama Yellow"}


def test_demo_archive_has_photos_credits_events_and_one_broken_file(demo: Path) -> None:
    db = demo / "archive.db"
    photographers = rows(db, "select photographer_id, count(*) n from photos group by 1 order by 1")
    assert [p["photographer_id"] for p in photographers] == [None, "rene-hey", "thomas-heiringhoff", "vos-photography"]
    assert rows(db, "select count(*) n from photos where credit is null and photographer_id is not null") == [{"n": 0}]
    assert {r["event_id"] for r in rows(db, "select distinct event_id from photos")} >= {"meet-2023", "meet-2024", "meet-2025"}
    errors = rows(db, "select path, error from ingest_errors")
    assert [Path(e["path"]).name for e in errors] == ["DSC_0999.JPG"]
    mamba = rows(db, "select count(*) n from photo_cars where car_id = '0042'")
    assert mamba[0]["n"] >= 4


def test_demo_winter_time_camera_lands_in_the_parade(demo: Path) -> None:
    thomas = rows(demo / "archive.db", "select taken_at, taken_at_local, session_id from photos "
                  "where photographer_id = 'thomas-heiringhoff' and event_id = 'meet-2025' and taken_at < '2025-09-21'")
    assert thomas and all(r["session_id"] == "nordschleife-parade" for r in thomas)
    assert all(r["taken_at"][11:13] == "08" and r["taken_at_local"][11:13] == "09" for r in thomas)


def test_demo_private_car_never_reaches_the_archive(demo: Path) -> None:
    db = demo / "archive.db"
    assert rows(db, "select id from cars where id = '0333'") == []
    dumped = "\n".join(str(r) for table in ("photos", "photo_files", "photo_cars", "cars")
                       for r in rows(db, f"select * from {table}"))
    for secret in ("Yellow Submarine", "HH-YS-333", "HH YS 333", "WBS1J5C52BE000333", "E000333"):
        assert secret not in dumped


def test_write_demo_is_deterministic(tmp_path: Path) -> None:
    write_demo(tmp_path / "a")
    write_demo(tmp_path / "b")
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files_a)
