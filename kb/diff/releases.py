"""The release history: what each release changed since the one before, and what is not yet released.

Built once per ``kb build`` from the releases' kept dumps and the current graph. The site shows it
("What's new", feeds, "last changed" on claim and cell pages) and the graph records it with PROV:
each release an activity with its date, the release it revises, and the claims it generated or
invalidated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kb.diff.compare import Diff, compare
from kb.diff.render import claim_change_text, words
from kb.diff.snapshot import Pickled, Snapshot, loaded
from kb.graph.iris import Minter
from kb.model import Release
from kb.namespaces import PROV, PSK, RDF, RDFS, XSD

UNRELEASED = "unreleased"


@dataclass(frozen=True)
class ReleaseEntry:
    release: Release
    previous: str | None
    diff: Diff
    text: str  # the diff in words
    touched: dict[str, tuple[str, ...]]  # "domain" / "population" → ids whose evidence changed
    generated: tuple[str, ...]  # claims added, changed or renamed to
    invalidated: tuple[str, ...]  # claims removed or renamed from
    works: int
    claims: int


@dataclass(frozen=True, slots=True)
class LastChange:
    release: str  # a release name, or UNRELEASED
    date: str
    text: str


@dataclass
class History:
    entries: tuple[ReleaseEntry, ...] = ()  # oldest first
    unreleased: Diff | None = None  # the current evidence against the latest release
    unreleased_text: str = ""
    claims: dict[str, LastChange] = field(default_factory=dict)
    cells: dict[tuple[str, str], LastChange] = field(default_factory=dict)  # (population, outcome)

    @property
    def latest(self) -> Release | None:
        return self.entries[-1].release if self.entries else None


@dataclass
class KeptReleases:
    """The releases' part of a history, kept by a process that builds again (the editors' loop) while the releases
    are the same and their snapshots the same objects: a release never changes, and comparing each with the one
    before took ~1.2 s of every rebuild at 50,000 claims."""

    releases: tuple[tuple[Release, Snapshot | Pickled], ...] = ()
    made: History | None = None
    # the last build's current state, whose map cells the next carries (kb.diff.compare._carried): at first an empty
    # one, which carries nothing but has the first current state keep what the next build carries
    current: Snapshot = field(default_factory=Snapshot)

    def get(self, releases: list[tuple[Release, Snapshot | Pickled]]) -> History | None:
        same = len(releases) == len(self.releases) and all(
            r == kept_r and snap is kept_snap for (r, snap), (kept_r, kept_snap) in zip(releases, self.releases,
                                                                                          strict=True))
        return self.made if same else None


def history(releases: list[tuple[Release, Snapshot | Pickled]], current: Snapshot, kept: KeptReleases | None = None
            ) -> History:
    """Each release against the one before (the first against nothing), then the current state against the latest.
    A release not yet loaded (:class:`kb.diff.snapshot.Pickled`) is loaded when compared, and let go after the next:
    two at a time, however many releases."""
    made = kept.get(releases) if kept is not None else None
    if made is None:
        made = History()
        entries = []
        previous: tuple[str | None, Snapshot] = (None, Snapshot())
        for release, held in releases:
            snap = loaded(held)
            diff = compare(previous[1], snap)
            entries.append(_entry(release, previous, snap, diff))
            _record(made, diff, previous[1], snap, release.name, release.date)
            previous = (release.name, snap)
        made.entries = tuple(entries)
        if kept is not None:
            kept.releases, kept.made = tuple(releases), made
    out = History(made.entries, claims=dict(made.claims), cells=dict(made.cells))  # the current state adds to them
    if releases:
        previous = (releases[-1][0].name, loaded(releases[-1][1]))
        diff = compare(previous[1], current, kept.current if kept is not None else None)
        if kept is not None:
            kept.current = current
        if diff:
            out.unreleased = diff
            out.unreleased_text = words(diff, previous[1], current, f"release {previous[0]}", "now")
            _record(out, diff, previous[1], current, UNRELEASED, "")
    return out


def _entry(release: Release, previous: tuple[str | None, Snapshot], snap: Snapshot, diff: Diff) -> ReleaseEntry:
    name, old = previous
    text = (words(diff, old, snap, f"release {name}", f"release {release.name}") if name
            else f"First release: {len(snap.works)} works and {len(snap.claims)} claims.\n")
    touched = diff.touched(old, snap)
    return ReleaseEntry(release, name, diff, text, {k: tuple(sorted(v)) for k, v in touched.items()},
                        tuple(sorted(diff.generated())), tuple(sorted(diff.invalidated())), len(snap.works),
                        len(snap.claims))


def _record(out: History, diff: Diff, old: Snapshot, new: Snapshot, name: str, date: str) -> None:
    """Remember, per claim and per map cell, the latest change and what it was."""
    added = LastChange(name, date, "added")  # one for all: a first release adds every claim
    for claim_id in diff.claims.added:
        out.claims[claim_id] = added
    for rename in diff.claims.renamed:
        out.claims[rename.new] = LastChange(name, date, f"renamed from {rename.old}")
    for change in diff.claims.changed:
        out.claims[change.id] = LastChange(name, date, claim_change_text(old, new, change))
    for cell in diff.cells:
        out.cells[(cell.population, cell.outcome)] = LastChange(name, date, cell.text.split(": ", 1)[-1])


def prov_lines(hist: History, mint: Minter) -> str:
    """The releases as PROV activities, as N-Triples."""
    lines = []
    for entry in hist.entries:
        iri = mint.release(entry.release.name)
        lines.append(f"<{iri}> <{RDF}type> <{PSK}Release> .")
        lines.append(f"<{iri}> <{RDF}type> <{PROV}Activity> .")
        lines.append(f'<{iri}> <{RDFS}label> "Data release {entry.release.name}"@en .')
        lines.append(f'<{iri}> <{PROV}endedAtTime> "{entry.release.date}T00:00:00Z"^^<{XSD}dateTime> .')
        if entry.release.notes:
            notes = entry.release.notes.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'<{iri}> <{RDFS}comment> "{notes}"@en .')
        if entry.previous:
            lines.append(f"<{iri}> <{PSK}revises> <{mint.release(entry.previous)}> .")
        lines += [f"<{iri}> <{PROV}generated> <{mint.claim(c)}> ." for c in entry.generated]
        lines += [f"<{iri}> <{PROV}invalidated> <{mint.claim(c)}> ." for c in entry.invalidated]
    return "".join(line + "\n" for line in lines)
