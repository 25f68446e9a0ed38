"""Shared by the site tests: the demo archive (built once per session), the site
in-process (Datasette's own test client), and the site served for real.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator

import httpx
from click.testing import CliRunner

from ingest.cli import cli
from ingest.site import datasette_app

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def demo_archive(tmp_path_factory) -> Path:
    """`photo-archive demo --no-serve`, once per test session (~10 s), shared by the site tests.

    Built in the session's base temp folder, so every test module finds the
    same archive; a marker file says the build finished.
    """
    folder = tmp_path_factory.getbasetemp() / "site-demo"
    done = folder / ".built"
    if not done.exists():
        result = CliRunner().invoke(cli, ["demo", "--no-serve", "--dir", str(folder)])
        assert result.exit_code == 0, result.output
        done.touch()
    return folder / "archive.db"


def copy_archive(db: Path, folder: Path, ledger: bool = True) -> Path:
    """A private copy of an archive (and its ledger) that a test may change."""
    folder.mkdir(parents=True, exist_ok=True)
    pairs = [(db, folder / db.name)]
    if ledger:
        pairs.append((Path(f"{db}.private"), folder / f"{db.name}.private"))
    for source, target in pairs:
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        src.close()
        dst.close()
    return folder / db.name


def query(db: Path, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


class Site:
    """The site in-process: Datasette's test client on a private event loop."""

    def __init__(self, db: Path, ds=None) -> None:
        self.db = db
        self.ds = ds or datasette_app(db)
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.ds.invoke_startup())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.ds.client.get(path, **kwargs))

    def json(self, path: str) -> Any:
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return response.json()

    def raw_get(self, raw_path: str) -> tuple[int, dict[str, str], bytes]:
        """GET exactly this path, as a server would pass it (no client-side normalising of `..`)."""
        return self.loop.run_until_complete(self._raw_get(raw_path))

    async def _raw_get(self, raw_path: str) -> tuple[int, dict[str, str], bytes]:
        from urllib.parse import unquote

        path, _, query_string = raw_path.partition("?")
        scope = {
            "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": unquote(path), "raw_path": path.encode("latin-1"), "root_path": "",
            "query_string": query_string.encode("latin-1"),
            "headers": [(b"host", b"localhost")], "server": ("localhost", 80),
            "client": ("127.0.0.1", 1234),
        }
        status, headers, body = 0, {}, bytearray()

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers.update({k.decode().lower(): v.decode() for k, v in message.get("headers", [])})
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.ds.app()(scope, receive, send)
        return status, headers, bytes(body)

    def close(self) -> None:
        self.loop.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(db: Path, port: int, log: Path) -> subprocess.Popen:
    """`photo-archive serve --db DB` in its own session (it runs Datasette as a child)."""
    with open(log, "wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "ingest.cli", "serve", "--db", str(db), "--port", str(port)],
            cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )


def wait_until_answering(process: subprocess.Popen, base: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/-/versions.json", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not answer in {timeout:.0f}s: {log.read_text()[-2000:]}")
            time.sleep(0.2)


@contextmanager
def served(db: Path, timeout: float = 30.0) -> Iterator[str]:
    """`photo-archive serve --db DB` on a free port; yields its base URL, stops it afterwards."""
    port = free_port()
    log = db.parent / f"serve-{port}.log"
    process = start_serve(db, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(process, base, log, timeout)
        yield base
    finally:
        # photo-archive serve runs Datasette as a child: stop the whole session we started.
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


class _TileParser(HTMLParser):
    """Collects gallery tiles: <figure class="gallery-tile" data-photo-id> with img and credit."""

    def __init__(self) -> None:
        super().__init__()
        self.tiles: list[dict[str, Any]] = []
        self.field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "figure" and "gallery-tile" in classes:
            self.tiles.append({"id": int(a["data-photo-id"]), "src": None, "credit": "", "title": ""})
        elif self.tiles and tag == "img" and self.tiles[-1]["src"] is None:
            self.tiles[-1]["src"] = a.get("src")
        elif self.tiles and tag in ("span", "a") and ("gallery-credit" in classes or "gallery-title" in classes):
            self.field = "credit" if "gallery-credit" in classes else "title"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("span", "a"):
            self.field = None

    def handle_data(self, data: str) -> None:
        if self.field and self.tiles:
            self.tiles[-1][self.field] += data


def tiles(html: str) -> list[dict[str, Any]]:
    """The gallery tiles of a page: [{id, src, credit, title}] in page order."""
    parser = _TileParser()
    parser.feed(html)
    return parser.tiles
