"""Run and time child processes: wall time, exit code and the child's own peak RSS.

``os.wait4`` gives the resource usage of exactly one child (``RUSAGE_CHILDREN`` would be the
maximum over every child so far), so each measured process reports its own peak RSS without
psutil or ``/usr/bin/time``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent



def hear_sigint() -> None:
    """Let the servers this process starts hear SIGINT, which is how the harness and the tests stop them.

    A run started in the background of a non-interactive shell inherits SIGINT ignored, and so would
    every process it starts; a handled SIGINT is reset to the default by exec.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


hear_sigint()  # the harness stops its kb serve processes with SIGINT (bench.procs.stop)


@dataclass
class Run:
    """One finished child process."""

    cmd: list[str]
    seconds: float
    returncode: int
    peak_rss_mb: float
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    peak_tree_pss_mb: float | None = None  # the whole process tree at once, sampled (run(..., tree=True))
    cpu_seconds: float = 0.0  # user + system time of the process and the children it waited for (wait4)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def kb_command() -> list[str]:
    """The installed ``kb`` console script beside this interpreter (what users run), else ``-m kb``."""
    script = Path(sys.executable).parent / "kb"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "kb"]


def pss_mb(pid: int) -> float:
    """A process's proportional set size (each shared page split between its sharers), in MB; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("Pss:")) / 1024
    except (OSError, StopIteration, ValueError):
        return 0.0


def descendants(pid: int) -> list[int]:
    """Every living descendant of ``pid`` (children of children too), from ``/proc/*/stat``."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError), \
                    open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        todo += children
    return found


def tree_memory_mb(pid: int) -> dict[str, float]:
    """Proportional set size (shared pages split between sharers) of a process and its workers, in MB."""
    server = pss_mb(pid)
    workers = [pss_mb(child) for child in descendants(pid)]
    return {"server_pss_mb": round(server, 1), "workers_pss_mb": [round(w, 1) for w in workers],
            "total_pss_mb": round(server + sum(workers), 1)}


class TreeSampler(threading.Thread):
    """The largest total PSS of a process and its descendants, sampled every ``interval`` seconds.

    ``ru_maxrss`` is one process's peak, and counts the pages forked workers share with their parent
    in each of them; the issue's "workers included" is the tree's memory at one instant.
    """

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            total = sum(pss_mb(p) for p in [self.pid, *descendants(self.pid)])
            self.peak = max(self.peak, total)

    def finish(self) -> float:
        self._done.set()
        self.join()
        return round(self.peak, 1)


def run(cmd: list[str], *, cwd: Path = ROOT, timeout: float = 3600.0, capture: bool = True,
        tree: bool = False) -> Run:
    """Start ``cmd``, wait for it with ``wait4`` and return its timing; kill it (only it) on timeout.

    With ``tree``, the process tree's memory is sampled too (:class:`TreeSampler`).
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    chunks: dict[str, bytes] = {}

    def drain(name: str, stream: object) -> None:
        chunks[name] = stream.read()  # type: ignore[attr-defined]

    readers = [threading.Thread(target=drain, args=(n, s), daemon=True)
               for n, s in (("stdout", proc.stdout), ("stderr", proc.stderr)) if s is not None]
    for reader in readers:
        reader.start()
    killer = threading.Timer(timeout, lambda: _kill(proc.pid))
    killer.start()
    sampler = TreeSampler(proc.pid) if tree else None
    if sampler is not None:
        sampler.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
        tree_peak = sampler.finish() if sampler is not None else None
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    timed_out = proc.returncode == -signal.SIGKILL
    return Run(cmd, seconds, proc.returncode, usage.ru_maxrss / 1024,
               chunks.get("stdout", b"").decode("utf-8", "replace"),
               chunks.get("stderr", b"").decode("utf-8", "replace"), timed_out, tree_peak,
               usage.ru_utime + usage.ru_stime)


def stop(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGINT (a clean shutdown: kb serve stops its workers), then SIGKILL; by the process's own id, never by name."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def median_run(cmd: list[str], repeats: int, **kw: object) -> tuple[float, list[Run]]:
    """Median wall time of ``repeats`` runs (short commands are noisy on a shared machine)."""
    runs = [run(cmd, **kw) for _ in range(repeats)]  # type: ignore[arg-type]
    return statistics.median(r.seconds for r in runs), runs


def python_floor(repeats: int = 5) -> float:
    """``python -c pass``: the start-up every command pays before kb's own code runs."""
    return median_run([sys.executable, "-c", "pass"], repeats)[0]
