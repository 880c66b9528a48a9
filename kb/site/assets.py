"""Static assets and the script files the build generates.

Chromium runs neither ES modules nor ``fetch()`` from ``file://``, so everything the browser needs
is a classic script: the Oxigraph web build is rewritten from an ES module into one (its exports
become ``globalThis.oxigraph``), its WebAssembly is gzipped and base64-encoded into a second
script, and the graph dump (``data/kb.nt``) into a third. The SPARQL page decodes them with
``DecompressionStream``. The search index is a script too. All of it is deterministic: gzip
without a timestamp, JSON with sorted keys.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Literal, overload

REPO_ROOT = Path(__file__).resolve().parents[2]
OXIGRAPH_SERIES = "0.5."


class SiteError(ValueError):
    """The site cannot be built (a missing asset, an unexpected upstream file); `kb build` reports it."""


@dataclass(frozen=True)
class Script:
    path: str  # site path
    content: bytes


def find_node_modules() -> Path:
    for base in (Path.cwd(), REPO_ROOT):
        if (base / "node_modules").is_dir():
            return base / "node_modules"
    return REPO_ROOT / "node_modules"


def oxigraph_scripts(node_modules: Path) -> list[Script]:
    """The Oxigraph web build as two classic scripts: the JS glue and the gzipped wasm."""
    pkg = node_modules / "oxigraph"
    web_js, wasm = pkg / "web.js", pkg / "web_bg.wasm"
    if not web_js.is_file() or not wasm.is_file():
        raise SiteError(f"{pkg} is missing (the SPARQL page needs Oxigraph's WebAssembly build): "
                        "run ./install.sh (it runs `npm ci`), then build again")
    version = json.loads((pkg / "package.json").read_text(encoding="utf-8")).get("version", "")
    if not str(version).startswith(OXIGRAPH_SERIES):
        raise SiteError(f"node_modules/oxigraph is version {version}; the site needs {OXIGRAPH_SERIES}x "
                        "(package-lock.json pins it): run ./install.sh")
    glue = classic_script(web_js.read_text(encoding="utf-8"))
    header = f"/* Oxigraph {version} (MIT OR Apache-2.0), rewritten by kb build as a classic script. */\n"
    payload = gzip.compress(wasm.read_bytes(), compresslevel=9, mtime=0)
    return [
        Script("assets/oxigraph.js", (header + glue).encode("utf-8")),
        Script("assets/oxigraph-wasm.js", _b64_script("KB_OXIGRAPH_WASM_GZ", payload,
                                                      f"Oxigraph {version} WebAssembly, gzip, base64")),
    ]


_EXPORT_DECL = re.compile(r"^export (class|function|async function) ", re.MULTILINE)
_WASM_URL = "module_or_path = new URL('web_bg.wasm', import.meta.url);"
_EXPORT_LIST = "export { initSync, __wbg_init as default };"
_PUBLIC = ("Store", "NamedNode", "Literal", "BlankNode", "DefaultGraph", "Quad", "namedNode", "literal",
           "blankNode", "quad", "triple", "defaultGraph")


def classic_script(module_source: str) -> str:
    """Rewrite wasm-bindgen's ES-module glue as a classic script exposing ``globalThis.oxigraph``."""
    if _WASM_URL not in module_source or _EXPORT_LIST not in module_source:
        raise SiteError("node_modules/oxigraph/web.js does not have the layout kb build expects "
                        "(wasm-bindgen ES module); check the pinned version in package-lock.json")
    body = _EXPORT_DECL.sub(lambda m: m.group(1) + " ", module_source)
    body = body.replace(_WASM_URL, 'throw new Error("oxigraph: pass the WebAssembly bytes to init()");')
    body = body.replace(_EXPORT_LIST, "")
    if re.search(r"^\s*(export|import)\b", body, re.MULTILINE) or "import.meta" in body:
        raise SiteError("node_modules/oxigraph/web.js still has module syntax after rewriting")
    missing = [name for name in _PUBLIC if not re.search(rf"\b(class|function) {name}\b", body)]
    if missing:
        raise SiteError(f"node_modules/oxigraph/web.js lacks {', '.join(missing)}")
    api = ", ".join(_PUBLIC)
    return ("(function () {\n\"use strict\";\n" + body
            + f"\nglobalThis.oxigraph = {{ {api}, init: __wbg_init }};\n}})();\n")


def dump_script(nt: bytes) -> Script:
    """The graph dump as a classic script, for the SPARQL page: ``data/kb.nt`` rewritten as compact
    Turtle (:func:`compact_turtle`, the same triples in under half the bytes), gzipped, base64."""
    ttl, triples = compact_turtle(nt, count=True)
    payload = gzip.compress(ttl, compresslevel=9, mtime=0)
    return Script("data/kb.nt.js", _b64_script("KB_DUMP_GZ", payload, "data/kb.nt, gzip, base64")
                  + b"globalThis.KB_DUMP_FORMAT = \"text/turtle\"; /* data/kb.nt as compact Turtle */\n"
                  + b"globalThis.KB_DUMP_TRIPLES = %d; /* Store.size would count them again */\n" % triples)


_LOCAL = re.compile(rb"[A-Za-z0-9_][A-Za-z0-9_-]*")  # a Turtle local name that needs no escaping
_NT_LINE = re.compile(rb"^(<[^>\n]*>|_:[^ \n]+) (<[^>\n]*>) ([^\n]*[^\s.][^\n]*?)[ \t]*\.[ \t]*$", re.MULTILINE)
_DATATYPE = re.compile(rb'(.*"\^\^)(<[^>]*>)', re.DOTALL)
MAX_PREFIXES = 512


def _namespace(iri: bytes) -> tuple[bytes, bytes] | None:
    """``<ns local>`` → (ns, local) when ``ns:local`` can stand for it in Turtle unescaped."""
    body = iri[1:-1]
    cut = max(body.rfind(b"/"), body.rfind(b"#")) + 1
    if cut <= 0 or (cut != len(body) and not _LOCAL.fullmatch(body, cut)):
        return None
    return body[:cut], body[cut:]


@overload
def compact_turtle(nt: bytes) -> bytes: ...
@overload
def compact_turtle(nt: bytes, *, count: Literal[True]) -> tuple[bytes, int]: ...
def compact_turtle(nt: bytes, *, count: bool = False) -> bytes | tuple[bytes, int]:
    """N-Triples → Turtle with the same triples, smaller and quicker to decode: each subject written
    once (``;`` between predicates, ``,`` between objects) and IRIs shortened with generated
    prefixes (``@prefix n0: <…/> .``) where the local name needs no escaping. Every N-Triples term
    is valid Turtle as it stands, so terms are only ever shortened, never re-escaped. Deterministic:
    prefixes are numbered by bytes saved, then namespace."""
    triples = _NT_LINE.findall(nt)
    lines = sum(1 for line in nt.splitlines() if line.strip() and not line.lstrip().startswith(b"#"))
    if len(triples) != lines:
        raise SiteError(f"data/kb.nt: {lines - len(triples)} line(s) are not N-Triples as kb export writes them")
    counts = Counter(chain.from_iterable(triples))
    parts: dict[bytes, tuple[bytes, bytes]] = {}  # term → (the IRI's namespace, the rest of the term)
    saving: Counter[bytes] = Counter()
    for term, n in counts.items():
        if term.endswith(b">"):
            typed = _DATATYPE.fullmatch(term) if term.startswith(b'"') else None
            iri = typed.group(2) if typed else term
            split = _namespace(iri) if iri.startswith(b"<") else None
            if split:
                parts[term] = split if typed is None else (split[0], split[1], typed.group(1))  # type: ignore[assignment]
                saving[split[0]] += n * (len(split[0]) - 3)
    chosen = sorted((ns for ns, saved in saving.items() if saved > len(ns) + 24),
                    key=lambda ns: (-saving[ns], ns))[:MAX_PREFIXES]
    names = {ns: b"n%d:" % i for i, ns in enumerate(chosen)}
    short = {term: term for term in counts}
    for term, split in parts.items():
        name = names.get(split[0])
        if name is not None:
            short[term] = name + split[1] if len(split) == 2 else split[2] + name + split[1]  # type: ignore[misc]
    out = [b"@prefix %s <%s> .\n" % (names[ns], ns) for ns in chosen]
    subject = predicate = None
    for s, p, o in triples:
        if s != subject:
            if subject is not None:
                out.append(b" .\n")
            out.append(b"%s %s %s" % (short[s], short[p], short[o]))
            subject, predicate = s, p
        elif p != predicate:
            out.append(b" ;\n %s %s" % (short[p], short[o]))
            predicate = p
        else:
            out.append(b" ,\n  " + short[o])
    if subject is not None:
        out.append(b" .\n")
    return (b"".join(out), len(triples)) if count else b"".join(out)


def data_script(name: str, path: str, value: object, note: str) -> Script:
    """A JSON value assigned to ``globalThis[name]`` (search index, link maps)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return Script(path, f"/* {note} */\nglobalThis.{name} = {text};\n".encode())


def _b64_script(name: str, payload: bytes, note: str) -> bytes:
    return f"/* {note} */\nglobalThis.{name} = \"".encode() + base64.b64encode(payload) + b"\";\n"


def static_files(static_dir: Path) -> list[tuple[str, bytes]]:
    """Hand-written CSS and JS under ``site_templates/static`` → ``assets/``."""
    out = []
    for path in sorted(static_dir.rglob("*")):
        if path.is_file():
            out.append((f"assets/{path.relative_to(static_dir).as_posix()}", path.read_bytes()))
    return out
