"""The process itself: how many CPUs the CPU-bound stages (parsing, rendering) may use, and its memory."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import multiprocessing.pool


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def alive(pid: int) -> bool:
    """Whether a process with id ``pid`` exists (another user's included). What is not a process id this machine
    could have (0 or less, too large) counts as alive: the caller then leaves alone what it names."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """A Ctrl-C arriving in the block is held until it ends, then raised in this process (not in a child forked
    meanwhile). CPython runs a fork's callbacks (logging's lock release among them) where an exception is only
    printed: a KeyboardInterrupt raised there vanished, and ``kb serve`` ignored a Ctrl-C pressed as it forked its
    query workers, right after saying a rebuild was done. Python handlers run in the main thread only, so elsewhere
    (or where SIGINT is ignored, or handled outside Python) the block runs plainly."""
    if threading.current_thread() is not threading.main_thread() or not callable(signal.getsignal(signal.SIGINT)):
        yield
        return
    caught: list[int] = []
    me = os.getpid()
    previous = signal.signal(signal.SIGINT, lambda number, _frame: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)  # in a forked child too: it starts with the parent's handler
    if caught and os.getpid() == me:
        signal.raise_signal(signal.SIGINT)  # the parent's own handler now (KeyboardInterrupt, by default)


def fork() -> int:
    """``os.fork``, except that a Ctrl-C arriving meanwhile is not lost (:func:`interrupts_held`)."""
    with interrupts_held():
        return os.fork()


def forked_pool(processes: int) -> multiprocessing.pool.Pool:
    """A pool of ``processes`` forked workers that leave Ctrl-C to this process (:func:`quiet_worker`), forked with
    Ctrl-C held (:func:`interrupts_held`): a ``kb build`` went on after a Ctrl-C pressed as its pools forked. A
    Ctrl-C held meanwhile stops the pool it was forking, then is raised.

    Give it small tasks (indices into what its workers inherit, as :mod:`kb.site.cite` does): ``Pool.terminate``, on a
    Ctrl-C, could hang for good while the pool's thread was writing a large task into a pipe no worker read."""
    import multiprocessing

    pool = None
    try:
        with interrupts_held():
            pool = multiprocessing.get_context("fork").Pool(processes, initializer=quiet_worker)
    except KeyboardInterrupt:
        if pool is not None:
            pool.terminate()
        raise
    return pool


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused: bulk loads build acyclic records, and each collection
    pass over millions of young objects only costs time (20–40 % of a load)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_open = 0  # frozen() blocks open in this process
_held = 0  # freezes_held() blocks open in this process


def freeze() -> None:
    """What exists now hidden from the cyclic collector (``gc.freeze``), for good, unless freezes are held
    (:func:`freezes_held`)."""
    if not _held:
        gc.freeze()


@contextlib.contextmanager
def freezes_held() -> Iterator[None]:
    """:func:`freeze` and :func:`frozen` do nothing until the block ends. For a process that keeps its own frozen
    generation across builds (``kb serve``'s loop, :meth:`kb.live.Loop.collect`): CPython has one, so a build's freeze
    would hide with its state what the next build drops (its templates, its page keys: ~3,500 objects in cycles at
    10k/50k), which the collector would then never free. The loop's rebuilds run with the collector off anyway."""
    global _held
    _held += 1
    try:
        yield
    finally:
        _held -= 1


@contextlib.contextmanager
def frozen() -> Iterator[None]:
    """What exists now hidden from the cyclic collector (``gc.freeze``) until the block ends, unless a caller
    froze it already (then it is the caller's to undo) or holds freezes (:func:`freezes_held`). For records that live
    as long as the command: each full collection walked them all again (~0.5 s at 10k/50k). Refcounting still frees
    what is dropped; :func:`freeze` inside the block hides what was made since.

    Inside another ``frozen()`` block the outer one undoes it, so the collector is not asked: its count walks every
    frozen object (0.12–0.14 s at 10k/50k, twice before each rebuild's pages)."""
    global _open
    if _held:
        yield
        return
    outer = _open > 0 or gc.get_freeze_count() > 0
    gc.freeze()
    _open += 1
    try:
        yield
    finally:
        _open -= 1
        if not outer:
            gc.unfreeze()


@contextlib.contextmanager
def young_passes_only() -> Iterator[None]:
    """The collector's full passes paused, its young ones kept. After ``gc.freeze()`` CPython makes a full pass
    whenever the objects that reached the oldest generation since its last one grow by a quarter, and a build's
    records and rows grow all the time: a cold build at 10k/50k made 66 full passes, 5–6 s of its main process.
    Young passes still free the short-lived cycles (closures, encoders, tracebacks); what reaches the oldest
    generation lives as long as the build, mostly."""
    threshold = gc.get_threshold()
    gc.set_threshold(threshold[0], threshold[1], 1 << 30)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def resident_mib() -> int | None:
    """This process's resident memory in MiB (Linux ``/proc``), or None where it cannot be read.

    ``kb query`` polls it to stop a query that grows without bound (a cross product under ORDER BY
    reached 7 GB before its time limit).
    """
    try:
        with open("/proc/self/statm", "rb") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") // (1 << 20)


def give_back_freed() -> bool:
    """Return the heap's free pages to the system (glibc's ``malloc_trim``); False where there is no such call.

    glibc keeps what a process frees for its next allocations, so a phase that made and dropped half a gigabyte (the
    FHIR Bundle's lines at 50,000 claims) left the build that much larger for the rest of its life, the store's
    persisting on top of it. A few tens of milliseconds; the bytes written never depend on it."""
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library this process runs on
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return False
    trim(0)
    return True


def quiet_worker() -> None:
    """Pool initializer: a worker leaves Ctrl-C to its parent, which stops the pool and reports once
    (without it every worker prints its own KeyboardInterrupt traceback), and ends with its parent
    (:func:`end_with_parent`)."""
    import multiprocessing
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    end_with_parent(parent.pid if parent is not None and parent.pid is not None else os.getppid())


ORPHANED = 70  # a forked worker's exit status once its parent has gone (:func:`end_with_parent`)


def end_with_parent(parent: int, every: float = 0.25) -> None:
    """In a forked worker: end it (``os._exit``) within ``every`` seconds of ``parent`` ending.

    A parent killed outright (``kill -9``, the kernel's OOM killer) cannot stop its workers. A pool worker
    went on with its pages for 10–25 s and then printed a ``BrokenPipeError`` traceback; a ``kb serve`` query
    worker, whose time limit its parent enforces, spun at full CPU for as long as the query ran. A thread
    watches the parent's pid, not Linux's ``PR_SET_PDEATHSIG``, because that signal fires when the *thread*
    that forked ends, and ``kb serve`` forks query workers from request threads. pyoxigraph lets go of the
    GIL while it evaluates a query, so the watch runs during one.
    """
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(ORPHANED)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()
