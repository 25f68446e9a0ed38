"""Run a command and measure its whole process tree: wall time, CPU seconds, peak memory.

Linux only (/proc). CPU comes from getrusage(RUSAGE_CHILDREN): this process
becomes a child subreaper, so descendants orphaned by their parent (a
multiprocessing forkserver and its workers outlive the main process by a few
milliseconds) are re-parented here and reaped, and their CPU is counted too;
/proc samples are the cross-check. Memory is sampled every `interval`
seconds: the peak of the tree's summed RSS (shared pages counted in every
process: an upper bound) and of its summed PSS (shared pages split: what the
tree really costs the machine).
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_CHILD_SUBREAPER = 36
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Measured:
    command: list[str]
    returncode: int
    wall: float                 # seconds
    cpu: float                  # user + system seconds, whole tree
    peak_rss: int               # bytes, tree sum at the worst sample
    peak_pss: int               # bytes, tree sum at the worst sample
    peak_processes: int         # most processes alive at once
    stdout: str = ""
    stderr: str = ""
    extra: dict = field(default_factory=dict)

    def check(self) -> "Measured":
        if self.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.command)} exited with {self.returncode}:\n{self.stderr[-2000:]}"
            )
        return self


def children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found.extend(int(c) for c in text.split())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return found


def tree(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children(pid))
    return pids


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of the process itself (its own threads, not its children)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes; zeros for a process that just ended."""
    try:
        rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        pss = 0
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
                break
        return rss, pss
    except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError, ValueError):
        return 0, 0


class Sampler(threading.Thread):
    def __init__(self, root: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.stop = threading.Event()
        self.peak_rss = self.peak_pss = self.peak_processes = 0
        self.ticks: dict[int, int] = {}  # pid -> the most utime+stime seen

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)

    def sample(self) -> None:
        pids = tree(self.root)
        rss = pss = 0
        for pid in pids:
            r, p = memory(pid)
            rss, pss = rss + r, pss + p
            ticks = cpu_ticks(pid)
            if ticks is not None:
                self.ticks[pid] = max(ticks, self.ticks.get(pid, 0))
        self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
        self.peak_processes = max(self.peak_processes, len(pids))

    @property
    def cpu(self) -> float:
        return sum(self.ticks.values()) / CLOCK_TICKS


def become_subreaper() -> bool:
    """Orphaned descendants of our children are re-parented to us (Linux 3.4+)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def reap_orphans(pids: set[int], timeout: float = 10.0) -> None:
    """Wait for the tree's leftover processes; those re-parented to us are reaped here.

    Not for use while this process has other children running (it reaps any child).
    """
    deadline = time.monotonic() + timeout
    pending = {pid for pid in pids if alive(pid)}
    while pending and time.monotonic() < deadline:
        try:
            reaped, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            reaped = 0
        pending = {pid for pid in pending if alive(pid)}
        if not reaped:
            time.sleep(0.005)


def reap_zombies() -> None:
    """Reap children that already ended (descendants re-parented here after their parent died).

    Only call it when every subprocess this process started has been waited for.
    """
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


SUBREAPER = become_subreaper()


def run(command: Sequence[str], *, cwd: str | Path | None = None, env: dict | None = None,
        interval: float = 0.05, capture: bool = True, timeout: float | None = None,
        stderr_to: int | None = None, stdin: int | None = subprocess.DEVNULL,
        stdout_to: int | None = None) -> Measured:
    """Run `command` to completion and measure it (stdout/stderr captured unless redirected)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    pipe = subprocess.PIPE if capture else None
    process = subprocess.Popen(list(command), cwd=cwd, env=env, stdin=stdin,
                               stdout=stdout_to if stdout_to is not None else pipe,
                               stderr=stderr_to if stderr_to is not None else pipe, text=True)
    sampler = Sampler(process.pid, interval)
    sampler.start()
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    reap_orphans(set(sampler.ticks) - {process.pid})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    waited = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(list(command), process.returncode, wall, max(waited, sampler.cpu),
                    sampler.peak_rss, sampler.peak_pss, sampler.peak_processes,
                    out or "", err or "", {"cpu_waited": waited, "cpu_sampled": sampler.cpu,
                                           "cpu_root": sampler.ticks.get(process.pid, 0) / CLOCK_TICKS})
