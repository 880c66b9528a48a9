"""Summary-of-findings pages: one per question (population × intervention) and one per outcome domain.

Each is a GRADE summary-of-findings table (:mod:`kb.analyse.sof` builds the rows and states the row
rule): per outcome the statement in GRADE guidance 26's words, the direction, the distinct studies
and reviews with their overlap, participants and the effect where reported, and the certainty
with footnotes that give the downgrades and the editors' reasons. By default a table holds
effects; other kinds of finding (associations, implementation, prevalence, protocols) get a table
of their own, and on domain pages so do interventions not delivered by peers.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable

from kb.analyse.analysis import Row, level_rank
from kb.analyse.sof import LOWER, SAME, Body, SofRow, sof_rows
from kb.io import gz
from kb.io.tables import csv_lines, dicts_to_csv, write_csv
from kb.model import Claim
from kb.site import jsonld, tablequery
from kb.site.context import Output, add_csv
from kb.site.evidence_base import base_view, evidence_base
from kb.site.grade import EFFECT, LEVEL_WORDS, join_words, lower_first, sof_statement, stated, statements
from kb.site.pages import Link, Term
from kb.site.summary_pages import (
    BodyClaim,
    BodyView,
    Footnote,
    SofRowView,
    SofTable,
    SummariesIndexPage,
    SummaryEntry,
    SummaryPage,
)
from kb.site.views import DOWNGRADE_LABELS, Resolver, effect_text

PEER = "peer_delivered"
QUESTIONS_CSV = "summaries/questions.csv.gz"  # a large KB's questions' rows, in one file (issue 17)
CSV_COLUMNS = ["table", "outcome", "question", "kind", "statement", "direction", "certainty", "footnotes",
               "studies_and_reviews", "participants", "effect", "claims"]


class Footnotes:
    """Footnotes of one page, lettered in order of first use; the same text keeps its letter."""

    def __init__(self, shown: int) -> None:
        self.shown = shown  # claims linked per footnote; the rest are counted
        self._by_text: dict[str, tuple[str, dict[Link, None]]] = {}  # text → (label, claims in order)

    def label(self, text: str, claim: Link) -> str:
        if text not in self._by_text:
            self._by_text[text] = (_letters(len(self._by_text)), {})
        label, claims = self._by_text[text]
        claims[claim] = None
        return label

    def items(self) -> tuple[Footnote, ...]:
        return tuple(Footnote(label, text, tuple(claims)[:self.shown], max(0, len(claims) - self.shown))
                     for text, (label, claims) in self._by_text.items())


def _letters(n: int) -> str:
    out = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        out = chr(ord("a") + rest) + out
    return out


def certainty_note(res: Resolver, claim: Claim) -> str:
    """Why the claim has its certainty: the source's words, or the start and the downgrades ("" for high)."""
    cert = claim.certainty
    reason = " ".join((cert.reason or "").split())
    if cert.basis == "reported":
        return f"Certainty as the source reports it: “{cert.reported_as}”." + (f" {reason}" if reason else "")
    if cert.level == "high" and not cert.downgrades:
        return ""
    start = LEVEL_WORDS.get(cert.start or "", cert.start or "")
    text = f"Starts {start} ({lower_first(res.label('design', claim.design))})"
    if cert.downgrades:
        text += "; downgraded one level each for " + join_words([DOWNGRADE_LABELS.get(d, d) for d in cert.downgrades])
    else:
        text += "; not downgraded"
    return text + (f": {reason}" if reason else ".")


def _whose(res: Resolver, perspective: str) -> str:
    if perspective in ("recipient", "not_stated"):
        return ""
    return f"for {lower_first(res.label('perspective', perspective))}"


def _claim_effect(claim: Claim, outcome: str) -> str:
    finding = next((f for f in claim.outcomes if f.outcome == outcome), None)
    return effect_text(finding.effect if finding and finding.effect else claim.effect)


def _participants(claim: Claim) -> str:
    parts = []
    if claim.n_participants is not None:
        parts.append(f"{claim.n_participants} participants")
    if claim.n_studies is not None:
        parts.append(f"{claim.n_studies} {'study' if claim.n_studies == 1 else 'studies'}")
    return ", ".join(parts)


def _reported(res: Resolver, bodies: tuple[Body, ...], what: Callable[[Claim], str]) -> str:
    """One value per claim that reports it, never added up (claims may share studies and people);
    named by claim wherever the row rests on more than one."""
    found = [(c, what(res.ev.claims_by_id[c])) for b in bodies for c in b.claim_ids]
    found = [(c, v) for c, v in found if v]
    if not found:
        return "Not reported"
    if len(found) == 1 and sum(len(b.claim_ids) for b in bodies) == 1:
        return found[0][1]
    shown = res.limits.reported
    more = len(found) - shown
    return "; ".join(f"{v} ({c})" for c, v in found[:shown]) + (f"; and {more} more" if more > 0 else "")


class TableBuilder:
    """Turns analysis rows into summary-of-findings rows for one page."""

    def __init__(self, res: Resolver, notes: Footnotes, population: str | None = None) -> None:
        self.res = res
        self.notes = notes
        self.population = population  # the question's population, or None (each row's own)

    def statement(self, body: Body, kind: str) -> str:
        row = body.rows[0]
        if kind != EFFECT:  # not an effect: the editors' own plain-language statements, never causal wording
            return statements(body.rows)
        populations = (self.population,) if self.population else row.population
        population = stated(populations, self.res.label("population", self.population) if self.population
                            else row.population_label)
        return sof_statement(row.intervention_label, row.outcome_label, population, body.direction, body.certainty,
                             _whose(self.res, row.perspective))

    def body(self, body: Body, kind: str, shown: int) -> BodyView:
        """The view of a body of evidence, with its first ``shown`` claims (all its footnotes)."""
        res = self.res
        labels: list[str] = []
        claims: list[BodyClaim] = []
        for claim_id in body.claim_ids:
            claim = res.ev.claims_by_id[claim_id]
            note = certainty_note(res, claim)
            if note:
                label = self.notes.label(note, res.claim_link(claim_id))
                if label not in labels:
                    labels.append(label)
            if len(claims) >= shown:
                continue
            claims.append(BodyClaim(res.claim_link(claim_id), " ".join(claim.statement.split()),
                                    " ".join(claim.quote.split()), claim.section, res.ref_link(claim.source),
                                    res.label("design", claim.design), _claim_effect(claim, body.rows[0].outcome),
                                    _participants(claim)))
        return BodyView(self.statement(body, kind), res.term("direction", body.direction, link=False),
                        res.term("certainty", body.certainty, link=False), tuple(labels), body.count.phrase(),
                        tuple(claims), tuple(body.claim_ids))

    def row(self, row: SofRow, anchor: str, question: bool, kind: str) -> SofRowView:
        res = self.res
        views, shown = [], res.limits.row_claims
        for b in row.bodies:
            views.append(self.body(b, kind, shown))
            shown -= len(views[-1].claims)
        lead = views[:len(row.lead)]
        level = LEVEL_WORDS.get(row.certainty, row.certainty)
        conflict = ""
        statement = lead[0].statement
        if row.conflict == SAME:
            statement = f"No single answer: findings of {level} certainty point different ways."
            conflict = (f"{len(lead)} bodies of evidence of the same ({level}) certainty disagree; each is given "
                        "below and none is merged into the other.")
        elif row.conflict == LOWER:
            conflict = "Evidence of lower certainty points another way; it is listed below, not merged."
        listed = tuple(views) if row.conflict == SAME else tuple(views[1:])
        first = row.rows[0]
        lead_count = res.analysis.studies.count(r for b in row.lead for r in b.rows)
        footnotes = tuple(dict.fromkeys(label for b in lead for label in b.footnotes))
        outcome = res.term("outcome", row.outcome)
        context = f"{first.population_label} · {first.intervention_label}" if question else ""
        whose = _whose(res, first.perspective)
        return SofRowView(
            id=anchor, outcome=outcome, question=context + (f" ({whose})" if whose else ""),
            kind=res.term("finding_type", first.finding_type, link=False) if kind != EFFECT else None,
            statement=statement, conflict=conflict, conflict_kind=row.conflict,
            direction=res.term("direction", row.bodies[0].direction if row.conflict != SAME else "mixed", link=False),
            certainty=res.term("certainty", row.certainty, link=False), footnotes=footnotes,
            count=lead_count.phrase(), count_all=row.count.phrase() if row.count != lead_count else "",
            participants=_reported(res, row.lead, _participants),
            effect=_reported(res, row.lead, lambda c: _claim_effect(c, row.outcome)), bodies=tuple(views),
            listed=listed[:res.limits.row_bodies], more_bodies=max(0, len(listed) - res.limits.row_bodies),
            base=evidence_base(res, row.rows),
            cell=self._cell(row) if len(listed) > res.limits.row_bodies or any(v.total > len(v.claims) for v in views)
            else None,
        )

    def _cell(self, row: SofRow) -> Link:
        """The map cell (population × outcome) that lists every claim of a row whose bodies list the first ones."""
        population = self.population or row.rows[0].population[0]
        return Link(self.res.cell_path("population", population, row.outcome),
                    f"{self.res.label('outcome', row.outcome)} in {self.res.label('population', population)}")

    def table(self, table_id: str, caption: str, note: str, rows: list[Row], key: Callable[[Row], Hashable],
              *, question: bool = False, kind: str = EFFECT, empty: tuple[Term, ...] = ()) -> SofTable:
        built = sof_rows(rows, self.res.analysis.studies, key)
        more: tuple[tuple[Term, int], ...] = ()
        if question:
            built, more = self._best_per_outcome(built)
        built.sort(key=lambda r: (self.res.label("outcome", r.outcome).lower(), r.rows[0].population_label,
                                  r.rows[0].intervention_label, level_rank(r.certainty), r.key))
        views = tuple(self.row(r, f"{table_id}-{n}", question, EFFECT if kind == EFFECT else r.rows[0].finding_type)
                      for n, r in enumerate(built, start=1))
        return SofTable(table_id, caption, note, views, empty, grouped=question, more=more)

    def _best_per_outcome(self, built: list[SofRow]) -> tuple[list[SofRow], tuple[tuple[Term, int], ...]]:
        """At most ``domain_questions`` rows per outcome (surest, best studied first), and how many were left out."""
        by_outcome: dict[str, list[SofRow]] = defaultdict(list)
        for row in built:
            by_outcome[row.outcome].append(row)
        kept, more = [], []
        for outcome, rows in sorted(by_outcome.items(), key=lambda kv: self.res.label("outcome", kv[0]).lower()):
            rows.sort(key=lambda r: (level_rank(r.certainty), -r.count.works, r.key))
            kept += rows[:self.res.limits.domain_questions]
            if len(rows) > self.res.limits.domain_questions:
                more.append((self.res.term("outcome", outcome), len(rows) - self.res.limits.domain_questions))
        return kept, tuple(more)


def _csv_rows(tables: Iterable[SofTable]) -> list[dict[str, object]]:
    return [{
        "table": t.caption, "outcome": r.outcome.label, "question": r.question,
        "kind": r.kind.label if r.kind else "Effect",
        "statement": r.statement, "direction": r.direction.id, "certainty": r.certainty.id,
        "footnotes": " ".join(r.footnotes), "studies_and_reviews": r.count, "participants": r.participants,
        "effect": r.effect, "claims": " ".join(c for b in r.bodies for c in b.ids)}
        for t in tables for r in t.rows]


def _csv(tables: Iterable[SofTable]) -> str:
    return dicts_to_csv(_csv_rows(tables), CSV_COLUMNS)


# --- pages -------------------------------------------------------------------------------------


def summary_pages(res: Resolver, out: Output) -> None:
    """Every question page, every domain page and the index."""
    entries: dict[str, list[SummaryEntry]] = defaultdict(list)
    adjacent: list[SummaryEntry] = []
    # a large KB's one CSV of every question: each question's lines, kept with its page's key (writing all ~36,000
    # rows again was ~0.5 s of every rebuild at 10k/50k)
    combined: list[str] | None = None if res.limits.question_csv else []
    keep = out.keeper
    for (population, intervention), members in res.analysis.groups.questions().items():
        path = res.summary_path(population, intervention)
        key = keep.key(path, keep.rows(members))  # a question's page reads only its own findings
        kept = keep.reuse(path, key)
        if kept:  # what the index reads of the page is kept with it (counting each question's rows was ~0.5 s)
            phrase, title, csv_text, effects = kept.memo
        else:
            csv_rows: list[dict[str, object]] | None = [] if combined is not None else None
            page = question_page(res, out, population, intervention, members, csv_rows)
            phrase, title = page.base.phrase, page.title
            csv_text = "".join(csv_lines([row.get(c, "") for c in _COMBINED] for row in csv_rows)) \
                if csv_rows is not None else None
            effects = len({r.outcome for r in members if r.finding_type == EFFECT})
            keep.record(path, key, out.own_csv(page), (phrase, title, csv_text, effects))
            out.settle()
        if combined is not None and csv_text is not None:
            combined.append(csv_text)
        entry = SummaryEntry(Link(path, res.label("intervention", intervention)), phrase, effects,
                             "" if effects else "no effect findings; other kinds only")
        kind = res.vocab.get("intervention", intervention)
        if kind is not None and kind.kind != PEER:
            adjacent.append(SummaryEntry(Link(path, title), entry.count, entry.outcomes, entry.note))
        else:
            entries[population].append(entry)
    by_domain = res.analysis.groups.by("domain")
    domains = []
    for domain in sorted(res.vocab.ids("outcome", domains=True), key=lambda d: res.label("outcome", d).lower()):
        path = res.domain_summary_path(domain)
        key = keep.key(path, keep.rows(by_domain.get(domain, ())))  # the findings on the domain's outcomes
        kept = keep.reuse(path, key)
        if kept:
            phrase, with_findings = kept.memo
        else:
            page = domain_page(res, out, domain, by_domain.get(domain, []))
            phrase, with_findings = page.base.phrase, len({r.outcome.id for r in page.tables[0].rows})
            keep.record(path, key, out.own_csv(page), (phrase, with_findings))
            out.settle()
        domains.append(SummaryEntry(Link(path, res.label("outcome", domain)), phrase, with_findings,
                                    "" if with_findings else "no effect of peer support recorded yet"))
    index = SummariesIndexPage(
        path="summaries/index.html", title="Summaries of findings", template="summaries.html", section="summaries",
        description="What the evidence shows, question by question and outcome domain by outcome domain, "
                    "in the form of GRADE summary-of-findings tables.",
        domains=tuple(domains),
        questions=tuple((res.term("population", p), tuple(sorted(es, key=lambda e: e.link.label.lower())))
                        for p, es in sorted(entries.items(), key=lambda kv: res.label("population", kv[0]).lower())),
        adjacent=tuple(sorted(adjacent, key=lambda e: e.link.label.lower())),
    )
    index.jsonld = jsonld.collection(res, index.title, index.description)
    out.pages.append(index)
    if combined is not None:
        # the same rows, the same file: linked from the last build, not compressed again (~0.3 s at 10k/50k)
        text = (write_csv(_COMBINED, ()) + "".join(combined)).encode("utf-8")
        out.keyed_file(QUESTIONS_CSV, keep.key(QUESTIONS_CSV, hashlib.blake2b(text, digest_size=16).digest()),
                       lambda: gz.compress(text))


_COMBINED = ["population", "intervention", *CSV_COLUMNS]  # the columns of QUESTIONS_CSV


def question_page(res: Resolver, out: Output, population: str, intervention: str, rows: list[Row],
                  combined: list[dict[str, object]] | None = None) -> SummaryPage:
    """A question's page, with its rows as CSV: its own file, or (``combined``, a large KB) rows added
    to the one CSV of every question (:data:`QUESTIONS_CSV`) that the page links instead."""
    notes = Footnotes(res.limits.note_claims)
    build = TableBuilder(res, notes, population)
    concept = res.vocab.get("intervention", intervention)
    peer = concept is None or concept.kind == PEER
    pop_label, int_label = res.label("population", population), res.label("intervention", intervention)
    effects = [r for r in rows if r.finding_type == EFFECT]
    others = [r for r in rows if r.finding_type != EFFECT]
    tables = [build.table("sof-effects", f"Effects of {lower_first(int_label)} in {lower_first(pop_label)}",
                          "Effects only: what the intervention changed, or did not change. One row per outcome.",
                          effects, lambda r: (r.outcome, r.perspective))]
    if others:
        tables.append(build.table("sof-other-kinds", "Other kinds of finding (not effects)",
                                  "Associations, implementation findings, prevalence and studies without results: "
                                  "not evidence that the intervention causes a change.", others,
                                  lambda r: (r.outcome, r.perspective, r.finding_type), kind="other"))
    domains = sorted({r.domain for r in rows if r.domain}, key=lambda d: res.label("outcome", d).lower())
    related = [Link(res.domain_summary_path(d), f"Summary: {res.label('outcome', d)}") for d in domains]
    related += [t.link for t in (res.term("population", population), res.term("intervention", intervention)) if t.link]
    page = SummaryPage(
        path=res.summary_path(population, intervention), title=f"{int_label} in {lower_first(pop_label)}",
        template="summary.html", section="summaries", breadcrumbs=(Link("summaries/index.html", "Summaries"),),
        description=f"Summary of findings: {lower_first(int_label)} for {lower_first(pop_label)}.", kind="question",
        lede=f"What the evidence in the KB says about {lower_first(int_label)} for {lower_first(pop_label)}, "
             "outcome by outcome, and how sure we can be.",
        facts=(("Population", res.term("population", population)),
               ("Intervention", res.term("intervention", intervention)),
               ("Who delivers it", res.intervention_kind(intervention))),
        label="" if peer else "Not delivered by peers: this intervention is discussed beside peer support "
                              "(peer-adjacent). Its findings are not findings about peer support.",
        tables=tuple(tables), footnotes=notes.items(), base=evidence_base(res, rows), related=tuple(related),
        claims_query=tablequery.claim_rows(
            f"The claims behind the summary of findings of {lower_first(int_label)} in {lower_first(pop_label)}.",
            f"  ?claim psk:population <{res.concept_iri('population', population)}> ;\n"
            f"         psk:intervention <{res.concept_iri('intervention', intervention)}> .\n"),
    )
    page.jsonld = jsonld.collection(res, page.title, page.description)
    if combined is None:
        add_csv(out, page, _csv(tables))
    else:
        page.csv = Link(QUESTIONS_CSV, "every question's rows as CSV (gzip)")
        combined += ({"population": population, "intervention": intervention, **row} for row in _csv_rows(tables))
    out.pages.append(page)
    return page


def domain_page(res: Resolver, out: Output, domain: str, rows: list[Row] | None = None) -> SummaryPage:
    """A domain's page; ``rows`` are the findings on its outcomes, in the analysis's order (default: found here)."""
    notes = Footnotes(res.limits.note_claims)
    build = TableBuilder(res, notes)
    outcomes = [o for o in res.vocab.ids("outcome") if getattr(res.vocab.get("outcome", o), "broader", None) == domain]
    if rows is None:
        rows = [r for r in res.analysis.rows if r.domain == domain]
    def key(r: Row) -> tuple[str, ...]:
        return (r.outcome, " ".join(r.population), r.intervention, r.perspective)

    peer = [r for r in rows if r.finding_type == EFFECT and r.intervention_kind == PEER]
    adjacent = [r for r in rows if r.finding_type == EFFECT and r.intervention_kind != PEER]
    others = [r for r in rows if r.finding_type != EFFECT]
    label = res.label("outcome", domain)
    found = {r.outcome for r in peer}
    empty = tuple(res.term("outcome", o) for o in sorted(outcomes, key=lambda o: res.label("outcome", o).lower())
                  if o not in found)
    tables = [build.table("sof-effects", f"{label}: effects of peer support",
                          "Effects of peer-delivered interventions only, one row per outcome and question "
                          "(population × intervention).", peer, key, question=True, empty=empty)]
    if adjacent:
        tables.append(build.table("sof-adjacent", f"{label}: interventions not delivered by peers",
                                  "Peer-adjacent interventions, discussed beside peer support but not delivered by "
                                  "peers: not evidence about peer support.", adjacent, key, question=True))
    if others:
        tables.append(build.table("sof-other-kinds", f"{label}: other kinds of finding (not effects)",
                                  "Associations, implementation findings, prevalence and studies without results.",
                                  others, (lambda r: (*key(r), r.finding_type)), question=True, kind="other"))
    concept = res.vocab.get("outcome", domain)
    facts: tuple[tuple[str, Term | str], ...] = (("Outcomes", ", ".join(res.label("outcome", o) for o in sorted(
        outcomes, key=lambda o: res.label("outcome", o).lower())) or "none"),)
    if concept is not None and concept.core_area:
        facts += (("COMET core area", concept.core_area),)
    page = SummaryPage(
        path=res.domain_summary_path(domain), title=f"Summary of findings: {label}", template="summary.html",
        section="summaries", breadcrumbs=(Link("summaries/index.html", "Summaries"),),
        description=f"What the evidence says about {lower_first(label)}, outcome by outcome.", kind="domain",
        lede=(res.words("outcome", domain)[0] if concept else "") + " Every outcome of this domain, with what the "
             "evidence in the KB says about each and how sure we can be.",
        facts=facts, label="", tables=tuple(tables), footnotes=notes.items(), base=evidence_base(res, peer),
        related=tuple(o.link for o in (res.term("outcome", o) for o in outcomes) if o.link),
        claims_query=tablequery.claim_rows(
            f"The claims behind the summary of findings of the domain {label}.",
            f"  ?finding psk:outcome/skos:broader <{res.concept_iri('outcome', domain)}> .\n"),
    )
    page.jsonld = jsonld.collection(res, page.title, page.description)
    add_csv(out, page, _csv(tables))
    out.pages.append(page)
    return page


__all__ = ["base_view", "domain_page", "question_page", "summary_pages"]
