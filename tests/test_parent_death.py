"""Forked workers end with the process that forked them, even when it is killed outright (``kill -9``, the
OOM killer), which can stop nothing itself: a page worker went on for 10–25 s and then printed a traceback,
and a ``kb serve`` query worker, whose time limit is its parent's to enforce, ran its query to the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

POOL = """
import multiprocessing, os, sys, time
from kb.io.procs import quiet_worker

def task(_):
    print(os.getpid(), flush=True)
    while True:  # CPU-bound, as a page worker is: the watch must still get its turn
        sum(range(10_000))

with multiprocessing.get_context("fork").Pool(1, initializer=quiet_worker) as pool:
    pool.map(task, [0])
"""

QUERY_WORKER = """
import os, time
from kb.query.isolate import Limits, Pool

def handler(request):
    print(os.getpid(), flush=True)
    time.sleep(600)
    return b""

Pool(handler, 1, Limits(timeout=600)).run("q")
"""


def _gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaps (a container's first process may not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _kill_parent_and_watch(script: str) -> tuple[bool, str]:
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    worker = 0
    try:
        assert proc.stdout is not None and proc.stderr is not None
        worker = int(proc.stdout.readline())
        assert not _gone(worker)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while not _gone(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        ended = _gone(worker)
        return ended, proc.stderr.read() if ended else ""  # EOF once the worker, the last writer, is gone
    finally:
        proc.kill()
        if worker and not _gone(worker):
            os.kill(worker, signal.SIGKILL)


def test_a_pool_worker_ends_quietly_when_its_parent_is_killed() -> None:
    ended, stderr = _kill_parent_and_watch(POOL)
    assert ended, "the pool worker outlived its killed parent"
    assert "Traceback" not in stderr


def test_a_query_worker_stops_its_query_when_the_server_is_killed() -> None:
    ended, stderr = _kill_parent_and_watch(QUERY_WORKER)
    assert ended, "the query worker outlived its killed server"
    assert "Traceback" not in stderr
