"""The KB's own ontology and SHACL shapes, shipped inside the package (``kb/graph/schema/``)."""

from __future__ import annotations

from pathlib import Path

SCHEMA_DIR = Path(__file__).parent / "schema"
ONTOLOGY = SCHEMA_DIR / "ontology.ttl"
SHAPES = SCHEMA_DIR / "shapes.ttl"


def schema_bytes(name: str) -> bytes:
    """The bytes of ``ontology.ttl`` or ``shapes.ttl``."""
    return (SCHEMA_DIR / name).read_bytes()
