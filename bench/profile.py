"""Profile one ``kb`` command with cProfile: ``python -m bench.profile EVIDENCE [--command build] [--top 25]``.

For the slow stages the benchmark finds: runs ``python -m cProfile -m kb <command>`` in a child
process (cold imports included, like the real command) and prints the top entries by own time
and by cumulative time. Profiling slows Python code by ~1.5–2×; read shares, not seconds.
"""

from __future__ import annotations

import argparse
import io
import pstats
import shutil
import sys
import tempfile
from pathlib import Path

from bench.procs import run
from bench.runner import clear_caches


def profile(evidence: Path, command: str, top: int, keep: Path | None = None, warm: bool = False) -> str:
    if not warm:
        clear_caches(evidence)
    work = Path(tempfile.mkdtemp(prefix="kb-profile-"))
    prof = keep or work / f"{command}.prof"
    args = {"build": ["build", "--out", str(work / "site")], "check": ["check"]}[command]
    try:
        result = run([sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "kb", *args, "--evidence",
                      str(evidence)], timeout=7200)
        if not prof.is_file():
            raise SystemExit(f"profiling failed (exit {result.returncode}): {result.stderr[-2000:]}")
        buffer = io.StringIO()
        stats = pstats.Stats(str(prof), stream=buffer)
        stats.strip_dirs()
        state = "warm" if warm else "cold"
        buffer.write(f"kb {command} ({state}): {result.seconds:.1f} s under cProfile, exit {result.returncode}\n")
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        return buffer.getvalue()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evidence", type=Path)
    parser.add_argument("--command", choices=("build", "check"), default="build")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", type=Path, help="keep the .prof file here (for snakeviz or pstats)")
    parser.add_argument("--warm", action="store_true", help="keep kb's .kb-cache (default: profile a cold run)")
    args = parser.parse_args()
    print(profile(args.evidence, args.command, args.top, args.keep, args.warm))


if __name__ == "__main__":
    main()
