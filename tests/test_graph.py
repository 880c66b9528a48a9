"""The graph stage: the fixture corpus becomes exactly the expected graph (compared as graphs)."""

from __future__ import annotations

import threading

import pytest
import rdflib
from rdflib.compare import graph_diff, to_isomorphic

from kb.config import load_config
from kb.export.rdf import graph_bytes
from kb.namespaces import sparql_prologue
from kb.pipeline import check
from tests.conftest import DATA, FIXTURE, REAL

BASE = "https://w3id.org/peer-support-kb/"


def as_rdflib(ttl: bytes) -> rdflib.Graph:
    graph = rdflib.Graph()
    graph.parse(data=ttl, format="turtle")
    return graph


def test_fixture_graph_is_isomorphic_to_the_expected_graph(fixture_checked):
    actual = to_isomorphic(as_rdflib(graph_bytes(fixture_checked.graph, "ttl")))
    expected = to_isomorphic(as_rdflib((DATA / "expected" / "fixture-graph.ttl").read_bytes()))
    if actual != expected:
        _, only_actual, only_expected = graph_diff(actual, expected)
        lines = sorted(f"+ {t}" for t in only_actual)[:20] + sorted(f"- {t}" for t in only_expected)[:20]
        raise AssertionError("graph differs from tests/data/expected/fixture-graph.ttl "
                             "(python -m tests.regenerate_golden after an intended change):\n" + "\n".join(lines))


def ask(checked, pattern: str) -> bool:
    return bool(checked.graph.store.query(sparql_prologue() + "ASK {" + pattern + "}"))


def test_claim_links_source_cites_concepts_and_quote(fixture_checked):
    claim = f"<{BASE}claim/smi-rct-review-hope-recovery>"
    assert ask(fixture_checked, f"""
        {claim} a psk:Claim ; prov:wasQuotedFrom <{BASE}work/shalaby2020peer> ;
            cito:citesAsEvidence <{BASE}work/lloydevans2014systematic> ;
            psk:population <{BASE}concept/population/smi> ;
            psk:design <{BASE}concept/design/systematic_review_rct> ;
            psk:certainty <{BASE}concept/certainty/moderate> ; psk:certaintyBasis "assigned" ;
            psk:downgrade "inconsistency" ; psk:section "Severe or Serious Mental Illness" ;
            psk:quote ?q ; psk:finding <{BASE}claim/smi-rct-review-hope-recovery/outcome/hospitalisation> .
        <{BASE}claim/smi-rct-review-hope-recovery/outcome/hospitalisation>
            psk:outcome <{BASE}concept/outcome/hospitalisation> ; psk:direction <{BASE}concept/direction/no_effect> .
        FILTER(STRSTARTS(STR(?q), "a systematic review of randomized controlled trials (RCTs) involving adults"))
        FILTER(LANG(?q) = "en")
    """)


def test_references_use_bibo_dcterms_and_doi_iris(fixture_checked):
    work = f"<{BASE}work/lloydevans2014systematic>"
    assert ask(fixture_checked, f"""
        {work} a bibo:AcademicArticle ; psk:citekey "lloydevans2014systematic" ;
            bibo:doi "10.1186/1471-244x-14-39" ; owl:sameAs <https://doi.org/10.1186/1471-244x-14-39> ;
            dcterms:issued "2014"^^xsd:gYear ; bibo:volume "14" ; psk:authorsTruncated true ;
            bibo:authorList ?list ; dcterms:isPartOf ?venue .
        ?list rdf:_1 ?first . ?first foaf:familyName "Lloyd-Evans" .
        ?list rdf:_6 ?sixth . ?sixth foaf:familyName "Pilling" .
        ?venue a bibo:Journal ; dcterms:title "BMC Psychiatry" .
    """)


def test_citation_order_is_kept(fixture_checked):
    assert ask(fixture_checked, f"""
        <{BASE}work/shalaby2020peer> cito:cites <{BASE}work/chien2019peer> .
        ?c a cito:Citation ; cito:hasCitingEntity <{BASE}work/shalaby2020peer> ;
           cito:hasCitedEntity <{BASE}work/chien2019peer> ; psk:referenceNumber 2 .
    """)


def test_vocabulary_and_ontology_are_in_the_graph(fixture_checked):
    assert ask(fixture_checked, f"""
        <{BASE}concept/outcome/hope> a skos:Concept ; skos:broader <{BASE}concept/outcome-domain/personal_recovery> ;
            skos:inScheme <{BASE}scheme/outcome> .
        psk:Claim a owl:Class ; rdfs:comment ?c .
    """)


def test_no_blank_nodes_and_valid_iris(fixture_checked):
    nodes = fixture_checked.graph.store.query("SELECT ?s WHERE { ?s ?p ?o FILTER(isBlank(?s) || isBlank(?o)) }")
    assert list(nodes) == []


def test_the_base_iri_comes_from_configuration(evidence_copy):
    toml = evidence_copy / "kb.toml"
    toml.write_text(toml.read_text().replace("https://w3id.org/peer-support-kb/", "https://example.org/kb/"))
    checked = check(load_config(evidence_copy))
    assert checked.report.errors == []
    assert ask(checked, "<https://example.org/kb/claim/epss-protocol-under-test> psk:population "
                        "<https://example.org/kb/concept/population/acute_discharge>")
    assert not ask(checked, f"?s ?p <{BASE}concept/population/smi>")


def test_graph_dumps_are_deterministic():
    first = graph_bytes(check(load_config(FIXTURE), shacl=False).graph, "nt")
    second = graph_bytes(check(load_config(FIXTURE), shacl=False).graph, "nt")
    assert first == second
    lines = first.splitlines()
    assert lines == sorted(lines), "N-Triples lines are sorted (diff-friendly)"


@pytest.mark.parametrize("counted_as_added", [50_000, 0])
def test_the_graphs_count_follows_the_history_added_after_it_is_built(monkeypatch: pytest.MonkeyPatch,
                                                                      counted_as_added: int) -> None:
    """The count is taken once (pyoxigraph counts on every call): the release history added afterwards is counted
    as it is added, a triple the store held already included once; a long history is loaded and the store counted
    again."""
    import kb.graph.build

    monkeypatch.setattr(kb.graph.build, "COUNTED_AS_ADDED", counted_as_added)
    kg = check(load_config(FIXTURE), shacl=False).kg
    before = len(kg)
    held = next(iter(kg.store))
    prov = (f"{held.subject} {held.predicate} {held.object} .\n"
            "<https://example.org/release/1> <http://www.w3.org/ns/prov#value> \"1\" .\n").encode()
    kg.add_history(prov)
    assert len(kg) == len(kg.store) == before + 1
    kg.add_history(b"")
    assert len(kg) == len(kg.store) == before + 1


def test_the_graph_is_counted_by_its_loader_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loader's thread adds the vocabularies' and the ontology's quads after the text and counts the store
    (~0.3 s at 2.2M triples that the building thread waited for): the count is the store's, and the building
    thread never counts it."""
    import pyoxigraph as ox

    from kb.graph.build import build_graph
    from kb.load.evidence import load_evidence

    evidence, _ = load_evidence(load_config(FIXTURE))
    counted_here: list[int] = []
    real_len = ox.Store.__len__

    def counted(store: ox.Store) -> int:
        counted_here.append(threading.get_ident())
        return real_len(store)

    monkeypatch.setattr(ox.Store, "__len__", counted, raising=False)
    kg = build_graph(evidence)
    assert threading.get_ident() not in counted_here and counted_here
    monkeypatch.undo()
    assert len(kg) == len(kg.store) and kg._size is not None
    assert all(q in kg.store for q in evidence.vocabulary.quads)


def test_analysis_rows_equal_the_sparql_projection(fixture_checked, fixture_analysis):
    """The rows the site and CSV use (from records) are what researchers get from the graph."""
    from kb.analyse.analysis import ROWS_QUERY

    keys = ("claim_id", "outcome", "direction", "population", "intervention", "design", "certainty")
    from_graph = sorted(_projected(s, keys) for s in fixture_checked.graph.store.query(ROWS_QUERY))
    from_records = sorted(_recorded(r, keys) for r in fixture_analysis.rows)
    assert from_graph == from_records and len(from_records) == 9


def test_real_corpus_rows_equal_the_sparql_projection():
    from kb.analyse.analysis import ROWS_QUERY, analyse
    from tests.conftest import REAL

    checked = check(load_config(REAL), shacl=False)
    keys = ("claim_id", "outcome", "direction", "population", "intervention", "design", "certainty")
    from_graph = sorted(_projected(s, keys) for s in checked.graph.store.query(ROWS_QUERY))
    rows = analyse(checked.graph, checked.evidence).rows
    assert from_graph == sorted(_recorded(r, keys) for r in rows)


def _projected(solution, keys) -> tuple:
    """A solution of ROWS_QUERY, its space-separated populations sorted (GROUP_CONCAT has no order)."""
    return tuple(" ".join(sorted(solution[k].value.split())) if k == "population" else solution[k].value
                 for k in keys)


def _recorded(row, keys) -> tuple:
    return tuple(" ".join(sorted(row.population)) if k == "population" else getattr(row, k) for k in keys)


def test_streamed_dumps_equal_the_in_memory_ones(fixture_checked, tmp_path) -> None:
    from kb.export.rdf import graph_bytes, ntriples_bytes, write_graph, write_ntriples

    kg = fixture_checked.graph
    write_ntriples(kg, tmp_path / "kb.nt")
    assert (tmp_path / "kb.nt").read_bytes() == ntriples_bytes(kg)
    for fmt in ("ttl", "jsonld"):
        write_graph(tmp_path / "kb.nt", fmt, tmp_path / f"kb.{fmt}")
        assert (tmp_path / f"kb.{fmt}").read_bytes() == graph_bytes(kg, fmt), fmt



def test_the_graph_holds_only_what_a_strict_parser_accepts(fixture_checked) -> None:
    """The builder's text is loaded leniently (IRIs not validated again, for speed): its dump must still be
    N-Triples that a strict parser reads whole."""
    import pyoxigraph as ox

    from kb.export.rdf import ntriples_bytes

    kg = fixture_checked.graph
    strict = ox.Store()
    strict.load(ntriples_bytes(kg), format=ox.RdfFormat.N_TRIPLES)
    assert len(strict) == len(kg.store)


def test_gzipped_dumps_unpack_to_the_same_bytes_and_are_deterministic(fixture_checked, tmp_path) -> None:
    """The site's data/ holds the dumps gzipped: the same bytes once unpacked, and the same file every time."""
    import gzip

    from kb.export.rdf import graph_bytes, ntriples_bytes, write_graph, write_ntriples

    kg = fixture_checked.graph
    write_ntriples(kg, tmp_path / "kb.nt.gz")
    assert gzip.decompress((tmp_path / "kb.nt.gz").read_bytes()) == ntriples_bytes(kg)
    for fmt in ("ttl", "jsonld"):
        write_graph(tmp_path / "kb.nt.gz", fmt, tmp_path / f"kb.{fmt}.gz")
        assert gzip.decompress((tmp_path / f"kb.{fmt}.gz").read_bytes()) == graph_bytes(kg, fmt), fmt
    write_ntriples(kg, tmp_path / "again.nt.gz")
    assert (tmp_path / "again.nt.gz").read_bytes() == (tmp_path / "kb.nt.gz").read_bytes()
    header = (tmp_path / "kb.nt.gz").read_bytes()[:10]
    assert header[3] == 0 and header[4:8] == b"\0\0\0\0"  # no file name, no time: reproducible


def test_the_graph_loaded_in_batches_is_the_graph_loaded_at_once(monkeypatch) -> None:
    """build_graph bulk-loads its N-Triples in batches (one load of the whole text held it three times):
    batches of 5 triples give the same store, in the same order, as one batch."""
    from kb.graph import build as graph_build
    from kb.load.evidence import load_evidence

    evidence, _ = load_evidence(load_config(REAL))
    whole = list(graph_build.build_graph(evidence).store)
    monkeypatch.setattr(graph_build, "LOAD_BATCH", 5)
    assert list(graph_build.build_graph(evidence).store) == whole and len(whole) > 1000


def test_claim_files_text_kept_from_the_last_build_gives_the_same_store_in_the_same_order(tmp_path, monkeypatch) -> None:
    """The claim files' N-Triples, and the references' before them, are kept between builds (kb.graph.memo): a build
    from the kept text is the store written afresh, quad for quad and in its order (the store iterates in the order
    it was given); an edited claim file is written afresh, and its references are not; a cited work that leaves
    references.bib writes both afresh; stale entries are pruned."""
    import shutil

    from kb.checks.scope import inputs
    from kb.graph import build as graph_build
    from kb.load.evidence import load_evidence
    from kb.pipeline import _graph_memo

    evidence_dir = tmp_path / "evidence"
    shutil.copytree(REAL, evidence_dir)
    config = load_config(evidence_dir)
    calls: list[str] = []
    real_claim = graph_build._Builder.claim

    def counted(self, claim) -> None:
        calls.append(claim.id)
        real_claim(self, claim)

    monkeypatch.setattr(graph_build._Builder, "claim", counted)
    real_reference = graph_build._Builder.reference

    def counted_reference(self, ref, display) -> None:
        calls.append(f"@{ref.key}")
        real_reference(self, ref, display)

    monkeypatch.setattr(graph_build._Builder, "reference", counted_reference)

    def built() -> tuple[list, list]:
        calls.clear()
        evidence, _ = load_evidence(config)
        memo = _graph_memo(config, evidence, inputs(config))
        store = list(graph_build.build_graph(evidence, memo=memo).store)
        return store, list(calls)

    evidence, _ = load_evidence(config)
    afresh = list(graph_build.build_graph(evidence).store)
    refs = len(evidence.references)
    first, written = built()
    assert first == afresh and len(written) == len(evidence.claims) + refs
    again, written = built()
    assert again == afresh and written == []
    assert len(list((config.store_cache_dir / "graph").iterdir())) == 2  # the claim file's and the references'

    claims = evidence_dir / "claims" / "shalaby2020peer.yaml"
    claims.write_text(claims.read_text(encoding="utf-8").replace("Peer support", "Peer-support", 1), encoding="utf-8")
    evidence, _ = load_evidence(config)
    edited, written = built()
    assert edited == list(graph_build.build_graph(evidence).store) and written == [c.id for c in evidence.claims]
    assert len(list((config.store_cache_dir / "graph").iterdir())) == 2, "the stale entry is pruned"

    bib = evidence_dir / "references.bib"
    text = bib.read_text(encoding="utf-8")
    cited = next(key for claim in evidence.claims for key in claim.cites if f"{{{key}," in text)
    start = text.index(f"{{{cited},")
    start, end = text.rindex("@", 0, start), text.find("\n@", start)
    bib.write_text(text[:start] + (text[end + 1:] if end != -1 else ""), encoding="utf-8")
    evidence, _ = load_evidence(config)
    assert cited not in evidence.references_by_key
    unlinked, written = built()
    assert unlinked == list(graph_build.build_graph(evidence).store)
    assert len(written) == len(evidence.claims) + len(evidence.references)


def test_the_text_before_the_claims_begun_while_the_records_are_read_gives_the_same_store(tmp_path, monkeypatch) -> None:
    """A fresh build parses the kept text before the claims while the records are loaded (HeadStart, named by the
    evidence other than the claim files alone): the store is the one built without it, quad for quad and in its
    order; begun and paused (before the parsers fork), the same; begun under another name, it is dropped and the
    store is still the same; no loader thread is left either way."""
    import shutil
    import threading

    from kb.checks.scope import inputs
    from kb.graph import build as graph_build
    from kb.graph.memo import FOLDER, head_name
    from kb.load.evidence import load_evidence
    from kb.pipeline import _graph_memo, _head_start, _memo_code

    evidence_dir = tmp_path / "evidence"
    shutil.copytree(REAL, evidence_dir)
    config = load_config(evidence_dir)
    evidence, _ = load_evidence(config)
    afresh = list(graph_build.build_graph(evidence).store)
    graph_build.build_graph(evidence, memo=_graph_memo(config, evidence, inputs(config)))  # keeps the text
    written: list[str] = []
    real_reference = graph_build._Builder.reference
    monkeypatch.setattr(graph_build._Builder, "reference",
                        lambda self, ref, display: (written.append(ref.key), real_reference(self, ref, display)))

    def built(begun: graph_build.HeadStart | None, *, pause: bool = False) -> tuple[list, bool]:
        assert begun is not None and begun.store is not None
        if pause:
            begun.pause()
            assert not any(t.name == "kb-graph-loader" for t in threading.enumerate())
        written.clear()
        with begun:
            store = list(graph_build.build_graph(evidence, memo=_graph_memo(config, evidence, inputs(config)),
                                                 begun=begun).store)
        assert not any(t.name == "kb-graph-loader" for t in threading.enumerate())
        return store, not written

    assert built(_head_start(config, inputs(config))) == (afresh, True)
    assert built(_head_start(config, inputs(config)), pause=True) == (afresh, True)
    other = graph_build.HeadStart(config.store_cache_dir / FOLDER, head_name(_memo_code(config), inputs(config).head_context))
    other.name = "another"
    assert built(other) == (afresh, True)  # dropped: the memo's own kept text is read instead
    assert other.store is None


@pytest.mark.parametrize("corpus", ["real", "generated"])
def test_the_network_from_the_records_is_the_network_the_graph_states(corpus: str, tmp_path) -> None:
    """The analysis makes the evidence network from the records while the graph is parsed: it must be the one the
    graph's own query gives (kb.analyse.analysis.NETWORK_QUERY), node for node and edge for edge, in order."""
    from bench.corpus import generate
    from kb.analyse.analysis import NETWORK_QUERY, network, network_links
    from kb.graph.select import select

    if corpus == "generated":
        generate(tmp_path / "evidence", 60, 200, seed=3)
        checked = check(load_config(tmp_path / "evidence"))
    else:
        checked = check(load_config(REAL))
    assert not checked.report.errors
    stated = sorted((s["kind"].value, s["from"].value, s["to"].value) for s in select(checked.kg.store, NETWORK_QUERY))
    ours, theirs = network(network_links(checked.evidence)), network(stated)
    assert list(ours.nodes(data=True)) == list(theirs.nodes(data=True))
    assert list(ours.edges(data=True)) == list(theirs.edges(data=True))
    kinds = {k for _, _, k in ours.edges(data="kind")}
    assert kinds >= {"states", "rests_on", "population", "intervention", "outcome", "cites"}, kinds


@pytest.mark.parametrize("repeated", [False, True])
def test_rows_and_links_made_claim_by_claim_are_in_the_order_a_sort_of_them_all_gives(repeated: bool, tmp_path) -> None:
    """The rows and the network's links are put together claim by claim, in id order (each claim's own sorted), not
    sorted whole: that must give what sorting them all gives, for claims read in any order, and where two claims
    share an id (an error the checks report; the analysis still orders them) their rows and links interleave as a
    sort would order them."""
    import dataclasses
    import random

    from bench.corpus import generate
    from kb.analyse.analysis import claim_rows, network_links
    from kb.load.evidence import load_evidence

    generate(tmp_path / "evidence", 40, 150, seed=5)
    evidence, _ = load_evidence(load_config(tmp_path / "evidence"))
    claims = list(evidence.claims)
    random.Random(7).shuffle(claims)
    if repeated:  # the second claim takes the first's id
        claims[1] = dataclasses.replace(claims[1], id=claims[0].id)
    evidence = dataclasses.replace(evidence, claims=claims)
    rows = claim_rows(evidence)
    assert rows == sorted(rows, key=lambda r: (r.claim_id, r.outcome))
    assert len(rows) == sum(len(c.outcomes) for c in claims)
    links = network_links(evidence)
    assert links == sorted(links)
    assert {k for k, _, _ in links} == {"cites", "intervention", "outcome", "population", "rests_on", "states"}
    if repeated:  # interleaved: the shared id's rows are not one claim's then the other's
        shared = [r for r in rows if r.claim_id == claims[0].id]
        assert [r.outcome for r in shared] == sorted(r.outcome for r in shared)


def test_a_batch_the_loader_thread_cannot_load_fails_the_build_and_leaves_no_thread(monkeypatch) -> None:
    """Batches are loaded by a thread of their own while the next ones are written: what it raises is
    raised by build_graph, and no thread outlives it (the build forks workers afterwards)."""
    import threading

    import pytest

    from kb.graph import build as graph_build
    from kb.load.evidence import load_evidence

    evidence, _ = load_evidence(load_config(REAL))
    before = threading.active_count()
    real_claim = graph_build._Builder.claim

    def broken(self, claim) -> None:
        real_claim(self, claim)
        self.lines.append("not N-Triples at all .\n")  # (the lenient parser would take "<an unclosed IRI")

    monkeypatch.setattr(graph_build, "LOAD_BATCH", 5)
    monkeypatch.setattr(graph_build._Builder, "claim", broken)
    with pytest.raises(SyntaxError):
        graph_build.build_graph(evidence)
    assert threading.active_count() == before
    assert not any(t.name == "kb-graph-loader" for t in threading.enumerate())
