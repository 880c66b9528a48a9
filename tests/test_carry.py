"""The editors' loop carries the last build's rows, links and study base over to the next (kb.analyse.carry): after
any edit they must be exactly what the records give afresh, in the same order, the unchanged claims' rows the very
objects of the last build."""

from __future__ import annotations

import dataclasses
import random

import pytest

from kb.analyse.analysis import FromRecords, from_records
from kb.analyse.carry import KeptRows, splice
from kb.config import load_config
from kb.load.evidence import Evidence, load_evidence
from kb.model import Inclusion, OutcomeFinding
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def corpus() -> Evidence:
    """The curated corpus's records (69 claims, inclusions, many works each claim cites)."""
    evidence, problems = load_evidence(load_config(ROOT / "evidence"))
    assert not [p for p in problems if p.severity == "error"]
    return evidence


def _plain(made: FromRecords) -> tuple:
    studies = made.studies
    return (made.rows, made.links, list(studies.kinds.items()), list(studies.includes.items()),
            list(studies.years.items()))


def _edited(rnd: random.Random, evidence: Evidence, round_: int) -> Evidence:
    """Some claims edited (what they cite, their design, outcomes, population), removed, added or read again."""
    claims = list(evidence.claims)
    keys = sorted(ref.key for ref in evidence.references)
    designs = sorted({c.design for c in claims})
    outcomes = sorted({f.outcome for c in claims for f in c.outcomes})
    populations = sorted({p for c in claims for p in c.population})
    for at in rnd.sample(range(len(claims)), 6):
        claim = claims[at]
        change = rnd.randrange(6)
        if change == 0:  # cites one work alone: its kind may change; a work no claim cited may come in
            claims[at] = dataclasses.replace(claim, cites=(rnd.choice(keys),))
        elif change == 1:
            claims[at] = dataclasses.replace(claim, design=rnd.choice(designs))
        elif change == 2:
            claims[at] = dataclasses.replace(claim, outcomes=tuple(
                OutcomeFinding(o, rnd.choice(("benefit", "no_effect", "mixed")))
                for o in rnd.sample(outcomes, rnd.randint(1, min(3, len(outcomes))))))
        elif change == 3:
            claims[at] = dataclasses.replace(claim, population=tuple(rnd.sample(populations, rnd.randint(1, min(2, len(populations))))),
                                             cites=tuple(rnd.sample(keys, 3)))
        elif change == 4:
            claims[at] = dataclasses.replace(claim)  # read again: equal, another object
        else:
            claims[at] = dataclasses.replace(claim, statement=claim.statement + " (reworded)")
    for at in sorted(rnd.sample(range(len(claims)), 2), reverse=True):
        del claims[at]
    for n in range(2):
        template = rnd.choice(claims)
        claims.insert(rnd.randrange(len(claims)), dataclasses.replace(template, id=f"{template.id}-r{round_}n{n}"))
    return dataclasses.replace(evidence, claims=claims)


def _count_some(rnd: random.Random, made: FromRecords) -> None:
    """Counts as the pages make them: each claim's rows, and rows of several claims at once (a summary's row)."""
    by_claim: dict[str, list] = {}
    for row in made.rows:
        by_claim.setdefault(row.claim_id, []).append(row)
    groups = list(by_claim.values())
    for rows in groups:
        made.studies.count(rows)
    for _ in range(40):
        made.studies.count(row for rows in rnd.sample(groups, rnd.randint(2, 8)) for row in rows)


def _carried_counts_hold(made: FromRecords, fresh: FromRecords) -> int:
    """Every count carried into ``made`` is what ``fresh``'s base makes of its works, with the same reads; how many."""
    kept = made.studies._cache
    for key, (count, reads) in kept.items():
        again, read_again = fresh.studies._count(*key)
        assert count == again and set(reads) == set(read_again), sorted(key[0])
    return len(kept)


@pytest.mark.parametrize("seed", range(8))
def test_carried_records_are_the_records_analysed_afresh(corpus: Evidence, seed: int) -> None:
    rnd = random.Random(seed)
    evidence = corpus
    kept = KeptRows()
    kept.begin("context")
    last = from_records(evidence, kept)
    assert _plain(last) == _plain(from_records(evidence))
    kinds_changed, carried, dropped = False, 0, 0
    for round_ in range(4):  # each build carries the last one's, and the studies it counted that still hold
        _count_some(rnd, last)
        counted = len(last.studies._cache)
        evidence = _edited(rnd, evidence, round_)
        assert kept.last is not None
        before = set(kept.last.held)
        kept.begin("context")
        made = from_records(evidence, kept)
        fresh = from_records(evidence)
        assert _plain(made) == _plain(fresh)
        kinds_changed |= made.studies.kinds != last.studies.kinds
        held = _carried_counts_hold(made, fresh)
        carried, dropped = carried + held, dropped + counted - held
        rows_of_last = {}
        for row in last.rows:
            rows_of_last.setdefault(row.claim_id, []).append(row)
        for claim in evidence.claims:  # an unchanged claim's rows are the last build's objects
            if id(claim) in before:
                assert [id(r) for r in made.rows if r.claim_id == claim.id] == list(map(id, rows_of_last[claim.id]))
        last = made
    assert kinds_changed  # the edits reached the study base, not only the rows
    assert carried and dropped  # counts were carried, and those that read a changed kind were not


def test_after_an_edited_work_the_rows_are_carried_and_the_works_kinds_and_years_made_again(corpus: Evidence) -> None:
    """An edited references.bib (the same works) changes the context but not what a claim's rows read: the rows are
    the last build's objects, and the study base is what the edited works give afresh."""
    kept = KeptRows()
    kept.begin("context", "records")
    first = from_records(corpus, kept)
    study = next(key for key, kind in first.studies.kinds.items() if kind.kind == "study")
    refs = [dataclasses.replace(r, fields={**r.fields, "year": "1901"}) if r.key == study else r
            for r in corpus.references]
    edited = dataclasses.replace(corpus, references=refs)
    kept.begin("another context", "records")
    made = from_records(edited, kept)
    assert _plain(made) == _plain(from_records(edited)) and made.studies.years != first.studies.years
    assert list(map(id, made.rows)) == list(map(id, first.rows))
    kept.begin("a third context", "other records")  # a vocabulary changed, or which works there are
    assert not set(map(id, from_records(edited, kept).rows)) & set(map(id, made.rows))


def test_a_new_work_nothing_names_leaves_the_records_context_and_the_rows_are_carried(corpus: Evidence) -> None:
    """What the records read of references.bib is which of the works they name it holds: a new work that no claim,
    citation list or inclusion names leaves that, so the rows are carried and equal a fresh analysis's; a removed
    cited work, or a new one a citation list or an inclusion names, does not."""
    from kb.checks.scope import KINDS, Inputs, records_context

    now = Inputs({}, dict.fromkeys(KINDS, "a digest"), "code and base\n")
    kept = KeptRows()
    kept.begin("context", records_context(corpus, now))
    first = from_records(corpus, kept)
    new = dataclasses.replace(corpus.references[0], key="added2026work")
    added = dataclasses.replace(corpus, references=[*corpus.references, new])
    assert records_context(added, now) == records_context(corpus, now)
    kept.begin("another context", records_context(added, now))
    made = from_records(added, kept)
    assert _plain(made) == _plain(from_records(added))
    assert list(map(id, made.rows)) == list(map(id, first.rows))

    cited = next(key for claim in corpus.claims for key in claim.cites)
    removed = dataclasses.replace(corpus, references=[r for r in corpus.references if r.key != cited])
    clist, *lists = corpus.citations
    listed = [dataclasses.replace(clist, references=(*clist.references, new.key)), *lists]
    included = [*corpus.inclusions, Inclusion(clist.source, cited, (new.key,), "a quote", "Results")]
    for named in (dataclasses.replace(added, citations=listed), dataclasses.replace(added, inclusions=included)):
        assert records_context(named, now) != records_context(
            dataclasses.replace(named, references=corpus.references), now)
    assert records_context(removed, now) != records_context(corpus, now)


def test_after_an_edited_reference_list_the_rows_are_carried_and_the_lists_links_made_again(corpus: Evidence) -> None:
    """The rows' context leaves the reference lists out (kb.checks.scope.own_context): a list one work shorter keeps
    every claim's rows, and the network's ``cites`` links are those the lists give now, as in a fresh analysis."""
    from kb.checks.scope import KINDS, Inputs, own_context

    now = Inputs({}, dict.fromkeys(KINDS, "a digest"), "code and base\n")
    kept = KeptRows()
    kept.begin("context", own_context(corpus, now, labels=True))
    first = from_records(corpus, kept)
    known = corpus.references_by_key
    at, clist = next((n, c) for n, c in enumerate(corpus.citations) if c.source in known and c.references[-1] in known)
    lists = list(corpus.citations)
    lists[at] = dataclasses.replace(clist, references=clist.references[:-1])
    shorter = dataclasses.replace(corpus, citations=lists)
    assert own_context(shorter, now, labels=True) == own_context(corpus, now, labels=True)
    kept.begin("another context", own_context(shorter, now, labels=True))
    made = from_records(shorter, kept)
    assert _plain(made) == _plain(from_records(shorter))
    assert ("cites", clist.source, clist.references[-1]) in first.links
    assert ("cites", clist.source, clist.references[-1]) not in made.links
    assert list(map(id, made.rows)) == list(map(id, first.rows))


def test_nothing_is_carried_into_another_context_or_past_two_claims_sharing_an_id(corpus: Evidence) -> None:
    evidence = corpus
    kept = KeptRows()
    kept.begin("context")
    first = from_records(evidence, kept)
    kept.begin("another context")  # a vocabulary or the references changed: every row is made again
    again = from_records(evidence, kept)
    assert _plain(again) == _plain(first) and not set(map(id, again.rows)) & set(map(id, first.rows))
    twice = dataclasses.replace(evidence, claims=[*evidence.claims, evidence.claims[0]])
    kept.begin("another context")
    assert _plain(from_records(twice, kept)) == _plain(from_records(twice)) and kept.last is None
    kept.begin(None)  # the files changed while they were read: nothing kept
    from_records(evidence, kept)
    assert kept.last is None


def test_splice_takes_out_and_puts_in_by_key() -> None:
    items = [(k, n) for k in "acegi" for n in range(2)]
    key = lambda item: item[0]  # noqa: E731
    assert splice(items, key, ["c", "x"], [("b", [("b", 0)]), ("c", [("c", 9)]), ("j", [("j", 0)])]) == [
        ("a", 0), ("a", 1), ("b", 0), ("c", 9), ("e", 0), ("e", 1), ("g", 0), ("g", 1), ("i", 0), ("i", 1), ("j", 0)]
    assert splice(items, key, [], []) == items and splice([], key, ["a"], [("a", [("a", 1)])]) == [("a", 1)]


def test_a_base_keeps_the_last_ones_counts_that_read_no_changed_kind_year_or_inclusion() -> None:
    """Two reviews with recorded inclusions read their studies' kinds and years (the overlap); a lone study reads its
    kind. A count is kept exactly while nothing it read changed."""
    from kb.analyse.studies import StudyBase
    from kb.load.kinds import WorkKind

    def base(kinds: dict[str, str], years: dict[str, int], includes: dict[str, frozenset[str]]) -> StudyBase:
        return StudyBase({k: WorkKind(v, "test") for k, v in kinds.items()}, includes, years)

    kinds = {"r1": "review", "r2": "review", "s1": "study", "s2": "study", "s3": "study", "lone": "study"}
    years = {"r1": 2015, "r2": 2018, "s1": 2010, "s2": 2012, "s3": 2016, "lone": 2011}
    includes = {"r1": frozenset({"s1", "s2"}), "r2": frozenset({"s2", "s3"})}
    pair, lone = ({"r1", "r2"}, ()), ({"lone"}, ())

    def kept_after(kinds: dict[str, str], years: dict[str, int], includes: dict[str, frozenset[str]]) -> set:
        last = base(*first)
        last.count_works(*pair), last.count_works(*lone)
        now = base(kinds, years, includes)
        now.keep_counts(last)
        for key, (count, reads) in now._cache.items():  # what is kept is what would be counted afresh
            assert (count, set(reads)) == (now._count(*key)[0], set(now._count(*key)[1]))
        return {tuple(sorted(key[0])) for key in now._cache}

    first = (kinds, years, includes)
    assert kept_after(kinds, years, includes) == {("r1", "r2"), ("lone",)}
    assert kept_after(kinds, {**years, "s3": 2019}, includes) == {("lone",)}  # a study's year: the overlap
    assert kept_after(kinds, {**years, "lone": 2019}, includes) == {("r1", "r2"), ("lone",)}  # no count read it
    assert kept_after({**kinds, "s1": "other"}, years, includes) == {("lone",)}  # an included work's kind
    assert kept_after({**kinds, "lone": "other"}, years, includes) == {("r1", "r2")}
    assert kept_after(kinds, years, {**includes, "r2": frozenset({"s3"})}) == set()  # the inclusions
