"""Peer support evidence knowledge base: BibTeX and claims → validated RDF → SPARQL and a static site.

The package is a library first; ``kb.cli`` is a thin shell over :mod:`kb.pipeline`.
Heavy libraries (rdflib, pyoxigraph, pyshacl, networkx) are imported lazily inside the stages
that need them, so that ``kb --help`` stays fast.
"""

__version__ = "0.1.0"
