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
