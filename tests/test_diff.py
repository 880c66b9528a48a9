"""kb diff: two states compared by stable identifiers, in words and as JSON (issue 16)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.cli import main
from kb.diff.snapshot import Record, Snapshot
from tests.conftest import FIXTURE

CLAIMS = "claims/shalaby2020peer.yaml"
NEW_CLAIM = """
  - id: hope-pilot-added
    statement: A randomised pilot trial of peer support found more hope.
    section: Severe or Serious Mental Illness
    quote: some evidence of positive effects on measures of hope
    cites: [lloydevans2014systematic]
    finding_type: effect
    population: smi
    setting: not_stated
    delivery: not_stated
    perspective: recipient
    intervention: peer_support_services
    outcomes:
      - {outcome: hope, direction: benefit}
    design: systematic_review_rct
    certainty: {level: high, basis: assigned, start: high, downgrades: []}
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def second_release(tmp_path: Path) -> Path:
    """The fixture with a claim added, a direction changed, a work removed and a claim id renamed."""
    new = tmp_path / "new"
    shutil.copytree(FIXTURE, new)
    claims = new / CLAIMS
    text = claims.read_text(encoding="utf-8")
    text = text.replace("{outcome: symptoms, direction: no_effect}", "{outcome: symptoms, direction: benefit}")
    text = text.replace("id: schizophrenia-cochrane-inconclusive", "id: schizophrenia-cochrane-review")
    claims.write_text(text + NEW_CLAIM, encoding="utf-8")
    return new


def _remove_work(folder: Path, key: str) -> None:
    """Delete a work's entry and its place in the citation list."""
    bib = folder / "references.bib"
    text = bib.read_text(encoding="utf-8")
    start = text.rindex("@", 0, text.index("{" + key))
    end = text.index("\n}\n", start) + 3
    bib.write_text(text[:start] + text[end:], encoding="utf-8")
    cites = folder / "citations" / "shalaby2020peer.yaml"
    cites.write_text("".join(line for line in cites.read_text().splitlines(keepends=True)
                             if line.strip() != f"- {key}"), encoding="utf-8")


def test_no_change_exits_0(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(FIXTURE, copy)
    result = run("diff", str(FIXTURE), str(copy))
    assert result.exit_code == 0 and ": none." in result.stdout


def test_reordered_claims_are_no_change(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(FIXTURE, copy)
    claims = copy / CLAIMS
    head, *items = claims.read_text(encoding="utf-8").split("\n  - id: ")
    claims.write_text("\n  - id: ".join([head, *reversed(items)]) + "\n", encoding="utf-8")
    assert run("diff", str(FIXTURE), str(copy)).exit_code == 0


def test_a_reworded_vocabulary_is_a_change(tmp_path):
    """A concept's definition, label or other labels say what a facet means: kb diff names each (the definition by
    name, not quoted), in words and JSON, and exits 1; the claims and cells that use it are unchanged."""
    copy = tmp_path / "copy"
    shutil.copytree(FIXTURE, copy)
    vocab = copy / "vocab" / "schemes.ttl"
    text = vocab.read_text(encoding="utf-8")
    old = 'skos:notation "hope" ; skos:prefLabel "Hope"@en ;\n    skos:definition "Believing that recovery and a better life are possible."@en .'
    assert old in text
    vocab.write_text(text.replace(old, 'skos:notation "hope" ; skos:prefLabel "Hopefulness"@en ; skos:altLabel "optimism"@en ;\n'
                                       '    skos:definition "Believing that a better life is possible."@en .'),
                     encoding="utf-8")
    result = run("diff", str(FIXTURE), str(copy))
    assert result.exit_code == 1, result.output
    assert ("Vocabulary: 1 changed\n  ~ outcome/hope: other labels added: 'optimism'; definition reworded; "
            "label 'Hope' → 'Hopefulness'") in result.stdout
    assert "Claims:" not in result.stdout and "Works:" not in result.stdout
    payload = json.loads(run("diff", str(FIXTURE), str(copy), "--format", "json").stdout)
    (change,) = payload["concepts"]["changed"]
    assert change["id"] == "outcome/hope"
    assert {f["field"]: f["new"] for f in change["fields"]} == {
        "also_called": "optimism", "definition": "Believing that a better life is possible.", "label": "Hopefulness"}
    assert payload["claims"]["changed"] == [] and payload["cells"] == []


def test_two_releases_of_the_fixture_in_words_and_json(tmp_path):
    new = second_release(tmp_path)
    keys = [line.split("{", 1)[1].rstrip(",") for line in (FIXTURE / "references.bib").read_text().splitlines()
            if line.startswith("@")]
    unused = next(k for k in keys if k not in (FIXTURE / CLAIMS).read_text() and k != "shalaby2020peer")
    _remove_work(new, unused)
    result = run("diff", str(FIXTURE), str(new))
    assert result.exit_code == 1, result.output
    text = result.stdout
    assert "+ hope-pilot-added" in text
    assert "> schizophrenia-cochrane-inconclusive is now schizophrenia-cochrane-review (renamed" in text
    assert "~ smi-rct-review-hope-recovery: direction for overall symptoms no effect → benefit" in text
    assert f"- {unused}:" in text
    assert "Overall symptoms in serious mental illness: direction no effect → benefit." in text
    # the same review cited again is one more finding, not one more study
    assert "Hope in serious mental illness: certainty moderate → high (1 finding added)." in text
    assert ("Peer support services and overall symptoms in serious mental illness: direction no effect → benefit."
            in text)  # the summary-of-findings row of that question
    assert text.index("What readers will notice") < text.index("Claims:") < text.index("Works:")

    payload = json.loads(run("diff", str(FIXTURE), str(new), "--format", "json").stdout)
    assert payload["changed"] is True
    assert payload["claims"]["added"] == ["hope-pilot-added"]
    assert payload["claims"]["renamed"] == [{"old": "schizophrenia-cochrane-inconclusive",
                                              "new": "schizophrenia-cochrane-review"}]
    changed = {c["id"]: c["fields"] for c in payload["claims"]["changed"]}
    assert [f["field"] for f in changed["smi-rct-review-hope-recovery"]] == ["findings"]
    assert payload["works"]["removed"] == [unused]
    hope = next(c for c in payload["cells"] if c["outcome"] == "hope")
    assert hope["old"]["findings"] == 1 and hope["new"]["findings"] == 2
    row = next(q for q in payload["questions"] if q["outcome"] == "hope")
    assert (row["population"], row["intervention"]) == ("smi", "peer_support_services")
    assert (row["old"]["certainty"], row["new"]["certainty"]) == ("moderate", "high")
    # only effects of peer-delivered interventions make summary rows: the association in the fixture does not
    assert all(q["outcome"] != "abstinence" for q in payload["questions"])


def test_built_sites_dumps_compare_like_folders(tmp_path):
    new = second_release(tmp_path)
    for name, folder in (("a", FIXTURE), ("b", new)):
        assert run("build", "--evidence", str(folder), "--out", str(tmp_path / name)).exit_code == 0
    from_sites = run("diff", str(tmp_path / "a"), str(tmp_path / "b"), "--format", "json")
    from_folders = run("diff", str(FIXTURE), str(new), "--format", "json")
    strip = lambda out: {k: v for k, v in json.loads(out).items() if k not in ("old", "new")}  # noqa: E731
    assert strip(from_sites.stdout) == strip(from_folders.stdout)


def test_git_revisions(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo / "evidence")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "one"], cwd=repo, check=True)
    claims = repo / "evidence" / CLAIMS
    claims.write_text(claims.read_text().replace("direction: no_effect}", "direction: mixed}", 1))
    subprocess.run([*git, "commit", "-qam", "two"], cwd=repo, check=True)
    evidence = str(repo / "evidence")
    assert run("diff", "--evidence", evidence, "--rev", "HEAD..HEAD").exit_code == 0
    result = run("diff", "--evidence", evidence, "--rev", "HEAD~1..HEAD")
    assert result.exit_code == 1 and "no effect → mixed" in result.stdout
    claims.write_text(claims.read_text() + NEW_CLAIM)
    assert "+ hope-pilot-added" in run("diff", "--evidence", evidence, "--rev", "HEAD..").stdout


def test_a_revision_whose_evidence_no_longer_loads_is_one_clear_error(tmp_path):
    """Regression: a revision from before the evidence model changed printed every missing field of every
    claim (328 lines for the curated corpus) under a temporary folder's path; now one line says why."""
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo / "evidence")
    claims = repo / "evidence" / CLAIMS
    claims.write_text(claims.read_text().replace("finding_type: effect\n", ""))  # as an older model wrote them
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "old model"], cwd=repo, check=True)
    result = run("diff", "--evidence", str(repo / "evidence"), "--rev", "HEAD..HEAD")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "the evidence at revision 'HEAD' does not load with this version of kb" in result.stderr
    assert "HEAD:evidence/claims/" in result.stderr and "kb-rev-" not in result.stderr


def test_errors_exit_2_without_a_traceback(tmp_path):
    for args in (("diff",), ("diff", str(FIXTURE)), ("diff", str(FIXTURE), str(tmp_path / "nowhere")),
                 ("diff", "--evidence", str(FIXTURE), "--rev", "nonsense"),
                 ("diff", "--evidence", str(tmp_path), "--rev", "HEAD..")):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
    bad = tmp_path / "bad.nt"
    bad.write_text("this is not N-Triples\n")
    result = run("diff", str(bad), str(FIXTURE))
    assert result.exit_code == 2 and "not a readable N-Triples dump" in result.stderr


def test_a_snapshot_reads_what_each_record_says_and_nothing_outside_the_kb(tmp_path):
    """A snapshot is read property by property from a store, or from a dump streamed: each field as the editor wrote it,
    authors in list order (rdf:_10 after rdf:_2), a venue's title or its id, findings with their effects, concept
    labels (outcome domains under "outcome"), and no subject outside the KB's works, claims, concepts and venues."""
    import pyoxigraph as ox

    from kb.diff.snapshot import read_dump, read_snapshot
    from kb.namespaces import BIBO, CITO, DCTERMS, FOAF, PSK, RDF, SKOS

    b = "https://example.org/kb/"
    c = f"{b}concept/"
    triples = [
        (f"{b}work/w1", RDF + "type", BIBO + "AcademicArticle"), (f"{b}work/w1", PSK + "citekey", '"w1"'),
        (f"{b}work/w1", DCTERMS + "title", '"Peer support"'), (f"{b}work/w1", BIBO + "authorList", f"{b}work/w1/authors"),
        (f"{b}work/w1/authors", RDF + "_1", f"{b}agent/a"), (f"{b}work/w1/authors", RDF + "_2", f"{b}work/w1/b"),
        (f"{b}work/w1/authors", RDF + "_10", f"{b}work/w1/c"), (f"{b}work/w1/b", FOAF + "name", '"Bea"'),
        (f"{b}work/w1/c", FOAF + "name", '"Cy"'), (f"{b}work/w1", DCTERMS + "isPartOf", f"{b}venue/jmir"),
        (f"{b}venue/jmir", DCTERMS + "title", '"JMIR"'),
        (f"{b}work/w2", RDF + "type", BIBO + "Book"), (f"{b}work/w2", PSK + "citekey", '"w2"'),
        (f"{b}work/w2", DCTERMS + "issued", '"2020"'),
        (f"{b}work/w2", DCTERMS + "isPartOf", "https://elsewhere.org/venue/lancet"),
        ("https://elsewhere.org/venue/lancet", DCTERMS + "title", '"The Lancet"'),
        ("https://elsewhere.org/work/w3", DCTERMS + "title", '"not ours"'),
        (f"{b}claim/c1", RDF + "type", PSK + "Claim"), (f"{b}claim/c1", PSK + "statement", '"Hope rose."@en'),
        (f"{b}claim/c1", PSK + "population", f"{c}population/smi"), (f"{b}claim/c1", CITO + "citesAsEvidence",
                                                                    f"{b}work/w2"),
        (f"{b}claim/c1", CITO + "citesAsEvidence", f"{b}work/w1"), (f"{b}claim/c1", PSK + "finding", f"{b}claim/c1/f1"),
        (f"{b}claim/c1", PSK + "finding", f"{b}claim/c1/f2"), (f"{b}claim/c1/f1", PSK + "outcome", f"{c}outcome/hope"),
        (f"{b}claim/c1/f1", PSK + "direction", f"{c}direction/benefit"), (f"{b}claim/c1/f1", PSK + "effect",
                                                                          f"{b}claim/c1/f1/e"),
        (f"{b}claim/c1/f1/e", PSK + "effectText", '"SMD 0.3"'), (f"{b}claim/c1/f2", PSK + "outcome",
                                                                 f"{c}outcome/symptoms"),
        (f"{b}claim/c1/f2", PSK + "direction", f"{c}direction/no_effect"), (f"{b}claim/c1", PSK + "figure",
                                                                             f"{b}claim/c1/n"),
        (f"{b}claim/c1/n", PSK + "effectText", '"n = 40"'),
        (f"{c}population/smi", SKOS + "prefLabel", '"serious mental illness"@en'),
        (f"{c}outcome-domain/recovery", SKOS + "prefLabel", '"Recovery"@en'),
        (f"{c}outcome/hope", SKOS + "broader", f"{c}outcome-domain/recovery"),
        (f"{c}design/rct", PSK + "designGroup", '"trial"'),
        (f"{c}intervention/peer", PSK + "interventionKind", f"{c}intervention-kind/peer_delivered"),
    ]
    lines = [f"<{s}> <{p}> {o if o.startswith(chr(34)) else f'<{o}>'} .\n" for s, p, o in triples]
    dump = tmp_path / "kb.nt"
    dump.write_text("".join(lines), encoding="utf-8")
    assert len(list(ox.parse(path=str(dump), format=ox.RdfFormat.N_TRIPLES))) == len(triples)

    snap = read_dump(dump)  # streamed, not loaded into a store
    store = ox.Store()
    store.load(path=str(dump), format=ox.RdfFormat.N_TRIPLES)
    assert read_snapshot(store, b) == snap  # read from a store (as a build reads its graph): the same
    assert {k: r.fields for k, r in snap.works.items()} == {
        "w1": {"title": "Peer support", "authors": f"{b}agent/a and Bea and Cy", "journal": "JMIR"},
        "w2": {"year": "2020", "journal": "lancet"}}
    assert {k: r.fields for k, r in snap.claims.items()} == {"c1": {
        "statement": "Hope rose.", "population": "smi", "cites": "w1; w2", "figure": "n = 40",
        "findings": "hope=benefit (SMD 0.3); symptoms=no_effect"}}
    assert snap.findings == {"c1": {"hope": "benefit", "symptoms": "no_effect"}}
    assert snap.labels == {"population:smi": "serious mental illness", "outcome:recovery": "Recovery"}
    assert snap.domains == {"hope": "recovery"}
    assert snap.design_groups == {"rct": "trial"} and snap.intervention_kinds == {"peer": "peer_delivered"}

    # Read beside the release it is compared with, a record (or a claim's findings) equal to the release's is the
    # release's own object: the two snapshots cost one, and an unchanged record is skipped without a look
    from dataclasses import replace

    from kb.diff.compare import compare_records
    from kb.diff.snapshot import Pickled

    release = read_dump(dump)
    release.works["w2"] = replace(release.works["w2"], fields={"year": "2019", "journal": "lancet"})
    current = read_snapshot(store, b, like=release)
    assert current == snap
    assert current.works["w1"] is release.works["w1"] and current.claims["c1"] is release.claims["c1"]
    assert current.findings["c1"] is release.findings["c1"]
    assert current.works["w2"] is not release.works["w2"] and current.works["w2"].fields["year"] == "2020"
    changed = compare_records(release.works, current.works).changed
    assert [(c.id, c.fields) for c in changed] == [("w2", ("year",))]

    # A release's snapshot held as its pickle until compared; a pickle that will not load is read from the dump again
    import pickle

    kept = tmp_path / "kept.pickle"
    kept.write_bytes(pickle.dumps(snap))
    assert Pickled(dump, kept).load() == snap and Pickled(dump, data=pickle.dumps(snap)).load() == snap
    kept.write_bytes(b"not a pickle")
    assert Pickled(dump, kept).load() == snap
    kept.unlink()
    assert Pickled(dump, kept).load() == snap

    # The editors' loop patches the last graph's store in place, and brings the records it held through the patch
    from kb.diff.snapshot import patched_subjects, record_subjects

    def patch(removed: list[tuple[str, str, str]], added: list[tuple[str, str, str]]) -> None:
        def quad(s: str, p: str, o: str) -> ox.Quad:
            return ox.Quad(ox.NamedNode(s), ox.NamedNode(p), ox.Literal(o.strip('"')) if o.startswith('"')
                           else ox.NamedNode(o), ox.DefaultGraph())

        last = record_subjects(store, b)
        gone, came = [quad(*t) for t in removed], [quad(*t) for t in added]
        for q in gone:
            store.remove(q)
        store.extend(came)
        assert patched_subjects(last, store, b, gone, came) == record_subjects(store, b)

    assert record_subjects(store, b).claims == {"c1"} and record_subjects(store, b).works == {"w1", "w2"}
    patch([(f"{b}claim/c1", PSK + "statement", '"Hope rose."@en')], [])  # no record's property: the same records
    patch([(f"{b}work/w2", PSK + "citekey", '"w2"')], [(f"{b}work/w9", PSK + "citekey", '"w9"'),  # a work gone, one new
                                                      (f"{b}claim/c2", RDF + "type", PSK + "Claim")])
    patch([], [(f"{c}outcome/hope", SKOS + "prefLabel", '"Hope"')])
    patch([(f"{c}outcome/hope", SKOS + "broader", f"{c}outcome-domain/recovery")], [])  # keeps a label: still a record
    assert f"{c}outcome/hope" in record_subjects(store, b).concepts
    patch([(f"{c}outcome/hope", SKOS + "prefLabel", '"Hope"'), (f"{b}claim/c1", RDF + "type", PSK + "Claim")], [])
    assert f"{c}outcome/hope" not in record_subjects(store, b).concepts and "c1" not in record_subjects(store, b).claims


_POPULATIONS, _OUTCOMES, _DESIGNS = ("smi", "youth", "veterans"), ("hope", "recovery", "hospitalisation"), ("rct", "sr")
_claim_states = st.fixed_dictionaries({
    "population": st.lists(st.sampled_from(_POPULATIONS), min_size=1, max_size=2, unique=True),
    "findings": st.dictionaries(st.sampled_from(_OUTCOMES), st.sampled_from(("benefit", "no_effect")), min_size=1),
    "design": st.sampled_from(_DESIGNS), "certainty": st.sampled_from(("high", "moderate", "low", "very_low")),
    "cites": st.lists(st.sampled_from(("w1", "w2", "w3", "w4")), max_size=3, unique=True),
    "intervention": st.sampled_from(("peer_support", "case_management")),
    "finding_type": st.sampled_from(("effect", "association"))})


def _snapshot(claims: dict[str, dict], before: Snapshot | None = None) -> Snapshot:
    """A snapshot of ``claims`` (id → state) whose unchanged claims are ``before``'s objects, as the loop reads them."""
    snap = Snapshot(design_groups={"sr": "systematic_review", "rct": "primary"},
                    intervention_kinds={"peer_support": "peer_delivered", "case_management": "professional"})
    for claim_id, state in claims.items():
        fields = {k: "; ".join(sorted(v)) if isinstance(v, list) else v for k, v in state.items() if k != "findings"}
        record, findings = Record(claim_id, fields), dict(sorted(state["findings"].items()))
        if before is not None and before.claims.get(claim_id) == record and before.findings.get(claim_id) == findings:
            record, findings = before.claims[claim_id], before.findings[claim_id]
        snap.claims[claim_id], snap.findings[claim_id] = record, findings
    return snap


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from([f"c{i}" for i in range(8)]), _claim_states), min_size=2, max_size=5))
def test_the_loops_map_cells_and_summary_rows_carried_from_its_last_build_are_the_ones_made_afresh(states):
    """The editors' loop carries the current state's cells and rows from its last build, making again only those of
    the claims that are not the same objects (kb.diff.compare._carried): through any edits (a claim added, removed,
    moved to another population, outcome or design, made a review), they are what a cold build makes."""
    from kb.diff.compare import cells, questions

    release = _snapshot(states[0])
    before: Snapshot = Snapshot()  # the loop's first build carries from nothing, and keeps what the next carries
    for state in states[1:]:
        current = _snapshot(state, before if before.claims else release)
        fresh = _snapshot(state)
        assert cells(current, before) == cells(fresh) and questions(current, before) == questions(fresh)
        before = current
