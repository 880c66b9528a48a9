"""Load claim files (``claims/*.yaml``) and citation lists (``citations/*.yaml``) into records.

Only the *shape* of each file is checked here (required fields, types, YAML traps, unknown keys);
whether the ids it names exist is the validator's job, which sees all files at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.ids import CITEKEY_RE, CLAIM_ID_RE, CONCEPT_ID_RE
from kb.load.yamlstrict import Mapping, Scalar, Sequence, Value, read_yaml
from kb.model import Certainty, CitationList, Claim, Effect, OutcomeFinding
from kb.problems import Problem, a_or_an, did_you_mean, error

CERTAINTY_BASES = ("assigned", "reported")
GRADE_DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")

_TRAP_HINTS = {
    "bool": "YAML reads it as true/false",
    "float": "YAML reads it as a number (1.10 becomes 1.1)",
    "int": "YAML reads it as a number",
    "null": "YAML reads it as empty (null)",
    "timestamp": "YAML reads it as a date",
}


@dataclass(frozen=True)
class Spec:
    """How one field is read: its kind, whether it is required, and (for ids) its pattern."""

    kind: str  # "text" | "id" | "ids" (one id, or a list of them) | "int" | "number" | "bool" | "list" | "map"
    required: bool = False
    pattern: Any = None


CLAIM_FIELDS: dict[str, Spec] = {
    "id": Spec("id", True, CLAIM_ID_RE),
    "statement": Spec("text", True),
    "source": Spec("id", False, CITEKEY_RE),
    "section": Spec("text", True),
    "quote": Spec("text", True),
    "cites": Spec("list", True),
    "finding_type": Spec("id", True, CONCEPT_ID_RE),
    "population": Spec("ids", True, CONCEPT_ID_RE),
    "setting": Spec("ids", True, CONCEPT_ID_RE),
    "delivery": Spec("ids", True, CONCEPT_ID_RE),
    "perspective": Spec("id", True, CONCEPT_ID_RE),
    "intervention": Spec("id", True, CONCEPT_ID_RE),
    "comparator": Spec("id", False, CONCEPT_ID_RE),
    "outcomes": Spec("list", True),
    "design": Spec("id", True, CONCEPT_ID_RE),
    "certainty": Spec("map", True),
    "effect": Spec("map"),
    "figure": Spec("map"),
    "dose": Spec("text"),
    "frequency": Spec("text"),
    "duration": Spec("text"),
    "n_studies": Spec("int"),
    "n_participants": Spec("int"),
    "country": Spec("text"),
    "notes": Spec("text"),
}
OUTCOME_FIELDS = {
    "outcome": Spec("id", True, CONCEPT_ID_RE),
    "direction": Spec("id", True, CONCEPT_ID_RE),
    "effect": Spec("map"),
    "notes": Spec("text"),
}
CERTAINTY_FIELDS = {
    "level": Spec("id", True, CONCEPT_ID_RE),
    "basis": Spec("id", True, CONCEPT_ID_RE),
    "start": Spec("id", False, CONCEPT_ID_RE),
    "downgrades": Spec("list"),
    "reason": Spec("text"),
    "reported_as": Spec("text"),
}
EFFECT_FIELDS = {
    "text": Spec("text", True),
    "value": Spec("number"),
    "value_max": Spec("number"),
    "unit": Spec("text"),
}
FILE_FIELDS = {"source": Spec("id", True, CITEKEY_RE), "claims": Spec("list", True)}
CITATION_FILE_FIELDS = {"source": Spec("id", True, CITEKEY_RE), "references": Spec("list", True)}


_PLAIN_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]{0,17})$")
_PLAIN_FLOAT = re.compile(r"^[-+]?(?:[0-9]{1,18}(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?$")


def _plain_number(text: str, kind: str) -> int | float | None:
    """The number a plain decimal ``text`` says, or None for YAML 1.1's other spellings (octal, hex,
    base 60, underscores, .inf/.nan) and for numbers too long to be a count."""
    if _PLAIN_INT.match(text):
        return int(text)
    if kind == "number" and _PLAIN_FLOAT.match(text):
        number = float(text)
        return number if math.isfinite(number) else None
    return None


def _number_trap(value: Scalar) -> str:
    """What YAML 1.1 would silently have made of an odd number, in words."""
    text = value.text.lstrip("+-")
    try:
        read = value.python()
    except ValueError:
        read = None
    if ":" in text:
        why = "base 60 (1:30 is 90)"
    elif text.lower().startswith(("0x", "0b", "0o")):
        why = "hexadecimal or binary"
    elif "_" in text:
        why = "a number with '_' separators"
    elif text.lower() in (".inf", ".nan"):
        return "is not a finite number"
    elif len(text) > 18:
        return f"has {len(text):,} digits: not a count"
    elif text.startswith("0") and len(text) > 1:
        why = "octal (a leading 0)"
    else:
        why = "an unusual number format"
    return f"is read by YAML as {read!r}: {why}" if read is not None else f"is {why}"


def _decimal_example(text: str) -> str:
    digits = re.sub(r"[^0-9.]", "", text.split(":")[0]).lstrip("0") or "0"
    return digits if not text.lower().startswith(("0x", "0b", "0o")) and len(digits) <= 18 else "12"


class _Reader:
    """Reads fields of one mapping against a spec, collecting problems with exact lines."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems

    def fail(self, line: int, code: str, message: str, **kw: Any) -> None:
        self.problems.append(error(self.path, line, code, message, **kw))

    def mapping(self, value: Value | None, what: str, line: int) -> Mapping | None:
        if isinstance(value, Mapping):
            return value
        if value is not None:
            self.fail(getattr(value, "line", line), "claim-type", f"{what} is not a mapping",
                      expected="'key: value' lines")
        return None

    def read(self, node: Mapping, specs: dict[str, Spec], what: str) -> dict[str, Any]:
        """Return the valid fields; report unknown keys, missing fields and wrong types."""
        out: dict[str, Any] = {}
        for key, key_line in node.key_lines.items():
            if key not in specs:
                hint = did_you_mean(key, specs)
                self.fail(key_line, "claim-unknown-field", f"unknown field '{key}' in {what}", field=key,
                          expected="one of " + ", ".join(specs), hint=hint)
        for key, spec in specs.items():
            if key not in node.items:
                if spec.required:
                    self.fail(node.line, "claim-missing-field", f"{what} has no '{key}'", field=key,
                              expected=f"{a_or_an(spec.kind)} value")
                continue
            value = self.value(node.items[key], spec, key, node.key_lines[key])
            if value is not None:
                out[key] = value
        return out

    def value(self, value: Value | None, spec: Spec, key: str, line: int) -> Any:
        if spec.kind == "ids":
            if isinstance(value, Sequence):
                before = len(self.problems)
                ids = [text for text, _ in self.id_list(value, key, spec.pattern)]
                if not ids and len(self.problems) == before:
                    self.fail(value.line or line, "claim-empty", f"'{key}' is an empty list", field=key,
                              expected="one id or more (not_stated where the source does not say)")
                if len(set(ids)) != len(ids):
                    self.fail(value.line or line, "claim-duplicate-value", f"'{key}' names an id twice", field=key,
                              expected="each id once")
                return tuple(ids) if ids and len(self.problems) == before else None
            if isinstance(value, Scalar):
                text = self.scalar(value, Spec("id", True, spec.pattern), key)
                return (text,) if text is not None else None
            self.fail(line, "claim-type", f"'{key}' is not an id or a list of ids", field=key,
                      expected="an id, or a list of ids ([a, b])")
            return None
        if spec.kind in ("list", "map"):
            wanted = Sequence if spec.kind == "list" else Mapping
            if isinstance(value, Scalar) and spec.kind == "list" and value.tag == "null":
                return Sequence(line=value.line)
            if not isinstance(value, wanted):
                self.fail(line, "claim-type", f"'{key}' is not a {spec.kind}", field=key,
                          expected="a list ([a, b] or '- item' lines)" if spec.kind == "list" else "a mapping")
                return None
            return value
        if not isinstance(value, Scalar):
            self.fail(line, "claim-type", f"'{key}' is not a single value", field=key, expected=a_or_an(spec.kind))
            return None
        return self.scalar(value, spec, key)

    def scalar(self, value: Scalar, spec: Spec, key: str) -> Any:
        where = {"col": value.col, "field": key}
        if spec.kind == "bool":
            if value.tag != "bool" or value.text not in ("true", "false"):
                self.fail(value.line, "claim-type", f"'{key}' is '{value.text}'", **where, expected="true or false")
                return None
            return value.text == "true"
        if spec.kind in ("int", "number"):
            ok = value.tag == "int" or (spec.kind == "number" and value.tag == "float")
            if not ok:
                self.fail(value.line, "claim-type", f"'{key}' is '{value.text}', not a number", **where,
                          expected="a whole number" if spec.kind == "int" else "a number")
                return None
            number = _plain_number(value.text, spec.kind)
            if number is None:  # YAML 1.1 reads 010 as 8, 0x1F as 31, 1:30 as 90, 1_000 as 1000
                trap = _number_trap(value)
                shown = value.text if len(value.text) <= 40 else value.text[:20] + "…"
                self.fail(value.line, "yaml-type-trap", f"'{key}: {shown}' {trap}", **where,
                          expected="a plain decimal number" + (" (a whole number)" if spec.kind == "int" else ""),
                          hint=f"write the number in decimal digits as the source gives it, e.g. {key}: "
                               f"{_decimal_example(value.text)}; or quote it if it is text")
                return None
            if spec.kind == "int" and number < 0:
                self.fail(value.line, "claim-value", f"'{key}' is negative", **where, expected="0 or more")
                return None
            return number
        if value.tag != "str" and not value.quoted:
            self.fail(value.line, "yaml-type-trap", f"'{key}: {value.text}' is not text: {_TRAP_HINTS[value.tag]}",
                      **where, expected="text", hint=f'quote it: {key}: "{value.text}"')
            return None
        text = " ".join(value.text.split()) if spec.kind == "id" else value.text.strip()
        if not text:
            self.fail(value.line, "claim-empty", f"'{key}' is empty", **where, expected="a non-empty value")
            return None
        if spec.pattern is not None and not spec.pattern.match(text):
            self.fail(value.line, "claim-bad-id", f"'{text}' is not a valid {key}", **where,
                      expected=f"an id matching {spec.pattern.pattern}")
            return None
        return text

    def id_list(self, seq: Sequence, key: str, pattern: Any) -> list[tuple[str, int]]:
        out = []
        for item in seq.items:
            if isinstance(item, Scalar):
                text = self.scalar(item, Spec("id", True, pattern), key)
                if text is not None:
                    out.append((text, item.line))
            else:
                self.fail(getattr(item, "line", seq.line), "claim-type", f"an item of '{key}' is not a single id",
                          field=key, expected="a list of ids")
        return out


ClaimFile = tuple[str | None, list[Claim], list[Problem]]  # a claim file read: its source, its claims, its problems


def load_claim_file(path: Path) -> ClaimFile:
    """Return the file's source citekey, its claims, and every problem found in it."""
    root, problems = read_yaml(path)
    reader = _Reader(path, problems)
    top = reader.mapping(root, "the claim file", 1)
    if top is None:
        return None, [], problems
    head = reader.read(top, FILE_FIELDS, "the claim file")
    source = head.get("source")
    claims: list[Claim] = []
    for item in head.get("claims", Sequence()).items:
        node = reader.mapping(item, "a claim", top.line)
        if node is not None:
            claim = _claim(reader, node, source, path)
            if claim is not None:
                claims.append(claim)
    return source, claims, problems


def keep_unchanged_claims(last: ClaimFile, now: ClaimFile) -> ClaimFile:
    """A claim file read again (:func:`load_claim_file`), each claim equal to the last read's claim of its id (every
    field, its lines included) being that very object. The editors' loop knows an unchanged claim by its identity
    (the analysis it carries, the exports' pieces, the pages' keys): one edited claim is then one changed claim, not
    its file's ~200."""
    before = {claim.id: claim for claim in last[1]}
    return now[0], [kept if (kept := before.get(claim.id)) is not None and kept == claim else claim
                    for claim in now[1]], now[2]


def _claim(reader: _Reader, node: Mapping, file_source: str | None, path: Path) -> Claim | None:
    before = len(reader.problems)
    fields = reader.read(node, CLAIM_FIELDS, "a claim")
    cites = [key for key, _ in reader.id_list(fields["cites"], "cites", CITEKEY_RE)] if "cites" in fields else []
    outcomes = [o for o in (_outcome(reader, n) for n in fields.get("outcomes", Sequence()).items) if o]
    if "outcomes" in fields and not fields["outcomes"].items:
        reader.fail(fields["outcomes"].line or node.line, "claim-empty", "a claim needs at least one outcome",
                    field="outcomes", expected="one entry per outcome and direction")
    certainty = _certainty(reader, fields["certainty"]) if "certainty" in fields else None
    effect = _effect(reader, fields["effect"]) if "effect" in fields else None
    figure = _effect(reader, fields["figure"]) if "figure" in fields else None
    source = fields.get("source", file_source)
    required = [k for k, s in CLAIM_FIELDS.items() if s.required]
    if any(k not in fields for k in required) or certainty is None or not outcomes or len(reader.problems) > before:
        return None
    if source is None:
        return None
    return Claim(
        id=fields["id"], statement=fields["statement"], source=source, section=fields["section"],
        quote=fields["quote"], cites=tuple(cites), finding_type=fields["finding_type"],
        population=fields["population"], setting=fields["setting"], delivery=fields["delivery"],
        perspective=fields["perspective"], intervention=fields["intervention"], comparator=fields.get("comparator"),
        outcomes=tuple(outcomes), design=fields["design"], certainty=certainty, effect=effect, figure=figure,
        dose=fields.get("dose"), frequency=fields.get("frequency"), duration=fields.get("duration"),
        n_studies=fields.get("n_studies"), n_participants=fields.get("n_participants"),
        country=fields.get("country"), notes=fields.get("notes"), path=str(path), line=node.line,
        field_lines=dict(node.key_lines),
    )


def _sub(reader: _Reader, value: Any, specs: dict[str, Spec], what: str, build: Callable[[dict, Mapping], Any]) -> Any:
    node = reader.mapping(value, what, getattr(value, "line", 0))
    if node is None:
        return None
    before = len(reader.problems)
    fields = reader.read(node, specs, what)
    if len(reader.problems) > before:
        return None
    return build(fields, node)


def _effect(reader: _Reader, value: Any) -> Effect | None:
    return _sub(reader, value, EFFECT_FIELDS, "an effect", lambda f, _n: Effect(
        f["text"], f.get("value"), f.get("value_max"), f.get("unit")))


def _outcome(reader: _Reader, value: Any) -> OutcomeFinding | None:
    def build(f: dict, n: Mapping) -> OutcomeFinding | None:
        effect = _effect(reader, f["effect"]) if "effect" in f else None
        return OutcomeFinding(f["outcome"], f["direction"], effect, f.get("notes"), n.line)

    return _sub(reader, value, OUTCOME_FIELDS, "an outcome entry", build)


def _certainty(reader: _Reader, value: Any) -> Certainty | None:
    def build(f: dict, n: Mapping) -> Certainty | None:
        downgrades = reader.id_list(f["downgrades"], "downgrades", None) if "downgrades" in f else []
        for name, line in downgrades:
            if name not in GRADE_DOMAINS:
                reader.fail(line, "claim-bad-downgrade", f"'{name}' is not a GRADE domain", field="downgrades",
                            expected=", ".join(GRADE_DOMAINS), hint=did_you_mean(name, GRADE_DOMAINS))
        if f["basis"] not in CERTAINTY_BASES:
            reader.fail(n.key_lines["basis"], "claim-bad-basis", f"certainty basis '{f['basis']}' is unknown",
                        field="basis", expected=" or ".join(CERTAINTY_BASES),
                        hint=did_you_mean(f["basis"], CERTAINTY_BASES))
            return None
        if f["basis"] == "assigned" and "start" not in f:
            reader.fail(n.line, "claim-missing-field", "an assigned certainty needs its starting level 'start'",
                        field="start", expected="the design's starting level (high, moderate, low, very_low)")
            return None
        if f["basis"] == "reported" and "reported_as" not in f:
            reader.fail(n.line, "claim-missing-field", "a reported certainty needs the source's wording 'reported_as'",
                        field="reported_as", expected="the source's words, verbatim")
            return None
        return Certainty(f["level"], f["basis"], f.get("start"), tuple(d for d, _ in downgrades),
                         f.get("reason"), f.get("reported_as"), n.line)

    return _sub(reader, value, CERTAINTY_FIELDS, "the certainty", build)


def load_citation_file(path: Path) -> tuple[CitationList | None, list[Problem]]:
    root, problems = read_yaml(path)
    reader = _Reader(path, problems)
    top = reader.mapping(root, "the citation file", 1)
    if top is None:
        return None, problems
    fields = reader.read(top, CITATION_FILE_FIELDS, "the citation file")
    if "source" not in fields or "references" not in fields:
        return None, problems
    items = reader.id_list(fields["references"], "references", CITEKEY_RE)
    return CitationList(fields["source"], tuple(k for k, _ in items), str(path), top.line,
                        tuple(line for _, line in items)), problems


def load_claims(claims_dir: Path, load: Callable = load_claim_file) -> tuple[list[Claim], list[Problem]]:
    """Every claim of every ``*.yaml`` file in the folder, in file then document order.

    ``load`` reads one file (the pipeline passes a cached :func:`load_claim_file`).
    """
    claims: list[Claim] = []
    problems: list[Problem] = []
    for path in sorted(claims_dir.glob("*.yaml")) if claims_dir.is_dir() else []:
        _source, file_claims, file_problems = load(path)
        claims.extend(file_claims)
        problems.extend(file_problems)
    return claims, problems


def load_citations(citations_dir: Path,
                   load: Callable = load_citation_file) -> tuple[list[CitationList], list[Problem]]:
    """Every citation list of every ``*.yaml`` file in the folder, in file order.

    ``load`` reads one file (the pipeline passes a cached :func:`load_citation_file`)."""
    lists: list[CitationList] = []
    problems: list[Problem] = []
    for path in sorted(citations_dir.glob("*.yaml")) if citations_dir.is_dir() else []:
        citation_list, file_problems = load(path)
        problems.extend(file_problems)
        if citation_list is not None:
            lists.append(citation_list)
    return lists, problems
