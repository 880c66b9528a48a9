"""Summaries of findings, counts of distinct studies, and balanced headlines, as the built site shows them.

Built from the fictional overlap fixture (two reviews sharing trials, conflicting findings,
a peer-adjacent intervention, an association and a protocol), the fixture and the real corpus.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kb.config import load_config
from kb.pipeline import build
from tests.conftest import DATA, FIXTURE, REAL
from tests.test_validate import edit

OVERLAP = DATA / "overlap"
QUESTION = "summaries/questions/smi--peer_support_services.html"
DOMAIN = "summaries/domains/service_use.html"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    return build(load_config(OVERLAP, out_dir=tmp_path_factory.mktemp("overlap") / "site"))


@pytest.fixture(scope="module")
def fixture_site(tmp_path_factory: pytest.TempPathFactory):
    return build(load_config(FIXTURE, out_dir=tmp_path_factory.mktemp("fixture") / "site"))


def text_of(html: str) -> str:
    """The page's text, tags removed and whitespace collapsed (entities as the templates write them)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#39;", "'").split())


def read(site, path: str) -> str:
    if "#" in path:  # a map cell: its section of the row's page
        return cell_section((site.out_dir / path.split("#")[0]).read_text(encoding="utf-8"), path.split("#")[1])
    return (site.out_dir / path).read_text(encoding="utf-8")


def cell_section(page: str, outcome: str) -> str:
    """One cell of a row page: from its section to the next cell's."""
    return page.split(f'<section class="record cell" id="{outcome}"', 1)[1].split('<section class="record cell" ', 1)[0]


def row_html(page: str, outcome: str) -> str:
    """The <tr> of one outcome in the effects table."""
    table = page.split('id="sof-effects"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr id="sof-effects-\d+" class="sof-row">.*?</tr>', table, re.S)
    found = [r for r in rows if f"outcomes/{outcome}.html" in r]
    assert len(found) == 1, (outcome, len(found))
    return found[0]


# --- the summary-of-findings page of a question ---------------------------------------------------


def test_every_question_and_domain_has_a_summary_page(site) -> None:
    out = site.out_dir
    questions = {(p, r.intervention) for r in site.analysis.rows for p in r.population}
    assert {f.stem for f in (out / "summaries" / "questions").glob("*.html")} == {f"{p}--{i}" for p, i in questions}
    domains = site.checked.evidence.vocabulary.ids("outcome", domains=True)
    assert {f.stem for f in (out / "summaries" / "domains").glob("*.html")} == set(domains)
    assert (out / "summaries" / "index.html").is_file() and (out / QUESTION.replace(".html", ".csv")).is_file()


@pytest.mark.parametrize(("outcome", "wording"), [
    ("hospital_days", "Peer support services result in an improvement in days in hospital in serious mental illness."),
    ("hospitalisation", "Peer support services likely result in little to no difference in hospitalisation in "
                        "serious mental illness."),
    ("emergency_visits", "Peer support services may result in an improvement in emergency visits in serious mental "
                         "illness."),
    ("readmission", "We are very uncertain about the effect of peer support services on readmission in serious "
                    "mental illness: the findings are mixed."),
])
def test_statements_use_grade_guidance_26_wording_per_certainty(site, outcome: str, wording: str) -> None:
    assert wording in text_of(row_html(read(site, QUESTION), outcome))


def test_the_statement_comes_first_then_claims_quotes_and_studies(site) -> None:
    row = row_html(read(site, QUESTION), "hospitalisation")
    order = [row.index('class="sof-statement"'), row.index("The claims ("), row.index("The quotes ("),
             row.index("The studies (")]
    assert order == sorted(order)
    assert row.count("<details") == 3  # works without JavaScript
    assert "found that peer support for adults with serious mental illness made no difference" in row


def test_rows_count_studies_once_with_the_overlap(site) -> None:
    row = row_html(read(site, QUESTION), "hospitalisation")
    studies = text_of(row.split('class="sof-n">', 1)[1].split("</td>", 1)[0])
    assert studies.startswith("2 reviews (overlap very high, CCA 50 %), 4 unique studies")  # the lead body
    assert "All evidence on this outcome: 2 reviews (overlap very high, CCA 50 %), 5 unique studies" in studies
    assert "× 2" not in read(site, QUESTION)


def test_certainty_footnotes_are_the_claims_downgrades(site) -> None:
    page = read(site, QUESTION)
    footnotes = dict(re.findall(r'<li id="fn-([a-z]+)"><span class="fn-label">[a-z]+</span>(.*?)</li>', page, re.S))
    evidence = site.checked.evidence
    row = row_html(page, "hospitalisation")
    certainty_cell = row.rsplit('<td class="sof-c">', 1)[1]
    labels = re.findall(r'href="#fn-([a-z]+)"', certainty_cell)
    assert labels, "the moderate row has footnotes"
    for claim_id in ("alpha-hospital-no-difference", "beta-hospital-no-difference"):
        claim = evidence.claims_by_id[claim_id]
        notes = [text_of(footnotes[label]) for label in labels if claim_id in footnotes[label]]
        assert len(notes) == 1
        for domain in claim.certainty.downgrades:
            assert domain.replace("_", " ") in notes[0]
        assert " ".join(claim.certainty.reason.split()) in notes[0]
    high = row_html(page, "hospital_days").rsplit('<td class="sof-c">', 1)[1]
    assert "#fn-" not in high  # high and not downgraded: nothing to explain


def test_conflicting_bodies_are_not_merged(site) -> None:
    page = read(site, QUESTION)
    emergency = text_of(row_html(page, "emergency_visits"))
    assert "No single answer: findings of low certainty point different ways." in emergency
    assert "may result in an improvement in emergency visits" in emergency
    assert "may result in little to no difference in emergency visits" in emergency
    hospital = text_of(row_html(page, "hospitalisation"))
    assert "Evidence of lower certainty points another way" in hospital
    assert "Moderate" in hospital.split("Certainty")[-1] or "Moderate" in hospital


def test_effects_only_by_default_other_kinds_labelled(site) -> None:
    page = read(site, QUESTION)
    effects = page.split('id="sof-effects"', 1)[1].split("</table>", 1)[0]
    others = page.split('id="sof-other-kinds"', 1)[1].split("</table>", 1)[0]
    assert "network-fewer-admissions" not in effects and "network-fewer-admissions" in others
    assert "discharge-protocol" in others and "Association" in others and "No result reported" in others
    assert "may result in" not in text_of(others)  # no causal wording for associations


def test_peer_adjacent_interventions_are_shown_apart_and_labelled(site) -> None:
    domain = read(site, DOMAIN)
    peer = domain.split('id="sof-effects"', 1)[1].split("</table>", 1)[0]
    adjacent = domain.split('id="sof-adjacent"', 1)[1].split("</table>", 1)[0]
    assert "texts-fewer-admissions" not in peer and "texts-fewer-admissions" in adjacent
    question = text_of(read(site, "summaries/questions/smi--supportive_text_messages.html"))
    assert "Not peer support." in question
    index = read(site, "summaries/index.html")
    assert index.index("Interventions not delivered by peers") < index.index("smi--supportive_text_messages.html")


def test_domain_page_has_one_group_per_outcome_and_names_the_gaps(fixture_site) -> None:
    page = read(fixture_site, DOMAIN).split('id="sof-effects"', 1)[1].split("</table>", 1)[0]
    groups = re.findall(r'<tr class="sof-group"><th colspan="6" scope="rowgroup"[^>]*>(.*?)</th>', page, re.S)
    assert [text_of(g) for g in groups] == ["Hospitalisation"]
    assert "Readmission" in text_of(page.split('class="sof-empty"', 1)[1])  # only a protocol: a gap for effects


def test_cell_page_shows_the_overlap_of_reviews_sharing_trials(site) -> None:
    page = read(site, "cells/population/smi.html#hospitalisation")
    text = text_of(page)
    assert "2 reviews (overlap very high, CCA 50 %), 6 unique studies" in text
    assert "Overlap between the 2 reviews: very high" in text
    pairs = page.split('id="_hospitalisation.evidence-pairs"', 1)[1].split("</table>", 1)[0]
    assert text_of(pairs).count("50 %") == 2  # the pair, above and below the diagonal
    matrix = page.split('id="_hospitalisation.evidence-matrix"', 1)[1].split("</table>", 1)[0]
    assert matrix.count('class="cm-in"') == 6  # N, the inclusions


def test_question_overlap_subtracts_cells_a_review_could_not_have_included(site) -> None:
    text = text_of(read(site, QUESTION).split('id="evidence-h"', 1)[1])
    assert "3 reviews (overlap very high, CCA 42.9 %)" in text  # (7 − 4) / (12 − 4 − 1)
    assert "1 cell left out because the study appeared after the review" in text


# --- outcome pages link their domain -----------------------------------------------------------


@pytest.mark.parametrize("corpus", ["overlap", "real"])
def test_hospitalisation_page_links_its_domain(corpus: str, site, tmp_path: Path) -> None:
    if corpus == "real":
        result = build(load_config(REAL, out_dir=tmp_path / "real"))
        siblings = ("readmission", "hospital_days", "emergency_visits")
    else:
        result, siblings = site, ("readmission", "hospital_days", "emergency_visits")
    page = read(result, "outcomes/hospitalisation.html")
    nav = page.split('class="domain-nav"', 1)[1].split("</nav>", 1)[0]
    for outcome in siblings:
        assert f'href="{outcome}.html"' in nav, outcome
    assert 'href="../summaries/domains/service_use.html"' in nav
    index = read(result, "outcomes/index.html")
    assert 'href="../summaries/domains/service_use.html"' in index


# --- headlines ---------------------------------------------------------------------------------


def test_home_headlines_include_the_null_finding_and_say_why(fixture_site) -> None:
    page = text_of(read(fixture_site, "index.html").split('id="headlines-h"', 1)[1].split("Start here", 1)[0])
    assert "probably make little or no difference to hospitalisation" in page
    assert "Why here: moderate certainty; direct." in page
    assert "Chosen by certainty, then directness, whatever the direction" in page
    assert "network support" not in page.lower()  # peer-adjacent: left out
    assert "2 claims that are not about effects (associations, implementation, prevalence, protocols)" in page


def _rows(n_benefit: int):
    from kb.analyse.analysis import Row

    base = dict(statement="s", source="src", cites=(), finding_type="effect", population=("smi",),
                population_label="Serious mental illness", setting=("not_stated",), delivery=("not_stated",),
                perspective="recipient", intervention="peer_support_services",
                intervention_label="Peer support services", intervention_kind="peer_delivered", domain="d",
                domain_label="D", design="rct", design_label="RCT", design_group="primary_study",
                certainty="moderate", quote="q", section="x")
    rows = [Row(claim_id=f"b{i}", outcome=f"o{i}", outcome_label=f"Outcome {i}", direction="benefit", **base)
            for i in range(n_benefit)]
    rows.append(Row(claim_id="z-null", outcome="hospitalisation", outcome_label="Hospitalisation",
                    direction="no_effect", **base))
    rows.append(Row(claim_id="z-harm", outcome="stigma", outcome_label="Stigma", direction="harm", **base))
    return rows


def test_headlines_keep_a_null_finding_cut_by_benefits_sorting_first() -> None:
    """Regression: benefits sorted first and the list stopped at six, so the null finding was cut."""
    from kb.analyse.studies import StudyBase
    from kb.site.headlines import HEADLINES, choose

    chosen = choose(_rows(8), StudyBase(), lambda _c: ())
    directions = [h.summary.direction for h in chosen.items]
    assert len(directions) == HEADLINES
    assert "no_effect" in directions and "harm" in directions
    assert "taken in turn from each direction" in chosen.explanation


def test_headlines_count_the_levels_after_the_limit_without_wording_them() -> None:
    """Only the levels that reach the limit are worded; the rest are counted, and the choice says so."""
    from dataclasses import replace

    from kb.analyse.studies import StudyBase
    from kb.site.grade import summarise
    from kb.site.headlines import choose

    moderate = _rows(6)
    high = [replace(r, claim_id=f"h{i}", certainty="high") for i, r in enumerate(_rows(0))]
    low = [replace(r, claim_id=f"l{i}", outcome=f"x{i}", certainty="low") for i, r in enumerate(_rows(1))]
    rows = high + moderate + low
    chosen = choose(rows, StudyBase(), lambda _c: ())
    assert chosen.explanation.startswith("Chosen by certainty, then directness, whatever the direction: all 2 of high "
                                         "certainty; 4 of the 8 of moderate certainty, taken in turn from each "
                                         "direction, most direct first; none of the 3 of low certainty.")
    every = {s.text for s in summarise(rows, StudyBase())}
    assert {h.summary.text for h in chosen.items} <= every and len(chosen.items) == 6


def test_headlines_rank_directness_before_direction() -> None:
    from kb.analyse.studies import StudyBase
    from kb.site.headlines import choose

    rows = _rows(1)
    chosen = choose(rows, StudyBase(), lambda c: ("indirectness",) if c == "b0" else ())
    assert [h.summary.direction for h in chosen.items][-1] == "benefit"
    assert chosen.items[-1].reason == "moderate certainty; less direct: downgraded for indirectness"


# --- counts say studies, not claims ---------------------------------------------------------------


def test_two_claims_on_the_same_review_count_one_review(evidence_copy: Path, tmp_path: Path) -> None:
    """Regression: a second claim resting on the same review showed "systematic review × 2"."""
    claims = evidence_copy / "claims" / "shalaby2020peer.yaml"
    text = claims.read_text(encoding="utf-8")
    first = text.split("\n  - id: schizophrenia-cochrane-inconclusive", 1)[0].split("claims:\n", 1)[1]
    second = first.replace("id: smi-rct-review-hope-recovery", "id: smi-rct-review-restated")
    claims.write_text(text + "\n" + second, encoding="utf-8")
    edit(evidence_copy, "claims/shalaby2020peer.yaml", "  - id: smi-rct-review-restated\n",
         "  - id: smi-rct-review-restated\n    notes: The same finding restated (a test).\n")
    result = build(load_config(evidence_copy, out_dir=tmp_path / "site"))
    assert not result.report.errors
    for path in ("outcomes/hope.html", "cells/population/smi.html#hope", "index.html", QUESTION):
        page = read(result, path)
        assert "× 2" not in page, path
    hope = text_of(read(result, "outcomes/hope.html"))
    assert "(moderate certainty; 1 review)" in hope


def test_a_finding_about_two_populations_names_both_in_words() -> None:
    """Regression: "in schizophrenia; Serious mental illness" (the joined labels, mid-sentence)."""
    from kb.site.grade import sentence, sof_statement

    both = "Schizophrenia; Serious mental illness"
    assert sentence("Peer support services", "Symptoms", both, "inconclusive", "low").endswith(
        "symptoms in schizophrenia and serious mental illness")
    assert sof_statement("Peer support services", "Hope", both, "benefit", "low").endswith(
        "hope in schizophrenia and serious mental illness.")
    # a label holding "and" itself: each population gets its own "in", or two groups read as three or four
    anded = "People using mental health and addiction services; Addiction and substance use"
    assert sentence("Supportive text messaging alone", "Overall effectiveness", anded, "benefit", "moderate").endswith(
        "overall effectiveness in people using mental health and addiction services and in addiction and substance use")
    assert sof_statement("Peer support services", "Hope", anded, "benefit", "low").endswith(
        "hope in people using mental health and addiction services and in addiction and substance use.")


def test_a_finding_that_is_not_an_effect_is_summarised_in_its_own_words() -> None:
    """Regression: concept pages gave implementation findings and associations GRADE's effect verbs ("Telephone peer
    support may improve feasibility in ...", "... probably improve feasibility in population not stated"); like the
    summary-of-findings tables, such a finding is the claim's own statement, and an unstated population is not named."""
    from dataclasses import replace

    from kb.analyse.studies import StudyBase
    from kb.site.grade import summarise

    effect = _rows(1)[0]
    feasible = replace(effect, claim_id="tel", finding_type="implementation", outcome="feasibility",
                       outcome_label="Feasibility", certainty="low",
                       statement="Mobile phone-based peer\n support was found to be feasible and acceptable.")
    acceptable = replace(feasible, outcome="acceptability", outcome_label="Acceptability")
    unstated = replace(effect, claim_id="ns", population=("not_stated",), population_label="Population not stated")
    texts = {s.claim_ids: s.text for s in summarise([feasible, acceptable, unstated], StudyBase())}
    assert texts[("tel",)] == ("Mobile phone-based peer support was found to be feasible and acceptable "
                               "(low certainty; no cited work (the source's own summary)).")
    assert texts[("ns",)] == "Peer support services probably improve outcome 0 (moderate certainty; no cited work (the source's own summary))."


def test_summary_and_matrix_queries_give_their_rows(site) -> None:
    """"This table as a query": the claims behind a summary, and the citation matrix behind the CCA."""
    from collections import Counter

    from kb.analyse.groups import questions
    from kb.query.sparql import run_query
    from kb.site import summaries
    from kb.site.context import Output
    from kb.site.evidence_base import evidence_base
    from kb.site.views import Resolver

    store = site.checked.graph.store
    res = Resolver(site.checked.evidence, site.analysis)
    res.prime()
    out = Output([], {})
    for (population, intervention), rows in questions(site.analysis.rows).items():
        page = summaries.question_page(res, out, population, intervention, rows)
        got = Counter((str(s["claim"].value).rsplit("/", 1)[1], str(s["outcome"].value).rsplit("/", 1)[1])
                      for s in run_query(store, page.claims_query.text))
        assert got == Counter((r.claim_id, r.outcome) for r in rows), page.path
    domain = summaries.domain_page(res, out, "service_use")
    got = {str(s["claim"].value).rsplit("/", 1)[1] for s in run_query(store, domain.claims_query.text)}
    assert got == {r.claim_id for r in site.analysis.rows if r.domain == "service_use"}
    cell = [r for r in site.analysis.rows if "smi" in r.population and r.outcome == "hospitalisation"]
    overlap = evidence_base(res, cell).overlap
    pairs = {(str(s["review"].value).rsplit("/", 1)[1], str(s["study"].value).rsplit("/", 1)[1])
             for s in run_query(store, overlap.query.text)}
    shown = {(overlap.columns[i].path, row.head.path) for row in overlap.citations
             for i, (code, _) in enumerate(row.cells) if code == "in"}
    assert len(pairs) == len(shown) == overlap.inclusions == 6


def test_the_surest_sentences_are_the_first_of_all_of_them(fixture_site) -> None:
    """A page shows the first few sentences; ``surest`` words only those that can come first, and must
    give exactly the first ``limit`` of :func:`summarise` and how many there are in all."""
    from collections import defaultdict

    from kb.site.grade import summarise, surest

    rows, base = fixture_site.analysis.rows, fixture_site.analysis.studies
    groups: dict[str, list] = defaultdict(list)
    for row in rows:
        for population in row.population:
            groups[population].append(row)
        groups[row.outcome].append(row)
    groups["everything"] = list(rows)
    levels_seen = set()
    for members in groups.values():
        everything = summarise(members, base)
        levels_seen.add(len({s.certainty for s in everything}))
        for limit in (0, 1, 2, 3, 5, len(everything), len(everything) + 1):
            assert surest(members, base, limit) == (everything[:limit], len(everything))
        assert surest(members, base, None) == (everything, len(everything))
    assert max(levels_seen) >= 3, "some group should mix certainty levels, or the cut by level is untested"
