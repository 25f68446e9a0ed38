"""The speed figures of issue 6, reproduced with one command.

    python benchmarks/run.py                         # everything (about 15 minutes the first time)
    python benchmarks/run.py --parts jpeg --photos 50 --repeat 1
    python benchmarks/run.py --parts archive        # only the site on a 200,000-photo archive

Parts (--parts, comma-separated; default all):

  jpeg      `photo-archive ingest` vs the floor (djpeg -scale 1/8 + openssl sha256 over
            every file, N processes) vs imagededup's PHash (encode + find duplicates,
            N workers), in the same run on the same camera-like 24 MP JPEGs; wall and
            CPU seconds, peak memory of each process tree, the ratios
  progress  one ingest on a pseudo-terminal: the photos/s its progress bar and its
            closing line show, against the rate measured from outside
  memory    peak memory when the same corpus is offered --memory-copies times
            (hard links, so every file is read again): does it grow with the count?
  formats   HEIC (phone, 12 MP) and DNG (RAW through its full-size preview): photos/s
  rerun     --rerun-files small files ingested, then ingested again unchanged: seconds,
            and how many photo files the re-run opened (strace)
  archive   a synthetic archive of --archive-photos rows served by `photo-archive serve`:
            gallery, facet on event, full-text search, photos of a car (median ms);
            and the duplicate check of a new photo against the archive
  profile   where a reader process spends its time per photo (stage timings, cProfile)

Generated files live in benchmarks/data/ (git-ignored) and are reused when
their parameters match. Results: benchmarks/data/results/latest.{txt,json}.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import corpus  # noqa: E402
import measure  # noqa: E402
import scale  # noqa: E402

PARTS = ("jpeg", "progress", "memory", "formats", "rerun", "archive", "profile")
IMAGEDEDUP_VENV = HERE / ".venv-imagededup"
IMAGEDEDUP_VERSION = "0.3.3.post2"
# What imagededup's hashing path imports (its CNN and model helpers, the only torch users, are stubbed).
IMAGEDEDUP_DEPS = ["scipy", "PyWavelets", "tqdm", "scikit-learn", "matplotlib"]
MB = 1024 * 1024

TARGETS = {
    "ingest_floor_wall": 1.5, "ingest_floor_cpu": 1.5, "photos_per_second": 18.0,
    "imagededup_hashing_over_ingest": 3.0, "peak_memory_mb": 500.0, "rerun_seconds": 2.0,
    "page_ms": 300.0, "duplicate_check_ms": 10.0,
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the machine ---------------------------------------------------------------------

def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = 0
    try:
        memory = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    versions = {}
    for package in ("pillow", "simplejpeg", "numpy", "ExifRead", "ImageHash", "pillow-heif", "rawpy",
                    "datasette", "sqlite-utils"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "missing"
    djpeg = subprocess.run(["djpeg", "-version"], capture_output=True, text=True) if shutil.which("djpeg") else None
    return {
        "cpu": cpu, "cpus": os.cpu_count(), "memory_gb": round(memory / 1024**3, 1),
        "kernel": platform.release(), "python": platform.python_version(),
        "libjpeg_turbo": (djpeg.stderr or djpeg.stdout).strip().splitlines()[0] if djpeg and djpeg.returncode == 0 else "?",
        "versions": versions,
    }


def cpu_busy(seconds: float = 0.5) -> float:
    """Fraction of all CPUs busy over `seconds` (other users of a shared machine)."""
    def snapshot() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(values), values[3] + values[4]
    total1, idle1 = snapshot()
    time.sleep(seconds)
    total2, idle2 = snapshot()
    return 1.0 - (idle2 - idle1) / max(1, total2 - total1)


def wait_for_idle(max_wait: float, threshold: float = 0.15) -> float:
    """Wait (up to max_wait s) until others use under `threshold` of the CPUs; returns that share."""
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    while busy > threshold and time.monotonic() < deadline:
        busy = cpu_busy(1.0)
    return busy


# --- commands --------------------------------------------------------------------------

def photo_archive() -> list[str]:
    script = Path(sys.executable).with_name("photo-archive")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ingest.cli"]


def fresh_db(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.name.startswith("archive.db") or old.name.endswith(".lock"):
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
    return folder / "archive.db"


def ingest_command(inbox: Path, db: Path, register: Path, workers: int | None) -> list[str]:
    command = [*photo_archive(), "ingest", str(inbox), "--db", str(db), "--register", str(register)]
    return command + (["--workers", str(workers)] if workers else [])


SUMMARY = re.compile(r"(\d+) new, (\d+) updated, (\d+) unchanged, (\d+) exact duplicates?, "
                     r"(?:\d+ near duplicates?, )?(\d+) skipped, "
                     r"(\d+) failed in ([\d.]+)s \(([\d.]+) photos/s\)")


def summary_of(stderr: str) -> dict[str, Any]:
    match = None
    for match in SUMMARY.finditer(stderr):
        pass
    if match is None:
        return {}
    keys = ("new", "updated", "unchanged", "duplicates", "skipped", "failed")
    out: dict[str, Any] = dict(zip(keys, (int(v) for v in match.groups()[:6])))
    out["seconds"], out["photos_per_second"] = float(match.group(7)), float(match.group(8))
    return out


def floor_command(files: list[Path], workers: int, list_file: Path) -> list[str]:
    """djpeg -scale 1/8 + openssl dgst -sha256 over every file, `workers` processes in parallel."""
    list_file.write_bytes(b"\0".join(os.fsencode(f) for f in files) + b"\0")
    script = ('for f; do djpeg -scale 1/8 "$f" > /dev/null && openssl dgst -sha256 "$f" > /dev/null '
              "|| exit 255; done")
    return ["xargs", "-0", "-a", str(list_file), "-P", str(workers), "-n", "8", "sh", "-c", script, "floor"]


def imagededup_python(log: Callable[[str], None], install: bool) -> Path | None:
    """The benchmark's own venv with imagededup (--no-deps) and its hashing path's imports; no torch."""
    python = IMAGEDEDUP_VENV / "bin" / "python"
    check = "import imagededup, pywt, scipy, sklearn, matplotlib, tqdm, PIL, numpy"
    if python.exists() and subprocess.run([str(python), "-c", check], capture_output=True).returncode == 0:
        return python
    if not install:
        return None
    import numpy
    import PIL

    log(f"setting up {IMAGEDEDUP_VENV} (imagededup {IMAGEDEDUP_VERSION} without torch) ...")
    subprocess.run([sys.executable, "-m", "venv", str(IMAGEDEDUP_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--no-deps", f"imagededup=={IMAGEDEDUP_VERSION}"], check=True)
    # The same Pillow and numpy as ingest: the same JPEG decoder on both sides.
    subprocess.run([*pip, f"pillow=={PIL.__version__}", f"numpy=={numpy.__version__}", *IMAGEDEDUP_DEPS],
                   check=True)
    return python


# --- results ---------------------------------------------------------------------------

@dataclass
class Run:
    """One measured command, summarised."""

    wall: float
    cpu: float
    peak_rss_mb: float
    peak_pss_mb: float
    processes: int
    busy_before: float
    extra: dict = field(default_factory=dict)

    @classmethod
    def of(cls, m: measure.Measured, busy: float, **extra: Any) -> "Run":
        return cls(m.wall, m.cpu, m.peak_rss / MB, m.peak_pss / MB, m.peak_processes, busy,
                   {**m.extra, **extra})


def median_run(runs: list[Run]) -> dict[str, float]:
    return {
        "wall": statistics.median(r.wall for r in runs),
        "cpu": statistics.median(r.cpu for r in runs),
        "peak_rss_mb": max(r.peak_rss_mb for r in runs),
        "peak_pss_mb": max(r.peak_pss_mb for r in runs),
        "runs": len(runs),
    }


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in headers]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return "" if value is None else str(value)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("meets" if ok else "MISSES")


# --- the parts ---------------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data: Path = args.data
        self.workers: int = args.workers or os.cpu_count() or 1
        self.results: dict[str, Any] = {"machine": machine(), "started": now(), "args": {
            k: str(v) for k, v in vars(args).items()}}
        self.report: list[str] = []
        self.markdown = ""

    def say(self, text: str = "") -> None:
        self.report.append(text)
        print(text, flush=True)

    def timed(self, command: list[str], **kwargs: Any) -> tuple[measure.Measured, float]:
        busy = wait_for_idle(self.args.wait_idle) if self.args.wait_idle else cpu_busy(0.2)
        return measure.run(command, **kwargs), busy

    # -- corpus

    def jpeg_corpus(self) -> corpus.Corpus:
        size = self.args.size
        name = f"jpeg-{self.args.photos}" + (f"-{size[0]}x{size[1]}" if size else "")
        return corpus.generate(self.data / "corpus" / name, "jpeg", self.args.photos, self.args.seed,
                               size, log=log)

    # -- part: jpeg

    def part_jpeg(self) -> None:
        c = self.jpeg_corpus()
        files = c.files()
        log(f"warming the page cache over {len(files)} files ({c.total_bytes / 1e9:.2f} GB) ...")
        for f in files:
            with open(f, "rb") as handle:
                while handle.read(1 << 22):
                    pass
        dedup = None if self.args.imagededup == "skip" else imagededup_python(log, self.args.imagededup == "auto")
        runs: dict[str, list[Run]] = {"ingest": [], "floor": [], "imagededup": []}
        work = self.data / "runs"
        order = ["ingest", "floor", "imagededup"]
        for r in range(self.args.repeat):
            for what in order[r % 3:] + order[: r % 3]:  # rotate, so no tool always goes first
                if what == "ingest":
                    db = fresh_db(work / "jpeg")
                    m, busy = self.timed(ingest_command(c.inbox, db, c.register, self.args.workers))
                    m.check()
                    s = summary_of(m.stderr)
                    if s.get("new", 0) + s.get("duplicates", 0) != len(files):
                        raise RuntimeError(f"ingest did not take every photo: {m.stderr[-500:]}")
                    runs["ingest"].append(Run.of(m, busy, summary=s))
                elif what == "floor":
                    m, busy = self.timed(floor_command(files, self.workers, work / "floor-files.txt"))
                    runs["floor"].append(Run.of(m.check(), busy))
                elif dedup is not None:
                    m, busy = self.timed([str(dedup), str(HERE / "imagededup_phash.py"), str(c.inbox),
                                          "--workers", str(self.workers)])
                    inner = json.loads(m.check().stdout.strip().splitlines()[-1])
                    runs["imagededup"].append(Run.of(m, busy, **inner))
                log(f"  run {r + 1}/{self.args.repeat}: {what} done")
        self.results["jpeg"] = {
            "corpus": {"files": len(files), "bytes": c.total_bytes, "size": list(self.args.size or corpus.FULL_SIZE)},
            "workers": self.workers,
            "runs": {k: [asdict(r) for r in v] for k, v in runs.items()},
            "median": {k: median_run(v) for k, v in runs.items() if v},
        }
        med = self.results["jpeg"]["median"]
        n = len(files)
        rows = []
        labels = {"ingest": f"photo-archive ingest ({self.workers} workers)",
                  "floor": f"floor: djpeg -scale 1/8 + openssl sha256 ({self.workers} processes)",
                  "imagededup": f"imagededup PHash encode + find ({self.workers} workers)"}
        for key, label in labels.items():
            if key in med:
                m = med[key]
                rows.append([label, m["wall"], m["cpu"], n / m["wall"], m["peak_rss_mb"], m["peak_pss_mb"]])
        if runs["imagededup"]:
            encode = statistics.median(r.extra["encode_seconds"] for r in runs["imagededup"])
            self.results["jpeg"]["imagededup_encode_seconds"] = encode
            rows.append(["  of which imagededup encode_images (hashing alone)", encode, None, n / encode, None, None])
        size = self.args.size or corpus.FULL_SIZE
        self.say(f"\n== {n} camera-like JPEGs, {size[0]}x{size[1]}, {c.total_bytes / 1e9:.2f} GB, a third "
                 f"rotated (EXIF 6/8); median of {self.args.repeat} run(s), warm page cache ==")
        self.say(table(["", "wall s", "CPU s", "photos/s", "peak RSS MB", "peak PSS MB"], rows))
        ratios = {}
        if "floor" in med:
            ratios["ingest_floor_wall"] = med["ingest"]["wall"] / med["floor"]["wall"]
            ratios["ingest_floor_cpu"] = med["ingest"]["cpu"] / med["floor"]["cpu"]
        if "imagededup" in med:
            ratios["imagededup_over_ingest"] = med["imagededup"]["wall"] / med["ingest"]["wall"]
            ratios["imagededup_hashing_over_ingest"] = self.results["jpeg"]["imagededup_encode_seconds"] / med["ingest"]["wall"]
        ratios["photos_per_second"] = n / med["ingest"]["wall"]
        if "floor" in med:
            ratios["floor_photos_per_second"] = n / med["floor"]["wall"]
        self.results["jpeg"]["ratios"] = ratios
        if runs["floor"]:
            # Each repeat ran both back to back: their ratio is the least disturbed by others' load.
            pairs = list(zip(runs["ingest"], runs["floor"]))
            per_run = {"wall": [i.wall / f.wall for i, f in pairs], "cpu": [i.cpu / f.cpu for i, f in pairs]}
            self.results["jpeg"]["per_run_ratios"] = per_run
            self.say("ingest / floor in each repeat: wall " + ", ".join(f"{v:.2f}" for v in per_run["wall"])
                     + "; CPU " + ", ".join(f"{v:.2f}" for v in per_run["cpu"]))
        summaries = [r.extra.get("summary", {}) for r in runs["ingest"]]
        self.say(f"ingest's own closing line: {statistics.median(s.get('photos_per_second', 0) for s in summaries):.1f} photos/s "
                 f"over {statistics.median(s.get('seconds', 0) for s in summaries):.1f} s (its clock starts after "
                 "start-up and imports)")
        busy = [r.busy_before for v in runs.values() for r in v]
        self.say(f"other load on the machine before the runs: {100 * max(busy):.0f}% of the CPUs at most")

    # -- part: progress

    def part_progress(self) -> None:
        c = self.jpeg_corpus()
        db = fresh_db(self.data / "runs" / "progress")
        command = ingest_command(c.inbox, db, c.register, self.args.workers)
        busy = wait_for_idle(self.args.wait_idle) if self.args.wait_idle else cpu_busy(0.2)
        wall, output, code = run_in_terminal(command)
        if code != 0:
            raise RuntimeError(f"ingest on a terminal exited with {code}: {output[-500:]}")
        frames = [f for f in re.split(r"[\r\n]", strip_ansi(output)) if "photos/s" in f]
        bar_rates = [float(m.group(1)) for f in frames if "Ingesting" in f or "%" in f
                     for m in [re.search(r"([\d.]+) photos/s", f)] if m]
        summary = summary_of(strip_ansi(output))
        n = len(c.files())
        result = {"wall": wall, "outside_rate": n / wall, "bar_rates": bar_rates,
                  "bar_final": bar_rates[-1] if bar_rates else None,
                  "summary_rate": summary.get("photos_per_second"), "busy_before": busy,
                  "last_frames": frames[-3:]}
        self.results["progress"] = result
        self.say(f"\n== progress bar on a terminal, {n} photos ==")
        rows = [["measured from outside (photos / wall time of the command)", n / wall]]
        if bar_rates:
            quarter = [bar_rates[min(len(bar_rates) - 1, int(q * len(bar_rates)))] for q in (0.25, 0.5, 0.75)]
            rows.append(["progress bar at 25% / 50% / 75% of its updates",
                         " / ".join(f"{q:.1f}" for q in quarter)])
            rows.append(["progress bar, last frame", bar_rates[-1]])
        else:
            rows.append(["progress bar", "no rate shown"])
        rows.append(["closing line", summary.get("photos_per_second")])
        self.say(table(["", "photos/s"], rows))

    # -- part: memory

    def part_memory(self) -> None:
        c = self.jpeg_corpus()
        copies = self.args.memory_copies
        inbox = self.data / "runs" / f"memory-x{copies}" / "inbox"
        files = c.files()
        if not inbox.is_dir() or sum(1 for p in inbox.rglob("*") if p.is_file()) != copies * len(files):
            shutil.rmtree(inbox, ignore_errors=True)
            for k in range(copies):
                for f in files:
                    rel = f.relative_to(c.inbox)
                    target = inbox / rel.parts[0] / f"copy-{k}" / Path(*rel.parts[1:])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.link(f, target)
        db = fresh_db(self.data / "runs" / "memory")
        m, busy = self.timed(ingest_command(inbox, db, c.register, self.args.workers))
        m.check()
        big = Run.of(m, busy, summary=summary_of(m.stderr))
        base = self.results.get("jpeg", {}).get("median", {}).get("ingest")
        if base is None:
            db = fresh_db(self.data / "runs" / "memory-base")
            m0, busy0 = self.timed(ingest_command(c.inbox, db, c.register, self.args.workers))
            base = median_run([Run.of(m0.check(), busy0)])
        self.results["memory"] = {"copies": copies, "files": copies * len(files), "run": asdict(big),
                                  "base_peak_rss_mb": base["peak_rss_mb"], "base_peak_pss_mb": base["peak_pss_mb"]}
        self.say(f"\n== peak memory of the ingest process tree: {len(files)} files vs the same "
                 f"{copies}x ({copies * len(files)} files, hard links: each read again) ==")
        self.say(table(["files", "wall s", "photos/s", "peak RSS MB", "peak PSS MB", "processes"], [
            [len(files), base["wall"], len(files) / base["wall"], base["peak_rss_mb"], base["peak_pss_mb"], None],
            [copies * len(files), big.wall, copies * len(files) / big.wall, big.peak_rss_mb, big.peak_pss_mb,
             big.processes],
        ]))

    # -- part: formats

    def part_formats(self) -> None:
        size = self.args.size
        rows, results = [], {}
        heic, dng = size or corpus.PHONE_SIZE, size or corpus.FULL_SIZE
        kinds = [("heic", self.args.heic, f"HEIC {heic[0]}x{heic[1]}, phone-like (pillow-heif)"),
                 ("dng", self.args.raw, f"DNG {dng[0]}x{dng[1]}, through its full-size JPEG preview")]
        jpeg = self.results.get("jpeg", {}).get("median", {}).get("ingest")
        if jpeg:
            n = self.results["jpeg"]["corpus"]["files"]
            mb = self.results["jpeg"]["corpus"]["bytes"] / 1e6
            w, h = self.results["jpeg"]["corpus"]["size"]
            rows.append([f"JPEG {w}x{h} (from the jpeg part)", n, mb, jpeg["wall"], jpeg["cpu"], n / jpeg["wall"],
                         mb / jpeg["wall"], jpeg["peak_rss_mb"]])
        for kind, count, label in kinds:
            if count <= 0:
                continue
            name = f"{kind}-{count}" + (f"-{size[0]}x{size[1]}" if size else "")
            c = corpus.generate(self.data / "corpus" / name, kind, count, self.args.seed, size, log=log)
            runs = []
            for _ in range(self.args.repeat):
                db = fresh_db(self.data / "runs" / kind)
                m, busy = self.timed(ingest_command(c.inbox, db, c.register, self.args.workers))
                m.check()
                s = summary_of(m.stderr)
                if s.get("failed"):
                    raise RuntimeError(f"{kind}: {s['failed']} files failed: {m.stderr[-800:]}")
                runs.append(Run.of(m, busy, summary=s))
            med = median_run(runs)
            results[kind] = {"files": count, "bytes": c.total_bytes, "median": med}
            rows.append([label, count, c.total_bytes / 1e6, med["wall"], med["cpu"], count / med["wall"],
                         c.total_bytes / 1e6 / med["wall"], med["peak_rss_mb"]])
        self.results["formats"] = results
        self.say(f"\n== other formats through photo-archive ingest ({self.workers} workers), median of "
                 f"{self.args.repeat} ==")
        self.say(table(["", "files", "MB", "wall s", "CPU s", "photos/s", "MB/s", "peak RSS MB"], rows))

    # -- part: rerun

    def part_rerun(self) -> None:
        count = self.args.rerun_files
        c = corpus.generate(self.data / "corpus" / f"small-{count}", "small", count, self.args.seed, log=log)
        db = fresh_db(self.data / "runs" / "rerun")
        command = ingest_command(c.inbox, db, c.register, self.args.workers)
        first, busy = self.timed(command)
        first.check()
        reruns = []
        for _ in range(self.args.repeat):
            m, busy = self.timed(command)
            s = summary_of(m.check().stderr)
            if s.get("unchanged") != count:
                raise RuntimeError(f"the re-run did not find {count} unchanged files: {m.stderr[-500:]}")
            reruns.append(Run.of(m, busy, summary=s))
        opened = count_opens(command, c.inbox)
        med = median_run(reruns)
        self.results["rerun"] = {"files": count, "first": asdict(Run.of(first, 0.0)), "reruns": [asdict(r) for r in reruns],
                                 "median": med, "photo_files_opened": opened,
                                 "closing_line_seconds": statistics.median(r.extra["summary"]["seconds"] for r in reruns)}
        self.say(f"\n== {count} files ingested, then ingested again unchanged ==")
        self.say(table(["", "wall s", "CPU s", "peak RSS MB", "photo files opened"], [
            ["first ingest", first.wall, first.cpu, first.peak_rss / MB, None],
            [f"re-run (median of {len(reruns)})", med["wall"], med["cpu"], med["peak_rss_mb"],
             "n/a (no strace)" if opened is None else opened],
        ]))
        self.say(f"the re-run's own closing line: {self.results['rerun']['closing_line_seconds']:.2f} s "
                 "(after start-up and imports)")

    # -- part: archive

    def part_archive(self) -> None:
        n = self.args.archive_photos
        built = scale.build(self.data / "archive" / f"archive-{n}-{self.args.thumbnails}", n,
                            self.args.thumbnails, self.args.seed, log=log)
        log(f"serving {built.path} ...")
        timed = scale.time_site(built, photo_archive(), self.args.page_repeat, log=log)
        measure.reap_zombies()  # the served datasette was re-parented here when serve stopped
        check = duplicate_check(self.args.dup_hashes, built)
        self.results["archive"] = {"built": {**asdict(built), "path": str(built.path)},
                                   "pages": [asdict(t) for t in timed], "duplicate_check": [asdict(d) for d in check]}
        self.say(f"\n== synthetic archive: {n} photos, {built.size_bytes / 1e9:.2f} GB ({self.args.thumbnails} "
                 f"thumbnails), photo-archive serve on localhost, median of {self.args.page_repeat} requests ==")
        self.say(table(["page", "median ms", "p90 ms", "status", "KB"],
                       [[t.label, t.median_ms, t.p90_ms, status_text(t.status, t.median_ms), t.bytes / 1024]
                        for t in timed]))
        self.say("\nduplicate check of one new photo:")
        self.say(table(["method", "hashes", "median ms", "p90 ms"],
                       [[d.method, d.hashes, d.median_ms, d.p90_ms] for d in check]))
        for d in check:
            if d.note:
                self.say(f"  {d.method}: {d.note}")

    # -- part: profile

    def part_profile(self) -> None:
        c = self.jpeg_corpus()
        files = c.files()[: self.args.profile_photos]
        out = self.data / "profile"
        out.mkdir(parents=True, exist_ok=True)
        reader = subprocess.run([sys.executable, str(HERE / "profile_reader.py"), str(out / "reader.prof"),
                                 *map(str, files)], capture_output=True, text=True)
        if reader.returncode != 0:
            raise RuntimeError(f"profile_reader failed: {reader.stderr[-1000:]}")
        subset = self.data / "runs" / "profile-inbox"
        shutil.rmtree(subset, ignore_errors=True)
        for f in files:
            target = subset / f.relative_to(c.inbox)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(f, target)
        db = fresh_db(self.data / "runs" / "profile")
        main = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out / "main.prof"), "-m", "ingest.cli",
                               "ingest", str(subset), "--db", str(db), "--register", str(c.register),
                               "--workers", "1"], capture_output=True, text=True)
        measure.reap_zombies()
        if main.returncode != 0:
            raise RuntimeError(f"profiled ingest failed: {main.stderr[-1000:]}")
        main_top = top_functions(out / "main.prof", 15)
        (out / "reader.txt").write_text(reader.stdout)
        (out / "main.txt").write_text(main_top)
        self.results["profile"] = {"photos": len(files), "reader": reader.stdout, "main": main_top}
        self.say(f"\n== where the time goes: one reader process over {len(files)} photos ==")
        self.say(reader.stdout.split("\ncProfile")[0].rstrip())
        self.say(f"(cProfile tables: {out}/reader.txt, {out}/main.txt; .prof files for snakeviz/pstats)")

    # -- the closing table

    def targets(self) -> None:
        rows = []
        j = self.results.get("jpeg", {}).get("ratios", {})
        if "ingest_floor_wall" in j:
            rows.append(["ingest / floor, wall time", f"{j['ingest_floor_wall']:.2f}x", "<= 1.5x",
                         verdict(j["ingest_floor_wall"] <= TARGETS["ingest_floor_wall"])])
            rows.append(["ingest / floor, CPU seconds", f"{j['ingest_floor_cpu']:.2f}x", "<= 1.5x",
                         verdict(j["ingest_floor_cpu"] <= TARGETS["ingest_floor_cpu"])])
        if "photos_per_second" in j:
            # The 18 photos/s is its machine's floor (28/s) over 1.5; this machine's floor sets its own.
            rows.append(["ingest photos per second (issue's machine: >= 18)", f"{j['photos_per_second']:.1f}",
                         ">= 18", verdict(j["photos_per_second"] >= TARGETS["photos_per_second"])])
        if "floor_photos_per_second" in j:
            needed = j["floor_photos_per_second"] / TARGETS["ingest_floor_wall"]
            rows.append([f"ingest photos per second >= this run's floor "
                         f"({j['floor_photos_per_second']:.1f}/s) / 1.5",
                         f"{j['photos_per_second']:.1f}", f">= {needed:.1f}",
                         verdict(j["photos_per_second"] >= needed)])
        if "imagededup_hashing_over_ingest" in j:
            rows.append(["imagededup hashing alone / ingest, wall", f"{j['imagededup_hashing_over_ingest']:.2f}x",
                         "about 3x", verdict(j["imagededup_hashing_over_ingest"] >= 0.9 * TARGETS["imagededup_hashing_over_ingest"])])
            rows.append(["imagededup encode + find / ingest, wall", f"{j['imagededup_over_ingest']:.2f}x", "", ""])
        peaks = []
        if "jpeg" in self.results:
            peaks.append((self.results["jpeg"]["corpus"]["files"], self.results["jpeg"]["median"]["ingest"]["peak_rss_mb"]))
        if "memory" in self.results:
            peaks.append((self.results["memory"]["files"], self.results["memory"]["run"]["peak_rss_mb"]))
        for files, peak in peaks:
            rows.append([f"peak memory (RSS of the tree), {files} files", f"{peak:.0f} MB", "< 500 MB",
                         verdict(peak < TARGETS["peak_memory_mb"])])
        if "rerun" in self.results:
            r = self.results["rerun"]
            rows.append([f"re-run over {r['files']} unchanged files", f"{r['median']['wall']:.2f} s", "< 2 s",
                         verdict(r["median"]["wall"] < TARGETS["rerun_seconds"])])
            if r["photo_files_opened"] is not None:
                rows.append(["photo files opened by that re-run", str(r["photo_files_opened"]), "0",
                             verdict(r["photo_files_opened"] == 0)])
        if "archive" in self.results:
            for page in self.results["archive"]["pages"]:
                rows.append([f"{page['label']}", f"{page['median_ms']:.0f} ms", "< 300 ms",
                             verdict(page["median_ms"] < TARGETS["page_ms"] and page["status"] == 200)])
            for d in self.results["archive"]["duplicate_check"]:
                rows.append([f"duplicate check, {d['method']}", f"{d['median_ms']:.2f} ms", "< 10 ms",
                             verdict(d["median_ms"] < TARGETS["duplicate_check_ms"])])
        if rows:
            self.say("\n== targets (issue 6) ==")
            self.say(table(["", "measured", "target", ""], rows))
            self.markdown = markdown(["", "measured", "target", ""], rows)

    def save(self) -> None:
        out = self.data / "results"
        out.mkdir(parents=True, exist_ok=True)
        self.results["finished"] = now()
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        text = "\n".join(self.report) + "\n"
        (out / f"{stamp}.json").write_text(json.dumps(self.results, indent=2, default=str))
        (out / "latest.json").write_text(json.dumps(self.results, indent=2, default=str))
        (out / "latest.txt").write_text(text)
        (out / "latest.md").write_text(self.markdown)
        log(f"\nresults: {out / 'latest.txt'}, {out / 'latest.json'}, {out / 'latest.md'} (the targets for the README)")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- helpers for the parts ------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def run_in_terminal(command: list[str], columns: int = 160) -> tuple[float, str, int]:
    """Run with stdout and stderr on a pseudo-terminal (so the progress bar shows); returns wall, output, code."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    started = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    code = process.wait()
    wall = time.perf_counter() - started
    os.close(master)
    measure.reap_zombies()
    return wall, b"".join(chunks).decode("utf-8", "replace"), code


def count_opens(command: list[str], inbox: Path) -> int | None:
    """How many times the command's process tree opened a file under `inbox` (strace), or None."""
    if shutil.which("strace") is None:
        return None
    log_file = inbox.parent / "strace.log"
    done = subprocess.run(["strace", "-f", "-qq", "-e", "trace=open,openat,openat2", "-o", str(log_file),
                           *command], capture_output=True, text=True)
    measure.reap_zombies()
    if done.returncode != 0:
        return None
    prefix = str(inbox.resolve())
    relative = str(inbox)
    count = 0
    for line in log_file.read_text(errors="replace").splitlines():
        match = re.search(r'open(?:at2?)?\((?:[^,]+, )?"([^"]*)"', line)
        if not match:
            continue
        path = match.group(1)
        if (path.startswith(prefix) or path.startswith(relative)) and "O_DIRECTORY" not in line \
                and Path(path).suffix.lower() in {".jpg", ".jpeg", ".heic", ".dng", ".png", ".tif", ".webp"}:
            count += 1
    return count


def duplicate_check(hashes: int, built: "scale.Built") -> list["scale.DuplicateCheck"]:
    """The project's own lookup when ingest.dedupe offers one, else (and also) the numpy reference."""
    checks = []
    try:
        import dedupe_bench  # the adapter to ingest.dedupe's public lookup, once it exists
    except ImportError:
        dedupe_bench = None
    if dedupe_bench is not None:
        checks.extend(dedupe_bench.time_lookup(built, sizes=tuple(sorted({built.photos, hashes}))))
    reference = scale.reference_scan(hashes)
    if not checks:
        reference.note = "ingest.dedupe offers no lookup to time yet: this is the reference alone"
    return checks + [reference]


def top_functions(prof: Path, count: int) -> str:
    import io
    import pstats

    text = io.StringIO()
    pstats.Stats(str(prof), stream=text).sort_stats("tottime").print_stats(count)
    body = text.getvalue()
    return body[body.find("   ncalls"):] if "ncalls" in body else body


def status_text(status: int, ms: float) -> str:
    """Datasette answers 400 when a query hits its time limit (sql_time_limit_ms, 1 s by default)."""
    return f"{status} (SQL time limit?)" if status == 400 and ms >= 900 else str(status)


def parse_size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS))
    parser.add_argument("--photos", type=int, default=200, help="24 MP JPEGs in the corpus [200]")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is shown [3]")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes for ingest, the floor and imagededup [CPU count]")
    parser.add_argument("--size", type=parse_size, default=None,
                        help="WIDTHxHEIGHT of the JPEG/HEIC/DNG photos instead of their real size (tests)")
    parser.add_argument("--heic", type=int, default=20, help="HEIC photos for the formats part [20]")
    parser.add_argument("--raw", type=int, default=10, help="DNG files for the formats part [10]")
    parser.add_argument("--rerun-files", type=int, default=10_000, help="files for the re-run part [10000]")
    parser.add_argument("--memory-copies", type=int, default=5, help="times the corpus is offered [5]")
    parser.add_argument("--archive-photos", type=int, default=200_000, help="rows of the synthetic archive")
    parser.add_argument("--thumbnails", choices=["tiny", "real"], default="tiny",
                        help="synthetic archive thumbnails: 24x16 or 400x267 WebP [tiny]")
    parser.add_argument("--page-repeat", type=int, default=15, help="requests per page [15]")
    parser.add_argument("--dup-hashes", type=int, default=1_000_000, help="hashes for the reference scan")
    parser.add_argument("--profile-photos", type=int, default=40, help="photos profiled [40]")
    parser.add_argument("--imagededup", choices=["auto", "use", "skip"], default="auto",
                        help="auto: set up its venv if missing; use: only if set up; skip")
    parser.add_argument("--wait-idle", type=float, default=10.0,
                        help="before each timed run, wait up to this many seconds for others' CPU use "
                             "to drop under 15%% (0: do not wait) [10]")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=HERE / "data", help="generated files [benchmarks/data]")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}: choose from {', '.join(PARTS)}")
    if "jpeg" in parts and (shutil.which("djpeg") is None or shutil.which("openssl") is None):
        parser.error("djpeg (libjpeg-turbo-progs) and openssl are needed for the floor")
    bench = Bench(args)
    m = bench.results["machine"]
    bench.say(f"photo-archive benchmarks, {now()}")
    bench.say(f"machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory_gb']} GB RAM, Linux {m['kernel']}, "
              f"Python {m['python']}, {m['libjpeg_turbo']}")
    bench.say("libraries: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    for part in PARTS:
        if part in parts:
            log(f"\n-- {part} --")
            getattr(bench, f"part_{part}")()
    bench.targets()
    bench.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
