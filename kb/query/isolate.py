"""Run queries in forked worker processes of the process that holds the store, so that a runaway
query cannot take the server down.

Why processes, not threads: a thread running a pyoxigraph query cannot be stopped (``kb query``
exits the whole process instead), and a server must outlive its worst query. A forked worker
shares the in-memory store copy-on-write (the store is only read, so its pages are never copied);
it is killed when a query runs past its time, and an address-space limit (``RLIMIT_AS``) set in the
worker makes an allocation beyond the memory bound fail there, not in the server.

Why a pool forked ahead of time: forking a process that holds 2 million triples costs tens of
milliseconds (its page tables are copied), as much as a whole small query. :class:`Pool` keeps
``size`` workers waiting for requests on a pipe; each answers queries one after the other, and a
worker that was killed, died or grew is replaced by a fresh fork of the server. A worker reads
a request (pickled), calls the handler given to the pool, and writes the answer back.

Copy-on-write is less of a saving than it seems: Oxigraph's in-memory store writes to its own
nodes as it reads them (a lock per quad), so the first query that touches a page makes the worker
copy it, and a fresh worker answers its first queries up to three times slower. A worker therefore
warms up before it takes requests (the pool's ``warm``: the endpoint scans every triple once, about
a second at 2 million triples), and keeps its copy: ``kb serve`` holds the store once plus once per
worker.

Forking a process with threads is safe here because a worker only runs the handler: everything
it needs is imported before the fork. The store is written while the server runs only by the editors'
loop, which brings it to each rebuilt graph in place (:mod:`kb.live`). The pool has no workers while it does
(:meth:`Pool.pause`, then :meth:`Pool.replace_handler` once the rebuild is done, or failed and put the store
back): a worker shares every page of the server, its records and caches as well as the store, so each page a
rebuild wrote was copied for the workers, ~5 s of a 15 s rebuild at 10k/50k; and no worker can be forked from
a store half written. A query sent meanwhile waits for the rebuild (within its time limit) and is answered
from the rebuilt store.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import pickle
import queue
import resource
import select
import signal
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kb.io.procs import end_with_parent, fork

_OK, _FAILED, _MEMORY, _CRASH = b"O", b"F", b"M", b"X"
EXIT_MEMORY = 3  # a worker's exit code when Python itself could not allocate
RECYCLE_AFTER = 500  # queries a worker answers before a fresh fork replaces it (memory creep)


class Stopped(Exception):
    """The query was stopped: ``reason`` is ``timeout``, ``memory``, ``busy`` or ``crashed``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Failed(Exception):
    """The handler raised one of the pool's ``failures`` (its message, e.g. an engine error)."""


@dataclass(frozen=True)
class Limits:
    timeout: float = 30.0  # seconds of wall time
    max_memory_mib: int = 4096  # address space a worker may add to what it inherited


Handler = Callable[[Any], bytes]


@dataclass
class _Worker:
    pid: int
    requests: int  # the parent writes requests here
    answers: int  # and reads answers here
    generation: int
    served: int = 0


class Pool:
    """``size`` forked workers that run ``handler(request)`` within :class:`Limits`."""

    def __init__(self, handler: Handler, size: int, limits: Limits,
                 failures: tuple[type[BaseException], ...] = (), warm: Callable[[], object] | None = None) -> None:
        self.handler, self.size, self.limits, self.failures = handler, max(1, size), limits, failures
        self.warm = warm
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: dict[int, _Worker] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._closed = False
        self._paused = False
        for _ in range(self.size):
            self._idle.put(self._fork())

    def pause(self) -> None:
        """No workers until :meth:`replace_handler` (the server is about to write its store): idle workers stop now,
        busy ones once their query is answered, and none is forked meanwhile; requests wait for a worker."""
        with self._lock:
            self._paused = True
            self._generation += 1
        self._retire_idle()

    def replace_handler(self, handler: Handler, warm: Callable[[], object] | None = None) -> None:
        """From now on answer with ``handler`` (a new store, or the same one after a :meth:`pause`): idle workers are
        replaced, busy ones after their query."""
        with self._lock:
            self.handler, self.warm = handler, warm
            self._generation += 1
            self._paused = False
        self._retire_idle()
        while not self._closed:
            with self._lock:
                if len(self._all) >= self.size:  # busy workers of the last handler are replaced when they are done
                    break
            self._idle.put(self._fork())

    def run(self, request: Any, limits: Limits | None = None) -> bytes:
        """The handler's answer to ``request`` from a worker, or :class:`Stopped` / :class:`Failed`."""
        limits = limits or self.limits
        started = time.monotonic()
        try:
            worker = self._idle.get(timeout=limits.timeout)
        except queue.Empty:
            if self._paused:
                raise Stopped("busy", "the KB is being rebuilt (kb serve's editors' loop); try again") from None
            raise Stopped("busy", "every query worker stayed busy; try again") from None
        healthy = False
        try:
            _write_message(worker.requests, pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL))
            data = _read_message(worker.answers, started + limits.timeout)
            if data is None:
                raise Stopped("timeout", f"the query ran past {limits.timeout:g} s and was stopped")
            worker.served += 1
            healthy = data[:1] in (_OK, _FAILED)
            return _outcome(data, worker, limits)
        except OSError:  # the worker died while we wrote or read
            raise _died(worker, limits) from None
        finally:
            self._give_back(worker, healthy)

    def close(self) -> None:
        """Stop every worker (the server is shutting down)."""
        self._closed = True
        with self._lock:
            workers = list(self._all.values())
        for worker in workers:
            self._retire(worker)

    # --- workers ------------------------------------------------------------------------

    def _give_back(self, worker: _Worker, healthy: bool) -> None:
        if healthy and not self._closed and worker.generation == self._generation and worker.served < RECYCLE_AFTER:
            self._idle.put(worker)
            return
        self._retire(worker)
        if not self._closed and not self._paused:
            self._idle.put(self._fork())

    def _retire_idle(self) -> None:
        """Stop the idle workers: every one signalled before any is waited for, so that the kernel takes their memory
        down side by side (a worker of a 10k/50k server took ~0.15 s to be reaped, one after the other before)."""
        idle = []
        while True:
            try:
                idle.append(self._idle.get_nowait())
            except queue.Empty:
                break
        for worker in idle:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
        for worker in idle:
            self._retire(worker)

    def _fork(self) -> _Worker:
        request_read, request_write = os.pipe()
        answer_read, answer_write = os.pipe()
        with self._lock:
            handler, warm, generation = self.handler, self.warm, self._generation
            parent = os.getpid()
            pid = fork()  # a Ctrl-C meanwhile is raised here, not lost (kb.io.procs.fork)
            if pid == 0:  # the worker: never returns
                _serve(handler, warm, self.limits.max_memory_mib, request_read, answer_write, self.failures, parent)
            self._all[pid] = worker = _Worker(pid, request_write, answer_read, generation)
        os.close(request_read)
        os.close(answer_write)
        return worker

    def _retire(self, worker: _Worker) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(worker.pid, 0)
        for fd in (worker.requests, worker.answers):
            with contextlib.suppress(OSError):
                os.close(fd)
        with self._lock:
            self._all.pop(worker.pid, None)


def _outcome(data: bytes, worker: _Worker, limits: Limits) -> bytes:
    tag, body = data[:1], data[1:]
    if tag == _OK:
        return body
    if tag == _FAILED:
        raise Failed(body.decode("utf-8", "replace"))
    if tag == _MEMORY:
        raise Stopped("memory", _memory_message(limits))
    raise _died(worker, limits, body)


def _memory_message(limits: Limits) -> str:
    return (f"the query needed more than {limits.max_memory_mib:,} MiB of memory and was stopped "
            "(narrow it, or add LIMIT)")


def _died(worker: _Worker, limits: Limits, said: bytes = b"") -> Stopped:
    """Why a worker ended: Rust aborts when an allocation fails, so under the address-space limit an
    abort is the memory bound."""
    try:
        _, status = os.waitpid(worker.pid, 0)
    except ChildProcessError:
        status = 0
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS):
        return Stopped("memory", _memory_message(limits))
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == EXIT_MEMORY:
        return Stopped("memory", _memory_message(limits))
    how = f"signal {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status) else \
        f"exit {os.WEXITSTATUS(status)}"
    detail = f": {said.decode('utf-8', 'replace')[:500]}" if said else ""
    return Stopped("crashed", f"the query process ended unexpectedly ({how}){detail}")


def _serve(handler: Handler, warm: Callable[[], object] | None, max_mib: int, requests: int, answers: int,
           failures: tuple[type[BaseException], ...], parent: int) -> None:
    """A worker's life: warm up, then answer requests until the pipe closes or ``parent`` ends; never returns."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C on the server ends its workers too
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        end_with_parent(parent)  # a query runs until its parent stops it: without a parent, until it ends
        if faulthandler.is_enabled():  # an abort at the memory bound is expected here, not a crash to report
            faulthandler.disable()
        _close_inherited({requests, answers})
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)  # Rust's "memory allocation failed" line is not the server's to print
        _limit_memory(max_mib)
        if warm is not None:
            with contextlib.suppress(Exception):
                warm()
        while True:
            message = _read_message(requests, None)
            if not message:
                break
            try:
                payload = _OK + handler(pickle.loads(message))
            except MemoryError:
                _write_message(answers, _MEMORY)
                code = EXIT_MEMORY
                break
            except failures as exc:
                payload = _FAILED + str(exc).encode("utf-8", "replace")
            except Exception as exc:  # a crash: say what it was
                payload = _CRASH + f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
            _write_message(answers, payload)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _close_inherited(keep: set[int]) -> None:
    """Close what the worker inherited but must not hold: other workers' pipes (a worker's death is
    seen as the end of its pipe) and client connections (a client waits for them to close)."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _limit_memory(max_mib: int) -> None:
    """Cap the address space at what the worker inherited plus ``max_mib``."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            size = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return
    cap = size + max_mib * (1 << 20)
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _write_message(fd: int, data: bytes) -> None:
    view = memoryview(struct.pack("<Q", len(data)) + data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_message(fd: int, deadline: float | None) -> bytes | None:
    """One length-prefixed message; ``None`` if ``deadline`` (monotonic) passed first; what arrived
    (possibly empty) if the writer closed the pipe early."""
    header = _read_exactly(fd, 8, deadline)
    if header is None or len(header) < 8:
        return header if header is None else b""
    body = _read_exactly(fd, struct.unpack("<Q", header)[0], deadline)
    return body


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes | None:
    chunks: list[bytes] = []
    received = 0
    while received < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
        chunk = os.read(fd, min(size - received, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)
