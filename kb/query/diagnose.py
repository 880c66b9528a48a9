"""Where a SPARQL query is wrong, and what is wrong, in words (issue 12, item 15).

Oxigraph reports the furthest point any alternative of its grammar reached, which after an
unbalanced bracket can be lines after the mistake, and lists every token some rule would have
taken, character classes included. :func:`diagnose` looks at the tokens first for the common
mistakes (an undeclared prefix, an unbalanced bracket, an operator with nothing after it) and
otherwise keeps the engine's place with its list cut to the tokens. :func:`failed` places the
functions the engine cannot evaluate.
"""

from __future__ import annotations

import itertools
import re

from kb.namespaces import PREFIXES

# The query's tokens: comments, strings, IRIs, variables and prefixed names are single tokens, so
# that a keyword or a bracket inside them is never mistaken for one (kb.query.sparql.guard uses it too).
TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<comment>\#[^\n]*)
      | (?P<string>\"\"\"(?:[^\\]|\\.)*?\"\"\"|'''(?:[^\\]|\\.)*?'''|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
      | (?P<var>[?$][A-Za-z0-9_\u00b7-\uffff]+)
      | (?P<pname>[A-Za-z_][\w.-]*:[\w.:%-]*|:[\w.:%-]*)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>&&|\|\||!=|<=|>=)
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


class QueryFailed(Exception):
    """The engine could not evaluate the query (e.g. a function it does not offer): nothing was written."""


class QuerySyntaxError(Exception):
    def __init__(self, message: str, line: int | None, col: int | None, text: str) -> None:
        super().__init__(message)
        self.line, self.col, self.text = line, col, text

    def caret(self) -> str:
        """The offending line with a caret under the column, for humans."""
        if not self.line:
            return ""
        lines = self.text.splitlines()
        if not 0 < self.line <= len(lines):
            return ""
        return f"{lines[self.line - 1]}\n{' ' * max((self.col or 1) - 1, 0)}^"


def failed(exc: Exception, query: str) -> QueryFailed:
    """``QueryFailed`` with the place of the function the engine named, if it named one."""
    message = str(exc)
    match = re.search(r"custom function <([^>]+)> is not supported", message)
    if not match:
        return QueryFailed(f"the query could not be evaluated: {message}")
    iri = match.group(1)
    where = ""
    local = re.split(r"[#/]", iri)[-1]
    for token in TOKEN.finditer(query):
        if token.lastgroup in ("iri", "pname") and (token.group() == f"<{iri}>" or token.group().endswith(":" + local)):
            line, col = _position(query, token.start())
            where = f"line {line}, column {col}: "
            break
    return QueryFailed(f"{where}the function <{iri}> is not supported; expected a SPARQL 1.1 function "
                       "(kb query reads no files and calls no extensions)")


def _position(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


_PAIRS = {"(": ")", "{": "}", "[": "]"}
_OPERATORS = {"=", "!=", "<", ">", "<=", ">=", "&&", "||", "+", "-", ","}


def diagnose(exc: SyntaxError, query: str, prefixes: dict[str, str]) -> QuerySyntaxError:
    """Where a syntax error really is, and what it is, in words.

    Oxigraph reports the furthest point any alternative of its grammar reached, which after an
    unbalanced bracket can be lines later, with a list of every token some rule would have taken.
    Two common mistakes are found by scanning the tokens first: a prefix that is not declared, and
    an unbalanced bracket; otherwise the engine's place is kept and its list cut to the tokens.
    """
    declared = set(prefixes)
    tokens = [m for m in TOKEN.finditer(query) if m.lastgroup not in ("ws", "comment")]
    for n, m in enumerate(tokens):
        if m.lastgroup == "word" and m.group().upper() == "PREFIX" and n + 1 < len(tokens):
            declared.add(tokens[n + 1].group().split(":", 1)[0])
    for m in tokens:
        if m.lastgroup == "pname":
            name = m.group().split(":", 1)[0]
            if name not in declared:
                line, col = _position(query, m.start())
                return QuerySyntaxError(
                    f"syntax error at line {line}, column {col}: prefix '{name}:' is not declared; declare it "
                    f"with PREFIX {name}: <…> (predeclared: {', '.join(sorted(PREFIXES))})", line, col, query)
    stack: list[tuple[str, int]] = []
    for m in tokens:
        char = m.group()
        if m.lastgroup != "other":
            continue
        if char in _PAIRS:
            stack.append((char, m.start()))
        elif char in _PAIRS.values():
            if stack and _PAIRS[stack[-1][0]] == char:
                stack.pop()
                continue
            if any(_PAIRS[opener] == char for opener, _ in stack):  # the innermost bracket was left open
                opener, offset = stack[-1]
                line, col = _position(query, offset)
                return QuerySyntaxError(f"syntax error at line {line}, column {col}: '{opener}' is never closed "
                                        f"(expected '{_PAIRS[opener]}')", line, col, query)
            line, col = _position(query, m.start())
            return QuerySyntaxError(f"syntax error at line {line}, column {col}: '{char}' closes nothing"
                                    + (f"; the last open bracket is '{stack[-1][0]}'" if stack else ""),
                                    line, col, query)
    for before, after in itertools.pairwise(tokens):  # `?o > )`: an operator with nothing after it
        if before.group() in _OPERATORS and after.group() in (")", "}", "]", "."):
            line, col = _position(query, after.start())
            return QuerySyntaxError(f"syntax error at line {line}, column {col}: an expression is missing after "
                                    f"'{before.group()}'", line, col, query)
    if stack:
        char, offset = stack[-1]
        line, col = _position(query, offset)
        return QuerySyntaxError(f"syntax error at line {line}, column {col}: '{char}' is never closed "
                                f"(expected '{_PAIRS[char]}')", line, col, query)
    return _syntax_error(exc, query)


def _syntax_error(exc: SyntaxError, query: str) -> QuerySyntaxError:
    message = str(exc)
    match = re.match(r"error at (\d+):(\d+): (.*)", message, re.DOTALL)
    if not match:
        return QuerySyntaxError(message, None, None, query)
    line, col, detail = int(match.group(1)), int(match.group(2)), match.group(3)
    if detail.startswith("expected one of "):
        wanted = [t for t in re.findall(r'"([^"]+)"|\b([A-Z][A-Z_0-9]+)\b', detail[len("expected one of "):])]
        words = [a or b for a, b in wanted][:12]
        detail = "unexpected input" + (f"; expected one of {', '.join(words)}" if words else "")
    near = query.splitlines()[line - 1][col - 1:col + 19] if 0 < line <= len(query.splitlines()) else ""
    if near.strip():
        detail += f" (at '{near.strip()}')"
    return QuerySyntaxError(f"syntax error at line {line}, column {col}: {detail}", line, col, query)
