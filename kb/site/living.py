"""The living map on the site: "What's new" (each release and what it changed), Atom feeds a reader
can follow — every release, or only one outcome domain or one population — and how to cite a release.

Everything comes from the release history the pipeline computed (:mod:`kb.diff.releases`); feed
entry ids are the releases' IRIs (with the topic as fragment), so they never change between builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kb.diff.compare import CellChange
from kb.diff.releases import ReleaseEntry
from kb.io.reading import human_bytes
from kb.site import jsonld
from kb.site.context import Output
from kb.site.pages import FeedEntry, FeedPage, Link, ReleaseView, SiteInfo, WhatsNewPage
from kb.site.views import Resolver

RELEASES_FEED = "feeds/releases.atom"


def citation(res: Resolver, site: SiteInfo) -> str:
    """How to cite the KB: by its latest release when there is one, so a citation can be resolved for good.
    URLs end their sentence without a full stop, so that copying one copies it whole (as in APA)."""
    latest = res.history.latest
    parts = [site.title.rstrip(".") + "."]
    if latest is not None:
        parts.append(f"Data release {latest.name} ({latest.date}). {res.mint.release(latest.name)}")
    else:
        if site.updated:
            parts.append(f"Data as of {site.updated}.")
        parts.append(site.base_iri)
    if site.licence:
        parts.append(f"Licence: {site.licence}.")
    return " ".join(parts)


MARKERS = {"+ ": "Added: ", "- ": "Removed: ", "~ ": "Changed: ", "> ": "Renamed: "}


def sections(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A diff in words (:func:`kb.diff.render.words`) as (heading, items): the editors' +/-/~/> marks
    become words."""
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        if line.startswith("  "):
            if not out:
                out.append(("Changes", []))
            item = line.strip()
            out[-1][1].append(MARKERS[item[:2]] + item[2:] if item[:2] in MARKERS else item)
        else:
            out.append((line.rstrip(":"), []))
    return tuple((heading, tuple(items)) for heading, items in out)


def whatsnew_page(res: Resolver, site: SiteInfo, out: Output, data_dir: Path) -> None:
    hist = res.history
    releases = []
    for entry in reversed(hist.entries):
        name = entry.release.name
        dump = f"data/releases/{name}/kb.nt.gz"
        size = (data_dir / "releases" / name / "kb.nt.gz").stat().st_size
        releases.append(ReleaseView(
            name, entry.release.date, entry.release.notes, res.mint.release(name),
            f"{site.title.rstrip('.')}. Data release {name} ({entry.release.date}). {res.mint.release(name)}",
            sections(entry.text) if entry.previous else (("Contents", (entry.text.strip(),)),),
            Link(dump, f"{name}/kb.nt.gz"), human_bytes(size)))
    page = WhatsNewPage(
        path="whatsnew.html", title="What's new", template="whatsnew.html", section="whatsnew",
        description="Each release of the evidence, newest first, and what it changed: findings added, removed or "
                    "changed, the summaries and map cells whose answer moved, and the vocabularies' reworded terms.",
        releases=tuple(releases), unreleased=sections(hist.unreleased_text) if hist.unreleased else (),
        feeds=tuple(Link(path, label) for _kind, _topic, path, label, *_rest in _topics(res)),
        citation=citation(res, site))
    page.jsonld = jsonld.webpage(res, page.title, page.description)
    out.pages.append(page)


def feed_pages(res: Resolver, site: SiteInfo) -> list[FeedPage]:
    """The releases feed, then one per outcome domain and one per population (empty until a release
    touches them: a reader can subscribe before anything changed)."""
    entries = res.history.entries
    by_topic = [_by_topic(res, e) for e in entries]  # each release's changes by topic, found once: a first release
    # adds every map cell, and asking each topic of each change was O(topics × cells)
    feeds = []
    for kind, topic, path, label, description, alternate in _topics(res):
        if kind == "":
            chosen = [(e, e.text.strip(), "") for e in entries]
        else:
            chosen = [(e, _about(changes.get((kind, topic), ())), f"{kind}-{topic}")
                      for e, changes in zip(entries, by_topic, strict=True) if topic in e.touched.get(kind, ())]
        feeds.append(_feed(res, site, path, label, description, alternate, chosen))
    return feeds


def _topics(res: Resolver) -> list[tuple[str, str, str, str, str, str]]:
    """Each feed's topic (kind and id: both empty for every release), path, label, description and the page it is
    the feed of."""
    vocab = res.vocab
    out = [("", "", RELEASES_FEED, "Every release", "Every release of the evidence.", "whatsnew.html")]
    for domain in vocab.ids("outcome", domains=True):
        label = vocab.label("outcome", domain)
        out.append(("domain", domain, f"feeds/domain/{domain}.atom", f"Outcome domain: {label}",
                    f"Releases that changed the evidence on {label.lower()}.",
                    res.concept_path("outcome", domain) or "whatsnew.html"))
    for population in vocab.ids("population"):
        label = vocab.label("population", population)
        out.append(("population", population, f"feeds/population/{population}.atom", f"Population: {label}",
                    f"Releases that changed the evidence on {label.lower()}.",
                    res.concept_path("population", population) or "whatsnew.html"))
    return out


def feeds(res: Resolver, site: SiteInfo, out: Output) -> None:
    out.pages.extend(feed_pages(res, site))


def _by_topic(res: Resolver, entry: ReleaseEntry) -> dict[tuple[str, str], list[CellChange]]:
    """A release's changes (summaries first, then map cells) by the outcome domain and the population they concern."""
    out: dict[tuple[str, str], list[CellChange]] = {}
    for change in (*entry.diff.questions, *entry.diff.cells):
        concept = res.vocab.get("outcome", change.outcome)
        if concept is not None and concept.broader:
            out.setdefault(("domain", concept.broader), []).append(change)
        out.setdefault(("population", change.population), []).append(change)
    return out


def _about(changes: Sequence[CellChange]) -> str:
    """The changes of one release that concern a topic, in words (summaries first, then map cells)."""
    if not changes:
        return "Claims on this topic were added, changed or removed; see What's new."
    return " ".join(f"{c.text}." for c in changes)


def _feed(res: Resolver, site: SiteInfo, path: str, label: str, description: str, alternate: str,
          chosen: list[tuple[ReleaseEntry, str, str]]) -> FeedPage:
    entries = tuple(FeedEntry(res.mint.release(e.release.name) + (f"#{fragment}" if fragment else ""),
                              f"Release {e.release.name}" + (f": {e.release.notes}" if e.release.notes else ""),
                              _instant(e.release.date), f"whatsnew.html#release-{e.release.name}", summary)
                    for e, summary, fragment in reversed(chosen))
    latest = res.history.latest
    updated = _instant(latest.date if latest else (site.updated or "1970-01-01"))
    return FeedPage(path=path, title=f"{site.title}: {label[0].lower() + label[1:]}", label=label,
                    template="feed.atom", section="whatsnew", description=description,
                    feed_id=f"{res.ev.config.base_iri}{path.removesuffix('.atom')}", updated=updated,
                    entries=entries, alternate=alternate)


def _instant(date: str) -> str:
    return f"{date}T00:00:00Z"
