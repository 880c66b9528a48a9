"""One typed configuration for every stage, read from ``evidence/kb.toml`` and overridden by CLI flags."""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kb.ids import BIDI_CONTROLS, CONTROL_CHARS, iri_error

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
    def inclusions_dir(self) -> Path:
        return self.evidence_dir / "inclusions"

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


class ConfigError(ValueError):
    """``kb.toml`` cannot be read or holds a wrong value: ``path:line:col: message``."""


_TEXT_SETTINGS = ("base_iri", "title", "data_licence", "data_licence_url")
_LIMITS = ("max_file_bytes", "max_field_chars")


def load_config(evidence_dir: Path | str = "evidence", **overrides: object) -> Config:
    """Read ``kb.toml`` from the evidence folder (if present) and apply overrides.

    Raises :class:`ConfigError` (with the file, line and column) for a file that cannot be read or
    parsed, and for a setting of the wrong type.
    """
    evidence_dir = Path(evidence_dir)
    settings: dict[str, object] = {}
    toml_path = evidence_dir / "kb.toml"
    if toml_path.is_file():
        data = _read_toml(toml_path)
        _check_text(toml_path, data)
        for key in (*_TEXT_SETTINGS, *_LIMITS):
            if key not in data:
                continue
            value = data[key]
            wanted = str if key in _TEXT_SETTINGS else int
            if type(value) is not wanted or (isinstance(value, int) and value <= 0):
                raise ConfigError(f"{toml_path}{_line_of(toml_path, key)}: config-type [{key}] {key} = {value!r}; "
                                  "expected " + ("a quoted string" if wanted is str else "a whole number above 0"))
            settings[key] = value
        check_updated(toml_path, data.get("updated"))
        settings["extra"] = {k: v for k, v in data.items() if k not in settings}
    base = str(settings.get("base_iri", DEFAULT_BASE_IRI))
    if not base.endswith(("/", "#")):
        base += "/"
    if not re.match(r"^https?://[^\s<>\"{}|\\^`]+$", base) or iri_error(base + "x"):
        where = f"{toml_path}{_line_of(toml_path, 'base_iri')}"
        raise ConfigError(f"{where}: config-type [base_iri] base_iri '{base}' is not an http(s) IRI; expected an "
                          "IRI such as https://w3id.org/peer-support-kb/")
    settings["base_iri"] = base
    licence = settings.get("data_licence_url")
    if isinstance(licence, str) and (not re.match(r"^https?://", licence) or iri_error(licence)):
        where = f"{toml_path}{_line_of(toml_path, 'data_licence_url')}"
        raise ConfigError(f"{where}: config-type [data_licence_url] data_licence_url '{licence}' is not an http(s) "
                          f"IRI ({iri_error(licence) or 'no http:// or https://'}); expected an IRI such as "
                          "https://creativecommons.org/licenses/by/4.0/")
    config = Config(evidence_dir=evidence_dir, **settings)  # type: ignore[arg-type]
    for name in ("out_dir", "cache_dir"):  # library callers may pass plain strings
        if isinstance(overrides.get(name), str):
            overrides[name] = Path(overrides[name])  # type: ignore[arg-type]
    return config.with_overrides(**overrides)


def _check_text(path: Path, data: object, key: str = "") -> None:
    """The rule every text the KB takes in follows: no control or bidi character in any value, written
    as itself or as a TOML escape (``"\\u202e"``); tomllib refuses most raw controls, not these."""
    if isinstance(data, dict):
        for name, value in data.items():
            _check_text(path, value, name)
    elif isinstance(data, list):
        for value in data:
            _check_text(path, value, key)
    elif isinstance(data, str):
        for pattern, code, what in ((CONTROL_CHARS, "config-control-char", "control character"),
                                    (BIDI_CONTROLS, "config-bidi-control", "bidirectional control character")):
            found = pattern.search(data)
            if found:
                char = found.group(0)
                shown = f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
                raise ConfigError(f"{path}{_line_of(path, key)}: {code} [{key}] {key} holds the {what} {shown} "
                                  "(invisible in most editors); expected printable text")


def check_updated(path: Path, value: object) -> None:
    """``updated`` (the date the site's pages show): a TOML date, or a quoted one, a real day. :func:`load_config`
    refuses any other, where the site's render refused it mid-build (found by fuzzing); the render asks again for a
    :class:`Config` made without it."""
    import datetime

    if value is None or value == "" or (isinstance(value, datetime.date) and not isinstance(value, datetime.datetime)):
        return  # none (the pages show no date), or a TOML date
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        with contextlib.suppress(ValueError):
            datetime.date.fromisoformat(value)
            return
    raise ConfigError(f"{path}{_line_of(path, 'updated')}: config-type [updated] updated = {value!r}; expected a date "
                      "such as 2026-11-22")


def _line_of(path: Path, key: str) -> str:
    """``:line:col`` of ``key = …`` in a TOML file (tomllib keeps no positions), or nothing."""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = re.match(rf"\s*{re.escape(key)}\s*=\s*", line)
            if match:
                return f":{number}:{match.end() + 1}"
    return ""


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: config-unreadable cannot read it: {(exc.strerror or str(exc)).lower()}; "
                          "expected a readable kb.toml") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: config-syntax not valid UTF-8 ({exc.reason}); expected a UTF-8 file") from None
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        position = f":{where.group(1)}:{where.group(2)}" if where else ""
        message = re.sub(r"\s*\(at (?:line \d+, column \d+|end of document)\)", "", str(exc))
        raise ConfigError(f"{path}{position}: config-syntax {message}; expected TOML such as "
                          "base_iri = \"https://…/\"") from None


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` if set: reproducible builds never read the clock otherwise."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    return int(value) if value and value.isdigit() else None
