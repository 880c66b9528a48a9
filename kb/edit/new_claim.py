"""Editors' helpers for claims: a complete claim stub, and the vocabularies in plain text.

The stub lists, as YAML comments, every id each concept field allows and the source's section
headings, so an editor fills it in without looking anything up; its placeholders are invalid on
purpose, so ``kb check`` points at every field still to fill.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from kb.ids import SCHEMES
from kb.load.claims import GRADE_DOMAINS
from kb.load.evidence import Evidence
from kb.load.vocab import Vocabulary
from kb.problems import did_you_mean


class AuthoringError(ValueError):
    """The request cannot be served (unknown source, unknown scheme): nothing was written."""


def _ids_comment(vocab: Vocabulary, scheme: str, indent: str) -> list[str]:
    lines = []
    if scheme == "outcome":
        for domain in vocab.ids("outcome", domains=True):
            members = [c.id for c in vocab.concepts["outcome"].values() if c.broader == domain and not c.is_domain]
            lines += _wrap(f"{vocab.label('outcome', domain)}: " + ", ".join(sorted(members)), indent, "  ")
    else:
        lines += _wrap(", ".join(vocab.ids(scheme)), indent)
    return lines


def _wrap(text: str, indent: str, more: str = "") -> list[str]:
    """``text`` as comment lines under a field at ``indent``; ``more`` indents a sub-list (like the headings),
    whose wrapped lines hang two further so that each item of the sub-list starts one line."""
    hang = more + "  " if more else ""
    return [f"{indent}#   {line}" for line in textwrap.wrap(text, width=100 - len(indent) - 4, initial_indent=more,
                                                             subsequent_indent=hang, break_on_hyphens=False)]


def claim_stub(evidence: Evidence, source: str) -> str:
    """YAML text of one claim (a list item under ``claims:``) with every field and its choices."""
    keys = evidence.references_by_key
    if source not in keys:
        hint = did_you_mean(source, keys)
        raise AuthoringError(f"'{source}' is not in references.bib" + (f"; {hint}" if hint else ""))
    vocab = evidence.vocabulary
    text = evidence.sources.get(source)
    pad = "    "
    out = ["  - id: TODO-unique-id             # lower case letters, digits and '-'; never renamed once published",
           f"{pad}statement: ''                  # plain language; keep the source's hedges (may, somewhat)"]
    out.append(f"{pad}section: ''                    # the heading the quote stands under")
    if text is not None and text.sections:
        out.append(f"{pad}#   headings of {source}:")
        out += [f"{pad}#     {s.heading}" + (" (inferred)" if s.inferred else "") for s in text.sections]
    elif text is None:
        out.append(f"{pad}#   (no archived text for {source}: quotes and sections are not checked)")
    out += [f"{pad}quote: ''                      # verbatim, the shortest passage that carries the finding",
            f"{pad}cites: []                      # citekeys of the works given in brackets; [] needs 'notes'"]
    listed = [c for c in evidence.citations if c.source == source]
    if listed:
        out.append(f"{pad}#   {source}'s reference list: [N] is position N of citations/{source}.yaml")
    out.append(f"{pad}finding_type: ''               # " + " | ".join(vocab.ids("finding_type")))
    for field, note in (("population", "who receives peer support; one id or a list [a, b]"),
                        ("setting", "where; one id or a list (not_stated where the source does not say)"),
                        ("delivery", "how; one id or a list"), ("perspective", "whose outcome it is"),
                        ("intervention", "what is delivered (peer-delivered or peer-adjacent)")):
        out.append(f"{pad}{field}: ''".ljust(35) + f"# {note}")
        out += _ids_comment(vocab, field, pad)
    out.append(f"{pad}# comparator: ''                # optional: what it was compared with")
    out += _wrap(", ".join(c.id for c in sorted(vocab.concepts["intervention"].values(), key=lambda c: c.id)
                           if c.kind == "comparator"), pad)
    out += [f"{pad}outcomes:                      # one entry per outcome and direction",
            f"{pad}  - outcome: ''",
            f"{pad}    #   outcomes by domain:"]
    out += _ids_comment(vocab, "outcome", pad + "    ")
    out += [f"{pad}    direction: ''              # " + " | ".join(vocab.ids("direction"))]
    out.append(f"{pad}design: ''                     # the design of the cited evidence")
    out += [f"{pad}#   {c.id} (starts {c.starting_certainty})" for c in
            sorted(vocab.concepts["design"].values(), key=lambda c: c.id)]
    out += [f"{pad}certainty:",
            f"{pad}  level: ''                    # " + " | ".join(vocab.ids("certainty")),
            f"{pad}  basis: assigned              # assigned (by the rule in evidence/README.md) | reported",
            f"{pad}  start: ''                    # assigned: the design's starting level (listed above)",
            f"{pad}  downgrades: []               # " + ", ".join(GRADE_DOMAINS),
            f"{pad}  reason: ''                   # quote the source's words that set the level",
            f"{pad}# effect: {{text: '', value: 0, unit: ''}}   # optional: a reported effect size, verbatim",
            f"{pad}# figure: {{text: '', value: 0, unit: ''}}   # optional: another number (prevalence, count)",
            f"{pad}# dose: ''                     # optional, verbatim: how much (12 sessions)",
            f"{pad}# frequency: ''                # optional, verbatim: how often (weekly)",
            f"{pad}# duration: ''                 # optional, verbatim: for how long (6 months)",
            f"{pad}# n_studies: 0                 # optional, only where the source says",
            f"{pad}# n_participants: 0            # optional, only where the source says",
            f"{pad}# country: ''                  # optional; quote it: \"NO\" is Norway, NO is false",
            f"{pad}# notes: ''                    # optional: judgement calls, uncertainty"]
    return "\n".join(out) + "\n"


def append_stub(evidence: Evidence, source: str) -> Path:
    """Append a stub to ``claims/<source>.yaml`` (created if missing), keeping every existing byte.

    Raises :class:`AuthoringError` if the file cannot be read or written (a read-only folder, a full
    disk): nothing is changed then.
    """
    from kb.io.atomic import LockTimeoutError, atomic_write_bytes, file_digest, locked, remove_stale_temps
    from kb.io.reading import os_error_text, write_failure

    stub = claim_stub(evidence, source)
    path = evidence.config.claims_dir / f"{source}.yaml"
    data = b""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with locked(path, timeout=10):
            remove_stale_temps(path)
            old = path.read_bytes() if path.exists() else b""
            digest = file_digest(path)
            newline = b"\r\n" if b"\r\n" in old else b"\n"
            if not old.strip():
                head = f"source: {source}\nclaims:\n".encode()
            elif b"claims: []" in old:
                raise AuthoringError(f"{path} has 'claims: []': replace it with 'claims:' and run again")
            else:
                head = old if old.endswith(newline) else old + newline
                head += newline
            data = head + stub.replace("\n", newline.decode()).encode("utf-8")
            atomic_write_bytes(path, data, expected_digest=digest)
    except LockTimeoutError as exc:
        raise AuthoringError(f"{exc}; nothing was written") from None
    except OSError as exc:
        if data:
            raise AuthoringError(f"{write_failure(exc, path, len(data))}; nothing was changed") from None
        raise AuthoringError(f"cannot write a claim stub to {path}: {os_error_text(exc)}"
                             + (f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else "")
                             + "; nothing was changed") from None
    return path


def vocabulary_text(vocab: Vocabulary, scheme: str | None = None) -> str:
    """The concepts of one scheme (or all), with their definitions, for a terminal."""
    schemes = [scheme] if scheme else list(SCHEMES)
    for name in schemes:
        if name not in SCHEMES:
            hint = did_you_mean(name, SCHEMES)
            raise AuthoringError(f"'{name}' is not a scheme; expected one of {', '.join(SCHEMES)}"
                                 + (f"; {hint}" if hint else ""))
    out = []
    for name in schemes:
        out.append(f"{name}: {vocab.scheme_labels.get(name, name)}")
        concepts = vocab.concepts.get(name, {})
        if name == "outcome":
            for domain in vocab.ids("outcome", domains=True):
                out.append(f"  [{domain}] {vocab.label('outcome', domain)}")
                members = sorted((c for c in concepts.values() if c.broader == domain and not c.is_domain),
                                 key=lambda c: c.id)
                out += _concept_lines(members, "    ")
        else:
            out += _concept_lines(sorted(concepts.values(), key=lambda c: c.id), "  ")
        out.append("")
    return "\n".join(out)


def _concept_lines(concepts: list, indent: str) -> list[str]:
    lines = []
    for concept in concepts:
        extra = f" (starts {concept.starting_certainty})" if concept.starting_certainty else ""
        lines.append(f"{indent}{concept.id}: {concept.label}{extra}")
        lines += textwrap.wrap(concept.definition, width=100, initial_indent=indent + "    ",
                               subsequent_indent=indent + "    ")
    return lines
