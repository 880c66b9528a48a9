"""Stage 3, validate: cross-file checks on the records and SHACL on the graph (shapes compiled to SPARQL)."""
