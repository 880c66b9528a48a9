"""The compiled-SPARQL SHACL engine gives exactly pyshacl's results, on clean and broken graphs."""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from kb.checks.shacl import shacl_violations
from kb.config import load_config
from kb.namespaces import BIBO, CITO, DCTERMS, PSK, SKOS
from kb.pipeline import check
from tests.conftest import FIXTURE, REAL

BASE = "https://w3id.org/peer-support-kb/"
CLAIM = BASE + "claim/smi-rct-review-hope-recovery"
FINDING = CLAIM + "/outcome/hope"
WORK = BASE + "work/lloydevans2014systematic"


def N(iri: str) -> ox.NamedNode:
    return ox.NamedNode(iri)


def key(violations) -> set[tuple]:
    return {(v.focus, v.path, v.component.rsplit("#", 1)[-1], v.value) for v in violations}


def both(graph) -> tuple[set, set]:
    return key(shacl_violations(graph, BASE, "sparql")), key(shacl_violations(graph, BASE, "pyshacl"))


@pytest.mark.parametrize("folder", [FIXTURE, REAL], ids=["fixture", "real"])
def test_clean_corpora_conform_in_both_engines(folder):
    graph = check(load_config(folder), shacl=False).graph
    assert both(graph) == (set(), set())


def remove(store, s: str, p: str) -> None:
    for quad in list(store.quads_for_pattern(N(s), N(p), None, None)):
        store.remove(quad)


def add(store, s: str, p: str, o) -> None:
    store.add(ox.Quad(N(s), N(p), o))


BREAKAGES = {
    "missing statement": lambda st: remove(st, CLAIM, PSK + "statement"),
    "unknown property on a closed shape": lambda st: add(st, CLAIM, "http://example.org/sumary", ox.Literal("x")),
    "value outside sh:in and a second value": lambda st: add(st, CLAIM, PSK + "certaintyBasis", ox.Literal("vibes")),
    "direction outside the list (nested)": lambda st: (remove(st, FINDING, PSK + "direction"),
                                                       add(st, FINDING, PSK + "direction", N(BASE + "concept/direction/great"))),
    "outcome without a domain (two levels deep)": lambda st: remove(st, BASE + "concept/outcome/hope", SKOS + "broader"),
    "population from another scheme (hasValue)": lambda st: (remove(st, CLAIM, PSK + "population"),
                                                             add(st, CLAIM, PSK + "population", N(BASE + "concept/outcome/hope"))),
    "bad DOI pattern": lambda st: (remove(st, WORK, BIBO + "doi"), add(st, WORK, BIBO + "doi", ox.Literal("doi:10.1/x"))),
    "empty title": lambda st: (remove(st, WORK, DCTERMS + "title"), add(st, WORK, DCTERMS + "title", ox.Literal(""))),
    "concept without a definition": lambda st: remove(st, BASE + "concept/design/rct", SKOS + "definition"),
    "negative count": lambda st: add(st, CLAIM, PSK + "numberOfStudies",
                                     ox.Literal("-1", datatype=N("http://www.w3.org/2001/XMLSchema#integer"))),
    "statement without a language": lambda st: (remove(st, CLAIM, PSK + "statement"),
                                                add(st, CLAIM, PSK + "statement", ox.Literal("plain"))),
    "cites a literal": lambda st: add(st, CLAIM, CITO + "citesAsEvidence", ox.Literal("smith2020")),
    "cites a work without a citekey": lambda st: add(st, CLAIM, CITO + "citesAsEvidence", N(BASE + "work/ghost")),
    "effect without text": lambda st: remove(st, BASE + "claim/addiction-network-support-abstinence/outcome/abstinence/effect",
                                             PSK + "effectText"),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_broken_graphs_give_the_same_violations(name):
    graph = check(load_config(FIXTURE), shacl=False).graph
    BREAKAGES[name](graph.store)
    ours, reference = both(graph)
    assert reference, f"the breakage '{name}' must violate the shapes"
    assert ours == reference


def test_kb_check_can_run_the_reference_engine():
    from click.testing import CliRunner

    from kb.cli import main

    result = CliRunner().invoke(main, ["check", "--evidence", str(FIXTURE), "--shacl-engine", "pyshacl"])
    assert result.exit_code == 0, result.stderr
