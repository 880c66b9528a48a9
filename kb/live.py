"""The editors' loop: ``kb serve`` watches the evidence folder and rebuilds as files change.

Like a static-site generator's dev server. The folder is polled (the size, mtime, ctime and inode
of every file: ~4 ms for the ~1,000 files of the benchmark's 10k/50k folder; no dependency, works on
every file system), and a change is rebuilt once the folder has been quiet for a moment, so an editor's
save (temp file, rename) is one rebuild. The rebuild is :func:`kb.pipeline.build` with a
:class:`~kb.pipeline.Warm` state kept in memory between builds (the parsed records of unchanged files
are not read again, the last nanopublications are not parsed back); its output is the same bytes as
a cold ``kb build`` of the same evidence. Rebuilds do not persist the store for ``kb query``: while
the loop runs, ``kb query`` asks its endpoint, which answers from the rebuilt store. A
rebuild that fails (an error in the evidence, a full disk) changes nothing: the last good site and
store go on being served, and the next change is tried again.
"""

from __future__ import annotations

import gc
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kb.config import Config, ConfigError, load_config
from kb.io.procs import freezes_held, no_gc
from kb.pipeline import EvidenceError, OutputError, Progress, Warm, build, quiet
from kb.site import addresses

if TYPE_CHECKING:
    import pyoxigraph

    from kb.pipeline import BuildResult
    from kb.problems import Problem

Stat = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode: any write or replace changes one
POLL_S = 0.2
SETTLE_S = 0.15  # a change is rebuilt once the folder has been this long without another
# After a rebuild, the collector's pass (what the rebuild left in cycles) waits until the folder has been quiet this
# long: a save in the meantime waits for it (Loop.collect: ~0.1 s at 10k/50k, 1.5–3.5 s before it froze the state).
IDLE_S = 1.0
# A pass longer than this means much long-lived state was made since the last freeze (the loop's first build, a
# vocabulary edit): what survived it is frozen, so that the next pass walks only what later rebuilds made.
FREEZE_AFTER_S = 0.25
IGNORED_SUFFIXES = ("~", ".swp", ".swx", ".tmp", ".bak")  # editors' scratch files


def scan(folder: Path, skip: Iterable[Path] = ()) -> dict[str, Stat]:
    """Every file under ``folder`` by relative name, with its stat; hidden and scratch files left out.

    ``kb serve`` runs this five times a second while it waits: one ``scandir`` per folder and one ``stat`` per file,
    names joined as they are found (``os.walk`` with ``os.path.relpath`` per file took 2.6× as long: 10.1 against
    3.9 ms for the ~1,000 files of the benchmark's 10k/50k folder)."""
    skipped = {os.path.abspath(p) for p in skip}
    out: dict[str, Stat] = {}
    folders = [(os.fspath(folder), "")]
    while folders:
        path, prefix = folders.pop()
        try:
            entries = list(os.scandir(path))
        except OSError:  # removed meanwhile, or unreadable: as os.walk, left out
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:  # a link to a folder is not followed (os.walk's default)
                if not entry.is_symlink() and entry.path not in skipped:
                    folders.append((entry.path, f"{prefix}{name}/"))
                continue
            if name.endswith(IGNORED_SUFFIXES) or name == "4913":  # vim's probe file
                continue
            try:
                st = entry.stat()
            except OSError:  # deleted between the listing and the stat: the next scan sees it gone
                continue
            out[prefix + name] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    return out


def differences(before: dict[str, Stat], after: dict[str, Stat]) -> list[str]:
    """The files added, removed or changed, sorted."""
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


class Watcher:
    """Polls an evidence folder; :meth:`wait` returns once files changed and the folder settled."""

    def __init__(self, config: Config, poll: float = POLL_S, settle: float = SETTLE_S) -> None:
        self.folder = Path(os.path.abspath(config.evidence_dir))
        self.skip = (Path(os.path.abspath(config.store_cache_dir)), Path(os.path.abspath(config.out_dir)))
        self.poll, self.settle = poll, settle
        self.seen = scan(self.folder, self.skip)

    def wait(self, stop: threading.Event, idle: Callable[[], object] | None = None,
             begin: Callable[[], object] = lambda: None,
             abandon: Callable[[], object] = lambda: None) -> list[str] | None:
        """The files changed since the last call (at least one), or None once ``stop`` is set. ``idle`` is run
        once the folder has been quiet for :data:`IDLE_S` (never, where a change comes first). ``begin`` is run as
        soon as a change is seen, while the folder settles (``kb serve`` stops its query workers: ~0.15 s at 10k/50k
        that came after the settle), and ``abandon`` where the change came to nothing (a file made and removed)."""
        quiet_since = time.monotonic()
        while not stop.wait(self.poll):
            now = scan(self.folder, self.skip)
            if now == self.seen:
                if idle is not None and time.monotonic() - quiet_since >= IDLE_S:
                    idle()
                    idle = None
                continue
            seen_at = time.monotonic()
            begin()
            # wait for the editor (or git checkout) to finish writing: the folder unchanged for ``settle`` seconds
            while not stop.wait(max(0.0, seen_at + self.settle - time.monotonic())):
                later = scan(self.folder, self.skip)
                if later == now:
                    break
                now, seen_at = later, time.monotonic()
            changed = differences(self.seen, now)
            self.seen = now
            if changed:
                return changed
            abandon()
        return None


@dataclass
class Rebuild:
    """One build of the loop: what changed, how long it took, and its result or why it failed."""

    changed: list[str]
    seconds: float
    key: str  # the evidence key of what was read (kb.query.store.evidence_key), taken before the build
    result: BuildResult | None = None
    problems: list[Problem] = field(default_factory=list)  # errors (and warnings) of a failed build
    failure: str = ""  # an output error (disk full, …), or the count of errors in the evidence
    usage: bool = False  # the failure is the command's (an output folder that must not be replaced)

    @property
    def ok(self) -> bool:
        return self.result is not None

    def summary(self) -> str:
        """One line for the terminal: what was rebuilt and how long it took."""
        what = _names(self.changed)
        if self.result is None:
            return (f"{what}: rebuild failed after {self.seconds:.1f} s ({self.failure}); "
                    "still serving the last good site")
        pages = [p for p in self.result.written if not p.startswith("data/")]
        return (f"{what}: rebuilt in {self.seconds:.1f} s ({len(pages)} page(s) and files rendered, "
                f"{len(self.result.reused)} unchanged)")


def _names(changed: list[str]) -> str:
    if not changed:
        return "built"
    shown = ", ".join(changed[:3])
    return f"{shown} and {len(changed) - 3} more changed" if len(changed) > 3 else f"{shown} changed"


class Loop:
    """Builds ``config``'s site, keeping the warm state between builds (:class:`kb.pipeline.Warm`)."""

    def __init__(self, config: Config, *, progress: Progress = quiet, jobs: int | None = None) -> None:
        self.config, self.progress, self.jobs = config, progress, jobs
        self.warm = Warm()
        # The last good build's evidence key and store; None while a build is under way (one interrupted may have
        # left the store half patched), the last good one's again once a build has failed (its store put back whole).
        self._good: tuple[str, pyoxigraph.Store] | None = None

    def uncached_store(self) -> tuple[str, pyoxigraph.Store] | None:
        """The last good build's evidence key and store, where ``kb query`` has no store cached for that key and no
        build is under way. The loop's rebuilds patch the store in memory and do not write it (~15 s of CPU at 2M
        quads): without it written, the first ``kb query`` after a session of edits built it again (31 s at 10k/50k).
        """
        from kb.query.store import store_path

        if self._good is None or store_path(self.config, self._good[0]).is_dir():
            return None
        return self._good

    def build(self, changed: list[str] | None = None) -> Rebuild:
        """Build now; a failure is returned (with its problems), never raised, and the site stays as it was."""
        good, self._good = self._good, None
        rebuild = self._rebuild(changed or [])
        self._good = (rebuild.key, rebuild.result.checked.kg.store) if rebuild.result is not None else good
        return rebuild

    def _rebuild(self, changed: list[str]) -> Rebuild:
        from kb.query.store import evidence_key

        started = time.monotonic()
        self.warm.tidy()  # what the last build left (its manifest is read now)
        try:  # kb.toml as it is now (its title, base IRI, releases: kb release adds one while kb serve runs)
            self.config = load_config(self.config.evidence_dir, out_dir=self.config.out_dir,
                                      cache_dir=self.config.cache_dir, parse_cache=self.config.parse_cache)
        except ConfigError as exc:
            return Rebuild(changed, time.monotonic() - started, "", failure=str(exc))
        try:
            key = evidence_key(self.config)  # before the build reads the files: an edit meanwhile makes it stale
        except OSError:
            key = ""  # a file that cannot be read: the build reports it
        try:
            result = self._build()
        except EvidenceError as exc:
            return Rebuild(changed, time.monotonic() - started, key, problems=exc.report.problems,
                           failure=f"{len(exc.report.errors)} error(s) in the evidence")
        except OutputError as exc:
            return Rebuild(changed, time.monotonic() - started, key, failure=str(exc))
        except ValueError as exc:  # an output folder that must not be replaced, a code outside its value set
            return Rebuild(changed, time.monotonic() - started, key, failure=str(exc), usage=True)
        self.warm.persist_store = False  # the first build's store stays for kb query; later ones are served
        return Rebuild(changed, time.monotonic() - started, key, result)

    def _build(self) -> BuildResult:
        """One build from the warm state; where it fails, the last good graph's store, which it may have patched in
        place (:class:`kb.pipeline.Warm`), is put back: the endpoint goes on serving it, and the next build starts
        from it."""
        try:
            # its passes were 0.5–2 s of a rebuild at 10k/50k; run() collects once the rebuild is out (self.collect)
            with no_gc(), freezes_held():
                result = build(self.config, progress=self.progress, jobs=self.jobs, warm=self.warm)
        except BaseException:
            self.warm.undo()
            raise
        evidence = result.checked.evidence
        self.warm.built(result.checked.kg, evidence)
        addresses.remember(itertools.chain((c.id for c in evidence.claims), (r.key for r in evidence.references)))
        return result

    def ready(self, prime: bool = True) -> None:
        """Done after the loop's first build, before serving is announced: the old site removed, the manifest
        recorded, and references.bib's entries read for its next edit (:meth:`kb.pipeline.Warm.prime`). The editor
        waits for the server then anyway; read at the loop's first pause instead, a save made meanwhile waited for
        them (~4.5 s at 10,000 works). The idle step still reads them where this did not run. Without ``prime`` (a
        loop that will not watch, ``kb serve --no-watch``: it never rebuilds) they are not read, and its start does
        not wait for them."""
        self.warm.tidy()
        if prime:
            self._prime()
        self.collect()

    def collect(self) -> None:
        """The collector's full pass, over what is not frozen; where it took long, what survived it is frozen.

        A pass walks every object the collector tracks: at 10k/50k the loop holds ~2.2M between rebuilds, and a pass
        over them took 1.5 s, 3.5 s once ``kb serve`` had forked its query workers (each object's header written,
        each page copied), while a save made meanwhile waited. Frozen after the first build, they are walked no
        more: a pass after an edited claim takes ~0.1 s and still frees its ~3,500 objects in cycles, which the
        rebuilds leave unfrozen (:func:`kb.io.procs.freezes_held`). What is frozen and later dropped is freed by
        refcounting, but not the cycles among it: those of the build before each freeze, ~3,500 objects."""
        started = time.monotonic()
        gc.collect()
        if time.monotonic() - started > FREEZE_AFTER_S:
            gc.freeze()

    def _prime(self) -> None:
        """references.bib's entries read for its next edit, in a loop that built (``kb serve --no-build`` holds no
        records until it does)."""
        if self.warm.graph is not None:
            self.progress("reading references.bib's entries for the editors' loop")
            self.warm.prime(self.config)

    def run(self, on_rebuild: Callable[[Rebuild], None], stop: threading.Event, watcher: Watcher | None = None,
            before: Callable[[], None] = lambda: None, abandon: Callable[[], None] = lambda: None) -> None:
        """Rebuild on every change until ``stop`` is set; ``before`` is told a rebuild begins, as soon as a change is
        seen (the endpoint stops its query workers, :meth:`kb.query.endpoint.Endpoint.pause`), and ``abandon`` that
        it does not after all (the change came to nothing: :meth:`~kb.query.endpoint.Endpoint.resume`);
        ``on_rebuild`` hears of each rebuild."""
        watcher = watcher or Watcher(self.config)
        rebuilt = False

        def idle() -> None:  # once the editor pauses
            if rebuilt:
                self.collect()  # what the last rebuild left in cycles
            self._prime()

        while True:
            self.warm.tidy()  # once the rebuild is told: the old site removed, the manifest recorded
            changed = watcher.wait(stop, idle=idle, begin=before, abandon=abandon)
            if changed is None:
                self.warm.tidy()
                return
            on_rebuild(self.build(changed))
            rebuilt = True
