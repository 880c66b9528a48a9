"""Load the SKOS concept schemes (``vocab/*.ttl``) that claim files refer to by short id.

The Turtle files write IRIs relative to the KB's base IRI; they are parsed with that base, so the
same files serve any deployment. The triples go into the graph as they are; the ``Concept``
records give the loaders and the site fast look-ups by ``(scheme, id)``.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from kb.ids import CONCEPT_ID_RE, SCHEMES
from kb.io.reading import InputTooLarge, decode_position, os_error_text, read_capped
from kb.model import Concept
from kb.namespaces import PSK, RDF, SKOS
from kb.problems import Problem, a_or_an, bad_characters, did_you_mean, error, warning

MAX_VOCAB_BYTES = 20 * 1024 * 1024
# What the vocabularies say in words: a concept's (or scheme's) label, other labels and definition. Most readers of the
# vocabularies read none of it, or only the labels (:attr:`Vocabulary.structure`, :attr:`Vocabulary.labelled`).
_LABEL = SKOS + "prefLabel"
_WORDS = frozenset({_LABEL, SKOS + "altLabel", SKOS + "definition"})


@dataclass
class Vocabulary:
    """Concepts by scheme and id, plus the parsed triples (as pyoxigraph quads)."""

    concepts: dict[str, dict[str, Concept]] = field(default_factory=dict)
    scheme_labels: dict[str, str] = field(default_factory=dict)
    scheme_definitions: dict[str, str] = field(default_factory=dict)
    scheme_pico: dict[str, str] = field(default_factory=dict)  # scheme → Cochrane PICO class IRI
    quads: list = field(default_factory=list)
    # a file could not be read, or a scheme has no concepts: every claim's term of those schemes looks wrong
    incomplete: bool = False

    def get(self, scheme: str, concept_id: str) -> Concept | None:
        return self.concepts.get(scheme, {}).get(concept_id)

    @functools.cached_property
    def structure(self) -> str:
        """The digest of the vocabularies' triples but their words (:data:`_WORDS`): which concepts there are, in which
        schemes, under which domains, of which kinds. What a claim's checks, its SHACL verdict, its triples and its
        nanopublication read of them: editing a definition or a label leaves those as they were. Read once loaded."""
        return self._digest(_WORDS)

    @functools.cached_property
    def labelled(self) -> str:
        """:attr:`structure` and the labels (``skos:prefLabel``), not the other labels or the definitions: what the
        analysis's rows read (each names its concepts by label)."""
        return self._digest(_WORDS - {_LABEL})

    def _digest(self, left_out: frozenset[str]) -> str:
        lines = sorted(str(quad) for quad in self.quads if quad.predicate.value not in left_out)
        return hashlib.sha256(f"{self.incomplete}\n{len(lines)}\n{chr(10).join(lines)}".encode()).hexdigest()

    def ids(self, scheme: str, *, domains: bool = False) -> list[str]:
        return sorted(c.id for c in self.concepts.get(scheme, {}).values() if c.is_domain == domains)

    def label(self, scheme: str, concept_id: str) -> str:
        concept = self.get(scheme, concept_id)
        return concept.label if concept else concept_id

    def check_id(self, scheme: str, concept_id: str) -> str | None:
        """``None`` if the id names a usable concept of the scheme, else what is wrong (with a hint)."""
        concept = self.get(scheme, concept_id)
        if concept is not None and not concept.is_domain:
            return None
        if concept is not None:
            return f"'{concept_id}' is an outcome domain; name one of its outcomes"
        hint = did_you_mean(concept_id, self.ids(scheme))
        return f"'{concept_id}' is not {a_or_an(scheme)} id" + (f"; {hint}" if hint else "")


def load_vocabulary(vocab_dir: Path, base_iri: str) -> tuple[Vocabulary, list[Problem]]:
    import pyoxigraph as ox

    vocab = Vocabulary(concepts={s: {} for s in SCHEMES})
    problems: list[Problem] = []
    files = sorted(vocab_dir.glob("*.ttl")) if vocab_dir.is_dir() else []
    if not files:
        problems.append(error(vocab_dir, None, "vocab-missing", "no vocabulary files found",
                              expected="vocab/*.ttl with the six SKOS schemes"))
    unread: list[str] = []  # the files that could not be read
    for path in files:
        try:
            data = read_capped(path, MAX_VOCAB_BYTES)
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, col = decode_position(data, exc)
            problems.append(error(path, line, "vocab-encoding", f"byte 0x{data[exc.start]:02X} is not valid UTF-8",
                                  col=col, expected="a UTF-8 Turtle file", hint="re-save the file as UTF-8"))
            unread.append(path.name)
            continue
        except InputTooLarge as exc:
            problems.append(error(path, None, "vocab-too-large", str(exc), expected=f"at most {MAX_VOCAB_BYTES:,} "
                                  "bytes"))
            unread.append(path.name)
            continue
        except OSError as exc:
            problems.append(error(path, None, "vocab-unreadable", f"cannot read the file: {os_error_text(exc)}",
                                  expected="a readable Turtle file", hint="check its permissions"))
            unread.append(path.name)
            continue
        bad = [problem for _, problem in bad_characters(text, path, "vocab")]
        if bad:  # labels and definitions are shown on the site: the same rule as every other text
            problems.extend(bad)
            unread.append(path.name)
            continue
        try:
            quads = list(ox.parse(data, format=ox.RdfFormat.TURTLE, base_iri=base_iri))
        except SyntaxError as exc:
            detail = re.sub(r" \((?:[^()]*, )?line \d+\)$", "", str(exc).split(": ", 1)[-1])  # the place is in front
            problems.append(error(path, exc.lineno, "vocab-syntax", detail, col=exc.offset))
            unread.append(path.name)
            continue
        vocab.quads.extend(quads)
        _read_concepts(path, text, quads, base_iri, vocab, problems)
    empty = [scheme for scheme in SCHEMES if not vocab.concepts[scheme] and files]
    for scheme in empty:
        problems.append(error(vocab_dir, None, "vocab-missing-scheme", f"no concepts in scheme '{scheme}'",
                              expected=f"a file declaring <{base_iri}scheme/{scheme}> and its concepts"))
    missing = [*(f"{name} cannot be read" for name in unread),
               *(f"scheme '{scheme}' has no concepts" for scheme in empty)]
    if missing:  # every claim's terms of those schemes would be wrong: one line says so, not one (or two) per claim
        vocab.incomplete = True
        problems.append(warning(vocab_dir, None, "vocab-terms-unchecked",
                                "the claims' terms and the graph's shapes (SHACL) are not checked while "
                                + "; ".join(missing),
                                hint="fix the vocabulary first; kb check then checks every claim's terms and shapes"))
    _check_outcome_domains(vocab, problems)
    return vocab, problems


def _read_concepts(path: Path, text: str, quads: list, base: str, vocab: Vocabulary,
                   problems: list[Problem]) -> None:
    props: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for q in quads:
        props[q.subject.value][q.predicate.value].append(q.object)
    scheme_prefix = f"{base}scheme/"
    starts = _statement_starts(text)
    misplaced: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)  # (under, minted) → (id, line)
    for subject in sorted(props):
        p = props[subject]
        types = {o.value for o in p[RDF + "type"]}
        if SKOS + "ConceptScheme" in types and subject.startswith(scheme_prefix):
            name = subject[len(scheme_prefix):]
            vocab.scheme_labels[name] = _one(p[SKOS + "prefLabel"])
            vocab.scheme_definitions[name] = _one(p[SKOS + "definition"])
            if p[PSK + "picoClass"]:
                vocab.scheme_pico[name] = _one(p[PSK + "picoClass"])
        if SKOS + "Concept" not in types:
            continue
        line, block = _line_of(text, subject, starts)

        def at(predicate: str, line: int = line, block: tuple[int, int] = block) -> dict[str, int]:
            """Point at the predicate's first use in the subject's statement, else at the subject."""
            found_line, col = _predicate_position(text, block, predicate) or (line, 1)
            return {"line": found_line, "col": col}
        schemes = [o.value[len(scheme_prefix):] for o in p[SKOS + "inScheme"] if o.value.startswith(scheme_prefix)]
        local = subject.rstrip("/").rsplit("/", 1)[-1]
        if len(schemes) != 1 or schemes[0] not in SCHEMES:
            problems.append(error(path, code="vocab-scheme", message=f"concept <{subject}> has no known skos:inScheme",
                                  expected="exactly one of " + ", ".join(f"scheme:{s}" for s in SCHEMES),
                                  **at("skos:inScheme")))
            continue
        scheme = schemes[0]
        is_domain = bool(p[SKOS + "topConceptOf"]) and scheme == "outcome"
        minted = f"{base}concept/{'outcome-domain' if is_domain else scheme}/"
        if subject != minted + local:  # a mistyped @prefix moves every concept under it: told once, below
            misplaced[(subject[: len(subject) - len(local)], minted)].append((local, line))
            continue
        notation = _one(p[SKOS + "notation"])
        labels = p[SKOS + "prefLabel"]
        definition = _one(p[SKOS + "definition"])
        where = f"concept '{local}'"
        if not CONCEPT_ID_RE.match(local) or notation != local:
            problems.append(error(path, code="vocab-notation", message=f"{where}: skos:notation '{notation}' must "
                                  "equal the last segment of its IRI", field="skos:notation",
                                  expected=f'"{local}" (a-z, 0-9, _)', **at("skos:notation")))
        if len(labels) != 1:
            problems.append(error(path, code="vocab-label", message=f"{where} has {len(labels)} skos:prefLabel",
                                  field="skos:prefLabel", expected="exactly one", **at("skos:prefLabel")))
        if not definition:
            problems.append(error(path, line, "vocab-definition", f"{where} has no skos:definition", col=1,
                                  field="skos:definition", expected="a plain-language definition"))
        broader = [o.value.rstrip("/").rsplit("/", 1)[-1] for o in p[SKOS + "broader"]]
        start = [o.value.rsplit("/", 1)[-1] for o in p[PSK + "startingCertainty"]]
        kind = [o.value.rsplit("/", 1)[-1] for o in p[PSK + "interventionKind"]]
        if local in vocab.concepts[scheme]:
            problems.append(error(path, line, "vocab-duplicate", f"{where} is defined twice in scheme '{scheme}'",
                                  col=1))
            continue
        vocab.concepts[scheme][local] = Concept(
            scheme=scheme, id=local, iri=subject, label=_one(labels), definition=definition,
            alt_labels=tuple(sorted(o.value for o in p[SKOS + "altLabel"])),
            broader=broader[0] if broader else None, starting_certainty=start[0] if start else None,
            group=_one(p[PSK + "designGroup"]) or None, kind=kind[0] if kind else None,
            core_area=_one(p[PSK + "coreArea"]) or None, chime=_one(p[PSK + "chimeProcess"]) or None,
            is_domain=is_domain, path=str(path), line=line,
        )
    for (under, minted), unsorted in sorted(misplaced.items()):
        found = sorted(unsorted, key=lambda concept: concept[1])  # in the file's order
        named = ", ".join(f"'{cid}' (line {line})" for cid, line in found[:3])
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        problems.append(error(
            path, _prefix_line(text, under, base) or found[0][1], "vocab-iri",
            f"{len(found)} concept(s) are under <{under}>, not under <{minted}> where their scheme's concepts are: "
            f"{named}{more}", col=1, field="@prefix", expected=f"<{minted}…>",
            hint="a concept's IRI is its scheme's namespace and its notation: check the @prefix line; the concepts "
                 "under it are left out until it is fixed"))


def _prefix_line(text: str, namespace: str, base: str) -> int | None:
    """The line of the ``@prefix`` (or ``PREFIX``) that declares ``namespace`` (relative to ``base`` or not)."""
    for number, line in enumerate(text.splitlines(), start=1):
        declared = re.match(r"\s*(?:@prefix|PREFIX)\s+[\w-]*:\s*<([^>]*)>", line, re.IGNORECASE)
        if declared and declared.group(1) in (namespace, namespace.removeprefix(base)):
            return number
    return None


def _check_outcome_domains(vocab: Vocabulary, problems: list[Problem]) -> None:
    outcomes = vocab.concepts.get("outcome", {})
    # a scheme with no concepts at all is told once (vocab-missing-scheme), not again by every concept pointing into it;
    # outcomes with no domain at all, once
    domains = any(concept.is_domain for concept in outcomes.values())
    if outcomes and not domains:
        first = min(outcomes.values(), key=lambda concept: (concept.path, concept.line))
        problems.append(error(first.path, first.line, "vocab-domain", f"none of the {len(outcomes)} outcomes has an "
                              "outcome domain: the scheme has no top concepts", col=1, field="skos:topConceptOf",
                              expected="outcome domains (skos:topConceptOf scheme:outcome), each outcome's "
                                       "skos:broader one of them"))
    for concept in outcomes.values():
        if concept.is_domain or not domains:
            continue
        domain = outcomes.get(concept.broader or "")
        if domain is None or not domain.is_domain:
            problems.append(error(concept.path, concept.line, "vocab-domain",
                                  f"outcome '{concept.id}' has no broader outcome domain", col=1, field="skos:broader",
                                  expected="skos:broader pointing to a top concept of scheme:outcome"))
    kinds = vocab.concepts.get("intervention_kind", {})
    for concept in vocab.concepts.get("intervention", {}).values():
        if kinds and concept.kind not in kinds:
            problems.append(error(concept.path, concept.line, "vocab-intervention-kind",
                                  f"intervention '{concept.id}' has no valid psk:interventionKind",
                                  field="psk:interventionKind",
                                  expected="<concept/intervention_kind/peer_delivered|peer_adjacent|comparator>"))
    for concept in vocab.concepts.get("design", {}).values():
        if concept.group not in DESIGN_GROUPS:
            problems.append(error(concept.path, concept.line, "vocab-design-group",
                                  f"design '{concept.id}' has no valid psk:designGroup", field="psk:designGroup",
                                  expected=" or ".join(f'"{g}"' for g in DESIGN_GROUPS)))
        levels = vocab.concepts.get("certainty", {})
        if levels and concept.starting_certainty not in levels:
            problems.append(error(concept.path, concept.line, "vocab-starting-certainty",
                                  f"design '{concept.id}' has no valid psk:startingCertainty", col=1,
                                  field="psk:startingCertainty",
                                  expected="<concept/certainty/high|moderate|low|very_low>"))


DESIGN_GROUPS = ("systematic_review", "primary_study", "other")


def _one(objects: list) -> str:
    return objects[0].value if objects else ""


_FIRST_TOKEN = re.compile(r"^(\S*)(?=\s)", re.MULTILINE)


def _statement_starts(text: str) -> dict[str, int]:
    """Where a statement about each local name may start: the first line whose first token (before white space)
    ends in ``:name`` or ``/name``, optionally then ``>``. One pass over the text: a search per concept was
    ~0.5 s of every build for the shipped vocabulary."""
    starts: dict[str, int] = {}
    for match in _FIRST_TOKEN.finditer(text):
        token = match.group(1)
        for written in (token, token[:-1]) if token.endswith(">") else (token,):
            for i, char in enumerate(written):
                if char in ":/":
                    starts.setdefault(written[i + 1:], match.start())
    return starts


def _line_of(text: str, iri: str, starts: dict[str, int]) -> tuple[int, tuple[int, int]]:
    """Best-effort line of a subject (it starts a line, so its column is 1) and the span of its statement.

    pyoxigraph keeps no positions, so find its local name (``starts``: :func:`_statement_starts`); the statement
    runs to the next line that starts with something other than white space or a comment.
    """
    start = starts.get(iri.rstrip("/").rsplit("/", 1)[-1])
    if start is None:
        return 1, (0, 0)
    end = text.find("\n", start)  # the subject's own line, then the lines that continue its statement
    following = _STATEMENT_START.search(text, end + 1 if end != -1 else len(text))
    return text.count("\n", 0, start) + 1, (start, following.start() if following else len(text))


_STATEMENT_START = re.compile(r"^[^\s#]", re.MULTILINE)


def _predicate_position(text: str, block: tuple[int, int], predicate: str) -> tuple[int, int] | None:
    """Line and column of ``predicate`` (as written, e.g. ``skos:notation``) inside the statement ``block``."""
    found = re.compile(rf"(?<![\w:]){re.escape(predicate)}(?![\w-])").search(text, *block)
    if not found:
        return None
    start = found.start()
    return text.count("\n", 0, start) + 1, start - (text.rfind("\n", 0, start) + 1) + 1
