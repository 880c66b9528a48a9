"""The process's own resources (kb.io.procs)."""

from __future__ import annotations

import subprocess
import sys


def test_freed_heap_pages_go_back_to_the_system() -> None:
    """Many small objects freed leave a process as large as it was until ``give_back_freed`` returns their pages (in
    a fresh interpreter, so that nothing else this session allocated is counted)."""
    code = """
from kb.io.procs import give_back_freed, resident_mib
base = resident_mib()
held = [bytes(3000) + i.to_bytes(4, "little") for i in range(100_000)]  # ~300 MB below glibc's mmap threshold
grown = resident_mib()
survivor = bytes(4000) + b"!"  # above them on the heap: only a trim of the pages inside the heap gives them back
del held
kept = resident_mib()
trimmed = give_back_freed()
print(base, grown, kept, resident_mib(), trimmed)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    base, grown, kept, after = map(int, out[:4])
    assert grown - base > 250
    if out[4] == "True":  # glibc
        assert kept - base > 200, "freed pages stayed with the process until the trim"
        assert after - base < 60


def test_young_passes_only_pauses_full_collections_and_still_frees_young_cycles() -> None:
    """In a fresh interpreter: inside the block the oldest generation is never collected (its threshold is out of
    reach), a cycle dropped young is freed as before, and the thresholds are back afterwards."""
    code = """
import gc, weakref
from kb.io.procs import young_passes_only
before = gc.get_threshold()
full = []
gc.callbacks.append(lambda phase, info: full.append(1) if phase == "start" and info["generation"] == 2 else None)
class Node:
    pass
with young_passes_only():
    gc.freeze()  # as kb.pipeline.build does: afterwards CPython made a full pass every few young ones
    kept = [Node() for _ in range(300_000)]  # survivors, as a build's records are
    cycle = Node(); cycle.me = cycle; gone = weakref.ref(cycle); del cycle
    more = [Node() for _ in range(300_000)]  # more survivors: young passes run, and would have started full ones
    print(len(full), gone() is None, gc.get_threshold()[2] > 10**6, gc.get_threshold() == before)
print(gc.get_threshold() == before)
full.clear()
gc.freeze()
again = [Node() for _ in range(600_000)]
print(len(full) > 0)  # the same growth outside the block: full passes
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "True", "True", "False", "True", "True"]


def test_a_one_shot_command_keeps_what_a_stage_froze_frozen_until_it_leaves() -> None:
    """In the ``kb`` program (a fresh interpreter, as ``kb.cli.run`` marks it), a command that ends with ``done``
    freezes from the start: a stage's ``frozen`` block then leaves its records frozen, and the full pass after it
    walks only what came since; in a caller's process the block gives them back, as before."""
    code = """
import gc, time
from kb.cli import common
from kb.io.procs import frozen
class Node:
    pass
common.held_until_done()  # not the kb program: nothing happens
print(gc.get_freeze_count() == 0)
with frozen():
    held = [Node() for _ in range(400_000)]
print(gc.get_freeze_count() == 0)  # given back to the collector
gc.unfreeze()
common.PROGRAM = True
common.held_until_done()
with frozen():
    held2 = [Node() for _ in range(400_000)]
    gc.freeze()  # as a stage freezes what it made
print(gc.get_freeze_count() >= 800_000)  # both lists' nodes stay frozen after the block
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "True"]


def test_a_frozen_block_inside_another_leaves_the_undoing_to_the_outer_and_does_not_count_what_is_frozen() -> None:
    """In a fresh interpreter: an inner ``frozen`` block keeps what it froze frozen past its end (the outer block gives
    it all back) without asking the collector how much is frozen (a walk over every frozen object); the outermost
    block asks once."""
    code = """
import gc
from kb.io import procs
class Node:
    pass
asked = []
count = gc.get_freeze_count
procs.gc = type("Gc", (), {"freeze": staticmethod(gc.freeze), "unfreeze": staticmethod(gc.unfreeze),
                           "get_freeze_count": staticmethod(lambda: asked.append(1) or count())})
with procs.frozen():
    outer = [Node() for _ in range(1000)]
    with procs.frozen():
        inner = [Node() for _ in range(1000)]
        gc.freeze()
    print(count() >= 2000, len(asked))
print(count() == 0, len(asked))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "1", "True", "1"]


def test_freezes_held_leave_a_process_s_own_frozen_state_alone_and_its_new_cycles_to_the_collector() -> None:
    """In a fresh interpreter, as ``kb serve``'s loop: its state frozen, a rebuild (with freezes held) that runs a
    stage's ``frozen`` block and freezes what it made freezes nothing more, so that a cycle the rebuild made and
    dropped is freed by the next pass; without the hold the same rebuild froze the cycle for good."""
    code = """
import gc, weakref
from kb.io.procs import freeze, freezes_held, frozen
class Node:
    pass
state = [Node() for _ in range(10_000)]
gc.freeze()  # the loop's state, frozen after its first build
before = gc.get_freeze_count()
def rebuild():
    with frozen():
        cycle = Node(); cycle.me = cycle; made = [Node() for _ in range(1000)]
        freeze()
    return weakref.ref(cycle)
with freezes_held():
    gone = rebuild()
print(gc.get_freeze_count() == before, gone() is not None)
gc.collect()
print(gone() is None)
kept = rebuild()  # no hold: the stage's freeze hides the cycle, and the outer freeze keeps it hidden
gc.collect()
print(gc.get_freeze_count() > before, kept() is not None)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "True", "True", "True"]


FORK_INTERRUPTED = """
import os, signal, sys
from kb.io.procs import fork

# a Ctrl-C that lands while the fork's callbacks run (here: sent by one of them, in the parent)
os.register_at_fork(after_in_parent=lambda: os.kill(os.getpid(), signal.SIGINT))
forking = fork if sys.argv[1] == "kb" else os.fork
try:
    pid = forking()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    for _ in range(1000):  # bytecodes enough for a pending handler to run
        pass
except KeyboardInterrupt:
    print("interrupted")
else:
    print("lost")
"""


def test_a_ctrl_c_during_a_fork_is_raised_not_lost() -> None:
    """CPython prints and drops an exception raised in a fork's callbacks: kb serve ignored a Ctrl-C pressed as it
    forked its query workers. kb.io.procs.fork holds it and raises it in the parent once the fork is done."""
    def run(which: str) -> str:
        done = subprocess.run([sys.executable, "-c", FORK_INTERRUPTED, which], capture_output=True, text=True,
                              timeout=60)
        return done.stdout.strip()

    assert run("os") == "lost"  # what os.fork does with it (the reason for kb's fork)
    assert run("kb") == "interrupted"


POOL_INTERRUPTED = """
import multiprocessing, os, signal, sys, time
from kb.io.procs import forked_pool, quiet_worker

# a Ctrl-C that lands while a worker is forked (sent by the fork's callback in the parent, once)
sent = []
def interrupt():
    if not sent:
        sent.append(1)
        os.kill(os.getpid(), signal.SIGINT)
os.register_at_fork(after_in_parent=interrupt)
try:
    if sys.argv[1] == "kb":
        pool = forked_pool(2)
    else:
        pool = multiprocessing.get_context("fork").Pool(2, initializer=quiet_worker)
    with pool:
        print(sum(pool.map(abs, range(-3, 3))))
    for _ in range(1000):  # bytecodes enough for a pending handler to run
        pass
except KeyboardInterrupt:
    time.sleep(0.5)  # the terminated pool's workers reaped
    print("interrupted", len(multiprocessing.active_children()))
else:
    print("lost")
"""


def test_a_ctrl_c_while_a_pool_forks_stops_the_pool_and_is_raised() -> None:
    """kb build's pools (parsing, citations, pages) fork their workers as kb serve's endpoint does: a Ctrl-C pressed
    meanwhile was dropped and the build went on. ``forked_pool`` raises it once the pool has forked, and stops the
    pool first, so no worker is left."""
    def run(which: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", POOL_INTERRUPTED, which], capture_output=True, text=True,
                              timeout=60)
        return done.stdout.split()

    assert run("mp") == ["9", "lost"]  # a plain pool: the work went on, the Ctrl-C was printed and dropped
    assert run("kb") == ["interrupted", "0"]
