"""Read-only SPARQL over the KB: a guard, the example queries, and result formatting.

The guard runs before any engine sees the text (BAD_INPUTS #31–#33): updates are refused, and so
are ``SERVICE`` (pyoxigraph would open a socket) and ``FROM``/``FROM NAMED`` (other engines read
files or URLs). It tokenises the query — skipping comments, strings, IRIs, variables and prefixed
names — so a keyword inside a literal never trips it. Syntax errors come from the engine, placed
where the mistake is by :mod:`kb.query.diagnose`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.namespaces import PREFIXES
from kb.problems import Problem, bad_characters, did_you_mean, error
from kb.query.diagnose import TOKEN, QueryFailed, QuerySyntaxError, diagnose, failed

if TYPE_CHECKING:
    import pyoxigraph as ox

    # A local store's answer, or a server's (its triples parsed into a list).
    QueryResults = ox.QuerySolutions | ox.QueryBoolean | ox.QueryTriples | list[ox.Triple]

QUERY_FORMS = {"SELECT", "ASK", "CONSTRUCT", "DESCRIBE"}
UPDATE_VERBS = {"INSERT", "DELETE", "LOAD", "CLEAR", "DROP", "CREATE", "ADD", "MOVE", "COPY", "WITH"}
TABLE_FORMATS = ("table", "csv", "tsv", "json")
GRAPH_FORMATS = ("turtle", "ntriples")

class QueryRefused(Exception):
    """The query would write, or reach outside the KB: refused before it runs."""


def keywords(query: str) -> list[tuple[str, int, int]]:
    """Bare keywords of a query with their line and column (strings, IRIs, names skipped)."""
    out = []
    for match in TOKEN.finditer(query):
        if match.lastgroup == "word":
            start = match.start()
            line = query.count("\n", 0, start) + 1
            col = start - (query.rfind("\n", 0, start) + 1) + 1
            out.append((match.group().upper(), line, col))
    return out


def guard(query: str) -> str:
    """Return the query form (SELECT, ASK, CONSTRUCT, DESCRIBE) or raise ``QueryRefused``."""
    words = keywords(query)
    form = None
    for word, line, col in words:
        if word in ("PREFIX", "BASE"):
            continue
        if word in UPDATE_VERBS:
            raise QueryRefused(f"line {line}:{col}: read-only: SPARQL Update ({word}) is not allowed here; "
                               "kb query never changes the KB — edit the evidence files instead")
        form = word
        break
    if form not in QUERY_FORMS:
        return form or ""  # the engine reports the syntax error with its position
    for word, line, col in words:
        if word == "SERVICE":
            raise QueryRefused(f"line {line}:{col}: SERVICE is not allowed: kb query is local and makes no "
                               "network requests")
        if word == "FROM":
            raise QueryRefused(f"line {line}:{col}: FROM / FROM NAMED is not allowed: kb query reads only the "
                               "KB's own graph (no files or URLs)")
    return form


@dataclass(frozen=True)
class ExampleQuery:
    name: str
    title: str
    description: str
    text: str
    path: Path


MAX_QUERY_BYTES = 1 << 20  # a query file larger than 1 MiB is not a query


def read_examples(queries_dir: Path) -> tuple[list[ExampleQuery], list[Problem]]:
    """Example queries (``# title:`` and ``# description:`` lines head each ``.rq`` file), and a problem
    for each file that cannot be read, is not UTF-8, or is not a valid read-only query."""
    import pyoxigraph as ox

    examples, problems = [], []
    empty = ox.Store()
    for path in sorted(queries_dir.glob("*.rq")) if queries_dir.is_dir() else []:
        try:
            text = read_query_file(path)
            bad = [problem for _, problem in bad_characters(text, path, "query")]
            if bad:  # the SPARQL page shows the text: the rule every text the KB takes in follows
                problems.extend(bad)
                continue
            run_query(empty, text)
        except (QueryError, QuerySyntaxError, QueryRefused, QueryFailed) as exc:
            line, col = getattr(exc, "line", None), getattr(exc, "col", None)
            message = re.sub(rf"^{re.escape(str(path))}(:\d+:\d+)?: ", "", str(exc))
            problems.append(error(path, line, "query-example", message, col=col,
                                  expected="a read-only SPARQL query in UTF-8", hint="fix or remove the example"))
            continue
        meta: dict[str, str] = {}
        for line_text in text.splitlines():
            if not line_text.startswith("#"):
                break
            key, _, value = line_text[1:].strip().partition(":")
            if value and key.strip().lower() in ("title", "description"):
                meta[key.strip().lower()] = (meta.get(key.strip().lower(), "") + " " + value.strip()).strip()
        examples.append(ExampleQuery(path.stem, meta.get("title", path.stem), meta.get("description", ""), text, path))
    return examples, problems


def load_examples(queries_dir: Path) -> list[ExampleQuery]:
    """The example queries that are valid (:func:`read_examples` reports the others)."""
    return read_examples(queries_dir)[0]


class QueryError(ValueError):
    """A query file that cannot be read: ``path:line:col: what``."""

    def __init__(self, message: str, line: int | None = None, col: int | None = None) -> None:
        super().__init__(message)
        self.line, self.col = line, col


def read_query_file(path: Path) -> str:
    """A query file's text: at most :data:`MAX_QUERY_BYTES`, strict UTF-8, with the place of a bad byte."""
    from kb.io.reading import InputTooLarge, os_error_text, read_capped

    try:
        data = read_capped(path, MAX_QUERY_BYTES)
    except InputTooLarge as exc:
        raise QueryError(f"{path}: {exc}") from None
    except OSError as exc:
        raise QueryError(f"{path}: cannot read it: {os_error_text(exc)}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise QueryError(f"{path}:{line}:{col}: not valid UTF-8 (byte 0x{data[exc.start]:02X}); save the file as "
                         "UTF-8", line, col) from None


class UnknownExample(ValueError):
    """A single word that names no example query (a usage error: SPARQL is never one word)."""


_NAME = re.compile(r"[\w.-]+")
_SPARQL_WORDS = QUERY_FORMS | UPDATE_VERBS | {"PREFIX", "BASE"}


def resolve_query(text_or_name: str | None, file: Path | None, queries_dir: Path) -> str:
    """The query text from ``-f FILE``, an example name, or the text itself (``ValueError`` if none).

    A single word cannot be SPARQL (the shortest query, ``ASK {}``, has a brace), so one that is not
    a SPARQL keyword is taken as an example name; an unknown one raises :class:`UnknownExample`
    with the closest names, instead of the engine's "expected CONSTRUCT" at column 10.
    """
    if file is not None:
        return read_query_file(file)
    if text_or_name is None or not text_or_name.strip():
        raise ValueError("give a query: SPARQL text, -f FILE.rq, or an example name (kb query --list)")
    word = text_or_name.strip()
    if not _NAME.fullmatch(word) or word.upper() in _SPARQL_WORDS:
        return text_or_name
    name = word.removesuffix(".rq")
    candidate = queries_dir / f"{name}.rq"
    if candidate.is_file():
        return read_query_file(candidate)
    raise UnknownExample(unknown_example_message(word, [e.name for e in load_examples(queries_dir)]))


def unknown_example_message(word: str, names: list[str]) -> str:
    """"no such example query", with the closest names, or all of them when there are few."""
    message = f"no such example query '{word}'"
    if Path(word).is_file():
        return message + f"; to run the file, use -f {word}"
    hint = did_you_mean(word.removesuffix(".rq"), names)
    if hint:
        message += f"; {hint}"
    elif not names:
        message += " (this evidence folder has no queries/*.rq)"
    elif len(names) <= 12:
        message += "; the examples are: " + ", ".join(names)
    return message + " (kb query --list shows every example with what it answers)"


def run_query(store: ox.Store, query: str, prefixes: dict[str, str] | None = None) -> QueryResults:
    """Guard, then run on a pyoxigraph store; syntax errors become ``QuerySyntaxError``, and what the
    engine cannot evaluate (a function it does not offer) ``QueryFailed``."""
    guard(query)
    known = dict(PREFIXES, **(prefixes or {}))
    try:
        return store.query(query, prefixes=known)
    except SyntaxError as exc:
        raise diagnose(exc, query, known) from None
    except RuntimeError as exc:
        raise failed(exc, query) from None


# --- formatting -------------------------------------------------------------------------


class Payload(bytes):
    """Serialised results; ``truncated`` says whether ``limit`` cut rows off."""

    truncated: bool = False


def format_results(results: QueryResults, fmt: str, prefixes: dict[str, str] | None = None,
                   limit: int | None = None) -> Payload:
    """Serialise SELECT/ASK results (table, csv, tsv, json) or graph results (turtle, ntriples).

    ``limit`` caps the rows (or triples) written (BAD_INPUTS #24).
    """
    import pyoxigraph as ox

    prefixes = dict(PREFIXES, **(prefixes or {}))
    if isinstance(results, ox.QueryBoolean):
        if fmt == "json":
            return Payload(_bytes(results.serialize(format=ox.QueryResultsFormat.JSON)))
        return Payload((("true" if bool(results) else "false") + "\n").encode())
    if isinstance(results, ox.QuerySolutions):
        if fmt not in TABLE_FORMATS:
            raise ValueError(f"format '{fmt}' is for CONSTRUCT/DESCRIBE; use one of {', '.join(TABLE_FORMATS)}")
        names = [v.value for v in results.variables]
        rows, cut = _take(results, limit)
        payload = Payload(_WRITERS[fmt](names, rows, prefixes).encode("utf-8"))
    else:
        triples, cut = _take(results, limit)
        triples.sort(key=lambda t: (str(t.subject), str(t.predicate), str(t.object)))
        if fmt == "ntriples":
            payload = Payload(_bytes(ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES)))
        else:
            payload = Payload(_bytes(ox.serialize(triples, format=ox.RdfFormat.TURTLE, prefixes=prefixes)))
    payload.truncated = cut
    return payload


def _bytes(data: bytes | None) -> bytes:
    """pyoxigraph's serialisers return bytes when given no output file."""
    assert data is not None
    return data


def _take(items: Iterable[Any], limit: int | None) -> tuple[list, bool]:
    """At most ``limit`` results; the engine evaluates lazily, so its failures surface here too."""
    out: list = []
    try:
        for item in items:
            if limit is not None and len(out) >= limit:
                return out, True
            out.append(item)
    except RuntimeError as exc:
        raise QueryFailed(f"the query could not be evaluated: {exc}") from None
    return out, False


def _term_json(term: object) -> dict[str, str]:
    import pyoxigraph as ox

    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    out = {"type": "literal", "value": term.value}  # type: ignore[attr-defined]
    if term.language:  # type: ignore[attr-defined]
        out["xml:lang"] = term.language  # type: ignore[attr-defined]
    elif term.datatype.value != XSD_STRING:  # type: ignore[attr-defined]
        out["datatype"] = term.datatype.value  # type: ignore[attr-defined]
    return out


def _json(names: list[str], rows: list, _prefixes: dict[str, str]) -> str:
    bindings = [{n: _term_json(row[n]) for n in names if row[n] is not None} for row in rows]
    return json.dumps({"head": {"vars": names}, "results": {"bindings": bindings}}, ensure_ascii=False) + "\n"


def _csv(names: list[str], rows: list, _prefixes: dict[str, str]) -> str:
    """W3C SPARQL CSV: plain values, CRLF line ends (formula-like cells neutralised, :mod:`kb.io.tables`)."""
    from kb.io.tables import write_csv

    return write_csv(names, ([None if row[n] is None else _csv_value(row[n]) for n in names] for row in rows),
                     line_end="\r\n")


def _csv_value(term: object) -> str:
    import pyoxigraph as ox

    return f"_:{term.value}" if isinstance(term, ox.BlankNode) else term.value  # type: ignore[attr-defined]


def _tsv(names: list[str], rows: list, _prefixes: dict[str, str]) -> str:
    """W3C SPARQL TSV: terms in Turtle syntax, ``?var`` headers."""
    lines = ["\t".join(f"?{n}" for n in names)]
    lines += ["\t".join("" if row[n] is None else str(row[n]) for n in names) for row in rows]
    return "\n".join(lines) + "\n"


XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


def term_text(term: object, prefixes: dict[str, str]) -> str:
    """A term as a person reads it: prefixed IRIs, plain literal values."""
    import pyoxigraph as ox

    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        for name, ns in sorted(prefixes.items(), key=lambda kv: -len(kv[1])):
            if term.value.startswith(ns) and re.fullmatch(r"[\w.-]*", term.value[len(ns):]):
                return f"{name}:{term.value[len(ns):]}"
        return f"<{term.value}>"
    if isinstance(term, ox.Literal):
        return term.value
    return str(term)


def _table(names: list[str], rows: list, prefixes: dict[str, str]) -> str:
    cells = [[" ".join(term_text(row[name], prefixes).split()) for name in names] for row in rows]
    widths = [min(max([len(n)] + [len(r[i]) for r in cells]), 80) for i, n in enumerate(names)]

    def line(values: list[str]) -> str:
        fitted = ((c if len(c) <= w else c[: w - 1] + "…").ljust(w) for c, w in zip(values, widths, strict=True))
        return " | ".join(fitted).rstrip()

    out = [line(names), "-+-".join("-" * w for w in widths)] + [line(r) for r in cells]
    out.append(f"({len(cells)} row{'s' if len(cells) != 1 else ''})")
    return "\n".join(out) + "\n"


_WRITERS = {"table": _table, "csv": _csv, "tsv": _tsv, "json": _json}

