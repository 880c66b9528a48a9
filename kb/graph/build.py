"""Turn the loaded records into one RDF graph (a pyoxigraph store).

Why pyoxigraph: on our 1M-triple benchmark it loads ~5x, serialises ~30x and answers the
evidence-map GROUP BY ~10x faster than rdflib's memory store (see docs/design.md, "Store choice").
rdflib is still used where its API is needed: pyshacl validation and the isomorphism tests.

No blank nodes are minted: every node has an IRI from :mod:`kb.graph.iris`, so dumps are stable and
diff-friendly. Beside the store, a side table maps every claim/work/concept IRI to the file and
line it came from, so that SHACL results can point editors at their source.
"""

from __future__ import annotations

import dataclasses
import functools
import queue
import re
import threading
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pyoxigraph as ox

from kb.graph.change import differing_lines
from kb.graph.counts import Tallies
from kb.graph.iris import Minter, slug
from kb.graph.memo import GraphMemo, GraphParts, Written, read_entry
from kb.graph.shipped import schema_bytes
from kb.ids import web_iri
from kb.load.byrecord import ByRecord
from kb.load.evidence import Evidence
from kb.model import Claim, Effect, Person, Reference
from kb.namespaces import BIBO, CITO, DCTERMS, FOAF, OWL, PICO, PROV, PSK, RDF, SCHEMA, SKOS, XSD

BIBO_TYPES = {
    "article": BIBO + "AcademicArticle",
    "book": BIBO + "Book",
    "booklet": BIBO + "Book",
    "inbook": BIBO + "BookSection",
    "incollection": BIBO + "BookSection",
    "inproceedings": BIBO + "AcademicArticle",
    "conference": BIBO + "AcademicArticle",
    "manual": BIBO + "Manual",
    "mastersthesis": BIBO + "Thesis",
    "phdthesis": BIBO + "Thesis",
    "thesis": BIBO + "Thesis",
    "proceedings": BIBO + "Proceedings",
    "techreport": BIBO + "Report",
    "report": BIBO + "Report",
    "online": BIBO + "Webpage",
    "unpublished": BIBO + "Manuscript",
    "misc": BIBO + "Document",
}
_YEAR = re.compile(r"^\d{4}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PAGES = re.compile(r"^\s*(\S+?)\s*-+\s*(\S+)\s*$")


COUNTED_AS_ADDED = 50_000  # lines of history at most counted as they are added (as quads in Python, ~3 µs each);
# more, and the store is counted again (~0.13–0.3 s at 2M triples)


@dataclass
class KnowledgeGraph:
    """The built graph and where each of its main nodes came from."""

    store: ox.Store
    locations: dict[str, tuple[str, int]] = field(default_factory=dict)
    parts: GraphParts | None = None  # what the store was made of, where every part was kept (kb.graph.memo)
    patch: StorePatch | None = None  # where the store is the last build's, brought to this graph (build_graph's last)
    released: Released | None = None  # what is kept of the store once it is let go (let_go)
    _size: int | None = field(default=None, init=False, repr=False, compare=False)
    _outside: bool | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        """The store's triples, counted once: pyoxigraph counts them on every call (~0.13 s at 2M triples), and a
        build asked four times. What this class adds to the store after it is built (:meth:`add_history`) is counted
        as it is added; a patched store's count is the last one's less what went and plus what came."""
        if self._size is None:
            self._size = len(self.store)
        return self._size

    def outside_default_graph(self) -> bool:
        """Whether the store holds a quad in a named graph, which the dumps leave out (counting the store's quads to
        compare with the dump's lines was ~1 s at 2M triples). Asked once: the answer outlives :meth:`let_go`."""
        if self._outside is None:
            store = self.store
            self._outside = any(next(iter(store.quads_for_pattern(None, None, None, name)), None) is not None
                                for name in store.named_graphs())
        return self._outside

    def let_go(self, kept: Released) -> None:
        """Drop the store, keeping ``kept`` of it for what the build still reads (a cold ``kb build``, before its
        site's workers fork: at 10k/50k the store was ~0.7 GB of the ~1.4 GB every forked worker began with). The
        store's size and :meth:`outside_default_graph` are found first; reading the store afterwards raises."""
        len(self)
        self.outside_default_graph()
        self.released = kept
        self.store = _LetGo()  # type: ignore[assignment]  # a store no one may read: it says so if read

    def add_history(self, prov: bytes) -> None:
        """Add the release history (PROV as N-Triples, :func:`kb.pipeline.release_history`), which comes once the
        graph is built; where the store is the last build's patched, in place of the last history."""
        if self.patch is not None:
            grown: int | None = self.patch.swap(self.patch.history, prov)
        elif not prov:
            grown = 0
        elif self._size is None or prov.count(b"\n") > COUNTED_AS_ADDED:
            self.store.load(prov, format=ox.RdfFormat.N_TRIPLES)
            grown = None  # counted again when asked
        else:
            came = [quad for quad in set(default_graph_quads(prov, lenient=False)) if quad not in self.store]
            self.store.extend(came)
            grown = len(came)
        # counting the store again was ~0.3 s of every build at 10k/50k
        self._size = self._size + grown if self._size is not None and grown is not None else None
        if self.parts is not None:
            self.parts = dataclasses.replace(self.parts, prov=prov)


@dataclass(frozen=True)
class Released:
    """What a build keeps of a store it let go (:meth:`KnowledgeGraph.let_go`): files it removes when it ends."""

    dump: Path  # the store's N-Triples (the default graph: it held no other), unsorted: the persisted store's source
    claims: Path  # each claim's own triples, grouped by claim (kb.export.nanopub.claims_table): the nanopubs' source


class _LetGo:
    """In place of a store the build let go: reading it is a bug in the build, said as one."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"the build let its store go (KnowledgeGraph.let_go), then read its {name!r}")

    def __len__(self) -> int:
        raise RuntimeError("the build let its store go (KnowledgeGraph.let_go), then counted it")


@dataclass
class StorePatch:
    """What a build did to a store it kept from the last build (:func:`build_graph`'s ``last``): the quads it
    removed and the quads it added. A build that fails after the patch puts the store back (:meth:`revert`): the
    editors' loop goes on serving the last good graph from it, and patches it again from there."""

    store: ox.Store
    removed: list[ox.Quad]
    added: list[ox.Quad]
    history: bytes = b""  # the last build's release history, still in the store (KnowledgeGraph.add_history)

    def swap(self, old: bytes, new: bytes) -> int:
        """Replace the triples of the N-Triples ``old`` by those of ``new``, recording what changed; how many more
        triples the store holds."""
        before, after = _differing(old, new)
        gone = [quad for quad in before - after if quad in self.store]
        came = [quad for quad in after - before if quad not in self.store]
        self.added += came  # first: removing a quad the store lacks does nothing
        for quad in gone:
            self.store.remove(quad)
            self.removed.append(quad)
        self.store.extend(came)
        return len(came) - len(gone)

    def revert(self) -> None:
        """Put the store back as it was before the patch."""
        for quad in self.added:
            self.store.remove(quad)
        self.store.extend(self.removed)
        self.removed, self.added = [], []


def default_graph_quads(data: bytes, *, lenient: bool = True) -> list[ox.Quad]:
    """The triples of N-Triples ``data`` as quads in the default graph, as a store holds them (to remove or find
    them there). ``lenient`` skips validating IRIs again, for text this module wrote."""
    if not data:
        return []
    default = ox.DefaultGraph()
    return [ox.Quad(t.subject, t.predicate, t.object, default)
            for t in ox.parse(data, format=ox.RdfFormat.N_TRIPLES, lenient=lenient)]


# Terms are written as N-Triples text and bulk-loaded by pyoxigraph's parser: creating a Python
# Quad object per triple made the graph stage 3x its floor (parsing the same N-Triples).
LOAD_BATCH = 250_000  # triples per bulk load into the built store (_Builder.load)
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})


def N(iri: str) -> str:
    return f"<{iri}>"


def text(value: str, lang: str | None = None) -> str:
    literal = '"' + value.translate(_ESCAPES) + '"'
    return f"{literal}@{lang}" if lang else literal


def typed(value: object, datatype: str) -> str:
    return '"' + str(value).translate(_ESCAPES) + f'"^^<{XSD}{datatype}>'


class _Loader:
    """Loads batches of N-Triples into the store in a thread of its own, one after the other, in the
    order they were put: the same store as loading them in turn here, while the records' next
    triples are written (at 10k/50k the graph stage was 11 s, 7 of them the loads). The queue has no bound:
    text written here comes slower than the thread parses it, and text kept from the last build
    (:mod:`kb.graph.memo`) is queued whole, so that this thread goes on to the records' own work (``meanwhile``)
    rather than wait for the parser (at 10k/50k up to ~320 MB queued at once). :meth:`finish` waits for the last
    batch and raises what the thread raised; no thread is left when it returns (the build forks workers later).

    ``load(lenient=True)``, not ``bulk_load``: into a store in memory it parsed the 2.2M triples of 10k/50k in
    3.7–4.0 s against bulk_load's 6.0–6.5 s (measured side by side; later runs on this machine took ~8 s, whole or in
    batches alike, and two threads loading one store took as long as one: its writes are serialised). Lenient skips
    validating IRIs again: this module writes every line, from ids checked on reading (:mod:`kb.ids`) and URLs
    :func:`kb.ids.web_iri` accepted; a test parses the graph's dump strictly."""

    def __init__(self, store: ox.Store) -> None:
        self.store = store
        self.batches: queue.Queue[bytes | list[ox.Quad] | None] = queue.Queue()
        self.error: BaseException | None = None
        self.size: int | None = None  # the store's triples, counted by the thread after the last quads (last())
        self.thread = threading.Thread(target=self._run, name="kb-graph-loader", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (batch := self.batches.get()) is not None:
            if self.error is None:
                try:
                    if isinstance(batch, bytes):
                        self.store.load(batch, format=ox.RdfFormat.N_TRIPLES, lenient=True)
                    else:
                        self.store.extend(batch)
                        self.size = len(self.store)
                except BaseException as exc:  # re-raised by finish(), in the building thread
                    self.error = exc

    def put(self, batch: bytes) -> None:
        if self.error is not None:
            self.finish()
        self.batches.put(batch)

    def busy(self) -> bool:
        """Whether the thread is still loading (the last quads not yet added and counted) and has not failed."""
        return self.size is None and self.error is None and self.thread.is_alive()

    def last(self, quads: list[ox.Quad]) -> None:
        """The quads that end the store (the vocabularies', the ontology's), added after the text queued, and the
        store then counted, both in the thread: pyoxigraph counts 2.2M triples in ~0.3 s, without the GIL, which the
        building thread waited for after its records' work (:attr:`size`; None where the thread failed)."""
        self.batches.put(quads)

    def finish(self) -> None:
        if self.thread.is_alive():
            self.batches.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error


class HeadStart:
    """The store begun while the records are read: the text before the claims (references, citation lists,
    inclusions) as the last build kept it, whose name the evidence other than the claim files gives alone
    (:func:`kb.graph.memo.head_name`), parsed from the start of a fresh ``kb build`` or ``kb check`` rather than once
    the records are loaded. At 10k/50k it is ~85 MB of the ~400 MB the graph stage parses, and that parse is the
    stage's longest path (the records' own work runs beside it).

    :func:`build_graph` takes it over where the records give the same name (:meth:`take`); else it is dropped. Its
    thread is stopped before a fork (:meth:`pause`: loading the records may fork parsers) and never outlives the
    graph stage (:meth:`close`)."""

    def __init__(self, folder: Path, name: str) -> None:
        self.name = name
        self.store: ox.Store | None = None
        self.loader: _Loader | None = None
        written = read_entry(folder, name)
        if written is not None:
            self.store = ox.Store()
            self.loader = _Loader(self.store)
            self.loader.put(written.text)

    def pause(self) -> None:
        """Let the parse finish and its thread end; the next :meth:`take` goes on in a thread of its own."""
        if self.loader is not None and self.loader.thread.is_alive():
            try:
                self.loader.finish()
            except Exception:  # kept text the parser refused: the graph is built as if nothing was kept
                self.store = None
            self.loader = None

    def take(self, name: str | None) -> tuple[ox.Store, _Loader] | None:
        """The store and its loader, the text named ``name`` in them (queued or parsed); None where this is not that
        text (it is dropped)."""
        if self.store is None or name != self.name:
            self.close()
            return None
        store, loader = self.store, self.loader or _Loader(self.store)
        self.store = self.loader = None
        return store, loader

    def close(self) -> None:
        """Drop what was not taken, its thread ended."""
        self.pause()
        self.store = None

    def __enter__(self) -> HeadStart:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Builder:
    """Writes the records as N-Triples and loads them into ``store`` (None: writes only, to patch a store), by
    ``loader`` where its thread is begun already (:class:`HeadStart`)."""

    def __init__(self, evidence: Evidence, store: ox.Store | None, loader: _Loader | None = None) -> None:
        self.ev = evidence
        self.mint = Minter(evidence.config.base_iri)
        self.store = store
        self.loader = loader or (_Loader(store) if store is not None else None)
        self.lines: list[str] = []
        self.kept: list[bytes] = []  # text of whole claim files, from the memo or just written (claim_file)
        self.kept_triples = 0
        self.recorded: list[bytes] | None = None  # the batches loaded, where their text is to be kept (head)
        self.recorded_triples = 0
        self.locations: dict[str, tuple[str, int]] = {}
        self.tallies = Tallies()  # whole-graph counts, gathered as the claims are written

    def load(self, at_least: int = 0) -> None:
        """Load the lines written so far into the store once there are ``at_least`` of them.

        In batches, in order, between records: the whole text at once was held three times (lines,
        joined, encoded) beside the loader's own buffers (+1.4 GB at 10k/50k). The KB mints no
        blank nodes, so cutting the text between lines changes nothing. A batch is loaded by
        :class:`_Loader`'s thread while the next one is written (pyoxigraph parses without the GIL).
        """
        if (self.lines or self.kept) and len(self.lines) + self.kept_triples >= at_least:
            batch = b"".join([*self.kept, "".join(self.lines).encode("utf-8")])
            if self.recorded is not None:
                self.recorded.append(batch)
                self.recorded_triples += len(self.lines) + self.kept_triples
            assert self.loader is not None
            self.loader.put(batch)
            self.lines, self.kept, self.kept_triples = [], [], 0

    def add(self, s: str, p: str, o: str) -> None:
        self.lines.append(f"<{s}> <{p}> {o} .\n")

    def iri(self, s: str, p: str, o: str) -> None:
        self.lines.append(f"<{s}> <{p}> <{o}> .\n")

    # --- references -----------------------------------------------------------------------

    def reference(self, ref: Reference, display: object) -> None:
        work = self.mint.work(ref.key)
        self.iri(work, RDF + "type", BIBO_TYPES.get(ref.entry_type, BIBO + "Document"))
        self.add(work, PSK + "citekey", text(ref.key))
        self.add(work, DCTERMS + "identifier", text(ref.key))
        self.add(work, PSK + "bibtexType", text(ref.entry_type))
        title = display(ref.title)  # type: ignore[operator]
        if title:
            self.add(work, DCTERMS + "title", text(title))
            if title.startswith("[") and title.endswith("]"):
                self.add(work, PSK + "translatedTitle", typed("true", "boolean"))
        year = ref.year.strip()
        if _YEAR.match(year):
            self.add(work, DCTERMS + "issued", typed(year, "gYear"))
        if _DATE.match(ref.get("date")):
            self.add(work, DCTERMS + "date", typed(ref.get("date"), "date"))
        self.people(work, ref.key, ref.authors, "author", display)
        self.people(work, ref.key, ref.editors, "editor", display)
        if ref.authors_truncated:
            self.add(work, PSK + "authorsTruncated", typed("true", "boolean"))
        for field_name, venue_type in (("journal", BIBO + "Journal"), ("booktitle", BIBO + "Book")):
            name = display(ref.get(field_name))  # type: ignore[operator]
            if name:
                venue = self.mint.venue(slug(name))
                self.iri(work, DCTERMS + "isPartOf", venue)
                self.iri(venue, RDF + "type", venue_type)
                self.add(venue, DCTERMS + "title", text(name))
        for field_name, prop in (("volume", BIBO + "volume"), ("number", BIBO + "issue"),
                                 ("shortjournal", BIBO + "shortTitle"), ("edition", BIBO + "edition")):
            if ref.get(field_name):
                self.add(work, prop, text(display(ref.get(field_name))))  # type: ignore[operator]
        pages = ref.get("pages")
        if pages:
            self.add(work, BIBO + "pages", text(pages.replace("--", "–")))
            match = _PAGES.match(pages)
            if match:
                self.add(work, BIBO + "pageStart", text(match.group(1)))
                self.add(work, BIBO + "pageEnd", text(match.group(2)))
        for field_name in ("publisher", "institution", "organization", "school"):
            if ref.get(field_name):
                self.add(work, DCTERMS + "publisher", text(display(ref.get(field_name))))  # type: ignore[operator]
        url = web_iri(ref.get("url"))  # other schemes, and what no IRI can hold, never become links
        if url is not None:
            self.iri(work, SCHEMA + "url", url)
        if _DATE.match(ref.get("urldate")):
            self.add(work, PSK + "accessed", typed(ref.get("urldate"), "date"))
        if ref.doi:
            self.add(work, BIBO + "doi", text(ref.doi))
            self.iri(work, OWL + "sameAs", "https://doi.org/" + quote(ref.doi, safe="/:;()._-"))
        for field_name, prop in (("annote", SKOS + "editorialNote"), ("note", SKOS + "note")):
            if ref.get(field_name):
                self.add(work, prop, text(display(ref.get(field_name))))  # type: ignore[operator]

    def head(self, display: object, memo: GraphMemo | None, begun: bool = False) -> None:
        """The references, citation lists and inclusions: their text from ``memo`` where it was kept (it depends
        on the evidence other than the claim files alone), else written and kept; where each was read, always
        (the paths are spelled as this build was given them). ``begun``: that text is in the store (or its
        loader's queue) already (:class:`HeadStart`)."""
        name = self.head_name(memo)
        if begun:
            return
        kept = memo.get(name) if memo is not None and name is not None else None
        if kept is not None:
            self.kept.append(kept.text)
            self.kept_triples += kept.triples
            return
        self.recorded, self.recorded_triples = ([] if name is not None else None), 0
        for ref in self.ev.references:
            self.reference(ref, display)
            self.load(at_least=LOAD_BATCH)
        self.citations()
        self.inclusions()
        self.load()  # the text before the claims ends a batch: what was loaded is all of it
        if memo is not None and name is not None and self.recorded is not None:
            memo.put(name, Written(b"".join(self.recorded), self.recorded_triples, frozenset(), frozenset(), ()))
        self.recorded = None

    def head_text(self, display: object, memo: GraphMemo, name: str) -> bytes:
        """The text :meth:`head` loads, whole and not loaded: from ``memo`` where it was kept, else written and kept
        (a store patched in place, :func:`_patched_graph`)."""
        kept = memo.get(name)
        if kept is not None:
            return kept.text
        lines, self.lines = self.lines, []
        try:
            refs, works = self.ev.references, memo.works
            if works is None:
                texts = [self._work_text(ref, display) for ref in refs]
            else:  # a reference that is the same object as in the last build has the same lines (~1 s at 10k works)
                works.begin(memo.code)
                texts = works.many(refs, lambda made: [self._work_text(ref, display) for ref in made])
                works.end()
            self.citations()
            self.inclusions()
            text = "".join([*(work for work, _count in texts), *self.lines])
            count = sum(count for _work, count in texts) + len(self.lines)
            written = Written(text.encode("utf-8"), count, frozenset(), frozenset(), ())
        finally:
            self.lines = lines
        memo.put(name, written)
        return written.text

    def _work_text(self, ref: Reference, display: object) -> tuple[str, int]:
        """The reference's lines (:meth:`reference`) as one text, and how many."""
        start = len(self.lines)
        self.reference(ref, display)
        made = self.lines[start:]
        del self.lines[start:]
        return "".join(made), len(made)

    def head_name(self, memo: GraphMemo | None) -> str | None:
        """Where the references, citation lists and inclusions were read; the name of their text in ``memo``."""
        known = self.ev.references_by_key
        for ref in self.ev.references:
            self.locations[self.mint.work(ref.key)] = (ref.path, ref.line)
        for inc in self.ev.inclusions:
            if inc.source in known and inc.review in known:
                self.locations[self.mint.inclusion(inc.source, inc.review)] = (inc.path, inc.line)
        return memo.head_key() if memo is not None else None

    def people(self, work: str, key: str, people: Iterable[Person], role: str, display: object) -> None:
        people = list(people)
        if not people:
            return
        seq = self.mint.author_list(key, role)
        self.iri(work, BIBO + ("authorList" if role == "author" else "editorList"), seq)
        self.iri(seq, RDF + "type", RDF + "Seq")
        for position, person in enumerate(people, start=1):
            agent = self.mint.agent(key, position, role)
            self.iri(seq, f"{RDF}_{position}", agent)
            self.iri(work, DCTERMS + "creator" if role == "author" else BIBO + "editor", agent)
            self.iri(agent, RDF + "type", FOAF + ("Organization" if person.literal else "Person"))
            family = display(person.family)  # type: ignore[operator]
            given = display(person.given)  # type: ignore[operator]
            self.add(agent, FOAF + "name", text(f"{given} {family}".strip() if given else family))
            if not person.literal:
                self.add(agent, FOAF + "familyName", text(family))
                if given:
                    self.add(agent, FOAF + "givenName", text(given))

    def citations(self) -> None:
        for clist in self.ev.citations:
            source = self.mint.work(clist.source)
            for position, key in enumerate(clist.references, start=1):
                if key not in self.ev.references_by_key:
                    continue
                work = self.mint.work(key)
                self.iri(source, CITO + "cites", work)
                citation = self.mint.citation(clist.source, position)
                self.iri(citation, RDF + "type", CITO + "Citation")
                self.iri(citation, CITO + "hasCitingEntity", source)
                self.iri(citation, CITO + "hasCitedEntity", work)
                self.add(citation, PSK + "referenceNumber", typed(position, "integer"))

    def inclusions(self) -> None:
        """Each review's included studies (``psk:includesStudy``), and the statement with its quote."""
        known = self.ev.references_by_key
        for inc in self.ev.inclusions:
            if inc.source not in known or inc.review not in known:
                continue  # reported by the checks
            node = self.mint.inclusion(inc.source, inc.review)
            review = self.mint.work(inc.review)
            self.iri(node, RDF + "type", PSK + "Inclusion")
            self.iri(node, PSK + "review", review)
            self.iri(node, PROV + "wasQuotedFrom", self.mint.work(inc.source))
            self.add(node, PSK + "quote", text(" ".join(inc.quote.split()), "en"))
            self.add(node, PSK + "section", text(inc.section))
            if inc.notes:
                self.add(node, SKOS + "editorialNote", text(" ".join(inc.notes.split())))
            for key in inc.includes:
                if key in known and key != inc.review:
                    self.iri(node, PSK + "includedStudy", self.mint.work(key))
                    self.iri(review, PSK + "includesStudy", self.mint.work(key))

    # --- claims ---------------------------------------------------------------------------

    def concept(self, subject: str, prop: str, scheme: str, concept_id: str) -> str | None:
        """Link the concept and return its IRI; unknown ids are reported by the checks, not linked (None)."""
        if self.ev.vocabulary.check_id(scheme, concept_id) is not None:
            return None
        target = self.ev.vocabulary.concepts[scheme][concept_id].iri
        self.iri(subject, prop, target)
        return target

    def claim_file(self, path: str, claims: list[Claim], memo: GraphMemo | None) -> None:
        """The claims of one file: their text from ``memo`` where it was kept, else written and kept."""
        _, written = self.claim_text(path, claims, memo)
        if self.lines:  # the lines before this file's go before it: the store iterates in the order it was given
            if memo is not None:
                memo.order.append(None)  # text in no kept part: the parts do not name the store
            self.kept.append("".join(self.lines).encode("utf-8"))
            self.kept_triples += len(self.lines)
            self.lines = []
        self.kept.append(written.text)
        self.kept_triples += written.triples

    def claim_text(self, path: str, claims: list[Claim], memo: GraphMemo | None,
                   tallies_only: Container[str] = ()) -> tuple[str | None, Written]:
        """The name of one file's text in ``memo`` (None: not kept) and the text, from ``memo`` where it was kept,
        else written (and kept); where its claims were read, and its tallies, are gathered. Of an entry named in
        ``tallies_only``, the text may be left out (``b""``)."""
        for claim in claims:
            self.locations[self.mint.claim(claim.id)] = (claim.path, claim.line)
        name = memo.key(path, claims) if memo is not None else None
        written = None
        if memo is not None and name is not None:
            written = memo.tallies(name) if name in tallies_only else memo.get(name)
        if written is None:
            lines, tallies = self.lines, self.tallies
            self.lines, self.tallies = [], Tallies()
            try:
                for claim in claims:
                    self.claim(claim)
                written = Written("".join(self.lines).encode("utf-8"), len(self.lines),
                                  frozenset(self.tallies.cites), frozenset(self.tallies.directions),
                                  tuple(self.tallies.grades))
            finally:
                self.lines, self.tallies = lines, tallies
            if memo is not None and name is not None:
                memo.put(name, written)
        self.tallies.cites |= written.cites
        self.tallies.directions |= written.directions
        self.tallies.grades += written.grades
        return name, written

    def claim(self, claim: Claim) -> None:
        iri = self.mint.claim(claim.id)
        self.iri(iri, RDF + "type", PSK + "Claim")
        self.iri(iri, RDF + "type", SCHEMA + "Claim")
        self.add(iri, DCTERMS + "identifier", text(claim.id))
        self.add(iri, PSK + "statement", text(" ".join(claim.statement.split()), "en"))
        self.add(iri, PSK + "quote", text(" ".join(claim.quote.split()), "en"))
        self.add(iri, PSK + "section", text(claim.section))
        if claim.source in self.ev.references_by_key:
            source = self.mint.work(claim.source)
            self.iri(iri, PROV + "wasQuotedFrom", source)
            self.iri(iri, DCTERMS + "source", source)
        for key in claim.cites:
            if key in self.ev.references_by_key:
                work = self.mint.work(key)
                self.iri(iri, CITO + "citesAsEvidence", work)
                self.iri(iri, PROV + "wasDerivedFrom", work)
                self.tallies.cites.add((iri, work))
        self.concept(iri, PSK + "findingType", "finding_type", claim.finding_type)
        for facet, prop in FACET_PROPERTIES.items():
            for concept_id in getattr(claim, facet):
                self.concept(iri, prop, facet, concept_id)
        self.concept(iri, PSK + "perspective", "perspective", claim.perspective)
        self.concept(iri, PSK + "intervention", "intervention", claim.intervention)
        if claim.comparator:
            self.concept(iri, PSK + "comparator", "intervention", claim.comparator)
        design = self.concept(iri, PSK + "design", "design", claim.design)
        cert = claim.certainty
        level = self.concept(iri, PSK + "certainty", "certainty", cert.level)
        self.add(iri, PSK + "certaintyBasis", text(cert.basis))
        self.tallies.grades.append((iri, design, level, cert.basis))
        if cert.start:
            self.concept(iri, PSK + "startingCertainty", "certainty", cert.start)
        for domain in cert.downgrades:
            self.add(iri, PSK + "downgrade", text(domain))
        if cert.reason:
            self.add(iri, PSK + "certaintyReason", text(" ".join(cert.reason.split())))
        if cert.reported_as:
            self.add(iri, PSK + "reportedCertainty", text(cert.reported_as))
        for finding in claim.outcomes:
            node = self.mint.finding(claim.id, finding.outcome)
            self.iri(iri, PSK + "finding", node)
            self.iri(node, RDF + "type", PSK + "OutcomeFinding")
            self.concept(node, PSK + "outcome", "outcome", finding.outcome)
            direction = self.concept(node, PSK + "direction", "direction", finding.direction)
            if direction is not None:
                self.tallies.directions.add((node, direction))
            if finding.effect:
                self.effect(node, finding.effect)
            if finding.notes:
                self.add(node, SKOS + "editorialNote", text(" ".join(finding.notes.split())))
        if claim.effect:
            self.effect(iri, claim.effect)
        if claim.figure:
            self.effect(iri, claim.figure, "figure")
        for count, prop in ((claim.n_studies, "numberOfStudies"), (claim.n_participants, "numberOfParticipants")):
            if count is not None:
                self.add(iri, PSK + prop, typed(count, "integer"))
        for value, prop in ((claim.dose, PSK + "dose"), (claim.frequency, PSK + "frequency"),
                            (claim.duration, PSK + "duration"), (claim.country, PSK + "country"),
                            (claim.notes, SKOS + "editorialNote")):
            if value:
                self.add(iri, prop, text(" ".join(value.split())))

    def effect(self, owner: str, effect: Effect, kind: str = "effect") -> None:
        """A reported number: an effect size (``psk:effect``) or another figure (``psk:figure``)."""
        node = self.mint.effect(owner, kind)
        self.iri(owner, PSK + kind, node)
        self.iri(node, RDF + "type", PSK + "Effect")
        self.add(node, PSK + "effectText", text(" ".join(effect.text.split())))
        for value, prop in ((effect.value, "effectValue"), (effect.value_max, "effectValueMax")):
            if value is not None:
                self.add(node, PSK + prop, typed(_decimal(value), "decimal"))
        if effect.unit:
            self.add(node, PSK + "effectUnit", text(effect.unit))

    def pico_types(self) -> None:
        """Each concept typed with the Cochrane PICO class its scheme names (``psk:picoClass``), and
        outcome domains as ``pico:OutcomeDomain``, so the concepts can be queried beside Cochrane's
        PICO annotations."""
        vocab = self.ev.vocabulary
        for scheme, pico_class in sorted(vocab.scheme_pico.items()):
            for concept in vocab.concepts.get(scheme, {}).values():
                cls = PICO + "OutcomeDomain" if concept.is_domain else pico_class
                self.iri(concept.iri, RDF + "type", cls)

    def tail(self) -> bytes:
        """The text after the claims (the dataset, the concepts' PICO types, the tallies), added to the lines to
        load; where the concepts were read."""
        self.dataset()
        self.pico_types()
        self.lines += self.tallies.lines(self.ev, self.mint)
        for scheme in self.ev.vocabulary.concepts.values():
            for concept in scheme.values():
                self.locations[concept.iri] = (concept.path, concept.line)
        return "".join(self.lines).encode("utf-8")

    def dataset(self) -> None:
        config = self.ev.config
        ds = self.mint.dataset()
        self.iri(ds, RDF + "type", SCHEMA + "Dataset")
        self.add(ds, DCTERMS + "title", text(config.title, "en"))
        self.iri(ds, DCTERMS + "license", config.data_licence_url)
        sources = {c.source for c in self.ev.claims} | {cl.source for cl in self.ev.citations}
        for key in sorted(sources & set(self.ev.references_by_key)):
            self.iri(ds, PROV + "wasDerivedFrom", self.mint.work(key))


FACET_PROPERTIES = {"population": PSK + "population", "setting": PSK + "setting", "delivery": PSK + "deliveryMode"}


def _decimal(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def ontology_quads() -> Iterator[ox.Quad]:
    """The shipped ontology: part of every dump, so the data documents itself."""
    data = schema_bytes("ontology.ttl")
    return ox.parse(data, format=ox.RdfFormat.TURTLE)


def build_graph(evidence: Evidence, display: object | None = None,
                meanwhile: Callable[[], None] | None = None, memo: GraphMemo | None = None,
                last: KnowledgeGraph | None = None, begun: HeadStart | None = None,
                spare: Callable[[Callable[[], bool]], None] | None = None) -> KnowledgeGraph:
    """Every record, the vocabularies, the tallies (:mod:`kb.graph.counts`) and the ontology as one store.

    ``meanwhile`` runs once every triple is written, while the loader's thread parses the last batches
    (~3 s at 10k/50k in which this thread would only wait): work that needs the records, not the store.
    ``memo`` keeps each claim file's text, and the text before the claims, between builds (:mod:`kb.graph.memo`).
    ``last`` is the last build's graph, which a long-running process keeps (the editors' loop): where it is known
    part by part and few parts changed, its store is brought to this graph in place (:func:`_patched_graph`), not
    parsed again; the result's :attr:`KnowledgeGraph.patch` says what was done. ``begun`` is the text before the
    claims, its parse begun while the records were read (:class:`HeadStart`): taken where ``memo`` names the same.
    ``spare`` is work that only uses this thread's wait for the parser, after ``meanwhile``: it is given a function
    that says whether the parser is still busy, and stops soon after it says no (a patched store calls no ``spare``).
    """
    if display is None:
        from kb.bibtex.load import latex_to_text

        display = latex_to_text
    elif memo is not None:
        raise ValueError("kept text is the default display's: build with a display of your own without a memo")
    if memo is not None and last is not None and last.parts is not None:
        patched = _patched_graph(evidence, memo, last, meanwhile, display)
        if patched is not None:
            return patched
        memo.order.clear()  # parsed whole after all: the memo learns the parts again
    taken = begun.take(memo.head_name()) if begun is not None and memo is not None else None
    store, loader = taken if taken is not None else (ox.Store(), None)
    builder = _Builder(evidence, store, loader)
    loader = builder.loader
    assert loader is not None
    try:
        builder.head(display, memo, begun=taken is not None)
        for path, claims in evidence.claims_by_file.items():
            builder.claim_file(path, claims, memo)
            builder.load(at_least=LOAD_BATCH)
        tail = builder.tail()
        parts = memo.parts(tail) if memo is not None else None
        builder.load()
        loader.last([*evidence.vocabulary.quads, *ontology_quads()])
        if memo is not None:
            memo.prune()
        if meanwhile is not None:
            meanwhile()
        if spare is not None:
            spare(loader.busy)
    finally:
        loader.finish()
    graph = KnowledgeGraph(store, builder.locations, parts)
    graph._size = loader.size
    return graph


@functools.cache
def _ontology() -> frozenset[ox.Quad]:
    return frozenset(ontology_quads())


def _elsewhere(quad: ox.Quad, tail: bytes, base: str) -> bool:
    """Whether another part than the vocabularies may hold ``quad`` too: the ontology, the text after the claims
    (``tail``), or any part where its subject is not a concept or a scheme (a vocabulary file may say anything)."""
    subject = quad.subject.value if isinstance(quad.subject, ox.NamedNode) else ""
    return (not subject.startswith((base + "concept/", base + "scheme/")) or quad in _ontology()
            or f"{quad.subject} {quad.predicate} {quad.object} .\n".encode() in tail)


def _differing(before: bytes, after: bytes) -> tuple[set[ox.Quad], set[ox.Quad]]:
    """The quads of the N-Triples lines only ``before`` holds, and of those only ``after`` holds: only the lines that
    differ are parsed (:func:`kb.graph.change.differing_lines`). Parsing both whole (the text after the claims holds
    every work's tallies) was ~0.5 s of every rebuild in the loop at 10k/50k."""
    gone, came = differing_lines(before, after)
    return set(default_graph_quads(gone)), set(default_graph_quads(came))


def work_lines(evidence: Evidence, works: ByRecord[tuple[str, int]], code: str) -> None:
    """Each of ``evidence``'s references' lines kept in ``works`` (:class:`kb.graph.memo.GraphMemo`'s, under its
    ``code``). The editors' loop makes them while the editor pauses: its first build read the text before the claims
    whole, from the memo or written at once, so its first edited reference wrote the lines of every work (~2 s at
    10,000 works) rather than of that work alone."""
    from kb.bibtex.load import latex_to_text

    builder = _Builder(evidence, None)
    works.begin(code)
    works.many(evidence.references, lambda made: [builder._work_text(ref, latex_to_text) for ref in made])
    works.end()


PATCH_SHARE = 4  # a store is patched while at most 1 part in 4 changed: more, and parsing it whole is as quick


def _patched_graph(evidence: Evidence, memo: GraphMemo, last: KnowledgeGraph,
                   meanwhile: Callable[[], None] | None, display: object) -> KnowledgeGraph | None:
    """``last``'s store brought to this build's graph in place, or None where that cannot be done (then nothing was
    done, ``meanwhile`` included).

    Two stores with the same parts hold the same triples (:class:`GraphParts`), so where the ontology and the code
    are the last graph's (:attr:`GraphParts.fixed`), this graph is the last one less the triples of the parts that
    went (and of the last text after the claims, and the last vocabularies') and plus those of the parts that came
    (and of this text after the claims, and these vocabularies'; the release history replaces the last one after,
    :meth:`KnowledgeGraph.add_history`). The text before the claims (the references, citation lists and inclusions)
    is one more part: an edited reference changes it, and its lines are compared like a claim file's. A claim file's
    triples all describe its own claims, so no other part holds them; should one (a claim id in two files, which the
    checks refuse), a quad to add is already in the store and the graph is parsed whole. A vocabulary's triples
    describe its concepts, which only the text after the claims and the ontology also describe: a triple gone from
    the vocabularies that either still holds, or that is not about a concept or a scheme, is not removed: the graph
    is parsed whole. After an edit at 10k/50k the
    patch (the kept files' tallies read, the changed files' text compared) is under 1 s against 5–6 s of parsing
    2.2M triples, and the rebuild's process holds one store rather than two (~2 GB less).

    The store iterates its triples in another order than a fresh parse would: nothing built from it depends on that
    (a test builds the site from a shuffled store)."""
    old = last.parts
    assert old is not None
    builder = _Builder(evidence, None)
    head = builder.head_name(memo)
    if head is None or not old.fixed or old.fixed != memo.fixed:
        return None
    known = set(old.names)
    came: list[bytes] = [] if head in known else [builder.head_text(display, memo, head)]
    for path, claims in evidence.claims_by_file.items():
        name, written = builder.claim_text(path, claims, memo, known)  # a kept part's text is not needed
        if name is None:
            return None
        if name not in known:
            came.append(written.text)
    parts = memo.parts(builder.tail())
    if parts is None:
        return None
    gone_names = known - set(parts.names)
    if (len(gone_names) + len(came)) * PATCH_SHARE > len(parts.names):
        return None
    gone: list[bytes] = []
    for name in sorted(gone_names):
        entry = memo.get(name)
        if entry is None:
            return None
        gone.append(entry.text)
    before, after = _differing(b"".join([*gone, old.tail, old.vocab]), b"".join([*came, parts.tail, parts.vocab]))
    base = evidence.config.base_iri
    if old.vocab != parts.vocab and any(_elsewhere(quad, parts.tail, base) for quad in before - after):
        return None  # a vocabulary's triple gone that another part may still hold
    store = last.store
    removed, added = [q for q in before if q not in after], [q for q in after if q not in before]
    if not all(quad in store for quad in removed) or any(quad in store for quad in added):
        return None  # the last graph's parts do not name its store, or a part shares triples with another
    memo.prune()
    if meanwhile is not None:
        meanwhile()
    patch = StorePatch(store, [], added, old.prov)  # added first: removing a quad the store lacks does nothing
    try:
        for quad in removed:
            store.remove(quad)
            patch.removed.append(quad)
        store.extend(added)
    except BaseException:
        patch.revert()
        raise
    graph = KnowledgeGraph(store, builder.locations, parts, patch)
    if last._size is not None:  # counted, the patched store was ~0.2 s of every rebuild at 10k/50k
        graph._size = last._size - len(removed) + len(added)
    return graph
