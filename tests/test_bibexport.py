"""The bibliography as CSL-JSON and RIS: validated by each format's own tooling and read back.

CSL-JSON is validated against the CSL 1.0.1 data schema (tests/data/csl-data.json) and read by
citeproc-py; RIS is read back with rispy. Each is compared, work by work, with what the BibTeX
says — titles, authors in order, years, DOIs, types — on the real corpus (152 works), the
fixture and 300 synthetic entries of the benchmark's generator (accents, abstracts, keywords,
corporate authors, every entry type it makes).
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import pytest
import rispy
from click.testing import CliRunner
from jsonschema import Draft3Validator

from kb.bibtex.load import latex_to_text, load_references
from kb.cli import main
from kb.export.csljson import csl_item, csljson_bytes
from kb.export.ris import ris_bytes, ris_record
from kb.export.works import TRUNCATED_NOTE
from kb.model import Person, Reference
from tests.conftest import DATA, FIXTURE, REAL

SCHEMA = json.loads((DATA / "csl-data.json").read_text(encoding="utf-8"))
# Our BibTeX types and the CSL / RIS types they become, written out here (not imported) so that a
# change to the exporters' tables fails a test.
CSL_TYPE = {"article": "article-journal", "book": "book", "incollection": "chapter", "techreport": "report",
            "online": "webpage", "misc": "article"}
RIS_TYPE = {"article": "JOUR", "book": "BOOK", "incollection": "CHAP", "techreport": "RPRT", "online": "ELEC",
            "misc": "GEN"}


def synthetic(tmp_path: Path, n: int = 300) -> list[Reference]:
    from bench.bibgen import BibGen

    gen = BibGen(random.Random(15), (["Adults with psychosis", "Veterans"], ["Peer support groups", "Peer mentoring"],
                                     ["Hope", "Hospital admissions"]))
    bib = tmp_path / "synthetic.bib"
    bib.write_text("".join(gen.entry().bibtex + "\n" for _ in range(n)), encoding="utf-8")
    refs, problems = load_references(bib)
    assert not [p for p in problems if p.severity == "error"]
    return refs


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Reference]]:
    out = {name: load_references(folder / "references.bib")[0] for name, folder in (("real", REAL),
                                                                                    ("fixture", FIXTURE))}
    out["synthetic"] = synthetic(tmp_path_factory.mktemp("bib"))
    assert len(out["real"]) == 152
    return out


def person(p: Person) -> tuple[str, str]:
    return latex_to_text(p.family), latex_to_text(p.given)


def year(ref: Reference) -> str:
    return latex_to_text(ref.year) or ref.get("date")[:4]


@pytest.mark.parametrize("corpus", ["real", "fixture", "synthetic"])
def test_csljson_is_valid_and_reads_back_into_the_same_works(corpora, corpus: str) -> None:
    refs = corpora[corpus]
    items = json.loads(csljson_bytes(refs))
    errors = sorted(Draft3Validator(SCHEMA).iter_errors(items), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    assert [i["id"] for i in items] == sorted(r.key for r in refs)
    by_key = {r.key: r for r in refs}
    for item in items:
        ref = by_key[item["id"]]
        assert item.get("title", "") == latex_to_text(ref.title)
        names = [(a.get("family") or a.get("literal"), a.get("given", "")) for a in item.get("author", [])]
        expected = [person(p) for p in ref.authors]
        assert [(f + (", " + a["suffix"] if "suffix" in a else ""), g)
                for (f, g), a in zip(names, item.get("author", []), strict=True)] == expected, ref.key
        assert [bool(a.get("literal")) for a in item.get("author", [])] == [p.literal for p in ref.authors]
        issued = item.get("issued", {}).get("date-parts", [[""]])[0][0]
        assert str(issued) == year(ref), ref.key
        assert item.get("DOI", "") == ref.doi
        assert item["type"] == CSL_TYPE[ref.entry_type]
        assert (TRUNCATED_NOTE in item.get("note", "")) == ref.authors_truncated, ref.key


@pytest.mark.parametrize("corpus", ["real", "fixture", "synthetic"])
def test_citeproc_reads_every_csljson_item(corpora, corpus: str) -> None:
    from citeproc.source.json import CiteProcJSON

    items = json.loads(csljson_bytes(corpora[corpus]))
    for item in items:
        item.pop("journalAbbreviation", None)  # Zotero's name; citeproc-py reads container-title-short
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unsupported variable is a warning in citeproc-py
        source = CiteProcJSON(items)
    assert len(source) == len(items)


@pytest.mark.parametrize("corpus", ["real", "fixture", "synthetic"])
def test_ris_reads_back_with_rispy_into_the_same_works(corpora, corpus: str) -> None:
    refs = corpora[corpus]
    records = rispy.loads(ris_bytes(refs).decode("utf-8"))
    assert [r["id"] for r in records] == sorted(r.key for r in refs)
    by_key = {r.key: r for r in refs}
    for record in records:
        ref = by_key[record["id"]]
        assert record["type_of_reference"] == RIS_TYPE[ref.entry_type]
        assert record.get("title", "") == latex_to_text(ref.title)
        expected = [f if p.literal or not g else f"{f}, {g}" for p, (f, g) in
                    ((p, person(p)) for p in ref.authors)]
        assert record.get("authors", []) == expected, ref.key
        assert record.get("year", "") == year(ref)
        assert record.get("doi", "") == ref.doi
        assert (TRUNCATED_NOTE in record.get("notes", [])) == ref.authors_truncated
        if ref.get("url"):
            assert record["urls"] == [ref.get("url")]
        container = ref.get("journal") or ref.get("booktitle")
        assert record.get("secondary_title", "") == latex_to_text(container)
        first, _, last = latex_to_text(ref.get("pages")).partition("–")
        assert (record.get("start_page", ""), record.get("end_page", "")) == (first, last), ref.key


def test_ris_follows_the_specification_layout(corpora) -> None:
    text = ris_bytes(corpora["real"]).decode("utf-8")
    lines = text.split("\r\n")
    assert "\n" not in text.replace("\r\n", "")  # CRLF only
    assert lines[0] == "TY  - JOUR" and text.endswith("ER  - \r\n")
    assert all(line == "" or (len(line) >= 6 and line[2:6] == "  - " and line[:2].isalnum()) for line in lines)
    assert text.count("TY  - ") == text.count("ER  - ") == 152


def test_exports_are_deterministic_and_in_citekey_order(corpora) -> None:
    refs = corpora["real"]
    assert csljson_bytes(refs) == csljson_bytes(list(reversed(refs)))
    assert ris_bytes(refs) == ris_bytes(list(reversed(refs)))


def test_awkward_entries_map_as_documented(corpora) -> None:
    real = {r.key: r for r in corpora["real"]}
    mood = csl_item(real["moodndmood"])  # corporate author, no date, web page
    assert mood["author"] == [{"literal": "Mood Disorders Association of Ontario"}]
    assert "issued" not in mood and mood["type"] == "webpage"
    assert mood["accessed"] == {"date-parts": [[2020, 2, 29]]} and mood["URL"].startswith("https://")
    lloyd = csl_item(real["lloydevans2014systematic"])  # "and others", full date
    assert len(lloyd["author"]) == 6 and lloyd["note"] == TRUNCATED_NOTE
    assert lloyd["issued"] == {"date-parts": [[2014, 2, 14]]}
    translated = csl_item(real["villani2018peer"])
    assert translated["title"].startswith("[") and translated["title"].endswith("]")
    assert "translated title" in translated["annote"]
    shalaby = csl_item(real["shalaby2020peer"])
    assert shalaby["container-title"] == "JMIR Mental Health"
    assert shalaby["container-title-short"] == shalaby["journalAbbreviation"] == "JMIR Ment Health"
    chapter = csl_item(real["davidson2005recovery"])
    assert chapter["type"] == "chapter" and chapter["container-title"] == "Handbook Of Community-based Clinical Practice"
    assert chapter["editor"] == [{"family": "Lightburn", "given": "A."}, {"family": "Sessions", "given": "P."}]
    assert chapter["page"] == "476-501" and chapter["publisher-place"] == "London"
    report = ris_record(real["sunderland2013guidelines"])
    assert "TY  - RPRT\r\n" in report and "PB  - Peer Leadership Group, Mental Health Commission of Canada\r\n" in report
    assert "Y2  - 2020/02/29\r\n" in report and "CY  - Calgary\r\n" in report


def test_names_dates_and_pages_edge_cases() -> None:
    ref = Reference("x", "article", {"title": "{\\\"U}ber Peer Support", "year": "in press",
                                     "pages": "e15572", "number": "3"},
                    authors=(Person("van Dijk, Jr", "Jan"), Person("World Health Organization", literal=True)))
    item = csl_item(ref)
    assert item["title"] == "Über Peer Support"
    assert item["author"] == [{"family": "van Dijk", "given": "Jan", "suffix": "Jr"},
                              {"literal": "World Health Organization"}]
    assert item["issued"] == {"literal": "in press"} and item["page"] == "e15572" and item["issue"] == "3"
    assert not list(Draft3Validator(SCHEMA).iter_errors([item]))
    record = rispy.loads(ris_record(ref))[0]
    assert record["authors"] == ["van Dijk, Jan, Jr", "World Health Organization"]
    assert record["year"] == "in press" and record["start_page"] == "e15572" and "end_page" not in record


def test_kb_export_writes_each_bibliography_format(tmp_path: Path) -> None:
    runner = CliRunner()
    refs, _ = load_references(FIXTURE / "references.bib")
    expected = {"csljson": csljson_bytes(refs), "ris": ris_bytes(refs),
                "bibtex": (FIXTURE / "references.bib").read_bytes()}
    for fmt, payload in expected.items():
        target = tmp_path / f"out.{fmt}"
        result = runner.invoke(main, ["export", "--evidence", str(FIXTURE), "--format", fmt, "-o", str(target)])
        assert result.exit_code == 0, result.output
        assert target.read_bytes() == payload
    help_text = runner.invoke(main, ["export", "--help"]).output
    assert all(name in help_text for name in ("csljson", "ris", "bibtex", "CSL-JSON", "RIS"))


def test_kept_work_texts_give_the_same_exports_and_make_only_the_edited_works_again(
        corpora: dict[str, list[Reference]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The editors' loop keeps each work's CSL-JSON item and RIS record by what its entry says (WorkTexts): after a
    title edit the exports are a fresh export's bytes, and only the edited work is exported again."""
    import dataclasses

    import kb.export.csljson
    import kb.export.ris
    from kb.export.works import SaidMemo, WorkTexts

    refs = corpora["real"]
    says = SaidMemo()
    kept = {"json": WorkTexts(says), "ris": WorkTexts(says)}
    assert csljson_bytes(refs, kept["json"]) == csljson_bytes(refs)
    assert ris_bytes(refs, kept["ris"]) == ris_bytes(refs)
    for texts in kept.values():
        texts.end()
    says.end()
    edited = [dataclasses.replace(r, fields={**r.fields, "title": "Edited"}) if i == 7 else dataclasses.replace(r)
              for i, r in enumerate(refs)]  # every work a new object, one of them edited
    made: list[str] = []
    for module, name in ((kb.export.csljson, "item_text"), (kb.export.ris, "ris_record")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda ref, real=real: made.append(ref.key) or real(ref))
    json_kept, ris_kept = csljson_bytes(edited, kept["json"]), ris_bytes(edited, kept["ris"])
    assert made == [refs[7].key, refs[7].key]
    monkeypatch.undo()
    assert (json_kept, ris_kept) == (csljson_bytes(edited), ris_bytes(edited))
    assert json_kept != csljson_bytes(refs)


def test_a_works_entry_is_said_once_per_build_and_again_only_when_it_is_another_object(
        corpora: dict[str, list[Reference]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop hands every rebuild the same frozen Reference while its entry is unchanged: what the entry says (the
    key of its kept texts) is worked out once per build for all the exports that share the memo, again only for a
    new object, and the exports are still a fresh export's."""
    import dataclasses

    import kb.export.works as works

    refs = corpora["real"]
    said: list[str] = []
    real = works.entry_said
    monkeypatch.setattr(works, "entry_said", lambda ref: said.append(ref.key) or real(ref))
    says = works.SaidMemo()
    json_kept, ris_kept = works.WorkTexts(says), works.WorkTexts(says)

    def build(refs: list[Reference]) -> tuple[bytes, bytes]:
        out = csljson_bytes(refs, json_kept), ris_bytes(refs, ris_kept)
        json_kept.end()
        ris_kept.end()
        says.end()
        return out

    build(refs)
    assert sorted(said) == sorted(r.key for r in refs)  # once, not once per export
    said.clear()
    build(refs)  # the same objects: nothing said again
    assert said == []
    edited = [dataclasses.replace(r, fields={**r.fields, "title": "Edited"}) if i == 3 else r
              for i, r in enumerate(refs)]
    out = build(edited)
    assert said == [refs[3].key]
    monkeypatch.undo()
    assert out == (csljson_bytes(edited), ris_bytes(edited))
    assert out[0] != csljson_bytes(refs)
