"""Nanopublications: one per claim, Trusty URIs checked against published vectors and the nanopub
library, signatures it accepts, the nanopub graph structure, updates that supersede."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from kb.cli import main
from kb.config import load_config
from kb.export.nanopub import NP, NPX, NanopubError, claim_nanopubs, nanopubs_trig, read_previous
from kb.export.trusty import NP_BASE, Lit, artifact_code
from kb.io import gz
from kb.namespaces import PROV, PSK, RDF
from kb.pipeline import check
from tests.conftest import FIXTURE, REAL


@pytest.fixture(scope="module")
def real_checked():
    return check(load_config(REAL), shacl=False)


def _export(evidence_dir: Path, **kw) -> bytes:
    checked = check(load_config(evidence_dir), shacl=False)
    assert not checked.report.errors
    return nanopubs_trig(checked.evidence, checked.kg, **kw)


def _nanopubs(data: bytes) -> dict[str, dict[str, list[ox.Quad]]]:
    """Nanopublication URI → graph suffix (Head, assertion, …) → quads, parsed with pyoxigraph."""
    out: dict[str, dict[str, list[ox.Quad]]] = {}
    for q in ox.parse(data, format=ox.RdfFormat.TRIG):
        uri, _, suffix = q.graph_name.value.partition("#")
        out.setdefault(uri, {}).setdefault(suffix, []).append(q)
    return out


# --- the Trusty URI algorithm against published vectors ---------------------------------------------

def _code_of(trig: str, code: str) -> str:
    """Recompute the artifact code of a trusty RDF file: its own code becomes a space in every IRI."""
    quads = []
    for q in ox.parse(trig.encode(), format=ox.RdfFormat.TRIG):
        terms = []
        for t in (q.graph_name, q.subject, q.predicate, q.object):
            if isinstance(t, ox.Literal):
                terms.append(Lit(t.value, t.datatype.value, t.language))
            else:
                terms.append(t.value.replace(code, " "))
        quads.append(tuple(terms))
    return artifact_code(quads)


# Published test vectors of the trusty URI test suite (github.com/trustyuri/trustyuri-testsuite,
# RA/valid/nanopub1.RAC__rNHIdW….trig and RA/valid/sorting1.RAJ8oOBI….trig): the triples, rewritten
# here in full, and the artifact codes their file names state.
NANOPUB1_CODE = "RAC__rNHIdWuEBi0QWf7FaCcNzfbUyXfz98ds_b8Ho3D8"
NANOPUB1 = """@prefix this: <http://trustyuri.net/testsuite/nanopub1.RAC__rNHIdWuEBi0QWf7FaCcNzfbUyXfz98ds_b8Ho3D8> .
@prefix sub: <http://trustyuri.net/testsuite/nanopub1.RAC__rNHIdWuEBi0QWf7FaCcNzfbUyXfz98ds_b8Ho3D8#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix np: <http://www.nanopub.org/nschema#> .
sub:Head { this: np:hasAssertion sub:assertion ; np:hasProvenance sub:provenance ;
  np:hasPublicationInfo sub:pubinfo ; a np:Nanopublication . }
sub:assertion { <http://example.com/mosquito> <http://example.com/transmits> <http://example.com/malaria> . }
sub:provenance { sub:assertion <http://www.w3.org/ns/prov#wasDerivedFrom> <http://dx.doi.org/10.3233/ISU-2010-0613> . }
sub:pubinfo { this: <http://purl.org/dc/terms/created> "2013-02-25T14:33:21+01:00"^^xsd:dateTime ;
  <http://purl.org/pav/createdBy> <http://orcid.org/0000-0002-1267-0234> . }
"""
SORTING1_CODE = "RAJ8oOBI5SUieR_rIlCJRU5p2PtcSQS_jNmeYJwlfQVu0"
SORTING1 = """@prefix ex: <http://example.com/> .
ex:1 { ex:1 ex:1 ex:1 , ex:a ; ex:a ex:1 , ex:a , ex:a , "a" . ex:a ex:1 ex:1 , ex:a , "1" ; ex:a ex:1 , ex:a . }
ex:a { ex:1 ex:1 ex:1 , ex:a ; ex:a ex:1 , ex:a , "1" . ex:a ex:1 ex:1 , ex:a , "a" ; ex:a ex:1 , ex:a . }
ex:x { ex:1 ex:1 ex:1 ; ex:a ex:1 , ex:a , "1" . ex:a ex:1 "a" ; ex:a ex:1 . }
ex:y { ex:1 ex:1 ex:a ; ex:a ex:1 , "1" . ex:a ex:1 ex:1 , ex:a , "a" ; ex:a ex:1 , ex:1 , ex:a . }
"""


@pytest.mark.parametrize(("trig", "code"), [(NANOPUB1, NANOPUB1_CODE), (SORTING1, SORTING1_CODE)])
def test_artifact_codes_match_the_published_test_vectors(trig: str, code: str) -> None:
    assert _code_of(trig, code) == code
    assert _code_of(trig.replace("malaria", "dengue").replace('"a"', '"b"'), code) != code


# --- the export -------------------------------------------------------------------------------------

def test_a_sealed_nanopubs_code_and_content_digest_are_what_each_gives_alone(real_checked) -> None:
    """Nanopub.seal takes both from one normal form (the content digest from its assertion and provenance lines):
    they must equal the artifact code of every quad and the digest of the two graphs normalised on their own."""
    import hashlib

    from kb.export.nanopub import Nanopub

    made = [n for n in claim_nanopubs(real_checked.evidence, real_checked.kg).nanopubs if isinstance(n, Nanopub)]
    assert len(made) == len(real_checked.evidence.claims)
    for nanopub in made:
        assert nanopub.code == artifact_code(nanopub.quads)
        assert nanopub.digest == hashlib.sha256(nanopub.content_key().encode("utf-8")).hexdigest()


@pytest.mark.parametrize("corpus", ["fixture", "real"])
def test_one_nanopub_per_claim_with_the_four_graphs_and_a_valid_trusty_uri(corpus: str, real_checked) -> None:
    checked = check(load_config(FIXTURE), shacl=False) if corpus == "fixture" else real_checked
    data = nanopubs_trig(checked.evidence, checked.kg)
    nps = _nanopubs(data)
    assert len(nps) == len(checked.evidence.claims)
    claims = set()
    for uri, graphs in nps.items():
        assert uri.startswith(NP_BASE + "RA") and set(graphs) == {"Head", "assertion", "provenance", "pubinfo"}
        head = {(q.subject.value, q.predicate.value, q.object.value) for q in graphs["Head"]}
        assert head == {(uri, RDF + "type", NP + "Nanopublication"), (uri, NP + "hasAssertion", uri + "#assertion"),
                        (uri, NP + "hasProvenance", uri + "#provenance"),
                        (uri, NP + "hasPublicationInfo", uri + "#pubinfo")}
        claim = [q.subject for q in graphs["assertion"] if q.predicate.value == RDF + "type"
                 and q.object.value == PSK + "Claim"]
        assert len(claim) == 1
        claims.add(claim[0].value)
        # the assertion is exactly the claim's own triples in the KB graph
        kb_triples = set()
        todo = [claim[0]]
        while todo:
            node = todo.pop()
            for q in checked.kg.store.quads_for_pattern(node, None, None, ox.DefaultGraph()):
                kb_triples.add((q.subject, q.predicate, q.object))
                if q.predicate.value in (PSK + "finding", PSK + "effect", PSK + "figure"):
                    todo.append(q.object)
        assert {(q.subject, q.predicate, q.object) for q in graphs["assertion"]} == kb_triples
        prov = {(q.predicate.value, q.object.value) for q in graphs["provenance"]}
        assert any(p == PROV + "wasQuotedFrom" for p, _ in prov) and (PROV + "wasAttributedTo") in {p for p, _ in prov}
        info = {q.predicate.value: q.object for q in graphs["pubinfo"]}
        assert info["http://purl.org/dc/terms/license"].value == checked.evidence.config.data_licence_url
        assert info["http://purl.org/dc/terms/created"].value == "2026-11-22T00:00:00Z"  # kb.toml's date
    assert claims == {f"https://w3id.org/peer-support-kb/claim/{c.id}" for c in checked.evidence.claims}
    previous = read_previous_from_bytes(data)  # recomputes every Trusty URI
    assert {n.uri for n in previous.values()} == set(nps)


def read_previous_from_bytes(data: bytes, tmp: Path | None = None):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "np.trig"
        path.write_bytes(data)
        return read_previous(path)


def _library_graph(graphs: dict[str, list[ox.Quad]]):
    """One nanopublication as the nanopub library reads it (an rdflib ConjunctiveGraph)."""
    import warnings

    import rdflib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the library still uses ConjunctiveGraph
        one = rdflib.ConjunctiveGraph()
        one.bind("npx", NPX)  # the library's own SPARQL uses the prefix without declaring it
        one.parse(data=b"".join(ox.serialize(g, format=ox.RdfFormat.N_QUADS) for g in graphs.values()),
                  format="nquads")
    return one


def test_the_nanopub_library_accepts_every_trusty_uri(real_checked) -> None:
    import rdflib
    from nanopub.sign_utils import verify_trusty

    data = nanopubs_trig(real_checked.evidence, real_checked.kg)
    old, rdflib.NORMALIZE_LITERALS = rdflib.NORMALIZE_LITERALS, False  # hash the lexical forms as written
    try:
        for uri, graphs in sorted(_nanopubs(data).items())[:25]:
            one = _library_graph(graphs)
            assert verify_trusty(one, uri, rdflib.Namespace(uri + "#"))
    finally:
        rdflib.NORMALIZE_LITERALS = old


def test_same_evidence_same_bytes_and_no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    first = _export(FIXTURE)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # kb.toml's date wins: it is the data's
    assert _export(FIXTURE) == first


def test_without_a_data_date_the_source_date_epoch_is_the_creation_date(evidence_copy: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    toml = evidence_copy / "kb.toml"
    toml.write_text(toml.read_text().replace('updated = "2026-11-22"', ""))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert b'"2023-11-14T22:13:20Z"^^xsd:dateTime' in _export(evidence_copy)
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert b"dcterms:created" not in _export(evidence_copy)


def _edit_claim(evidence: Path) -> None:
    path = evidence / "claims" / "shalaby2020peer.yaml"
    path.write_text(path.read_text().replace("it has no results yet.", "it has not reported results yet."))


def test_unchanged_claims_keep_their_nanopub_and_a_changed_one_supersedes(evidence_copy: Path, tmp_path: Path) -> None:
    before = _export(evidence_copy)
    (tmp_path / "old.trig").write_bytes(before)
    toml = evidence_copy / "kb.toml"
    toml.write_text(toml.read_text().replace("2026-11-22", "2027-01-15"))  # a new release of the data
    _edit_claim(evidence_copy)
    after = _export(evidence_copy, previous=tmp_path / "old.trig")
    old, new = _nanopubs(before), _nanopubs(after)
    kept = set(old) & set(new)
    assert len(kept) == len(old) - 1 and len(new) == len(old)
    blocks_before = set(before.decode().split("\n\n@prefix this:"))
    blocks_after = after.decode().split("\n\n@prefix this:")
    assert sum(b in blocks_before for b in blocks_after) == len(blocks_after) - 1  # byte-identical blocks
    (fresh,) = set(new) - set(old)
    (gone,) = set(old) - set(new)
    info = {q.predicate.value: q.object.value for q in new[fresh]["pubinfo"]}
    assert info[NPX + "supersedes"] == gone
    assert info["http://purl.org/dc/terms/created"] == "2027-01-15T00:00:00Z"
    # a rebuild from the new export changes nothing
    (tmp_path / "new.trig").write_bytes(after)
    assert _export(evidence_copy, previous=tmp_path / "new.trig") == after


def test_a_tampered_previous_export_is_refused(tmp_path: Path) -> None:
    data = _export(FIXTURE).decode().replace("randomised trials", "randomised trials!", 1)
    (tmp_path / "old.trig").write_text(data)
    with pytest.raises(NanopubError, match="does not match its Trusty URI"):
        _export(FIXTURE, previous=tmp_path / "old.trig")
    result = CliRunner().invoke(main, ["export", "--evidence", str(FIXTURE), "--format", "nanopub",
                                       "--previous", str(tmp_path / "old.trig")])
    assert result.exit_code == 1 and "does not match its Trusty URI" in result.stderr


def test_a_truncated_gzipped_previous_export_is_a_clear_error(tmp_path: Path) -> None:
    whole = gz.compress(_export(FIXTURE))
    (tmp_path / "old.trig.gz").write_bytes(whole[: len(whole) // 2])  # read a block at a time: found midway
    with pytest.raises(NanopubError, match="not a whole gzip file"):
        read_previous(tmp_path / "old.trig.gz")


def test_signed_nanopubs_verify_with_the_nanopub_library(tmp_path: Path) -> None:
    import rdflib
    from Crypto.PublicKey import RSA
    from nanopub.sign_utils import verify_signature, verify_trusty

    key = tmp_path / "id_rsa"
    key.write_bytes(RSA.generate(2048).export_key())  # PEM; a test key, made here and thrown away
    runner = CliRunner()
    out = tmp_path / "signed.trig"
    result = runner.invoke(main, ["export", "--evidence", str(FIXTURE), "--format", "nanopub", "--sign-key", str(key),
                                  "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    data = out.read_bytes()
    assert data == _export(FIXTURE, sign_key=key)  # RSA PKCS#1 v1.5 is deterministic
    old, rdflib.NORMALIZE_LITERALS = rdflib.NORMALIZE_LITERALS, False
    try:
        for uri, graphs in _nanopubs(data).items():
            one = _library_graph(graphs)
            assert verify_signature(one, rdflib.Namespace(uri + "#"))
            assert verify_trusty(one, uri, rdflib.Namespace(uri + "#"))
    finally:
        rdflib.NORMALIZE_LITERALS = old


def test_a_bad_signing_key_is_a_clear_error(tmp_path: Path) -> None:
    key = tmp_path / "not-a-key"
    key.write_text("hello")
    result = CliRunner().invoke(main, ["export", "--evidence", str(FIXTURE), "--format", "nanopub",
                                       "--sign-key", str(key)])
    assert result.exit_code == 1 and "not an RSA private key" in result.stderr and "Traceback" not in result.output


def test_nanopub_options_are_refused_for_other_formats(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", "--evidence", str(FIXTURE), "--format", "fhir",
                                       "--previous", str(FIXTURE / "kb.toml")])
    assert result.exit_code == 2 and "only applies to --format nanopub" in result.stderr


def test_a_curator_in_kb_toml_is_who_the_assertion_is_attributed_to(evidence_copy: Path) -> None:
    toml = evidence_copy / "kb.toml"
    toml.write_text(toml.read_text() + 'curator = "https://orcid.org/0000-0000-0000-0000"\n')
    checked = check(load_config(evidence_copy), shacl=False)
    export = claim_nanopubs(checked.evidence, checked.kg)
    assert all((PROV + "wasAttributedTo", "https://orcid.org/0000-0000-0000-0000") in
               {(p, o) for _g, _s, p, o in n.quads} for n in export.nanopubs)
    toml.write_text(toml.read_text().replace('"https://orcid.org/0000-0000-0000-0000"', '"Jane Doe"'))
    with pytest.raises(NanopubError, match="curator"):
        claim_nanopubs(check(load_config(evidence_copy), shacl=False).evidence, checked.kg)


def test_kb_build_writes_nanopubs_and_fhir_and_the_data_page_lists_them_with_sizes(tmp_path: Path) -> None:
    from kb.pipeline import build

    evidence = tmp_path / "evidence"
    shutil.copytree(FIXTURE, evidence)
    out = tmp_path / "site"
    build(load_config(evidence, out_dir=out), jobs=1)
    page = (out / "data.html").read_text()
    for name in ("kb.fhir.json.gz", "nanopubs.trig.gz"):
        assert (out / "data" / name).stat().st_size > 0
        assert f'href="data/{name}"' in page
    first = gz.read(out / "data" / "nanopubs.trig.gz")
    _edit_claim(evidence)
    build(load_config(evidence, out_dir=out), jobs=1)  # reads the last build's nanopubs
    second = gz.read(out / "data" / "nanopubs.trig.gz")
    superseding = [n for n in read_previous(out / "data" / "nanopubs.trig.gz").values()
                   if any(p == NPX + "supersedes" for _g, _s, p, _o in n.quads)]
    assert len(superseding) == 1 and first != second


@given(st.text())
def test_literals_are_escaped_as_one_character_at_a_time_would(value: str) -> None:
    """TriG literals are escaped by one ``str.translate``: the same text as escaping each character in turn (the
    escapes of ``_ECHAR``, other characters below U+0020 as ``\\uXXXX``, everything else as itself)."""
    from kb.export.nanopub import _ECHAR, _write

    one_by_one = "".join(_ECHAR.get(c, c if c >= " " else f"\\u{ord(c):04X}") for c in value)
    assert _write(Lit(value)) == f'"{one_by_one}"'


@given(st.text(min_size=1))
def test_iris_are_escaped_as_one_character_at_a_time_would(rest: str) -> None:
    """Likewise IRIs written in full: space, control characters and ``<>"{}|^`\\`` as ``\\uXXXX``."""
    from kb.export.nanopub import _write_iri

    iri = "urn:x:" + rest
    one_by_one = "".join(c if c > " " and c not in '<>"{}|^`\\' else f"\\u{ord(c):04X}" for c in iri)
    assert _write_iri(iri) == f"<{one_by_one}>"
