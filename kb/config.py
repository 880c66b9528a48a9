"""One typed configuration for every stage, read from ``evidence/kb.toml`` and overridden by CLI flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_BASE_IRI = "https://w3id.org/peer-support-kb/"
ONTOLOGY_NS = "https://w3id.org/peer-support-kb/ontology#"


@dataclass(frozen=True)
class Config:
    """Where the evidence is, where output goes, and the settings of the evidence folder."""

    evidence_dir: Path = Path("evidence")
    out_dir: Path = Path("site")
    base_iri: str = DEFAULT_BASE_IRI
    title: str = "Peer support evidence knowledge base"
    data_licence: str = "CC BY 4.0"
    data_licence_url: str = "https://creativecommons.org/licenses/by/4.0/"
    cache_dir: Path | None = None
    parse_cache: bool = True  # reuse the parsed records of unchanged files (.kb-cache/parsed/)
    # Caps against pathological input (BAD_INPUTS C.23).
    max_file_bytes: int = 50 * 1024 * 1024
    max_field_chars: int = 1_000_000
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def references_path(self) -> Path:
        return self.evidence_dir / "references.bib"

    @property
    def claims_dir(self) -> Path:
        return self.evidence_dir / "claims"

    @property
    def citations_dir(self) -> Path:
        return self.evidence_dir / "citations"

    @property
    def vocab_dir(self) -> Path:
        return self.evidence_dir / "vocab"

    @property
    def sources_dir(self) -> Path:
        return self.evidence_dir / "sources"

    @property
    def queries_dir(self) -> Path:
        return self.evidence_dir / "queries"

    @property
    def store_cache_dir(self) -> Path:
        """``.kb-cache/`` beside the evidence folder (made absolute first: with ``--evidence .`` the
        parent of ``.`` is ``.`` itself, which put the cache inside the evidence folder)."""
        return self.cache_dir or (Path(os.path.abspath(self.evidence_dir)).parent / ".kb-cache")

    def with_overrides(self, **changes: Any) -> Config:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_config(evidence_dir: Path | str = "evidence", **overrides: object) -> Config:
    """Read ``kb.toml`` from the evidence folder (if present) and apply overrides."""
    evidence_dir = Path(evidence_dir)
    settings: dict[str, object] = {}
    toml_path = evidence_dir / "kb.toml"
    if toml_path.is_file():
        with toml_path.open("rb") as fh:
            data = tomllib.load(fh)
        known = {"base_iri", "title", "data_licence", "data_licence_url"}
        settings = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        settings["extra"] = extra
    base = str(settings.get("base_iri", DEFAULT_BASE_IRI))
    if not base.endswith(("/", "#")):
        settings["base_iri"] = base + "/"
    config = Config(evidence_dir=evidence_dir, **settings)  # type: ignore[arg-type]
    for name in ("out_dir", "cache_dir"):  # library callers may pass plain strings
        if isinstance(overrides.get(name), str):
            overrides[name] = Path(overrides[name])  # type: ignore[arg-type]
    return config.with_overrides(**overrides)


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` if set: reproducible builds never read the clock otherwise."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    return int(value) if value and value.isdigit() else None
