"""Read side: read-only SPARQL over the KB (the guard, the engine, syntax errors placed where they are, result
formats) and the persisted query store."""
