"""Input keys: skip building a record page's context when nothing it is made from has changed.

A page's fingerprint (:mod:`kb.site.reuse`) hashes its context, so it is known only once the context
is built: at 50,000 claims every rebuild built and hashed ~4,000 contexts (~20 s of CPU) to find the
few that one edit changed. An input key hashes what a context is made from instead:

* what any page may read (:class:`Deps`'s base): the evidence other than the claim files, references.bib, the
  reference lists, the archived sources and the example queries (inclusions, releases, configuration: as
  :func:`kb.checks.scope.own_context` reads them), of the vocabularies which concepts there are and their labels
  (:attr:`kb.load.vocab.Vocabulary.labelled`), the code, the templates and the site-wide info (the render
  key), the limits and how many download scripts the works fill (:mod:`kb.site.refdata`); the reference lists are
  read by work (which lists cite it, :data:`CITED`) or whole as the network's links (:attr:`Deps.lists`), the
  concepts' other words (definitions, other labels) by concept (:data:`WORDS`);
* the works the page read when it was last built (:class:`Works`), each by the digest of its record and
  its formatted citations: editing one work's title remakes the pages that show that work, not every page
  (it remade all ~4,000 at 10k/50k, ~27 s of the editors' loop). A page reads the same works again while
  its other inputs and those works are unchanged, so the works it read last time are the ones to compare.
  Where it read only a work's link, DOI, kind or year (what the analysis decided them to be: the counts of
  reviews and studies, :class:`kb.analyse.studies.StudyBase`), its key holds only that: a work cited for the
  first time gets a kind, which was in every page's key and remade all of them (~25 s of the loop at 10k/50k);
* the claims behind the page, each by the digest of its record (what the claim file says of it, not
  where: an edit of one claim in a file of many leaves the others' keys as they were) and its release
  history (:meth:`Deps.rows`, :meth:`Deps.claims`), in the order the page reads them;
* anything else a builder reads across pages (a concept page's siblings' counts), passed as parts.

A page whose key is the one the last build recorded, and whose files are still what that build wrote,
is linked from the last build without its context being built (:meth:`Keeper.reuse`); what its
builder takes from a page besides its files (a summary's line on the index) is kept with the key as
its memo. The keys are only as right as the builders' calls: with ``verify`` every page is built
anyway and a page whose key matched but whose context did not fails the build; the tests rebuild so
after many kinds of edit (``tests/test_incremental.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import operator
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from kb.analyse.analysis import citations_end
from kb.analyse.studies import KIND_READ, YEAR_READ
from kb.checks.scope import OWN_KINDS, PACKAGE, code_digest
from kb.io import gz
from kb.model import CLAIM_WORDS

if TYPE_CHECKING:
    from kb.analyse.analysis import Row
    from kb.analyse.groups import Groups
    from kb.checks.scope import Inputs
    from kb.load.vocab import Vocabulary
    from kb.model import Claim
    from kb.site.reuse import Previous
    from kb.site.views import Resolver


@dataclass(frozen=True)
class DepEntry:
    """A page's input key as the last build recorded it: its files with their fingerprints, and its memo."""

    key: str
    files: tuple[tuple[str, str], ...]  # (site path, fingerprint): the page first, then its CSV
    memo: Any = None
    reads: tuple[str, ...] = ()  # the works the page read (Works), sorted; EVERY_WORK: the whole bibliography
    works: bytes = b""  # their digests then (Deps.works_digest)


EVERY_WORK = "\0every work"  # read by a page that went through the whole bibliography
EVERY_KIND = "\0every kind"  # stands for a page's reads of many works' kinds (MANY_KINDS): all the works' kinds
WHICH_WORKS = "\0which works"  # read by a page that counts or lists the works' citekeys (Resolver.work_keys)
# A read of one thing about a work, noted as its mark + the citekey: its link (its short citation:
# Resolver.ref_link), or its DOI (Resolver.doi_of). Most pages show a work only so: a title edit leaves them be.
# Likewise its kind and its year, as the analysis decided them (KIND_READ, YEAR_READ: StudyBase.noted), which the
# counts of reviews and studies read: a work cited for the first time remakes the pages that count it.
LINK, DOI = "\1", "\2"
# Which documents' reference lists cite a work, and at which numbers (Resolver.cited_by): a work's page lists them, and
# a claim's page numbers the works it cites in its source's list. An edited list remakes the pages that show it.
CITED = "\5"  # (KIND_READ and YEAR_READ are "\3" and "\4")
# A concept's words besides its label (its definition, its other labels: Resolver.words), noted as the mark + scheme +
# NUL + id; a scheme's (its definition), with no id. The base holds the vocabularies' structure and labels only
# (:attr:`kb.load.vocab.Vocabulary.labelled`): an edited definition remakes the few pages that show it, not all of them.
WORDS = "\6"
# A page that reads more kinds than this (a map, a large concept page: they count thousands of works) records them as
# EVERY_KIND: such a page counts the rows of most edits anyway, and its reads were ~90 % of all pages' at 10k/50k
# (~580,000, compared in every build and kept on disk).
MANY_KINDS = 256


class _Reads(threading.local):
    """The works read so far by the page this thread builds (:meth:`Keeper.reuse` opens it, :meth:`Keeper.record`
    takes it); ``None`` between pages. Per thread: the exports read the works in another thread meanwhile."""

    keys: set[str] | None = None


_READS = _Reads()


def note(key: str) -> None:
    """The page being built read work ``key`` (or :data:`EVERY_WORK`)."""
    keys = _READS.keys
    if keys is not None:
        keys.add(key)


def note_all(keys: Iterable[str]) -> None:
    """The page being built read each of ``keys`` (:attr:`kb.analyse.studies.StudyBase.noted`)."""
    read = _READS.keys
    if read is not None:
        read.update(keys)


V = TypeVar("V")


class Works(dict[str, V]):
    """A map by citekey whose lookups are the reads of the page being built (:func:`note`). The site reads the works
    only through these (the resolver's :attr:`~kb.site.views.Resolver.works`, its citations and styles), so that a
    page's key holds the works it shows; going through them all is a read of every work. Its size is not a read:
    a page that counts the works reads :data:`WHICH_WORKS` (:meth:`kb.site.views.Resolver.work_keys`)."""

    __slots__ = ()

    def __getitem__(self, key: str) -> V:
        note(key)
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        note(key)
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            note(key)
        return dict.__contains__(self, key)

    def __iter__(self) -> Iterator[str]:
        note(EVERY_WORK)
        return dict.__iter__(self)

    def keys(self) -> Any:
        note(EVERY_WORK)
        return dict.keys(self)

    def values(self) -> Any:
        note(EVERY_WORK)
        return dict.values(self)

    def items(self) -> Any:
        note(EVERY_WORK)
        return dict.items(self)


_WHERE = frozenset({"path", "line", "field_lines", "item_lines"})  # where a record was read: no page shows it


@functools.cache
def _said(cls: type) -> tuple[str, ...] | None:
    """A record class's fields that say something (not where it was read); ``None`` for any other class."""
    if not dataclasses.is_dataclass(cls):
        return None
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in _WHERE)


def _what(value: Any) -> Any:
    """A record's values without where it was read: a claim below an edited one moves, not changes."""
    cls: type = type(value)
    if cls in (str, int, float, bool, type(None)):
        return value
    if cls in (tuple, list):
        return tuple(_what(v) for v in value)
    names = _said(cls)
    if names is None:
        return value
    return (cls.__name__, *(_what(getattr(value, name)) for name in names))


def record_key(claim: Claim) -> bytes:
    """The digests of what a claim says (:func:`_what`), and of the same without its words
    (:data:`~kb.model.CLAIM_WORDS`: what its rows and links are made of), 16 bytes each."""
    what = _what(claim)
    cls: type = type(claim)
    names = ("", *(_said(cls) or ()))
    counted = tuple(value for name, value in zip(names, what, strict=True) if name not in CLAIM_WORDS)
    return (hashlib.blake2b(repr(what).encode(), digest_size=16).digest()
            + hashlib.blake2b(repr(counted).encode(), digest_size=16).digest())


def words(vocab: Vocabulary) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each concept's words besides its label, and each scheme's, by what :data:`WORDS` notes."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {f"{scheme}\0": (text, ())
                                                   for scheme, text in vocab.scheme_definitions.items()}
    out.update((f"{scheme}\0{concept.id}", (concept.definition, concept.alt_labels))
               for scheme, concepts in vocab.concepts.items() for concept in concepts.values())
    return out


class Deps:
    """The input keys of one build (no resolver, ``None`` inputs, or inputs that changed while loading:
    no keys, and every page is built).

    ``known`` are the last build's :attr:`records` (claim file digest → claim → :func:`record_key`):
    only the claims of changed files are digested again. ``last`` is what the editors' loop kept of its last build
    (:class:`KeyMemo`): the claims' keys are carried from it (:meth:`_carry`).
    """

    def __init__(self, res: Resolver | None = None, inputs: Inputs | None = None, render_key: bytes = b"",
                 known: dict[str, dict[str, bytes]] | None = None, last: KeyMemo | None = None) -> None:
        self.enabled = res is not None and inputs is not None
        # the digest of the evidence other than the claim files (and of the code): what names the references' files
        self.context = inputs.context if inputs is not None else None
        self.files = inputs.claim_files if inputs is not None else {}  # claim file → its digest
        self._base = hashlib.blake2b(digest_size=16)
        self._claims: _ClaimKeys = _ClaimKeys()
        self._counted: _ClaimKeys = _ClaimKeys()  # the claims' keys without their words (counted_rows)
        self.records: dict[str, dict[str, bytes]] = {}  # claim file digest → claim → record_key
        self._facets = b""
        self._works: dict[str, bytes] = {}  # citekey → its digest (_work_digests)
        self._every: bytes | None = None
        self._kinds: bytes | None = None  # the digest of every work's kind (EVERY_KIND)
        self._which = b""  # the works' citekeys in references.bib's order (WHICH_WORKS)
        # LINK, DOI, KIND_READ or YEAR_READ → citekey → that of the work, as its repr (encoded once: pages read ~800,000
        # of them at 10k/50k, and each build compares every page's)
        self._aspects: dict[str, dict[str, bytes]] = {}
        self._parts: _ReadParts | None = None  # every read's part of works_digest, made at its first call
        self._lists = b""
        # The digests of the groupings' lists still true since the last build (KeyMemo): list id → (the list, its
        # rows' digest, its counted rows' digest); the lists whose digests a worker makes are told back (computed).
        self.memo: dict[int, tuple[list[Row], bytes | None, bytes | None]] = {}
        self.eligible: dict[int, list[Row]] = {}
        self.computed: dict[int, list[bytes | None]] = {}
        if res is None or inputs is None:
            return
        base = self._base
        own = inputs.of(*OWN_KINDS, vocab=res.vocab.labelled)  # the words besides the labels: WORDS
        for part in (render_key, code_digest(PACKAGE).encode(), gz.ENGINE.encode(), own.encode(),
                     repr(res.limits).encode(), repr(res.history.latest).encode()):
            base.update(part + b"\0")
        base.update(repr(res.refdata.count).encode() + b"\0")  # where each work's downloads are (its shard)
        self._which = res.ev.works_digest
        self._works = self._work_digests(res, inputs, last)
        studies = res.analysis.studies
        aspects = ((LINK, res.link_labels()), (DOI, {key: ref.doi for key, ref in res.ev.references_by_key.items()}),
                   (KIND_READ, {key: (kind.kind, kind.rule) for key, kind in studies.kinds.items()}),
                   (YEAR_READ, studies.years), (CITED, res.ev.cited_by), (WORDS, words(res.vocab)))
        assert len({mark for mark, _ in aspects}) == len(aspects), "one mark per aspect"
        self._aspects = {mark: {key: repr(value).encode() for key, value in values.items()} for mark, values in aspects}
        # the reference lists as the evidence network holds them (the network page and its GraphML: lists())
        links = res.analysis.links
        self._lists = hashlib.blake2b(repr(links[:citations_end(links)]).encode(), digest_size=16).digest()
        # the pages' counts of reviews and studies read kinds and years: noted as the works are
        studies.noted = note_all
        history, known = res.history.claims, known or {}
        if last is not None and self._carry(res.ev, inputs, history, last):
            return
        counted = []
        for claim in res.ev.claims:
            digest = inputs.claim_files.get(claim.path)
            if digest is None:  # a claim not read from a claim file the inputs know: never skipped
                self.enabled = False
                return
            records = self.records.setdefault(digest, {})
            record = known.get(digest, {}).get(claim.id)
            if record is None or len(record) != 32:
                record = record_key(claim)
            records[claim.id] = record
            self._claims[claim.id] = hashlib.blake2b(record[:16] + repr(history.get(claim.id)).encode(),
                                                     digest_size=16).digest()
            self._counted[claim.id] = record[16:]
            counted.append(record[16:])
        self._facets = hashlib.blake2b(b"".join(counted), digest_size=16).digest()

    def _carry(self, evidence: Any, inputs: Inputs, history: dict[str, Any], last: KeyMemo) -> bool:
        """The claims' keys from the editors' last build (:class:`KeyMemo`), made again only for the claims that are
        not its objects in its order (:func:`kb.load.claims.keep_unchanged_claims`) or whose release history changed;
        False where that cannot be (a claim added, removed or renamed): every claim is keyed as in a fresh build.
        Keying 50,000 claims was ~0.15 s of every rebuild at 10k/50k, before the workers fork."""
        claims, before = evidence.claims, last.claim_list
        if not last.claims or len(claims) != len(before):
            return False
        changed = set(itertools.compress(range(len(claims)), map(operator.is_not, claims, before)))
        if history is not last.history:  # the claims whose last change since a release is another
            moved = {cid for cid, change in history.items() if last.history.get(cid) != change}
            moved |= last.history.keys() - history.keys()
            if moved:
                changed |= {i for i, claim in enumerate(claims) if claim.id in moved}
        if any(claims[i].id != before[i].id for i in changed):
            return False
        made = {id(claims[i]) for i in changed}
        for path, digest in inputs.claim_files.items():  # each file's records: its claims' content keys
            old = last.records.get(last.files.get(path, ""), {})
            if last.files.get(path) == digest:
                if old:
                    self.records[digest] = old
            elif path in evidence.claims_by_file:  # the claims that are the last build's objects keep theirs
                self.records[digest] = {claim.id: old[claim.id] if id(claim) not in made and claim.id in old
                                        else record_key(claim) for claim in evidence.claims_by_file[path]}
        self._claims, self._counted = _ClaimKeys(last.claims), _ClaimKeys(last.counted)
        for i in sorted(changed):
            claim = claims[i]
            record = self.records.get(inputs.claim_files.get(claim.path, ""), {}).get(claim.id)
            if record is None:  # a claim not read from a claim file the inputs know: never skipped
                self.enabled = False
                return True
            self._claims[claim.id] = hashlib.blake2b(record[:16] + repr(history.get(claim.id)).encode(),
                                                     digest_size=16).digest()
            self._counted[claim.id] = record[16:]
        self._facets = hashlib.blake2b(b"".join(self._counted.values()), digest_size=16).digest()
        return True

    @staticmethod
    def _work_digests(res: Resolver, inputs: Inputs, last: KeyMemo | None) -> dict[str, bytes]:
        """Each work's digest: its record (not where it was read) and its formatted citations, all that a page can
        read of it (:class:`Works`). The editors' loop keeps them while the evidence other than the claims is the
        same (:class:`KeyMemo`: ~0.2 s at 10,000 works)."""
        if last is not None and last.works_context == inputs.context:
            return last.works
        styled = res.styled
        return {key: hashlib.blake2b(repr((_what(ref), dict.get(styled, key))).encode(), digest_size=16).digest()
                for key, ref in res.ev.references_by_key.items()}

    def works_digest(self, reads: Iterable[str]) -> bytes:
        """The digest of the works ``reads`` (sorted) as they are now: one not in references.bib, as such."""
        if not self.enabled:
            return b""
        if self._parts is None:
            self._parts = _ReadParts(self)
        return hashlib.blake2b(b"".join(map(self._parts.__getitem__, reads)), digest_size=16).digest()

    def _every_kind(self) -> bytes:
        if self._kinds is None:
            self._kinds = hashlib.blake2b(repr(sorted(self._aspects[KIND_READ].items())).encode(),
                                          digest_size=16).digest()
        return self._kinds

    def _every_work(self) -> bytes:
        if self._every is None:
            self._every = hashlib.blake2b(b"".join(v for _, v in sorted(self._works.items())), digest_size=16).digest()
        return self._every

    def key(self, path: str, *parts: object) -> str:
        """The key of the page at ``path`` made from ``parts`` (claims' keys as bytes, anything else by repr)."""
        if not self.enabled:
            return ""
        digest = self._base.copy()
        digest.update(path.encode() + b"\0")
        for part in parts:
            digest.update(part if isinstance(part, bytes) else repr(part).encode())
            digest.update(b"\1")
        return digest.hexdigest()

    def claims(self, claim_ids: Iterable[str]) -> bytes:
        """The claims' keys in order (claims the build does not know, as their identifiers)."""
        if not self.enabled:
            return b""
        return b"".join(map(self._claims.__getitem__, claim_ids))  # a loop in C: 5 maps' rows are ~1M lookups

    def rows(self, rows: Iterable[Row]) -> bytes:
        """The digest of the keys of the claims behind ``rows``, one per row, in order: a row is made from its claim
        (and the vocabularies), so the same claims in the same order are the same rows."""
        return self._digest(rows, self._claims, 1)

    def counted_rows(self, rows: Iterable[Row]) -> bytes:
        """:meth:`rows` without the claims' words (statement, quote, section) and release history: for a page that
        counts and summarises rows but shows only some (their words and history by :meth:`rows`), so that rewording
        a claim it does not show keeps it (a cell's own history is read, and keyed, apart)."""
        return self._digest(rows, self._counted, 2)

    def _digest(self, rows: Iterable[Row], keys: _ClaimKeys, kind: int) -> bytes:
        """The digest of ``keys`` of the claims behind ``rows``; a grouping's list that no changed claim touched has
        its digest from the last build (:class:`KeyMemo`): joining ~1M rows' keys was ~2–3 s of a rebuild's CPU."""
        if not self.enabled:
            return b""
        at = id(rows)
        kept = self.memo.get(at)
        if kept is not None and kept[0] is rows and kept[kind] is not None:
            return kept[kind]  # type: ignore[return-value]
        # a loop in C: the maps' and concepts' lists are ~1M lookups
        digest = hashlib.blake2b(b"".join(map(keys.__getitem__, map(_CLAIM_ID, rows))), digest_size=16).digest()
        if self.eligible.get(at) is rows:
            self.computed.setdefault(at, [None, None])[kind - 1] = digest
        return digest

    def take_computed(self) -> dict[int, list[bytes | None]]:
        """The digests of eligible lists made in this process since the last call (a worker's, for :class:`KeyMemo`)."""
        computed, self.computed = self.computed, {}
        return computed

    @property
    def lists(self) -> bytes:
        """The reference lists' links in the evidence network (:func:`kb.analyse.analysis.citation_links`): what a page
        drawing the network reads of them, which the base leaves out (as :func:`kb.checks.scope.own_context` does).
        """
        return self._lists

    @property
    def facets(self) -> bytes:
        """Every claim without its words (statement, quote, section), in order: what the findings' facets and the
        evidence network are made of (with the vocabularies and references, in the base), so what a page that
        counts findings reads, such as a large map of counts. Rewording a claim keeps it. One digest per claim,
        kept with its record key: the findings' rows hashed anew were ~1 s in each process that read it."""
        return self._facets if self.enabled else b""


_CLAIM_ID = operator.attrgetter("claim_id")

# The editors' loop carries the groupings over while at most this many claims changed, and this share of them:
# each changed row is taken out of and put into ~20 groupings' lists (~0.3 ms a row), where grouping afresh is ~2.5 s.
CARRY_CLAIMS, CARRY_SHARE = 500, 0.05


class KeyMemo:
    """What the editors' loop keeps of a build's input keys for the next (:class:`kb.pipeline.Warm`): the rows'
    groupings (:class:`kb.analyse.groups.Groups`), brought to the next build's rows in place
    (:mod:`kb.analyse.regroup`), and the digests of their lists (:meth:`Deps.rows`, :meth:`Deps.counted_rows`), so
    that the lists no changed claim is in are neither grouped nor digested again. After an edit, the loop's workers
    grouped ~90,000 rows ~20 ways and joined ~1M claim keys (~5 s of CPU at 10k/50k) to find the few pages that
    changed. Only a build that rendered every page hands its state on; one that failed leaves nothing (its lists
    were changed in place), and the next groups afresh."""

    def __init__(self) -> None:
        self.groups: Groups | None = None
        self.claims: dict[str, bytes] = {}
        self.counted: dict[str, bytes] = {}
        self.digests: dict[int, tuple[list[Row], bytes | None, bytes | None]] = {}
        # what Deps carries its claims' keys from: the claims (held: their ids stay theirs), their release history,
        # the claim files' digests and records (Deps.records)
        self.claim_list: list[Claim] = []
        self.history: dict[str, Any] = {}
        self.files: dict[str, str] = {}
        self.records: dict[str, dict[str, bytes]] = {}
        self.works: dict[str, bytes] = {}  # the works' digests (Deps._work_digests), made under this context
        self.works_context: str | None = None

    def begin(self, groups: Groups, deps: Deps, make: Callable[[Groups], None]) -> None:
        """Before the pages: ``groups`` take the last build's over where they can, ``make`` makes every grouping not
        taken over (here, so that the next build can take it), and ``deps`` is given the digests still true."""
        last, digests = self.groups, self.digests
        self.groups, self.digests, self.claim_list = None, {}, []  # nothing carried past a build that fails
        if not deps.enabled:
            return
        changed = self._changed(deps)
        marks = None
        if last is not None and last is not groups and changed is not None:
            marks = groups.carry(last, *changed)
        make(groups)
        deps.eligible = {id(rows): rows for rows in groups.lists()}
        if marks is not None:  # a reworded claim's lists keep their digests without words (counted_rows)
            deps.memo = {at: (kept[0], None, kept[2]) if at in marks.worded else kept for at, kept in digests.items()
                         if at not in marks.moved and deps.eligible.get(at) is kept[0]}

    def _changed(self, deps: Deps) -> tuple[set[str], set[str]] | None:
        """The claims whose keys differ from the last build's (or are new, or gone), and those of them whose keys
        without their words (:meth:`Deps.counted_rows`) are the same; None: too many to carry."""
        claims, counted = deps._claims, deps._counted
        changed = {cid for cid, key in claims.items() if self.claims.get(cid) != key or self.counted.get(cid) !=
                   counted.get(cid)} | (self.claims.keys() - claims.keys())
        if len(changed) > min(CARRY_CLAIMS, CARRY_SHARE * max(1, len(claims))):
            return None
        return changed, {cid for cid in changed if cid in counted and self.counted.get(cid) == counted[cid]}

    def end(self, groups: Groups, deps: Deps, computed: Iterable[dict[int, list[bytes | None]]],
            claims: list[Claim], history: dict[str, Any]) -> None:
        """Every page is rendered: keep ``groups`` and the digests known of their lists for the next build, and the
        ``claims`` and their release ``history`` its keys were made from."""
        if not deps.enabled:
            return
        # the memo's entries as they are (each list eligible, begin() saw to it), the digests made since laid over
        # them: remaking every entry was ~0.1 s of the main process at 10k/50k, after the workers forked
        digests = dict(deps.memo)
        for part in computed:
            for at, made in part.items():
                rows = deps.eligible.get(at)
                if rows is None:
                    continue
                was = digests.get(at)
                digests[at] = (rows, made[0] or (was[1] if was is not None else None),
                               made[1] or (was[2] if was is not None else None))
        self.digests = digests
        self.groups, self.claims, self.counted = groups, dict(deps._claims), dict(deps._counted)
        self.claim_list, self.history, self.records, self.files = list(claims), history, deps.records, dict(deps.files)
        self.works, self.works_context = deps._works, deps.context


class _ReadParts(dict[str, bytes]):
    """What each key a page reads of the works (:class:`Works`) adds to its :meth:`Deps.works_digest`, in one map: a
    work's digest by its citekey, an aspect's value by its mark and the citekey. Each build checks every kept page's
    reads (~500 for a claims page, ~1M in all at 10k/50k): looked up in C, they were ~0.3 s of an edit's main process
    key by key."""

    def __init__(self, deps: Deps) -> None:
        super().__init__((key, digest) for key, digest in deps._works.items() if key[:1] not in deps._aspects)
        for mark, values in deps._aspects.items():
            self.update((mark + key, value) for key, value in values.items())
        self.deps = deps

    def __missing__(self, key: str) -> bytes:
        deps = self.deps
        if key[:1] in deps._aspects:
            return b"None"  # a work without it, as repr(None)
        return (deps._every_work() if key == EVERY_WORK else deps._which if key == WHICH_WORKS
                else deps._every_kind() if key == EVERY_KIND else b"-")


class _ClaimKeys(dict[str, bytes]):
    """Claims' keys by identifier; a claim the build does not know stands for itself."""

    def __missing__(self, claim_id: str) -> bytes:
        return claim_id.encode()


@dataclass
class Keeper:
    """One worker's use of the keys: reuse what the last build made from the same inputs, record the rest."""

    deps: Deps = field(default_factory=Deps)  # by default none: every page is built
    previous: Previous | None = None
    writer: Any = None  # kb.site.render.Writer
    verify: bool = False
    records: dict[str, DepEntry] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)  # pages linked by their keys, their contexts never built
    expected: dict[str, str] = field(default_factory=dict)  # verify: path → the fingerprint its key promised
    _pending: dict[str, tuple[str, tuple[str, ...], Any, tuple[str, ...], bytes]] = field(default_factory=dict)

    def key(self, path: str, *parts: object) -> str:
        return self.deps.key(path, *parts)

    def rows(self, rows: Iterable[Row]) -> bytes:
        return self.deps.rows(rows)

    def claims(self, claim_ids: Iterable[str]) -> bytes:
        return self.deps.claims(claim_ids)

    def counted_rows(self, rows: Iterable[Row]) -> bytes:
        return self.deps.counted_rows(rows)

    def facets(self) -> bytes:
        return self.deps.facets

    def lists(self) -> bytes:
        return self.deps.lists

    def reuse(self, path: str, key: str) -> DepEntry | None:
        """The last build's entry for ``path`` if it was made from ``key`` and its files were linked from
        there; else ``None``: build the page (and :meth:`record` it)."""
        if not key:
            return None
        old = self.previous.deps.get(path) if self.previous is not None else None
        if old is None or old.key != key or old.files[0][0] != path or old.works != self.deps.works_digest(old.reads):
            _READS.keys = set()  # the page is built: what it reads of the works is noted for its key (record)
            return None
        if self.verify:
            self.expected.update(old.files)
            _READS.keys = set()
            return None
        if not self.writer.keep(old.files):
            _READS.keys = set()
            return None
        self.records[path] = old
        self.kept.append(path)
        return old

    def record(self, path: str, key: str, files: tuple[str, ...] = (), memo: Any = None) -> None:
        """Remember that the page at ``path`` (with ``files`` beside it, its CSV) was made from ``key`` and the works
        it read since :meth:`reuse` (:class:`Works`)."""
        noted, _READS.keys = _READS.keys or set(), None
        kinds = [key for key in noted if key[0] == KIND_READ] if len(noted) > MANY_KINDS else []
        if len(kinds) > MANY_KINDS:
            noted.difference_update(kinds)
            noted.add(EVERY_KIND)
        reads = tuple(sorted(noted))
        if key:
            self._pending[path] = (key, (path, *files), memo, reads, self.deps.works_digest(reads))

    def finish(self, fingerprints: dict[str, str]) -> dict[str, DepEntry]:
        """The entries of this worker's pages, with the fingerprints the writer gave their files."""
        for path, (key, files, memo, reads, works) in self._pending.items():
            if all(f in fingerprints for f in files):
                self.records[path] = DepEntry(key, tuple((f, fingerprints[f]) for f in files), memo, reads, works)
        self._pending.clear()
        return self.records

    def check(self, path: str, fingerprint: str) -> None:
        """With ``verify``: a page whose key matched the last build's must have that build's fingerprint."""
        expected = self.expected.get(path)
        if expected is not None and expected != fingerprint:
            raise AssertionError(f"{path}: made from the same inputs as the last build (input key) but not the "
                                 "same: its builder reads something its key does not cover")
