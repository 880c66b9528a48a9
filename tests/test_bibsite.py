"""The bibliography on the built site, read as reference managers and data catalogues read it.

Highwire ``citation_*`` tags parsed back into each work's BibTeX fields (every work of the real
corpus alone on its page), COinS on pages of several works, the formatted citations shown, each
work's own downloads, the data scripts behind "download these references" (joined as refs.js
joins them, they give the export's bytes), ``data/void.ttl`` and the data page's ``schema:Dataset``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urljoin

import pytest
import rdflib

from kb.bibtex.load import latex_to_text
from kb.bibtex.values import month_number
from kb.export.csljson import csljson_bytes, join_items
from kb.export.formats import DATA_FILES, data_files
from kb.export.ris import join_records, ris_bytes
from kb.io import gz
from kb.site.cite import format_work
from kb.site.overview import human_size
from tests.conftest import REAL
from tests.test_site import build_site, parse

VOID = rdflib.Namespace("http://rdfs.org/ns/void#")
DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")
DCT = rdflib.namespace.DCTERMS


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory):
    return build_site(REAL, tmp_path_factory.mktemp("bibsite") / "site")


def ref_page(real, key: str) -> Path:
    from kb.site.addresses import work_page

    return real.out_dir / work_page(key)


def ref_entry(real, key: str):
    """The work's <article> on its bucket page."""
    return next(a for a in parse(ref_page(real, key)).iter("article") if a.get("id") == key)


def works_on(real, key: str) -> list[str]:
    return [a.get("id") for a in parse(ref_page(real, key)).iter("article")]


def text_of(element) -> str:
    return re.sub(r"\s+", " ", "".join(element.itertext())).strip()


def expected_highwire(ref) -> dict[str, list[str]]:
    """What the BibTeX says, in Highwire's terms — written out here, not taken from kb.site.highwire."""
    def names(people):
        out = []
        for p in people:
            family, given = latex_to_text(p.family), latex_to_text(p.given)
            if ", " in family and not p.literal:
                family, suffix = family.split(", ", 1)
                out.append(f"{family}, {given}, {suffix}")
            else:
                out.append(family if p.literal or not given else f"{family}, {given}")
        return out

    record: dict[str, list[str]] = {}
    if ref.title:
        record["citation_title"] = [latex_to_text(ref.title)]
    if ref.authors:
        record["citation_author"] = names(ref.authors)
    if ref.editors:
        record["citation_editor"] = names(ref.editors)
    if ref.get("date"):
        record["citation_publication_date"] = [ref.get("date").replace("-", "/")]
    elif ref.year:
        month = month_number(ref.get("month")) if ref.get("month") else None
        record["citation_publication_date"] = [ref.year + (f"/{month:02d}" if month else "")]
    container = {"article": "citation_journal_title", "incollection": "citation_inbook_title"}
    venue = ref.get("journal") or ref.get("booktitle")
    if venue:
        record[container[ref.entry_type]] = [latex_to_text(venue)]
    if ref.get("shortjournal"):
        record["citation_journal_abbrev"] = [ref.get("shortjournal")]
    if ref.get("volume"):
        record["citation_volume"] = [ref.get("volume")]
    if ref.get("number"):
        record["citation_issue"] = [ref.get("number")]
    if ref.get("pages"):
        first, _, last = ref.get("pages").partition("--")
        record["citation_firstpage"] = [first]
        if last:
            record["citation_lastpage"] = [last]
    if ref.get("publisher"):
        record["citation_publisher"] = [latex_to_text(ref.get("publisher"))]
    elif ref.get("institution"):
        record["citation_technical_report_institution"] = [latex_to_text(ref.get("institution"))]
    if ref.doi:
        record["citation_doi"] = [ref.doi]
    return record


def test_highwire_tags_read_back_into_every_works_bibtex_fields(real) -> None:
    refs = real.checked.evidence.references
    assert len(refs) == 152
    alone = 0
    for ref in refs:
        head = parse(ref_page(real, ref.key)).find("head")
        found: dict[str, list[str]] = {}
        for meta in head.iter("meta"):
            if (meta.get("name") or "").startswith("citation_"):
                found.setdefault(meta.get("name"), []).append(meta.get("content"))
        if works_on(real, ref.key) == [ref.key]:  # alone on its page: the page is the work
            alone += 1
            assert found == expected_highwire(ref), ref.key
        else:  # several works: COinS on each instead (test below)
            assert not found, ref.key
    assert alone > 100  # 152 works in 1,024 buckets: most are alone


def test_pages_of_several_works_mark_each_with_coins(real) -> None:
    evidence = real.checked.evidence
    shared = [r for r in evidence.references if len(works_on(real, r.key)) > 1]
    assert shared  # the real corpus has pages of two works
    for ref in shared:
        spans = [s for s in ref_entry(real, ref.key).iter("span") if s.get("class") == "Z3988"]
        assert len(spans) == 1, ref.key
        kev = parse_qs(spans[0].get("title"))
        assert kev["ctx_ver"] == ["Z39.88-2004"]
        title = kev.get("rft.atitle") or kev.get("rft.btitle") or kev.get("rft.title")
        assert title == [latex_to_text(ref.title)]
        authors = kev.get("rft.au") or kev.get("rft.creator")
        assert len(authors or []) == len(ref.authors)


def test_reference_pages_show_apa_and_vancouver_as_citeproc_formats_them(real) -> None:
    for ref in real.checked.evidence.references:
        shown = [text_of(dd) for dd in ref_entry(real, ref.key).iter("dd") if dd.get("class") == "citation"]
        assert shown == [c.text for c in format_work(ref)], ref.key
    assert [text_of(i) for i in ref_entry(real, "shalaby2020peer").iter("i")][:2] == ["JMIR Mental Health", "7"]


def test_each_reference_page_offers_its_own_ris_csljson_and_bibtex(real) -> None:
    """Each work's entry: buttons for its own RIS, CSL-JSON and BibTeX (from the data script holding it),
    and its BibTeX, as the editors wrote it, for readers without JavaScript."""
    from kb.site.refdata import RefData

    shards = RefData(real.checked.evidence.references)
    for ref in real.checked.evidence.references:
        entry = ref_entry(real, ref.key)
        found = widget(entry)
        assert found.get("data-refs") == ref.key and found.get("data-ref-name") == ref.key
        (shard,) = found.get("data-ref-shards").split()  # refs.js finds assets/refs/<shard>.js beside itself
        assert shard == str(shards.shard(ref.key)) and (real.out_dir / "assets" / "refs" / f"{shard}.js").is_file()
        bibtex = next(e for e in entry.iter("pre") if e.get("class") == "bibtex")
        assert "".join(bibtex.itertext()) == ref.raw.rstrip("\n")


def load_ref_scripts(root: Path) -> dict[str, dict[str, str]]:
    """Every data script's works, unpacked as refs.js unpacks them (base64, then gzip, then JSON)."""
    import base64
    import gzip

    refs: dict[str, dict[str, str]] = {}
    for script in sorted((root / "assets" / "refs").glob("*.js")):
        text = script.read_text(encoding="ascii")
        payload = re.search(r'\.push\("([A-Za-z0-9+/=]*)"\);\n$', text)
        assert payload, script
        refs.update(json.loads(gzip.decompress(base64.b64decode(payload.group(1)))))
    return refs


def test_download_scripts_join_into_the_exports(real) -> None:
    evidence = real.checked.evidence
    data = load_ref_scripts(real.out_dir)
    assert sorted(data) == sorted(r.key for r in evidence.references)
    keys = sorted(data)  # what refs.js does for a list: sort the keys, join the texts
    assert join_records(data[k]["r"] for k in keys).encode() == ris_bytes(evidence.references)
    assert join_items(data[k]["c"] for k in keys).encode() == csljson_bytes(evidence.references)
    assert gz.read(real.out_dir / "data" / "references.ris.gz") == ris_bytes(evidence.references)
    assert gz.read(real.out_dir / "data" / "references.json.gz") == csljson_bytes(evidence.references)


def widget(tree):
    """The "download these references" widget in a parsed page or part of one (a Path: its page)."""
    tree = parse(tree) if isinstance(tree, Path) else tree
    return next((d for d in tree.iter("div") if d.get("data-ref-download") is not None), None)


def test_claim_and_cell_pages_list_their_works_for_download(real) -> None:
    from kb.site.addresses import cell_page, claim_page

    evidence, out = real.checked.evidence, real.out_dir
    for claim in evidence.claims:
        article = next(a for a in parse(out / claim_page(claim.id)).iter("article") if a.get("id") == claim.id)
        found = widget(article)
        if not claim.cites:
            assert found is None
            continue
        # the works are the anchors of the list just before it (refs.js reads them; issue 17)
        assert found.get("data-refs") is None
        cited = next(u for u in article.iter("ul") if "cited" in (u.get("class") or "").split())
        assert sorted({a.get("href").split("#")[1] for a in cited.iter("a")}) == sorted(set(claim.cites))
        for shard in found.get("data-ref-shards").split():
            assert (out / "assets" / "refs" / f"{shard}.js").is_file()
    row = real.analysis.rows[0]
    population = row.values("population")[0]
    rows = [r for r in real.analysis.rows if population in r.values("population") and r.outcome == row.outcome]
    section = next(s for s in parse(out / cell_page("population", population)).iter("section")
                   if s.get("id") == row.outcome)
    assert widget(section).get("data-refs").split() == sorted({k for r in rows for k in (r.source, *r.cites)})
    bib = widget(out / "references" / "index.html")
    assert bib.get("data-ref-rows") == "#bibliography tbody tr"
    assert widget(out / "search.html").get("data-ref-rows") == "#search-results li"


def test_void_describes_the_dataset_and_its_files(real) -> None:
    data = real.out_dir / "data"
    graph = rdflib.Graph()
    graph.parse(data / "void.ttl", format="turtle")
    dataset = rdflib.URIRef("https://w3id.org/peer-support-kb/dataset")
    assert (dataset, rdflib.RDF.type, VOID.Dataset) in graph and (dataset, rdflib.RDF.type, DCAT.Dataset) in graph
    assert graph.value(dataset, DCT.license) == rdflib.URIRef("https://creativecommons.org/licenses/by/4.0/")
    assert int(graph.value(dataset, VOID.triples)) == len(real.checked.graph)
    assert graph.value(dataset, DCT.modified).toPython().isoformat() == "2026-11-22"
    store = real.checked.graph.store
    claims = int(next(iter(store.query("SELECT (COUNT(*) AS ?n) WHERE { ?c a <https://w3id.org/peer-support-kb/"
                                       "ontology#Claim> }")))["n"].value)
    partitions = {graph.value(p, VOID["class"]): int(graph.value(p, VOID.entities))
                  for p in graph.objects(dataset, VOID.classPartition)}
    assert partitions[rdflib.URIRef("https://w3id.org/peer-support-kb/ontology#Claim")] == claims
    assert len(partitions) == int(graph.value(dataset, VOID.classes))
    assert rdflib.URIRef("http://purl.org/ontology/bibo/") in set(graph.objects(dataset, VOID.vocabulary))
    examples = set(graph.objects(dataset, VOID.exampleResource))
    assert rdflib.URIRef("https://w3id.org/peer-support-kb/work/shalaby2020peer") in examples
    base = (data / "void.ttl").as_uri()
    described = {}
    for dist in graph.objects(dataset, DCAT.distribution):
        url = str(graph.value(dist, DCAT.downloadURL))
        assert url.startswith(urljoin(base, ".")), url  # relative to void.ttl, resolved beside it
        path = Path(unquote(url[len("file://"):]))
        assert int(graph.value(dist, DCAT.byteSize)) == path.stat().st_size
        described[path.name] = str(graph.value(dist, DCT["format"]))
        compressed = graph.value(dist, DCAT.compressFormat)
        assert (compressed == rdflib.URIRef("https://www.iana.org/assignments/media-types/application/gzip")) == \
            path.name.endswith(".gz"), path.name
    assert described == {f.name: f.media_type for f in DATA_FILES if f.name != "void.ttl"}
    dumps = {Path(unquote(str(d)[len("file://"):])).name for d in graph.objects(dataset, VOID.dataDump)}
    assert dumps == {"kb.ttl.gz", "kb.nt.gz", "kb.jsonld.gz"}
    sparql = rdflib.URIRef(urljoin(base, "../sparql.html"))
    assert (dataset, rdflib.FOAF.page, sparql) in graph and (real.out_dir / "sparql.html").is_file()


def test_data_page_lists_every_download_with_its_size_and_as_a_schema_dataset(real) -> None:
    out = real.out_dir
    page = parse(out / "data.html")
    rows = {}
    for tr in page.iter("tr"):
        cells = [text_of(td) for td in tr.iter("td")]
        if cells:
            rows[cells[0]] = cells[-1]
    listed = data_files(real.checked.evidence)  # DATA_FILES, then each release's kept dump
    assert len(listed) > len(DATA_FILES)  # the curated corpus has a release
    assert rows == {f.name: human_size(out / "data" / f.name) for f in listed}
    records = [json.loads(s.text) for s in page.iter("script") if s.get("type") == "application/ld+json"]
    (dataset,) = records
    assert dataset["@type"] == "Dataset" and dataset["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert len(dataset["description"]) >= 50 and dataset["keywords"]
    sizes = {d["contentUrl"]: (d["encodingFormat"], d["contentSize"]) for d in dataset["distribution"]}
    assert sizes == {f"data/{f.name}": ("application/gzip" if f.compressed else f.media_type,
                                        f"{(out / 'data' / f.name).stat().st_size} bytes") for f in listed}
