/* SPARQL in the browser: Oxigraph's WebAssembly build over the site's own dump (data/kb.nt).
   Everything arrives as classic scripts (file:// allows neither ES modules nor fetch): the wasm
   and the dump (data/kb.nt as compact Turtle) are gzipped and base64-encoded by kb build and
   decoded here. Read-only, like
   `kb query`: updates, SERVICE and FROM are refused before the engine sees the query. */
(function () {
  "use strict";
  var MAX_ROWS = 1000;
  var status = document.getElementById("engine-status");
  var form = document.getElementById("sparql-form");
  var textarea = document.getElementById("sparql-query");
  var runButton = document.getElementById("sparql-run");
  var errorBox = document.getElementById("sparql-error");
  var summary = document.getElementById("sparql-summary");
  var results = document.getElementById("sparql-results");
  var downloads = document.getElementById("sparql-downloads");
  var csvLink = document.getElementById("download-csv");
  var jsonLink = document.getElementById("download-json");
  var prologue = JSON.parse(document.getElementById("sparql-prologue").textContent);
  var prologueLines = prologue.split("\n").length - 1;
  var siteLinks = window.KB_LINKS || { base: "", links: {} };
  var shareLink = document.getElementById("share-query");
  var prefixes = [];
  prologue.replace(/PREFIX (\w*): <([^>]*)>/g, function (_, name, iri) { prefixes.push([name, iri]); return ""; });
  prefixes.sort(function (a, b) { return b[1].length - a[1].length; });
  var store = null;
  var blobUrls = [];

  var UPDATE = ["INSERT", "DELETE", "LOAD", "CLEAR", "DROP", "CREATE", "ADD", "MOVE", "COPY", "WITH"];
  var FORMS = ["SELECT", "ASK", "CONSTRUCT", "DESCRIBE"];
  var TOKEN = /(\s+)|(#[^\n]*)|("""[\s\S]*?"""|'''[\s\S]*?'''|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|(<[^<>"{}|^`\\\x00-\x20]*>)|([?$][A-Za-z0-9_\u00b7-\uffff]+)|([A-Za-z_][\w.-]*:[\w.:%-]*|:[\w.:%-]*)|([A-Za-z_][A-Za-z0-9_]*)|([\s\S])/g;

  function keywords(query) {
    var out = [], match;
    TOKEN.lastIndex = 0;
    while ((match = TOKEN.exec(query)) !== null) {
      if (match[7]) {
        var before = query.slice(0, match.index);
        var line = before.split("\n").length;
        out.push({ word: match[7].toUpperCase(), line: line, col: match.index - before.lastIndexOf("\n") });
      }
    }
    return out;
  }

  /* The query form, or throws an Error whose message explains the refusal. */
  function guard(query) {
    var words = keywords(query), form = "";
    for (var i = 0; i < words.length; i++) {
      var w = words[i];
      if (w.word === "PREFIX" || w.word === "BASE") continue;
      if (UPDATE.indexOf(w.word) !== -1) {
        throw new Error("line " + w.line + ":" + w.col + ": read-only: SPARQL Update (" + w.word + ") is not allowed; the KB changes only through its evidence files.");
      }
      form = w.word;
      break;
    }
    if (FORMS.indexOf(form) === -1) return form;
    words.forEach(function (w) {
      if (w.word === "SERVICE") throw new Error("line " + w.line + ":" + w.col + ": SERVICE is not allowed: queries here are local and make no network requests.");
      if (w.word === "FROM") throw new Error("line " + w.line + ":" + w.col + ": FROM / FROM NAMED is not allowed: the query reads only the KB's own graph.");
    });
    return form;
  }

  /* base64 → bytes: natively where the browser can (Uint8Array.fromBase64), else byte by byte. */
  function fromBase64(text) {
    if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(text);
    var binary = atob(text);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function gunzipStream(base64) {
    return new Blob([fromBase64(base64)]).stream().pipeThrough(new DecompressionStream("gzip"));
  }

  function gunzip(base64) {
    return new Response(gunzipStream(base64)).arrayBuffer().then(function (buffer) { return new Uint8Array(buffer); });
  }

  /* The dump is Turtle whose subject blocks each end a line with " ." (kb build writes it so; a
     literal never holds a raw line break), preceded by its @prefix lines. It is loaded a block-aligned
     chunk at a time, the prefixes repeated before each, yielding to the page between chunks: the
     page stays responsive and shows progress, and the engine's later chunks run on optimised code. */
  var CHUNK_BYTES = 1 << 19;  // ~60 ms of loading per chunk: the page stays responsive

  function prefixEnd(bytes) {
    var end = 0;
    while (bytes[end] === 64 /* @ */) {
      var nl = bytes.indexOf(10, end);
      if (nl < 0) return bytes.length;
      end = nl + 1;
    }
    return end;
  }

  function blockEnd(bytes, from) {
    var end = Math.min(from + CHUNK_BYTES, bytes.length);
    while (end < bytes.length && !(bytes[end - 1] === 10 && bytes[end - 2] === 46 && bytes[end - 3] === 32)) {
      var nl = bytes.indexOf(10, end);
      end = nl < 0 ? bytes.length : nl + 1;
    }
    return end;
  }

  function loadInChunks(target, bytes, format, progress) {
    var options = { format: format, lenient: true, no_transaction: true };
    if (format !== "text/turtle") {
      target.load(bytes, options);
      return Promise.resolve();
    }
    var head = bytes.subarray(0, prefixEnd(bytes));
    var position = head.length;
    return new Promise(function (resolve, reject) {
      function step() {
        try {
          if (position >= bytes.length) { resolve(); return; }
          var end = blockEnd(bytes, position);
          target.load([head, bytes.subarray(position, end)], options);
          position = end;
          progress(position / bytes.length);
          setTimeout(step, 0);
        } catch (error) {
          reject(error);
        }
      }
      step();
    });
  }

  /* Phases of start-up, for bench/sparql_page.py (performance.mark is a no-op otherwise). */
  function mark(name) {
    if (window.performance && performance.mark) performance.mark("kb-sparql:" + name);
  }

  function showError(title, message, query) {
    errorBox.textContent = "";
    var strong = document.createElement("strong");
    strong.textContent = title;
    var p = document.createElement("p");
    p.appendChild(strong);
    errorBox.appendChild(p);
    var detail = document.createElement("p");
    detail.textContent = message;
    errorBox.appendChild(detail);
    var where = /line (\d+), column (\d+)/.exec(message);
    if (where && query) {
      var line = query.split("\n")[Number(where[1]) - 1];
      if (line !== undefined) {
        var pre = document.createElement("pre");
        pre.textContent = line + "\n" + " ".repeat(Math.max(Number(where[2]) - 1, 0)) + "^";
        errorBox.appendChild(pre);
      }
    }
    errorBox.hidden = false;
    summary.textContent = title;
  }

  /* Oxigraph says "error at L:C: detail"; report it against the user's own lines. */
  function syntaxMessage(error) {
    var text = String(error && error.message || error);
    var match = /error at (\d+):(\d+): ([\s\S]*)/.exec(text);
    if (!match) return text;
    var detail = match[3];
    if (detail.indexOf("expected one of") === 0 && detail.length > 160) detail = "unexpected input";
    return "Syntax error at line " + (Number(match[1]) - prologueLines) + ", column " + match[2] + ": " + detail;
  }

  /* An IRI as a prefixed name where a declared prefix fits, else in angle brackets (as kb query). */
  function prefixed(iri) {
    for (var i = 0; i < prefixes.length; i++) {
      var ns = prefixes[i][1];
      if (iri.indexOf(ns) === 0 && /^[\w.-]*$/.test(iri.slice(ns.length))) return prefixes[i][0] + ":" + iri.slice(ns.length);
    }
    return "<" + iri + ">";
  }

  /* The KB's page and label for an IRI, if it has one: claims, works, concepts, schemes. */
  function page(iri) {
    var key = siteLinks.base && iri.indexOf(siteLinks.base) === 0 ? iri.slice(siteLinks.base.length) : iri;
    var entry = Object.prototype.hasOwnProperty.call(siteLinks.links, key) ? siteLinks.links[key] : null;
    if (entry === null) return null;
    if (typeof entry === "string") return { href: entry, label: iri.slice(iri.lastIndexOf("/") + 1) };
    return { href: entry[0], label: entry[1] };
  }

  /* How a result term is shown: IRIs of the KB by their label, linked to their page; other IRIs
     as prefixed names; literals as their value. ``term`` is the name kb query prints. */
  function display(term) {
    if (!term) return { text: "" };
    if (term.type === "uri") {
      var name = prefixed(term.value), known = page(term.value);
      return known ? { text: known.label, href: known.href, term: name } : { text: name, term: name };
    }
    if (term.type === "bnode") return { text: "_:" + term.value };
    return { text: term.value };
  }

  function offer(link, content, type) {
    var url = URL.createObjectURL(new Blob([content], { type: type }));
    blobUrls.push(url);
    link.href = url;
  }

  function clearResults() {
    blobUrls.forEach(function (url) { URL.revokeObjectURL(url); });
    blobUrls = [];
    results.textContent = "";
    downloads.hidden = true;
    errorBox.hidden = true;
  }

  function renderTable(json) {
    var vars = json.head.vars || [];
    var rows = json.results.bindings;
    var table = document.createElement("table");
    table.className = "data";
    table.id = "sparql-table";
    var caption = table.createCaption();
    caption.textContent = "Query results" + (rows.length > MAX_ROWS ? " (first " + MAX_ROWS + " rows)" : "");
    var head = table.createTHead().insertRow();
    vars.forEach(function (v) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = v;
      head.appendChild(th);
    });
    var body = table.createTBody();
    rows.slice(0, MAX_ROWS).forEach(function (binding) {
      var tr = body.insertRow();
      vars.forEach(function (v) {
        var td = tr.insertCell();
        var shown = display(binding[v]);
        if (shown.term) td.setAttribute("data-term", shown.term);
        if (shown.href) {
          var a = document.createElement("a");
          a.href = shown.href;
          a.textContent = shown.text;
          if (shown.term !== shown.text) a.title = shown.term;
          td.appendChild(a);
        } else {
          td.textContent = shown.text;
        }
      });
    });
    results.appendChild(table);
    var csv = window.kbCsv.table(vars, rows.map(function (b) {
      return vars.map(function (v) { return b[v] ? b[v].value : ""; });
    }), "\r\n");
    offer(csvLink, csv, "text/csv");
    csvLink.hidden = false;
    csvLink.textContent = "CSV";
    csvLink.setAttribute("download", "results.csv");
    offer(jsonLink, JSON.stringify(json, null, 1), "application/sparql-results+json");
    jsonLink.setAttribute("download", "results.json");
    jsonLink.textContent = "JSON";
    downloads.hidden = false;
    summary.textContent = rows.length + (rows.length === 1 ? " row." : " rows.");
  }

  /* Oxigraph writes Turtle with full IRIs; declare the page's prefixes and use them wherever an
     IRI fits one. Only IRI tokens change: string literals are copied as they are. */
  function withPrefixes(turtle) {
    var used = {};
    var body = turtle.replace(/("(?:[^"\\]|\\.)*")|<([^<>"{}|^`\\\x00-\x20]*)>/g, function (all, literal, iri) {
      if (literal !== undefined) return literal;
      var name = prefixed(iri);
      if (name.charAt(0) === "<" || !/^[\w-]*:(?:[A-Za-z0-9_](?:[\w.-]*[\w-])?)?$/.test(name)) return all;
      used[name.slice(0, name.indexOf(":"))] = true;
      return name;
    });
    var head = prefixes.filter(function (p) { return used[p[0]]; })
      .sort(function (a, b) { return a[0] < b[0] ? -1 : 1; })
      .map(function (p) { return "@prefix " + p[0] + ": <" + p[1] + "> ."; });
    return (head.length ? head.join("\n") + "\n\n" : "") + body;
  }

  function run(query) {
    clearResults();
    if (!store) return;
    var form;
    try {
      form = guard(query);
    } catch (refusal) {
      showError("Query refused", refusal.message, query);
      return;
    }
    var started = performance.now();
    try {
      if (form === "CONSTRUCT" || form === "DESCRIBE") {
        var triples = store.query(prologue + query, { results_format: "application/n-triples" });
        var turtle = withPrefixes(store.query(prologue + query, { results_format: "text/turtle" }));
        var pre = document.createElement("pre");
        pre.id = "sparql-turtle";
        pre.textContent = triples ? turtle : "# no triples";
        results.appendChild(pre);
        offer(csvLink, turtle, "text/turtle");
        csvLink.setAttribute("download", "results.ttl");
        csvLink.textContent = "Turtle";
        offer(jsonLink, triples, "application/n-triples");
        jsonLink.setAttribute("download", "results.nt");
        jsonLink.textContent = "N-Triples";
        downloads.hidden = false;
        var count = triples ? triples.trim().split("\n").length : 0;
        summary.textContent = count + (count === 1 ? " triple." : " triples.");
        return;
      }
      var text = store.query(prologue + query, { results_format: "application/sparql-results+json" });
      var json = JSON.parse(text);
      if (typeof json.boolean === "boolean") {
        var p = document.createElement("p");
        p.className = "ask-result";
        p.textContent = "Answer: " + (json.boolean ? "yes (true)" : "no (false)");
        results.appendChild(p);
        offer(jsonLink, text, "application/sparql-results+json");
        jsonLink.setAttribute("download", "results.json");
        jsonLink.textContent = "JSON";
        offer(csvLink, "boolean\r\n" + json.boolean + "\r\n", "text/csv");
        downloads.hidden = false;
        summary.textContent = "Answer: " + json.boolean + ".";
        return;
      }
      renderTable(json);
      summary.textContent += " (" + Math.round(performance.now() - started) + " ms)";
    } catch (error) {
      showError("The query could not run", syntaxMessage(error), query);
    }
  }

  /* A query can be shared as a URL: sparql.html#query=<the text, percent-encoded>. The page runs
     it once the engine is ready; running another query puts that one in the address. */
  function fromHash() {
    var match = /^#query=([\s\S]*)$/.exec(window.location.hash);
    if (!match) return null;
    try { return decodeURIComponent(match[1]); } catch (e) { return null; }
  }

  function share(query) {
    var hash = "#query=" + encodeURIComponent(query);
    shareLink.href = hash;
    shareLink.parentNode.hidden = false;
    if (window.location.hash !== hash) {
      try { history.replaceState(null, "", hash); } catch (e) { /* some file:// contexts refuse */ }
    }
  }

  function runShared() {
    var query = fromHash();
    if (query === null) return;
    textarea.value = query;
    run(query);
  }

  if (!form) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    run(textarea.value);
    share(textarea.value);
  });
  document.querySelectorAll("button.run-example").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById("example-text-" + button.getAttribute("data-example"));
      textarea.value = source.textContent;
      run(textarea.value);
      share(textarea.value);
      document.getElementById("results-h").scrollIntoView();
    });
  });
  window.addEventListener("hashchange", function () { if (store) runShared(); });
  var shared = fromHash();
  if (shared !== null) textarea.value = shared;  /* shown at once, run when the engine is ready */

  if (typeof WebAssembly !== "object" || typeof DecompressionStream !== "function" || !window.oxigraph ||
      !window.KB_OXIGRAPH_WASM_GZ || !window.KB_DUMP_GZ) {
    status.textContent = "This browser cannot run the query engine here (it needs WebAssembly and DecompressionStream). " +
      "Run the same queries on your computer with kb query (see below).";
    return;
  }
  status.textContent = "Loading the query engine and the graph…";
  mark("start");
  var format = window.KB_DUMP_FORMAT || "application/n-triples";
  /* The wasm is compiled while it is still being decompressed, and the dump decoded meanwhile. */
  var engine = window.oxigraph.init({ module_or_path: new Response(gunzipStream(window.KB_OXIGRAPH_WASM_GZ),
    { headers: { "Content-Type": "application/wasm" } }) }).then(function () { mark("engine"); });
  var graph = gunzip(window.KB_DUMP_GZ).then(function (dump) { mark("dump-decoded"); return dump; });
  Promise.all([graph, engine]).then(function (done) {
    store = new window.oxigraph.Store();
    return loadInChunks(store, done[0], format, function (fraction) {
      status.textContent = "Loading the graph… " + Math.floor(fraction * 100) + "%";
    });
  }).then(function () {
    mark("loaded");
    var size = typeof window.KB_DUMP_TRIPLES === "number" ? window.KB_DUMP_TRIPLES : store.size;
    status.textContent = "Ready: " + size + " triples loaded. Write a query or run an example.";
    runButton.disabled = false;
    document.querySelectorAll("button.run-example").forEach(function (b) { b.hidden = false; });
    document.documentElement.setAttribute("data-sparql-ready", "true");
    mark("ready");
    if (fromHash() !== null) {
      status.textContent += " Running the query from the link.";
      runShared();
    }
  }).catch(function (error) {
    status.textContent = "The query engine could not start (" + (error && error.message || error) + "). " +
      "Run the same queries on your computer with kb query (see below).";
  });
})();
