"""The editors' loop, timed: ``kb serve`` runs, one claim is edited, and the clock stops when the loop
says the rebuild is done (and served: the endpoint has the new store by then).

``incremental_s`` is the time from the file write to that line, the median of a few edits one after another
(``edits_s``: one edit alone is within this machine's noise); ``kb serve`` prints the rebuild's own duration beside it
(``rebuild_s``, of the same edit), so the watcher's poll and settle delays show as the difference.
``kb serve`` first builds (with the caches the previous build left), so its warm state is the one an
editor has after starting it; the endpoint is checked to answer with the edited statement. Then one work's title is
edited in references.bib, twice, one rebuild after the other (``reference_edit_s``, the first, and
``reference_edits_s``): not one of the issue's targets, measured so that it shows. The edits follow each other at once,
so the loop never pauses. The first finds references.bib's entries read (``kb serve`` reads them before it serves,
:meth:`kb.pipeline.Warm.prime`) but no work's CSL-JSON or RIS kept (the start reused those files whole); the second
finds the first's. Then one source's reference list gets one more work (``source_edit_s``; the first loop only): an
evidence file that is neither a claim file nor references.bib (its rebuild took ~58 s at 10k/50k until the
forty-fourth pass keyed each reader by the kinds of evidence file it reads, :data:`kb.checks.scope.KINDS`).

``serve_memory`` is ``kb serve``'s memory once the edits are rebuilt (PSS of its process and its query workers). The
runner also times the loop after a start without caches (``incremental_uncached_start_s``), an editor's first
session on a fresh clone: that start builds everything in the loop's own process, which then holds more (its edits
took 5–12 s until the forty-second pass, while the loop after a start with caches took ~3 s).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from bench.corpus import edit_one_claim, edit_one_definition, edit_one_reference, edit_one_source
from bench.procs import stop, tree_memory_mb

READY = re.compile(r"SPARQL at http://127\.0\.0\.1:(\d+)/sparql")
REBUILT = re.compile(r"changed: rebuilt in (\d+\.\d+) s")
FAILED = re.compile(r"rebuild failed")


class LoopError(Exception):
    """``kb serve`` did not start, or did not rebuild the edit."""


def measure(evidence: Path, site: Path, timeout: float = 3600.0, edits: int = 1, references: int = 2,
            sources: bool = False) -> dict[str, Any]:
    """Start ``kb serve``, edit one claim ``edits`` times, one rebuild after another, and give the median (each edit's
    times beside it), then one work ``references`` times, then (with ``sources``) one source's reference list;
    ``kb serve`` is stopped (by its pid) at the end."""
    process = subprocess.Popen([sys.executable, "-m", "kb", "serve", "--evidence", str(evidence), "--out", str(site),
                                "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
    try:
        started = time.perf_counter()
        port = int(_wait_for(process, READY, timeout)[1])
        startup = time.perf_counter() - started
        timed: list[tuple[float, float]] = []  # (from the write to the line, the rebuild as kb serve timed it)
        for _ in range(max(1, edits)):
            edited = edit_one_claim(evidence)
            written = time.perf_counter()
            found = _wait_for(process, REBUILT, timeout)
            timed.append((time.perf_counter() - written, float(found[1])))
            statement = _statement(port, edited)
            if "(Edited for the incremental benchmark.)" not in statement:
                raise LoopError(f"the endpoint does not answer with the edited statement: {statement[:200]!r}")
        incremental, rebuild = sorted(timed)[(len(timed) - 1) // 2]
        timed_refs: list[tuple[float, float]] = []  # not a target of issue 17 (one edited claim is): shown
        for _ in range(references):
            edit_one_reference(evidence)
            written = time.perf_counter()
            found = _wait_for(process, REBUILT, timeout)
            timed_refs.append((round(time.perf_counter() - written, 2), float(found[1])))
        source: dict[str, Any] = {}  # not a target of issue 17 either: an evidence file other than claims and works
        if sources:
            listed, _ = edit_one_source(evidence)
            written = time.perf_counter()
            found = _wait_for(process, REBUILT, timeout)
            source = {"source_edit_s": round(time.perf_counter() - written, 2), "source_rebuild_s": float(found[1]),
                      "source_edited": str(listed.relative_to(evidence))}
            edit_one_definition(evidence)  # and a vocabulary's: one concept's definition reworded
            written = time.perf_counter()
            found = _wait_for(process, REBUILT, timeout)
            source.update({"definition_edit_s": round(time.perf_counter() - written, 2),
                           "definition_rebuild_s": float(found[1])})
        _statement(port, edited)  # answered once the query workers are forked again after the last rebuild
        memory = tree_memory_mb(process.pid)
        return {**source, "incremental_s": incremental, "rebuild_s": rebuild, "serve_startup_s": startup,
                "edits_s": [round(whole, 2) for whole, _ in timed], "edited": str(edited.relative_to(evidence)),
                "reference_edit_s": timed_refs[0][0] if timed_refs else None,
                "reference_rebuild_s": timed_refs[0][1] if timed_refs else None,
                "reference_edits_s": [whole for whole, _ in timed_refs], "serve_memory": memory}
    finally:
        stop(process, timeout=60)


def _wait_for(process: subprocess.Popen, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise LoopError(f"kb serve exited {process.returncode}: {process.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        if FAILED.search(line):
            raise LoopError(f"the loop's rebuild failed: {line.strip()}")
        found = pattern.search(line)
        if found:
            return found
    raise LoopError(f"kb serve did not print {pattern.pattern!r} within {timeout:.0f} s")


def _statement(port: int, edited: Path) -> str:
    """The edited claim's statement as the endpoint answers it (the claim the benchmark edits is the
    first whose statement carries the benchmark's mark)."""
    query = ('SELECT ?s WHERE { ?c psk:statement ?s FILTER(CONTAINS(?s, "Edited for the incremental benchmark")) } '
             "LIMIT 1")
    url = f"http://127.0.0.1:{port}/sparql?" + urllib.parse.urlencode({"query": query})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=120) as answer:
        bindings = json.loads(answer.read())["results"]["bindings"]
    return bindings[0]["s"]["value"] if bindings else f"(no statement of {edited.name} is marked)"
