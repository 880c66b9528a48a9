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
import contextlib
import functools
import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from kb.io import gz
from kb.io.atomic import replace_cache_entry

REPO_ROOT = Path(__file__).resolve().parents[2]
OXIGRAPH_SERIES = "0.5."
CACHE = "assets"  # the folder of the KB's cache (.kb-cache/) where the wasm's script is kept (_wasm_script)


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


def oxigraph_scripts(node_modules: Path, cache: Path | None = None) -> list[Script]:
    """The Oxigraph web build as two classic scripts: the JS glue and the gzipped wasm (the latter kept in
    ``cache``, a folder, where there is one: :func:`_wasm_script`)."""
    pkg = node_modules / "oxigraph"
    web_js, wasm = pkg / "web.js", pkg / "web_bg.wasm"
    if not web_js.is_file() or not wasm.is_file():
        raise SiteError(f"{pkg} is missing (the SPARQL page needs Oxigraph's WebAssembly build): "
                        "run ./install.sh (it runs `npm ci`), then build again")
    version = json.loads((pkg / "package.json").read_text(encoding="utf-8")).get("version", "")
    if not str(version).startswith(OXIGRAPH_SERIES):
        raise SiteError(f"node_modules/oxigraph is version {version}; the site needs {OXIGRAPH_SERIES}x "
                        "(package-lock.json pins it): run ./install.sh")
    # The same files give the same scripts: a long-running process (the editors' loop) makes them once, not in every
    # rebuild (compressing the wasm is ~0.3 s, before the pages' workers start).
    stamps = tuple((st.st_size, st.st_mtime_ns) for st in (web_js.stat(), wasm.stat()))
    return list(_oxigraph_scripts(web_js.resolve(), wasm.resolve(), version, stamps, cache))


def oxigraph_scripts_ahead(node_modules: Path | None = None, cache: Path | None = None) -> None:
    """Make the Oxigraph scripts where a build has a core to spare (``kb build``, while the graph is parsed): a fresh
    process makes them once (~0.4 s), and the site then finds them made. What fails here is left to the site, which
    makes them again and says why."""
    with contextlib.suppress(SiteError, OSError, ValueError):
        oxigraph_scripts(node_modules or find_node_modules(), cache)


@functools.lru_cache(maxsize=1)
def _oxigraph_scripts(web_js: Path, wasm: Path, version: str, stamps: tuple[tuple[int, int], ...],
                      cache: Path | None) -> tuple[Script, ...]:
    """The scripts of these files as they are (``stamps``: their sizes and times)."""
    glue = classic_script(web_js.read_text(encoding="utf-8"))
    header = f"/* Oxigraph {version} (MIT OR Apache-2.0), rewritten by kb build as a classic script. */\n"
    return (
        Script("assets/oxigraph.js", (header + glue).encode("utf-8")),
        Script("assets/oxigraph-wasm.js", _wasm_script(wasm.read_bytes(), version, cache)),
    )


_WASM_KEPT = "oxigraph-wasm-"  # the kept wasm scripts' names: this prefix, then their digest


def _wasm_script(wasm: bytes, version: str, cache: Path | None) -> bytes:
    """The wasm's script, kept in ``cache`` under the digest of the wasm, its version, the compressor and this module:
    compressing 4 MB (gzip's level 9 then) was ~0.5 s of every fresh ``kb build``, on the main thread while the graph
    is parsed.
    Written atomically; other digests' files are removed; a folder that cannot be written costs the compressing."""
    name = hashlib.blake2b(b"\0".join((wasm, version.encode(), gz.ENGINE.encode(), Path(__file__).read_bytes())),
                           digest_size=16).hexdigest()
    kept = cache / f"{_WASM_KEPT}{name}.js" if cache is not None else None
    if kept is not None:
        with contextlib.suppress(OSError):
            return kept.read_bytes()
    script = _b64_script("KB_OXIGRAPH_WASM_GZ", gz.compress(wasm),
                         f"Oxigraph {version} WebAssembly, gzip, base64")
    if kept is not None:
        with contextlib.suppress(OSError):
            replace_cache_entry(kept, script, f"{_WASM_KEPT}*.js")
    return script


_EXPORT_DECL = re.compile(r"^export (class|function|async function) ", re.MULTILINE)
_WASM_URL = "module_or_path = new URL('web_bg.wasm', import.meta.url);"
_EXPORT_LIST = "export { initSync, __wbg_init as default };"
_PUBLIC = ("Store", "NamedNode", "Literal", "BlankNode", "DefaultGraph", "Quad", "namedNode", "literal",
           "blankNode", "quad", "triple", "defaultGraph")


def classic_script(module_source: str) -> str:
    """Rewrite wasm-bindgen's ES-module glue as a classic script: a function ``KB_OXIGRAPH_GLUE`` returning
    the API (the SPARQL page's worker runs its source), and ``globalThis.oxigraph``."""
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
    # The SPARQL page runs the engine in a Web Worker built from this function's source text (a worker
    # cannot load a script from file://); globalThis.oxigraph is there for a page that runs it itself.
    return ("globalThis.KB_OXIGRAPH_GLUE = function () {\n\"use strict\";\n" + body
            + f"\nreturn {{ {api}, init: __wbg_init }};\n}};\n"
            + "globalThis.oxigraph = globalThis.KB_OXIGRAPH_GLUE();\n")


def dump_script(payload: bytes, triples: int) -> Script:
    """The graph dump as a classic script, for the SPARQL page: ``data/kb.ttl`` (the export's Turtle,
    written by pyoxigraph from the sorted N-Triples: each subject once, standard prefixes; about half
    the bytes of N-Triples and quicker to decode), as one raw deflate stream (``payload``, made by
    :func:`kb.export.dumps.browser_deflate`), base64. The page loads it one subject block at a time:
    pyoxigraph ends each block with `` .`` at the end of a line and escapes line breaks inside literals,
    so no other line ends that way."""
    return Script("data/kb.nt.js", _b64_script("KB_DUMP_DEFLATE", payload, "data/kb.ttl, raw deflate, base64")
                  + b"globalThis.KB_DUMP_FORMAT = \"text/turtle\"; /* data/kb.ttl */\n"
                  + b"globalThis.KB_DUMP_TRIPLES = %d; /* Store.size would count them again */\n" % triples)


def data_script(name: str, path: str, value: object, note: str) -> Script:
    """A JSON value assigned to ``globalThis[name]`` (search index, link maps)."""
    text = _compact_json(value)
    return Script(path, f"/* {note} */\nglobalThis.{name} = {text};\n".encode())


def packed_script(name: str, path: str, value: object, note: str) -> Script:
    """A JSON value gzipped and base64'd as ``globalThis[name + "_GZ"]``, unpacked in the browser by
    ``kbUnpack(name)`` (site.js). For the two largest data scripts, the search index and the claims'
    statements: ~19 MB of JSON at 50,000 claims, a fraction of that packed (text repeats). Compressed by libdeflate
    (:func:`kb.io.gz.compress`): zlib's level 9 made files of about the same size in 3-4x the time (~0.4 s of CPU
    in every build at 10k/50k, the loop's included)."""
    text = _compact_json(value).encode("utf-8")
    payload = gz.compress(text)
    return Script(path, _b64_script(f"{name}_GZ", payload, f"{note}: JSON, gzip, base64 (site.js kbUnpack)"))


def unpack_script(content: bytes) -> object:
    """The value of a :func:`packed_script` (or a :func:`data_script`): for tests and tools reading the site."""
    text = content.decode("utf-8").split("=", 1)[1].strip().rstrip(";").strip()
    if text.startswith('"'):
        return json.loads(gzip.decompress(base64.b64decode(json.loads(text))))
    return json.loads(text)


def _compact_json(value: object) -> str:
    """A data script's JSON, plain or packed: keys sorted (the same value, the same bytes), no spaces."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _b64_script(name: str, payload: bytes, note: str) -> bytes:
    return f"/* {note} */\nglobalThis.{name} = \"".encode() + base64.b64encode(payload) + b"\";\n"


def static_files(static_dir: Path) -> list[tuple[str, bytes]]:
    """Hand-written CSS and JS under ``site_templates/static`` → ``assets/``."""
    out = []
    for path in sorted(static_dir.rglob("*")):
        if path.is_file():
            out.append((f"assets/{path.relative_to(static_dir).as_posix()}", path.read_bytes()))
    return out
