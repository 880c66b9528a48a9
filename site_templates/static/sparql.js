/* SPARQL in the browser: Oxigraph's WebAssembly build over the site's own dump (data/kb.nt).
   Everything arrives as classic scripts (file:// allows neither ES modules nor fetch): the wasm
   and the dump (data/kb.nt as compact Turtle) are compressed (gzip; the dump raw deflate) and
   base64-encoded by kb build, and decoded here. Read-only, like
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
  var blobUrls = [];
  var lastTable = null;  /* the table shown, drawn again when the IRI → page map arrives */

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
    /* a claim's page follows from its id (the site's URL scheme, resolve.js): the links list no claim */
    var claim = /^claim\/([^\/#?]+)$/.exec(key);
    if (entry === null && claim && siteLinks.claims && window.kbAddress) {
      return { href: "claims/" + window.kbAddress.bucket(claim[1]) + ".html#" + claim[1], label: claim[1] };
    }
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
    note.hidden = true;
    lastTable = null;
  }

  /* ``complete``: the rows are the whole answer (downloads are offered only then). */
  function renderTable(json, complete) {
    lastTable = { json: json, complete: complete };
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
    if (complete) {
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
    }
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

  /* ---- the engine, in a Web Worker -------------------------------------------------------
     The worker is built from source text (a Blob URL): a worker cannot load a script from file://.
     Its source is Oxigraph's glue (assets/oxigraph.js keeps it as a function, KB_OXIGRAPH_GLUE)
     followed by engineMain below; the page hands it the compressed, base64-encoded wasm and dump
     (the classic scripts of kb build) and asks it queries. The page stays responsive meanwhile. */
  function engineMain() {
    /* Runs inside the worker: it sees only its own scope and the glue's `oxigraph`. */
    var store = null;
    var CHUNK_BYTES = 1 << 20;

    function fromBase64(text) {
      if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(text);
      var binary = atob(text);
      var bytes = new Uint8Array(binary.length);
      for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
      return bytes;
    }

    /* format: "gzip" for the wasm; "deflate-raw" for the dump, which kb build joins from pieces it keeps
       between builds (a browser reads the first member of a gzip file only). */
    function unpackStream(base64, format) {
      return new Blob([fromBase64(base64)]).stream().pipeThrough(new DecompressionStream(format));
    }

    /* The dump is Turtle whose subject blocks each end a line with " ." (kb build writes it so), after
       its @prefix lines: it is loaded a block-aligned chunk at a time, the prefixes before each, so
       that the page can show progress. */
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

    function load(bytes, format) {
      var options = { format: format, lenient: true, no_transaction: true };
      if (format !== "text/turtle") {
        store.load(bytes, options);
        return;
      }
      var head = bytes.subarray(0, prefixEnd(bytes));
      var position = head.length, reported = 0;
      while (position < bytes.length) {
        var end = blockEnd(bytes, position);
        store.load([head, bytes.subarray(position, end)], options);
        position = end;
        if (position - reported > bytes.length / 50) {
          reported = position;
          postMessage({ type: "progress", fraction: position / bytes.length });
        }
      }
    }

    function answer(message) {
      var started = performance.now();
      var reply = { type: "result", id: message.id };
      try {
        if (message.form === "CONSTRUCT" || message.form === "DESCRIBE") {
          reply.ntriples = store.query(message.query, { results_format: "application/n-triples" });
          reply.turtle = store.query(message.query, { results_format: "text/turtle" });
        } else {
          reply.json = store.query(message.query, { results_format: "application/sparql-results+json" });
        }
      } catch (error) {
        reply.error = String(error && error.message || error);
      }
      reply.ms = performance.now() - started;
      postMessage(reply);
    }

    self.onmessage = function (event) {
      var message = event.data;
      if (message.type === "query") {
        answer(message);
        return;
      }
      if (message.type !== "init") return;
      var engine = oxigraph.init({ module_or_path: new Response(unpackStream(message.wasm, "gzip"),
        { headers: { "Content-Type": "application/wasm" } }) }).then(function () { postMessage({ type: "mark", name: "engine" }); });
      var graph = new Response(unpackStream(message.dump, "deflate-raw")).arrayBuffer().then(function (buffer) {
        postMessage({ type: "mark", name: "dump-decoded" });
        return new Uint8Array(buffer);
      });
      Promise.all([graph, engine]).then(function (done) {
        store = new oxigraph.Store();
        load(done[0], message.format);
        postMessage({ type: "ready", size: store.size });
      }).catch(function (error) {
        postMessage({ type: "failed", message: String(error && error.message || error) });
      });
    };
  }

  var engine = { worker: null, ready: false, failed: false, next: 1, waiting: {} };

  function startEngine(sources) {
    var source = "var oxigraph = (" + String(window.KB_OXIGRAPH_GLUE) + ")();\n(" + String(engineMain) + ")();\n";
    var worker = new Worker(URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
    engine.worker = worker;
    worker.onmessage = function (event) {
      var message = event.data;
      if (message.type === "mark") mark(message.name);
      else if (message.type === "progress") progress(message.fraction);
      else if (message.type === "ready") engineReady(message.size);
      else if (message.type === "failed") engineFailed(message.message);
      else if (message.type === "result") {
        var done = engine.waiting[message.id];
        delete engine.waiting[message.id];
        if (done) done(message);
      }
    };
    worker.onerror = function (event) { engineFailed(event.message || "the worker stopped"); };
    /* The big scripts are loaded once the page is usable, then handed to the worker. */
    Promise.all([loadScript(sources.wasm), loadScript(sources.dump)]).then(function () {
      mark("scripts");
      worker.postMessage({ type: "init", wasm: window.KB_OXIGRAPH_WASM_GZ, dump: window.KB_DUMP_DEFLATE,
                           format: window.KB_DUMP_FORMAT || "application/n-triples" });
      window.KB_OXIGRAPH_WASM_GZ = window.KB_DUMP_DEFLATE = null;  /* the worker has its own copy */
    }).catch(function (error) { engineFailed(error.message); });
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = function () { reject(new Error("cannot load " + src)); };
      document.head.appendChild(script);
    });
  }

  function ask(query, form) {
    return new Promise(function (resolve) {
      var id = engine.next++;
      engine.waiting[id] = resolve;
      engine.worker.postMessage({ type: "query", id: id, query: prologue + query, form: form });
    });
  }

  function progress(fraction) {
    var percent = Math.floor(fraction * 100);
    progressBar.value = percent;
    status.textContent = "Loading the graph in the background… " + percent + "%. " + WHILE_LOADING;
  }

  var WHILE_LOADING = "The examples answer at once (as computed when the site was built); other queries run when the graph has loaded.";

  function engineReady(size) {
    engine.ready = true;
    mark("loaded");
    progressLine.hidden = true;
    var triples = typeof window.KB_DUMP_TRIPLES === "number" ? window.KB_DUMP_TRIPLES : size;
    status.textContent = "Ready: " + triples + " triples loaded. Write a query or run an example.";
    document.documentElement.setAttribute("data-sparql-ready", "true");
    mark("ready");
    if (pending !== null) {
      var query = pending;
      pending = null;
      run(query);
    } else if (fromHash() !== null && !shownFromHash) {
      status.textContent += " Running the query from the link.";
      runShared();
    }
  }

  function engineFailed(message) {
    engine.failed = true;
    progressLine.hidden = true;
    status.textContent = "The query engine could not start (" + message + "). " +
      "Run the same queries on your computer with kb query (see below).";
  }

  /* ---- answers computed when the site was built --------------------------------------------- */
  var answers = {};

  function exampleNamed(query) {
    var found = null;
    document.querySelectorAll("code[id^='example-text-']").forEach(function (code) {
      if (found === null && code.textContent.trim() === query.trim()) found = code.id.slice("example-text-".length);
    });
    return found;
  }

  function precomputed(name) {
    if (!name || !Object.prototype.hasOwnProperty.call(sources.answers, name)) return Promise.resolve(null);
    if (!answers[name]) {
      answers[name] = loadScript(sources.answers[name]).then(function () {
        var all = window.KB_SPARQL_ANSWERS || {};
        return Object.prototype.hasOwnProperty.call(all, name) ? all[name] : null;
      }).catch(function () { return null; });
    }
    return answers[name];
  }

  function showPrecomputed(answer) {
    var rows = answer.results.results ? answer.results.results.bindings.length : 1;
    var complete = answer.total <= rows;
    if (typeof answer.results.boolean === "boolean") renderAsk(answer.results, JSON.stringify(answer.results));
    else renderTable(answer.results, complete);
    note.textContent = "Computed when the site was built" + (complete ? "" : " (the first " + rows + " of " +
      answer.total + " rows)") + "; the live answer replaces it when the engine has loaded the graph.";
    note.hidden = false;
    summary.textContent = answer.total + (answer.total === 1 ? " row" : " rows") + " (computed when the site was built).";
  }

  /* ---- running a query ---------------------------------------------------------------------- */
  var pending = null;  /* the query to run live once the engine is ready */
  var shownFromHash = false;
  var runs = 0;

  function run(query) {
    var serial = ++runs;
    clearResults();
    var form;
    try {
      form = guard(query);
    } catch (refusal) {
      showError("Query refused", refusal.message, query);
      return;
    }
    if (engine.failed) {
      summary.textContent = "The query engine could not start: run the query with kb query (see below).";
      return;
    }
    if (!engine.ready) {
      pending = query;
      summary.textContent = "Waiting for the graph to load…";
      precomputed(exampleNamed(query)).then(function (answer) {
        if (serial !== runs || engine.ready) return;  /* another query was run, or the live answer came */
        if (answer !== null && answer.query.trim() === query.trim()) {
          showPrecomputed(answer);
          mark("first-result");
        } else {
          summary.textContent = "This query runs when the graph has loaded (see above).";
        }
      });
      return;
    }
    summary.textContent = "Running…";
    ask(query, form).then(function (reply) {
      if (serial !== runs) return;
      clearResults();
      if (reply.error !== undefined) {
        showError("The query could not run", syntaxMessage(reply.error), query);
        return;
      }
      if (reply.ntriples !== undefined) {
        renderGraph(reply.ntriples, withPrefixes(reply.turtle));
      } else {
        var json = JSON.parse(reply.json);
        if (typeof json.boolean === "boolean") renderAsk(json, reply.json);
        else renderTable(json, true);
      }
      summary.textContent += " (" + Math.round(reply.ms) + " ms)";
      mark("first-result");
    });
  }

  function renderGraph(triples, turtle) {
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
  }

  function renderAsk(json, text) {
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
  var sources = JSON.parse(document.getElementById("sparql-sources").textContent);
  var note = document.getElementById("sparql-note");
  var progressLine = document.getElementById("engine-progress-line");
  var progressBar = document.getElementById("engine-progress");
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
  window.addEventListener("hashchange", function () { if (engine.ready) runShared(); });
  var shared = fromHash();
  if (shared !== null) textarea.value = shared;  /* shown at once, run when the engine is ready */

  if (typeof WebAssembly !== "object" || typeof DecompressionStream !== "function" || typeof Worker !== "function" ||
      typeof window.KB_OXIGRAPH_GLUE !== "function") {
    status.textContent = "This browser cannot run the query engine here (it needs WebAssembly, Web Workers and " +
      "DecompressionStream). Run the same queries on your computer with kb query (see below).";
    return;
  }
  mark("start");
  /* Usable at once: the examples answer from what the build computed, other queries wait for the engine. */
  runButton.disabled = false;
  document.querySelectorAll("button.run-example").forEach(function (b) { b.hidden = false; });
  status.textContent = "Loading the query engine and the graph in the background… " + WHILE_LOADING;
  progressLine.hidden = false;
  document.documentElement.setAttribute("data-sparql-interactive", "true");
  mark("interactive");
  if (shared !== null) {
    shownFromHash = true;
    run(shared);
  }
  /* The IRI → page map only makes results nicer: it comes after, and the table is drawn again. */
  setTimeout(function () {
    startEngine(sources);
    loadScript(sources.links).then(function () {
      siteLinks = window.KB_LINKS || siteLinks;
      if (lastTable !== null) {
        var shown = lastTable, said = summary.textContent;
        results.textContent = "";
        renderTable(shown.json, shown.complete);
        summary.textContent = said;
      }
    }).catch(function () { /* results keep prefixed names */ });
  }, 0);
})();
