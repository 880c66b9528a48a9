"""The formats ``kb export`` offers: one registry, one module per format beside this one.

To add a format, write ``kb/export/<name>.py`` with a function from the checked evidence to bytes
and add one :class:`Format` here (see ``docs/architecture.md``). Every format is deterministic.
A format reads the evidence records (the bibliography formats, FHIR, nanopublications), the graph
or the analysis; a few take options (``kb export --previous``, ``--sign-key``), listed in
:attr:`Format.options`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kb.analyse.analysis import Analysis
    from kb.graph.build import KnowledgeGraph
    from kb.load.evidence import Evidence

Writer = Callable[..., bytes]  # (evidence, graph, analysis, **options) -> bytes


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    filename: str  # the file's name on the site's data page
    write: Writer
    media_type: str = "application/octet-stream"
    options: tuple[str, ...] = ()  # keyword options the writer takes besides the three inputs


def _graph(fmt: str) -> Writer:
    def write(_ev: Evidence, kg: KnowledgeGraph, _analysis: Analysis) -> bytes:
        from kb.export.rdf import graph_bytes

        return graph_bytes(kg, fmt)
    return write


def _claims_csv(_ev: Evidence, _kg: KnowledgeGraph, analysis: Analysis) -> bytes:
    from kb.export.table import claims_csv

    return claims_csv(analysis)


def _graphml(_ev: Evidence, _kg: KnowledgeGraph, analysis: Analysis) -> bytes:
    from kb.export.graphml import graphml_bytes

    return graphml_bytes(analysis)


def _fhir(ev: Evidence, _kg: KnowledgeGraph, _analysis: Analysis) -> bytes:
    from kb.export.fhir import fhir_bundle_bytes

    return fhir_bundle_bytes(ev)


def _nanopub(ev: Evidence, kg: KnowledgeGraph, _analysis: Analysis, *, previous: Path | None = None,
             sign_key: Path | None = None) -> bytes:
    from kb.export.nanopub import nanopubs_trig

    return nanopubs_trig(ev, kg, previous=previous, sign_key=sign_key)


def _csljson(ev: Evidence, _kg: KnowledgeGraph, _analysis: Analysis) -> bytes:
    from kb.export.csljson import csljson_bytes

    return csljson_bytes(ev.references)


def _ris(ev: Evidence, _kg: KnowledgeGraph, _analysis: Analysis) -> bytes:
    from kb.export.ris import ris_bytes

    return ris_bytes(ev.references)


def _bibtex(ev: Evidence, _kg: KnowledgeGraph, _analysis: Analysis) -> bytes:
    return ev.config.references_path.read_bytes()


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("ttl", "the graph as Turtle", "kb.ttl", _graph("ttl"), "text/turtle"),
    Format("nt", "the graph as N-Triples, lines sorted", "kb.nt", _graph("nt"), "application/n-triples"),
    Format("jsonld", "the graph as JSON-LD", "kb.jsonld", _graph("jsonld"), "application/ld+json"),
    Format("csv", "the claims table, one row per claim and outcome", "claims.csv", _claims_csv, "text/csv"),
    Format("graphml", "the evidence network (claims, works, concepts)", "network.graphml", _graphml,
           "application/graphml+xml"),
    Format("csljson", "the bibliography as CSL-JSON (Zotero, Pandoc, citeproc)", "references.json", _csljson,
           "application/vnd.citationstyles.csl+json"),
    Format("ris", "the bibliography as RIS (EndNote, Zotero, Mendeley)", "references.ris", _ris,
           "application/x-research-info-systems"),
    Format("bibtex", "the bibliography as the editors wrote it (references.bib)", "references.bib", _bibtex,
           "application/x-bibtex"),
    Format("fhir", "FHIR R5 Bundle: a Citation per work, EvidenceVariables, an Evidence per claim and outcome "
           "(HL7 EBM-on-FHIR)", "kb.fhir.json", _fhir, "application/fhir+json"),
    Format("nanopub", "one nanopublication per claim with a Trusty URI, as TriG", "nanopubs.trig", _nanopub,
           "application/trig", ("previous", "sign_key")),
)}
EXPORT_FORMATS = tuple(FORMATS)


def export_bytes(evidence: Evidence, kg: KnowledgeGraph, analysis: Analysis, fmt: str,
                 **options: object) -> bytes:
    """The KB in format ``fmt`` (one of :data:`EXPORT_FORMATS`); ``options`` only where the format takes them."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format '{fmt}'; expected one of {', '.join(EXPORT_FORMATS)}")
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(FORMATS[fmt].options))
    if unknown:
        raise ValueError(f"format '{fmt}' takes no option {', '.join(unknown)}")
    return FORMATS[fmt].write(evidence, kg, analysis, **given)


@dataclass(frozen=True)
class DataFileInfo:
    """A file of ``data/`` as the data page, ``void.ttl`` and the JSON-LD describe it."""

    name: str  # in data/; ".gz" at the end: gzipped (kb.io.gz)
    label: str  # the format, for people
    description: str
    media_type: str  # of the content (a .gz file's once unpacked)

    @property
    def compressed(self) -> bool:
        return self.name.endswith(".gz")

    @property
    def download_name(self) -> str:
        """The file's name once downloaded: a release's dump ``releases/2026-11/kb.nt.gz`` becomes
        ``kb-2026-11.nt.gz``, so that it does not overwrite (or get mistaken for) the current ``kb.nt.gz``."""
        folder, _, base = self.name.rpartition("/")
        if not folder:
            return base
        stem, _, ext = base.partition(".")
        return f"{stem}-{folder.rpartition('/')[2]}.{ext}"


# What the dataset is, for catalogues (void.ttl, the schema:Dataset JSON-LD of the data page).
DATASET_DESCRIPTION = ("Claims about peer support in mental health from the research literature, each traced to "
                       "a verbatim quote and the works it rests on, with population, intervention, outcomes, "
                       "direction of effect, study design and GRADE certainty; and the bibliography of the source "
                       "documents.")
DATASET_KEYWORDS = ("peer support", "mental health", "evidence map", "systematic reviews", "GRADE",
                    "knowledge graph", "bibliography")

# Every file that grows with the KB is gzipped: at 50,000 claims they are 1.7 GB as text, a tenth of
# that compressed, and a site must stay small enough to publish. The schema files and void.ttl,
# which do not grow, stay plain.
DATA_FILES: tuple[DataFileInfo, ...] = (
    DataFileInfo("kb.ttl.gz", "Turtle", "The whole graph: claims, works, citations, vocabularies and the ontology.",
                 "text/turtle"),
    DataFileInfo("kb.nt.gz", "N-Triples", "The same graph, one triple per line (sorted; easy to diff).",
                 "application/n-triples"),
    DataFileInfo("kb.jsonld.gz", "JSON-LD", "The same graph as JSON-LD.", "application/ld+json"),
    DataFileInfo("claims.csv.gz", "CSV", "One row per claim and outcome, with the verbatim quote.", "text/csv"),
    DataFileInfo("references.bib.gz", "BibTeX", "Every work, exactly as the editors wrote it.", "application/x-bibtex"),
    DataFileInfo("references.ris.gz", "RIS", "Every work, for EndNote, Zotero, Mendeley and RefWorks.",
                 "application/x-research-info-systems"),
    DataFileInfo("references.json.gz", "CSL-JSON", "Every work, for citation processors (Zotero, Pandoc, citeproc).",
                 "application/vnd.citationstyles.csl+json"),
    DataFileInfo("kb.fhir.json.gz", "FHIR R5 (JSON)", "A Bundle in the shape of HL7 EBM-on-FHIR: a Citation per work, "
                 "EvidenceVariables, an Evidence per claim and outcome with its certainty.", "application/fhir+json"),
    DataFileInfo("nanopubs.trig.gz", "Nanopublications (TriG)", "One nanopublication per claim, named by a Trusty URI "
                 "(a hash of its content); a changed claim's new one supersedes the old.", "application/trig"),
    DataFileInfo("network.graphml.gz", "GraphML", "The evidence network (documents, claims, concepts) for Gephi or "
                 "networkx.", "application/graphml+xml"),
    DataFileInfo("ontology.ttl", "Turtle (OWL)", "The KB's small ontology.", "text/turtle"),
    DataFileInfo("shapes.ttl", "Turtle (SHACL)", "The shapes the graph is validated against.", "text/turtle"),
    DataFileInfo("void.ttl", "Turtle (VoID, DCAT)", "This dataset described for data catalogues: size, licence, "
                 "vocabularies and every file above.", "text/turtle"),
)


GRAPH_DUMP = "kb.nt.gz"  # the N-Triples dump in a built site's data/: what kb diff, kb publish and the bench read


def site_dump(folder: Path) -> Path | None:
    """The graph dump of a site built by kb (``data/kb.nt.gz``; ``data/kb.nt`` before dumps were compressed)."""
    for name in (GRAPH_DUMP, "kb.nt"):
        if (folder / "data" / name).is_file():
            return folder / "data" / name
    return None


def data_files(evidence: Evidence) -> tuple[DataFileInfo, ...]:
    """Every file of ``data/``: :data:`DATA_FILES`, then the kept dump of each release."""
    releases = tuple(DataFileInfo(f"releases/{r.name}/kb.nt.gz", "N-Triples",
                                  f"Release {r.name} of {r.date}: the graph as it was then, kept for good.",
                                  "application/n-triples") for r in evidence.releases)
    return DATA_FILES + releases
