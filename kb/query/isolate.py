"""Run one query in a forked child of the process that holds the store, so a runaway query cannot
take the server down.

Why fork, not a thread: a thread running a pyoxigraph query cannot be stopped (``kb query`` exits the
whole process instead), and a server must outlive its worst query. A forked child shares the
in-memory store copy-on-write (the store is only read, so its pages are never copied); it is killed
when it runs past its time, and an address-space limit (``RLIMIT_AS``) set in the child makes an
allocation beyond the memory bound fail there, not in the server. The child writes its answer to
a pipe and leaves with ``os._exit``: no atexit handlers, no flushing of the parent's buffers.

Forking a process with threads is safe here because the child only runs the query and
serialises: everything it needs is imported before the fork (an import in the child could wait
for a lock another thread held), and the store is never written while the server runs.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import resource
import select
import signal
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_OK, _FAILED, _MEMORY = b"O", b"F", b"M"
EXIT_MEMORY = 3  # the child's exit code when Python itself could not allocate


class Stopped(Exception):
    """The query was stopped: ``reason`` is ``timeout``, ``memory`` or ``crashed``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Failed(Exception):
    """The query ran but failed inside the child (its message is the engine's, as ``QueryFailed`` says it)."""


@dataclass(frozen=True)
class Limits:
    timeout: float = 30.0  # seconds of wall time
    max_memory_mib: int = 4096  # address space the child may add to what it inherited


_CHILDREN: set[int] = set()
_CHILDREN_LOCK = threading.Lock()


def run_isolated(work: Callable[[], bytes], limits: Limits, failures: tuple[type[BaseException], ...] = ()) -> bytes:
    """``work()`` in a forked child within ``limits``; its bytes, or :class:`Stopped` / :class:`Failed`.

    An exception of a type in ``failures`` becomes :class:`Failed` with its message; anything
    else the child raises is a crash (its type named in the message).
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(work, limits, write_end, failures)
    os.close(write_end)
    with _CHILDREN_LOCK:
        _CHILDREN.add(pid)
    try:
        data = _read_all(read_end, time.monotonic() + limits.timeout)
        if data is None:
            _kill(pid)
            raise Stopped("timeout", f"the query ran past {limits.timeout:g} s and was stopped")
        _, status = os.waitpid(pid, 0)
    except BaseException:
        _kill(pid)
        raise
    finally:
        os.close(read_end)
        with _CHILDREN_LOCK:
            _CHILDREN.discard(pid)
    return _outcome(data, status, limits)


def _outcome(data: bytes, status: int, limits: Limits) -> bytes:
    tag, body = data[:1], data[1:]
    if tag == _OK and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return body
    if tag == _FAILED:
        raise Failed(body.decode("utf-8", "replace"))
    memory = (f"the query needed more than {limits.max_memory_mib:,} MiB of memory and was stopped "
              "(narrow it, or add LIMIT)")
    if tag == _MEMORY or (os.WIFEXITED(status) and os.WEXITSTATUS(status) == EXIT_MEMORY):
        raise Stopped("memory", memory)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS):
        # Rust aborts when an allocation fails: under the address-space limit that is the memory bound
        raise Stopped("memory", memory)
    raise Stopped("crashed", f"the query process ended unexpectedly ({_status_text(status)})"
                  + (f": {body.decode('utf-8', 'replace')[:500]}" if body else ""))


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit {os.WEXITSTATUS(status)}"


def _child(work: Callable[[], bytes], limits: Limits, fd: int, failures: tuple[type[BaseException], ...]) -> None:
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C on the server ends its queries too
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if faulthandler.is_enabled():  # Rust's abort at the memory bound is expected here, not a crash to report
            faulthandler.disable()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)  # Rust's "memory allocation failed" line is not the server's to print
        _limit_memory(limits.max_memory_mib)
        try:
            payload = _OK + work()
        except MemoryError:
            payload, code = _MEMORY, EXIT_MEMORY
        except failures as exc:
            payload = _FAILED + str(exc).encode("utf-8", "replace")
        except BaseException as exc:  # a crash: say what it was
            payload, code = b"X" + f"{type(exc).__name__}: {exc}".encode("utf-8", "replace"), 1
        _write_all(fd, payload)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _limit_memory(max_mib: int) -> None:
    """Cap the child's address space at what it inherited plus ``max_mib``."""
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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(struct.pack("<Q", len(data)) + data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_all(fd: int, deadline: float) -> bytes | None:
    """The child's length-prefixed message, or ``None`` if the deadline passed first (a short
    message — the child died — is returned as it is)."""
    chunks: list[bytes] = []
    expected: int | None = None
    received = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
        if expected is None and received >= 8:
            expected = struct.unpack("<Q", b"".join(chunks)[:8])[0]
        if expected is not None and received >= expected + 8:
            break
    data = b"".join(chunks)
    return data[8:] if len(data) >= 8 else b""


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def stop_all() -> None:
    """Kill every query child still running (the server is shutting down)."""
    with _CHILDREN_LOCK:
        pids = list(_CHILDREN)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
