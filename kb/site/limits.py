"""How long the site's lists are: whole in a small KB, the first few (best evidence first) in a large one.

A list page that lists every claim behind it grows with the KB: at 50,000 claims a population's
page listed 30,000 rows (37 MB) and the site passed 2 GB. So, like the evidence map, which draws
one mark per finding only up to :data:`LARGE_KB` findings, every list switches at that size:
below it a list shows (nearly) everything, as readers of a small KB expect; above it a list shows
its first few items and says where the rest are (the map cell, the query that gives every one,
``data/claims.csv.gz``). The records themselves (every claim, every work) always have their page.
"""

from __future__ import annotations

from dataclasses import dataclass

LARGE_KB = 3000  # findings (claim-outcomes); the evidence map switches to counts at the same size


@dataclass(frozen=True)
class Limits:
    """The most items each kind of list shows."""

    cell_claims: int  # findings in one map cell
    concept_claims: int  # findings on a concept's page
    work_claims: int  # claims resting on one work (a source lists every claim it states)
    sentences: int  # summary sentences on a cell or concept page, surest first
    sentence_claims: int  # claims linked from one summary sentence
    base_works: int  # works listed in an evidence base (the count covers them all)
    row_claims: int  # claims, with their quotes, under one row of a summary of findings (0: the row links its cell)
    row_bodies: int  # other bodies of evidence listed under one row of a summary of findings (0: counted)
    note_claims: int  # claims linked from one footnote of a summary of findings
    reported: int  # reported values (effects, participants) named in one row of a summary of findings
    domain_questions: int  # questions per outcome on an outcome domain's summary of findings
    row_csv: bool = True  # a map row's page has the CSV of the findings it lists (at scale only the best few
    # of each cell: data/claims.csv.gz, which every cell links, has them all — issue 17)
    stated_statements: bool = True  # a source's entry lists the claims it states with their statements; at
    # scale by identifier (a source states hundreds, and every statement is on its claim's page — issue 17)
    question_csv: bool = True  # each question's summary has its own CSV; at scale one CSV of every question
    # (summaries/questions.csv.gz: 2,000 files of a few kilobytes were 14 MB, the same rows gzipped 1.5 MB)
    source_doi: bool = True  # a claim's quote names its source's DOI beside its entry; at scale the entry
    # alone has it (a few hundred sources' DOIs were written 50,000 times, 6.5 MB)
    work_facts: bool = True  # a work's entry lists its fields (type, year, journal, …) beside its citations and
    # BibTeX; at scale only these, which hold the same fields (3 MB at 10,000 works)
    search_quotes: bool = True  # the search matches the words of a claim's quote too, not only its statement,
    # concepts and source (at scale the quotes were a quarter of the index, and each is on its claim's page)
    bibtex_abstract: bool = True  # a work's BibTeX on its page has its abstract; at scale the downloads (the
    # entry's RIS, CSL-JSON and BibTeX, references.bib.gz) have it (abstracts were 11 MB of 10,000 works' pages)


SMALL = Limits(cell_claims=50, concept_claims=200, work_claims=100, sentences=30, sentence_claims=30, base_works=100,
               row_claims=30, row_bodies=30, note_claims=30, reported=30, domain_questions=100)
LARGE = Limits(cell_claims=3, concept_claims=10, work_claims=3, sentences=2, sentence_claims=1, base_works=0,
               row_claims=0, row_bodies=0, note_claims=1, reported=3, domain_questions=5, row_csv=False,
               stated_statements=False, question_csv=False, source_doi=False,
               work_facts=False, search_quotes=False, bibtex_abstract=False)


def limits_for(findings: int) -> Limits:
    """The limits for a KB of this many findings."""
    return LARGE if findings > LARGE_KB else SMALL
