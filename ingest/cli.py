"""The `photo-archive` command line: parse, check, show progress, call the library.

Library errors become one-line messages and exit code 1 here and only here.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

import click

from . import site
from .backup import default_backup_name, write_backup
from .db import BUSY_TIMEOUT_MS
from .errors import ArchiveError
from .lock import writer_lock
from .manual import load_manual, manual_path
from .pipeline import Ingest, Summary
from .previews import build_previews
from .watch import InboxIngest, watch as watch_inbox
from .workers import DEFAULT_TIMEOUT
from .retag import Change, manual_tag, retag_archive
from .register import Register, load_register
from .tagging import Tagger

DEFAULT_DB = "archive.db"
DEBUG_VARIABLE = "PHOTO_ARCHIVE_DEBUG"  # set: an unexpected error shows its traceback
DATABASE_HINTS = {
    "database is locked": f" (another program kept it locked for over {BUSY_TIMEOUT_MS // 1000} s; "
                          "try again when it is done)",
    "disk I/O error": " (is the disk full?)",
    "database or disk is full": " (free some space and run again: nothing written is lost)",
}


@click.group()
@click.version_option(package_name="photo-archive")
def cli() -> None:
    """Photo archive and tagging pipeline for car clubs, published with Datasette."""


@contextmanager
def fatal_errors() -> Iterator[None]:
    """Turn library errors into one line on stderr and exit code 1, never a traceback."""
    try:
        yield
    except ArchiveError as e:
        raise click.ClickException(str(e)) from None
    except sqlite3.Error as e:  # the archive itself: disk full, locked by another program, damaged
        raise click.ClickException(f"database error: {e}{DATABASE_HINTS.get(str(e), '')}") from None
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        raise click.ClickException(f"{e.strerror or e}{where}") from None
    except KeyboardInterrupt:
        click.echo("Interrupted: photos already written are kept; run again to finish.", err=True)
        sys.exit(130)
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except Exception as e:  # a bug of ours: still one line; the traceback on request, for the report
        if os.environ.get(DEBUG_VARIABLE):
            raise
        message = " ".join(str(e).split())
        raise click.ClickException(
            f"internal error ({type(e).__name__}: {message}); please report it, with the traceback "
            f"that {DEBUG_VARIABLE}=1 shows") from None


DEFAULT_REGISTER = "register.yml"
register_option = click.option(
    "--register", default=DEFAULT_REGISTER, show_default=True, type=click.Path(), metavar="FILE",
    help="Register file; manual tags are kept beside it in tags.yml")


def load_tagger(register: str) -> Tagger:
    """The register and its manual tags; without a register file, tag nothing (default path only)."""
    ctx = click.get_current_context()
    given = ctx.get_parameter_source("register") != click.core.ParameterSource.DEFAULT
    if not given and not Path(register).exists():
        return Tagger(Register.empty())
    return Tagger(load_register(register), load_manual(manual_path(register)))


def writing(db: str | Path):
    """The archive's writer lock, saying so on stderr when another writer holds it."""
    return writer_lock(db, on_wait=lambda: click.echo(
        f"Waiting for another photo-archive process to finish writing {db} ...", err=True))


def check_paths(paths: tuple[str, ...]) -> None:
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing:
        raise click.ClickException(f"no such file or folder: {missing[0]}")


def check_db_writable(db: str) -> None:
    folder = Path(db).resolve().parent
    if not folder.is_dir():
        raise click.ClickException(f"cannot create database {db}: folder {folder} does not exist")
    target = Path(db) if Path(db).exists() else folder
    if not os.access(target, os.W_OK):
        raise click.ClickException(f"cannot write database {db}: permission denied")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--db", default=DEFAULT_DB, show_default=True, help="Archive database to write")
@register_option
@click.option("--workers", type=click.IntRange(1, 64), help="Reader processes [default: CPU count]")
@click.option("--timeout", default=DEFAULT_TIMEOUT, show_default=True, type=click.FloatRange(0.5),
              help="Seconds one file may take before it is recorded as failed")
@click.option("--silent", is_flag=True, help="No progress bar and no summary")
def ingest(paths: tuple[str, ...], db: str, register: str, workers: int | None,
           timeout: float, silent: bool) -> None:
    """Read photos under PATHS into the archive (idempotent; originals are never modified)."""
    check_paths(paths)
    check_db_writable(db)
    with fatal_errors():
        tagger = load_tagger(register)  # a bad register stops before the database is touched
        with writing(db):
            run = Ingest(db, tagger, workers=workers, timeout=timeout)
            try:
                summary = run_with_progress(run, list(paths), silent)
            finally:
                run.close()
    if not silent:
        report(summary)


class ProgressBar:
    """click's progress bar over the files being read, with photos per second and ETA.

    It moves as each file is read, not as each batch is committed, so that the
    rate and the ETA are steady. The ETA is ours, from the same rate: click's
    shows only after a second, so a short run would never show one.
    """

    def __init__(self, run: Ingest, stack: ExitStack) -> None:
        self.run = run
        self.stack = stack
        self.bar = None

    def start(self, count: int) -> None:
        self.bar = self.stack.enter_context(click.progressbar(
            length=count, label="Ingesting", file=sys.stderr, show_eta=False, show_pos=True,
            item_show_func=self.status))

    def advance(self, path: str) -> None:
        if self.bar is not None:
            self.bar.update(1, path)

    def status(self, _path: str | None) -> str:
        elapsed = time.monotonic() - self.run.read_started if self.run.read_started else 0.0
        if not self.bar or not self.bar.pos or elapsed <= 0:
            return ""
        rate = self.bar.pos / elapsed
        left = (self.bar.length - self.bar.pos) / rate
        return f"{rate:.1f} photos/s, ETA {time.strftime('%H:%M:%S', time.gmtime(left))}"


def run_with_progress(run: Ingest, paths: list[str], silent: bool) -> Summary:
    """A progress bar on a terminal; nothing when piped or --silent."""
    if silent or not sys.stderr.isatty():
        return run.run(paths)
    with ExitStack() as stack:  # the bar is entered once scanning has counted the files
        bar = ProgressBar(run, stack)
        run.on_plan, run.on_read = bar.start, bar.advance
        return run.run(paths)


@cli.command()
@click.argument("inbox", type=click.Path(exists=True, file_okay=False))
@click.option("--db", default=DEFAULT_DB, show_default=True, help="Archive database to write")
@register_option
@click.option("--settle", default=5.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds a file must stay unchanged before it is read")
def watch(inbox: str, db: str, register: str, settle: float) -> None:
    """Ingest photos as they are dropped into INBOX, until Ctrl-C.

    Files still being copied are left alone until they stop growing. Ctrl-C
    finishes the batch in flight, then stops.
    """
    check_db_writable(db)
    stop = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: stop now (the batch is rolled back cleanly)
        click.echo("Stopping: finishing the batch in flight (Ctrl-C again to abandon it) ...", err=True)
        stop.set()

    def ingest_batch(paths: list[str]) -> None:
        with writing(db):
            run = InboxIngest(db, load_tagger(register))  # re-read: the register or tags may have changed
            try:
                summary = run.run(paths)
            finally:
                run.close()
        report(summary)

    with fatal_errors():
        load_tagger(register)  # a bad register stops before anything is watched
        signal.signal(signal.SIGINT, on_interrupt)
        signal.signal(signal.SIGTERM, on_interrupt)
        click.echo(f"Watching {inbox} (files are read once unchanged for {settle:g} s; Ctrl-C to stop)", err=True)
        watch_inbox(inbox, ingest_batch, settle, stop)
    click.echo("Stopped.", err=True)


@cli.command()
@register_option
@click.option("--out", type=click.Path(dir_okay=False), help="Backup file [default: photo-archive-backup-<time>.tar.gz]")
def backup(register: str, out: str | None) -> None:
    """Save what cannot be rebuilt from the inbox: the register and tags.yml (manual decisions)."""
    target = Path(out or default_backup_name())
    with fatal_errors():
        names = write_backup(Path(register), target)
    click.echo(f"Backed up {', '.join(names)} to {target}", err=True)


@cli.command()
@click.option("--db", default=DEFAULT_DB, show_default=True, help="Archive whose previews to make")
@click.option("--force", is_flag=True, help="Make every preview again, not only the missing ones")
@click.option("--workers", type=click.IntRange(1, 64), help="Threads [default: CPU count]")
@click.option("--silent", is_flag=True, help="No progress bar and no summary")
def previews(db: str, force: bool, workers: int | None, silent: bool) -> None:
    """Make the photo pages' ~1600 px previews beside the archive (for publishing)."""
    if not Path(db).is_file():
        raise click.ClickException(f"no archive at {db}: run `photo-archive ingest` first")
    with fatal_errors(), ExitStack() as stack:
        bars = []

        def start(count: int) -> None:
            if not silent and sys.stderr.isatty():
                bars.append(stack.enter_context(
                    click.progressbar(length=count, label="Previews", file=sys.stderr, show_pos=True)))

        summary = build_previews(db, force=force, workers=workers, on_plan=start,
                                 on_photo=lambda sha256, outcome: bars and bars[0].update(1))
    if not silent:
        for label, reason in summary.failures:
            click.echo(f"failed: {label}: {reason}", err=True)
        click.echo(summary.line(), err=True)


TAG_KINDS = ("car", "event", "session", "photographer")


@cli.command()
@click.argument("photo")
@click.option("--car", help="Car id from the register")
@click.option("--event", help="Event id from the register")
@click.option("--session", help="Session id from the register (implies its event)")
@click.option("--photographer", help="Photographer id from the register")
@click.option("--remove", is_flag=True, help="Remove this tag instead of adding it")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="Archive database")
@register_option
def tag(photo: str, car: str | None, event: str | None, session: str | None,
        photographer: str | None, remove: bool, db: str, register: str) -> None:
    """Tag PHOTO (its id, a sha256 prefix or its path) by hand; manual tags always win.

    The decision is saved in tags.yml beside the register, so it survives
    re-ingest, retag and rebuilding the database from the inbox.
    """
    given = {k: v for k, v in zip(TAG_KINDS, (car, event, session, photographer)) if v}
    if len(given) != 1:
        raise click.UsageError("give exactly one of --car, --event, --session, --photographer")
    if not Path(db).is_file():
        raise click.ClickException(f"no archive at {db}: run `photo-archive ingest` first")
    ((kind, value),) = given.items()
    with fatal_errors():
        tagger = Tagger(load_register(register), load_manual(manual_path(register)))
        with writing(db):
            click.echo(manual_tag(db, tagger, photo, kind, value, remove))


@cli.command()
@click.option("--db", default=DEFAULT_DB, show_default=True, help="Archive database")
@register_option
def retag(db: str, register: str) -> None:
    """Re-apply the register and manual tags to the whole archive, without reading pixels."""
    if not Path(db).is_file():
        raise click.ClickException(f"no archive at {db}: run `photo-archive ingest` first")
    with fatal_errors():
        tagger = load_tagger(register)
        with writing(db):
            changes = retag_archive(db, tagger)
    for change in changes:
        click.echo(change.line())
    click.echo(changes_line(changes), err=True)


def changes_line(changes: list[Change]) -> str:
    photos = len({c.photo_id for c in changes})
    return f"{photos} photo{'s' if photos != 1 else ''} changed ({len(changes)} tag changes)"


@cli.command()
@click.option("--not-duplicate", "not_duplicate", nargs=2, metavar="A B",
              help="Record that photo A is not a duplicate of photo B")
@click.option("--duplicate-of", "duplicate_of", nargs=2, metavar="A B",
              help="Record that photo A is a duplicate of photo B")
@click.option("--recluster", is_flag=True,
              help="Search and verify the whole archive again from stored signatures (no pixels read)")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="Archive database")
@register_option
def duplicates(not_duplicate: tuple[str, str] | None, duplicate_of: tuple[str, str] | None,
               recluster: bool, db: str, register: str) -> None:
    """List near-duplicate clusters for review, or record a verdict (A, B: id, sha256 prefix or path).

    Each original is listed with its duplicates, how close each is, and the
    credit they inherit. A verdict is saved in tags.yml beside the register,
    applied at once, and kept through re-ingest and rebuilds.
    """
    if not_duplicate and duplicate_of:
        raise click.UsageError("give one of --not-duplicate and --duplicate-of, not both")
    if recluster and (not_duplicate or duplicate_of):
        raise click.UsageError("--recluster re-decides every cluster: run it on its own")
    if not Path(db).is_file():
        raise click.ClickException(f"no archive at {db}: run `photo-archive ingest` first")
    from . import dedupe
    from .db import connect_current

    with fatal_errors():
        manual = load_manual(manual_path(register))
        if not_duplicate or duplicate_of:
            first, second = not_duplicate or duplicate_of
            with writing(db):
                click.echo(dedupe.record_verdict(db, manual, first, second, duplicate=bool(duplicate_of)))
            return
        archive = connect_current(db)  # an archive from before near-duplicate search
        try:
            if recluster:
                with writing(db):
                    started = time.monotonic()
                    photos, links, changed = dedupe.recluster_all(archive, manual)
                click.echo(f"{photos} photos searched, {links} duplicate pairs verified, "
                           f"{len(changed)} photos re-pointed in {time.monotonic() - started:.1f}s", err=True)
            clusters = dedupe.clusters_for_review(archive, manual)
        finally:
            archive.close()
    for cluster in clusters:
        click.echo("\n".join(cluster.lines()))
    copies = sum(len(c.duplicates) for c in clusters)
    click.echo(f"{len(clusters)} cluster{'s' if len(clusters) != 1 else ''}, "
               f"{copies} duplicate{'s' if copies != 1 else ''}", err=True)


@cli.command()
@click.option("--db", default=DEFAULT_DB, show_default=True, help="Archive database to publish")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@click.option("--host", default="127.0.0.1", show_default=True, help="Use 0.0.0.0 to serve the network")
def serve(db: str, port: int, host: str) -> None:
    """Publish the archive with Datasette, the project's metadata.yml, templates and plugins."""
    if not Path(db).is_file():
        raise click.ClickException(f"no archive at {db}: run `photo-archive ingest` first")
    from .db import connect_current

    with fatal_errors():
        if os.access(db, os.W_OK):  # an archive from an older version gets the columns and indexes the site reads
            connect_current(db).close()
        sys.exit(site.serve(db, port=port, host=host))


@cli.command()
@click.option("--dir", "folder", default="demo", show_default=True, type=click.Path(file_okay=False),
              help="Where to write the demo inbox, register and archive")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@click.option("--no-serve", is_flag=True, help="Build the demo archive, do not start Datasette")
def demo(folder: str, port: int, no_serve: bool) -> None:
    """Generate a sample inbox and register, ingest them, and serve the result."""
    root = Path(folder)
    db = root / "archive.db"
    from .demo import write_demo  # the photo generator is imported only here: ingest starts faster

    with fatal_errors():
        click.echo(f"Writing the demo inbox and register to {root}/ ...", err=True)
        inbox, register = write_demo(root)
        with writing(db):
            run = Ingest(db, Tagger(load_register(register), load_manual(manual_path(register))))
            try:
                summary = run_with_progress(run, [str(inbox)], silent=False)
            finally:
                run.close()
        report(summary)
        if not no_serve:
            click.echo(f"Serving {db} at http://127.0.0.1:{port}/ (Ctrl-C to stop)", err=True)
            sys.exit(site.serve(str(db), port=port))


def one_line_path(path: str) -> str:
    """A file name with a newline in it must not split the report: control characters as \\xNN."""
    return "".join(f"\\x{ord(c):02x}" if ord(c) < 32 or ord(c) == 127 else c for c in path)


def report(summary: Summary) -> None:
    for path, reason in summary.warnings:
        click.echo(f"damaged: {one_line_path(path)}: {reason}", err=True)
    for path, reason in summary.failures:
        click.echo(f"failed: {one_line_path(path)}: {reason}", err=True)
    if summary.retagged:
        click.echo(f"The register or tags.yml changed: {changes_line(summary.retagged)} "
                   "(`photo-archive retag` lists each change)", err=True)
    if not summary.changed and summary.counts["unchanged"]:
        click.echo("Nothing changed: every photo is already in the archive.", err=True)
    click.echo(summary.line(), err=True)


if __name__ == "__main__":  # pragma: no cover
    cli()
