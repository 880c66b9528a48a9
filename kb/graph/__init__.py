"""Stage 2, graph: the records as RDF in a pyoxigraph store, with the one IRI minter, the namespaces,
and the KB's own ontology and SHACL shapes (``schema/``).
"""
