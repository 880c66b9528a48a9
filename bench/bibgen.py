"""Synthetic, realistic BibTeX for the benchmark corpus: the cost of loading lies in the details.

Entries look like an exported reference manager library: long author lists (some with 15–40
names, some ending in ``and others``), LaTeX accents in names, ``month`` macros, abstracts of
150–250 words, keywords, DOIs on most articles, page ranges with ``--``, and a mix of entry
types. Citekeys follow the editors' rule (family + year + first significant title word, a
suffix on a clash), so the corpus passes ``kb check`` the way curated data would.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, field

FAMILIES = tuple(str.split(
    "Smith Jones Williams Brown Taylor Davies Evans Wilson Thomas Roberts Johnson Walker Wright Robinson Thompson "
    "White Hughes Edwards Green Hall Wood Harris Lewis Martin Jackson Clarke Clark Turner Hill Scott Cooper Morris "
    "Ward Moore King Watson Baker Harrison Morgan Patel Young Allen Mitchell James Anderson Phillips Lee Bell Parker "
    "Davis Nguyen Chen Wang Li Zhang Liu Yang Huang Zhao Wu Zhou Kim Park Choi Tanaka Suzuki Sato Watanabe Ito "
    "Nakamura Kobayashi Singh Kumar Sharma Gupta Das Okafor Mensah Osei Mwangi Kamau Otieno Agyapong Shalaby "
    "Hansen Johansen Larsen Andersen Nielsen Berg Lind Virtanen Korhonen Novak Kowalski Nowak Horvath Rossi Russo "
    "Ferrari Esposito Bianchi Romano Colombo Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter Klein "
    "Wolf Schroeder Neumann Dubois Moreau Laurent Lefebvre Leroy Roux Fournier Gonzalez Rodriguez Fernandez Lopez "
    "Martinez Sanchez Perez Gomez Diaz Moreno Silva Santos Oliveira Souza Costa Pereira Carvalho Almeida Ferreira "
    "Murphy Kelly OBrien Byrne Ryan Walsh McCarthy Doyle Lynch Gallagher Cohen Levi Mizrahi Friedman Hassan Ali "
    "Ahmed Mohamed Ibrahim Yilmaz Kaya Demir Sahin Celik Ivanov Petrov Sidorov Popescu Ionescu Papadopoulos "
    "Lloyd-Evans Repper Carter Davidson Solomon Chinman Mead Pitt Gillard Simpson Trachtenberg Mahlke Fortuna"
))
ACCENTED = ((r"M{\"u}ller", "Müller"), (r"Garc{\'\i}a", "García"), (r"Gonz{\'a}lez", "González"),
            (r"Sch{\"o}n", "Schön"), (r"{\O}stergaard", "Østergaard"), (r"N{\'u}{\~n}ez", "Núñez"),
            (r"Bj{\"o}rk", "Björk"), (r"{\v{S}}imek", "Šimek"), (r"Fran{\c{c}}ois", "François"))
GIVEN = tuple(str.split(
    "A. B. C. D. E. F. G. H. J. K. L. M. N. P. R. S. T. V. W. Y. Anna Maria Sarah John David Michael Laura "
    "Emma James Peter Thomas Helen Rachel Julie Mark Paul Chen Wei Kenji Priya Ama Kwame Ingrid Lars "
    "Giulia Marco Sofia Pablo Lucia Joao Aoife Sean Noa Omar Fatima Ayse Olga Elena Maria~Jose"))
JOURNALS = (
    "Psychiatric Services", "Psychiatric Rehabilitation Journal", "BMC Psychiatry", "The British Journal of "
    "Psychiatry", "Journal of Mental Health", "Community Mental Health Journal", "Social Psychiatry and "
    "Psychiatric Epidemiology", "The Lancet Psychiatry", "JAMA Psychiatry", "Schizophrenia Bulletin",
    "Journal of Affective Disorders", "Addiction", "Drug and Alcohol Dependence", "Journal of Substance Abuse "
    "Treatment", "International Journal of Mental Health Nursing", "Journal of Psychiatric and Mental Health "
    "Nursing", "Administration and Policy in Mental Health and Mental Health Services Research", "BMJ Open",
    "PLOS ONE", "JMIR Mental Health", "Cochrane Database of Systematic Reviews", "Health Expectations",
    "Implementation Science", "Trials", "Pilot and Feasibility Studies", "Early Intervention in Psychiatry",
    "Australian and New Zealand Journal of Psychiatry", "Canadian Journal of Psychiatry", "World Psychiatry",
    "Epidemiology and Psychiatric Sciences", "Qualitative Health Research", "Social Science & Medicine",
)
PUBLISHERS = ("Springer", "Routledge", "Oxford University Press", "Cambridge University Press", "Wiley-Blackwell",
              "Mental Health Commission of Canada", "World Health Organization", "SAMHSA", "NHS England")
TITLE_OPENERS = ("Effectiveness of", "Peer support and", "A randomised controlled trial of", "Experiences of",
                 "Outcomes of", "Implementing", "The impact of", "Evaluating", "Lived experience and",
                 "Feasibility of", "Mechanisms of change in", "Cost-effectiveness of", "Barriers to")
TITLE_TAILS = ("a randomised controlled trial", "a systematic review and meta-analysis", "a qualitative study",
               "a pilot study", "a cohort study", "a mixed-methods evaluation", "a cross-sectional survey",
               "protocol for a cluster randomised trial", "a realist review", "results from a national programme")
STOP = {"a", "an", "the", "of", "on", "in", "and", "for", "to", "with", "from", "at", "by"}
ABSTRACT_SENTENCES = (
    "Peer support is increasingly offered alongside clinical care for people with {pop}.",
    "We examined whether {int} improved {out} compared with usual care.",
    "Participants were recruited from {n} community and hospital services between {y0} and {y1}.",
    "The primary outcome was {out}; secondary outcomes included {out2} and service use.",
    "Data were analysed using mixed-effects models adjusted for baseline severity and site.",
    "Semi-structured interviews explored how participants experienced the relationship with peer workers.",
    "Fidelity to the peer support model was assessed with a structured checklist at each site.",
    "Compared with controls, participants reported changes in {out2} at {m} months.",
    "Effects on {out} were small and confidence intervals were wide.",
    "Peer workers described role ambiguity, limited supervision and concerns about disclosure.",
    "Findings suggest that {int} may be a feasible and acceptable addition to services.",
    "Larger trials with longer follow-up and economic evaluation are needed.",
    "Implementation depended on organisational readiness and the support of clinical teams.",
)


@dataclass
class Ref:
    """One generated entry: its key, BibTeX text and the facts the claim generator reuses."""

    key: str
    entry_type: str
    title: str
    year: int
    design_hint: str
    bibtex: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def ascii_fold(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]", "", folded.lower())


class BibGen:
    """Deterministic generator of N entries; ``topics`` supplies population/intervention/outcome words."""

    def __init__(self, rng: random.Random, topics: tuple[list[str], list[str], list[str]]) -> None:
        self.rng = rng
        self.pops, self.ints, self.outs = topics
        self.keys: set[str] = set()
        self.doi_serial = 0

    def person(self) -> str:
        rng = self.rng
        family = rng.choice(ACCENTED)[0] if rng.random() < 0.05 else rng.choice(FAMILIES)
        given = rng.choice(GIVEN)
        if rng.random() < 0.3:
            given += " " + rng.choice(GIVEN[:20])
        return f"{family}, {given}"

    def authors(self) -> tuple[str, str]:
        rng = self.rng
        roll = rng.random()
        count = rng.randint(15, 40) if roll < 0.08 else rng.randint(1, 8)
        names = [self.person() for _ in range(count)]
        if rng.random() < 0.15:
            names.append("others")
        return " and ".join(names), names[0].split(",")[0]

    def title(self) -> tuple[str, str]:
        rng = self.rng
        tail = rng.choice(TITLE_TAILS)
        words = f"{rng.choice(TITLE_OPENERS)} {rng.choice(self.ints).lower()} for {rng.choice(self.pops).lower()}"
        if rng.random() < 0.1:
            words = words.replace("peer", "{Peer}", 1)  # protected capitals, as managers export them
        return f"{words}: {tail}", tail

    def citekey(self, first_family: str, year: int, title: str) -> str:
        family = ascii_fold(re.sub(r"\{\\.\{?(\w)\}?\}|\{\\(\w)\}|[{}\\'\"~^`]", r"\1\2", first_family))
        words = [ascii_fold(w) for w in re.split(r"[\s:,-]+", re.sub(r"[{}]", "", title))]
        word = next((w for w in words if w and w not in STOP), "untitled")
        base = f"{family or 'anon'}{year}{word}"
        key, n = base, 0
        while key in self.keys:
            key = base + _suffix(n)
            n += 1
        self.keys.add(key)
        return key

    def abstract(self) -> str:
        rng = self.rng
        sentences = rng.sample(ABSTRACT_SENTENCES, rng.randint(7, 11))
        values = {"pop": rng.choice(self.pops).lower(), "int": rng.choice(self.ints).lower(),
                  "out": rng.choice(self.outs).lower(), "out2": rng.choice(self.outs).lower(),
                  "n": rng.randint(2, 40), "y0": 2005 + rng.randint(0, 8), "y1": 2014 + rng.randint(0, 8),
                  "m": rng.choice((3, 6, 12, 18, 24))}
        text = " ".join(s.format(**values) for s in sentences)
        while len(text.split()) < 150:
            text += " " + rng.choice(ABSTRACT_SENTENCES).format(**values)
        return text.replace("%", r"\%")

    def entry(self, review: bool = False) -> Ref:
        rng = self.rng
        roll = rng.random()
        entry_type = "article" if review or roll < 0.78 else rng.choice(
            ("book", "incollection", "techreport", "online", "misc", "online", "techreport"))
        year = rng.randint(1995, 2024)
        title, tail = self.title()
        if review:
            title = title.split(":")[0] + ": a systematic review"
        authors, first = self.authors()
        if entry_type in ("online", "techreport") and rng.random() < 0.5:
            org = rng.choice(PUBLISHERS)
            authors, first = "{" + org + "}", org.split()[0]
        key = self.citekey(first, year, title)
        fields: list[tuple[str, str]] = [("author", authors), ("title", title)]
        if entry_type == "article":
            fields += [("journal", rng.choice(JOURNALS)), ("year", str(year)), ("volume", str(rng.randint(1, 80))),
                       ("number", str(rng.randint(1, 12))), ("pages", _pages(rng)), ("month", _month(rng))]
            if review or rng.random() < 0.75:
                self.doi_serial += 1
                fields.append(("doi", f"10.{rng.randint(1000, 99999)}/{key[:12]}.{year}.{self.doi_serial:06d}"))
        elif entry_type == "incollection":
            fields += [("booktitle", f"Handbook of {rng.choice(self.ints).lower()}"), ("editor", self.person()),
                       ("publisher", rng.choice(PUBLISHERS)), ("year", str(year)), ("pages", _pages(rng))]
        elif entry_type == "book":
            fields += [("publisher", rng.choice(PUBLISHERS)), ("year", str(year)), ("edition", "2")]
        elif entry_type == "techreport":
            fields += [("institution", rng.choice(PUBLISHERS)), ("year", str(year)),
                       ("number", f"R-{year}-{rng.randint(1, 99)}")]
        else:
            fields += [("year", str(year)), ("url", f"https://example.org/{key}/report.html"),
                       ("urldate", f"{rng.randint(2019, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")]
        fields += [("abstract", self.abstract()), ("keywords", "peer support; mental health; " + tail)]
        if rng.random() < 0.1:
            fields.append(("annote", "The source gives the page range in a different form; the publisher's is kept."))
        body = ",\n".join(f"  {name} = {value}" if name == "month" else f"  {name} = {{{value}}}"
                          for name, value in fields)
        return Ref(key, entry_type, title, year, tail, f"@{entry_type}{{{key},\n{body},\n}}\n")


def _suffix(n: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = letters[r] + out
    return out


def _pages(rng: random.Random) -> str:
    start = rng.randint(1, 2000)
    return f"{start}--{start + rng.randint(4, 25)}"


def _month(rng: random.Random) -> str:
    return rng.choice(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))
