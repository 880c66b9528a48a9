"""Stage 1, load: read the evidence folder into typed records plus problems (never raising).

Claims, vocabularies, source texts, citation lists, the strict YAML reader, and the per-file parse cache.
"""
