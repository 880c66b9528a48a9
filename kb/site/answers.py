"""The example queries' answers, computed when the site is built, for the SPARQL page to show at once.

At 10,000 works and 50,000 claims the in-browser engine needs many seconds to load the graph; a
reader who runs an example meanwhile sees this answer, labelled as computed at build time, until
the live one replaces it. The build runs each example on the same graph with the same engine
(Oxigraph, here its Python build) and keeps the first :data:`MAX_ROWS` rows — all the page shows —
with the total. One small script per example (``data/answers/NAME.js``), loaded only when that
example is run, so the page itself stays light.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kb.query.sparql import QueryFailed, QueryRefused, QuerySyntaxError, guard, run_query

if TYPE_CHECKING:
    import pyoxigraph as ox

    from kb.query.sparql import ExampleQuery

MAX_ROWS = 1000  # the SPARQL page shows at most this many rows (sparql.js MAX_ROWS)
FOLDER = "data/answers"


@dataclass(frozen=True)
class Answer:
    name: str
    path: str  # site path of the script
    script: bytes


def example_answers(store: ox.Store, examples: list[ExampleQuery]) -> list[Answer]:
    """A script per SELECT or ASK example (CONSTRUCT and DESCRIBE answers are left to the live engine)."""
    out = []
    for example in examples:
        try:
            if guard(example.text) not in ("SELECT", "ASK"):
                continue
            results = run_query(store, example.text)
            value = _answer_json(results)
        except (QueryRefused, QuerySyntaxError, QueryFailed):  # kb check reported it; the page runs it live
            continue
        record = {"query": example.text, **value}
        text = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        path = f"{FOLDER}/{example.name}.js"
        script = (f"/* {path}: the answer of the example query {example.name}, computed by kb build */\n"
                  f"(globalThis.KB_SPARQL_ANSWERS = globalThis.KB_SPARQL_ANSWERS || {{}})"
                  f"[{json.dumps(example.name)}] = {text};\n")
        out.append(Answer(example.name, path, script.encode("utf-8")))
    return out


def _answer_json(results: object) -> dict[str, object]:
    """``{"results": <SPARQL JSON of the first rows>, "total": N}``; the engine's own JSON writer, so the
    terms are written exactly as the live engine writes them."""
    import pyoxigraph as ox

    if isinstance(results, ox.QueryBoolean):
        return {"results": json.loads(results.serialize(format=ox.QueryResultsFormat.JSON) or b"{}"), "total": 1}
    assert isinstance(results, ox.QuerySolutions)
    names = [v.value for v in results.variables]
    rows, total = [], 0
    try:
        for solution in results:
            total += 1
            if total <= MAX_ROWS:
                rows.append({n: _term(solution[n]) for n in names if solution[n] is not None})
    except RuntimeError as exc:
        raise QueryFailed(f"the query could not be evaluated: {exc}") from None
    return {"results": {"head": {"vars": names}, "results": {"bindings": rows}}, "total": total}


def _term(term: object) -> dict[str, str]:
    """A term in SPARQL JSON, as Oxigraph writes it (``datatype`` left out for plain strings)."""
    import pyoxigraph as ox

    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    assert isinstance(term, ox.Literal)
    out = {"type": "literal", "value": term.value}
    if term.language:
        out["xml:lang"] = term.language
    elif term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
        out["datatype"] = term.datatype.value
    return out
