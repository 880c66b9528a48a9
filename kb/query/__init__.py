"""Read side: read-only SPARQL over the KB (the guard, the engine, result formats) and the persisted query store."""
