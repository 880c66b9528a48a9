/* Progressive enhancement shared by all pages: filter and sort tables, copy BibTeX.
   Without JavaScript every table is complete and every link works. */
/* CSV written in the browser (the map's filtered findings, SPARQL results; the rule first written
   for the SPARQL page's CSV, now shared here) follows kb/io/tables.py, the KB's one CSV writer: a cell that a spreadsheet would run as a formula
   (it begins with =, +, -, @, a tab, a carriage return or an apostrophe, and is not a plain number)
   gets a leading apostrophe. window.kbCsv.table(header, rows, lineEnd) gives the whole file. */
/* kbGunzip(base64) resolves to the text of gzipped bytes given in base64 (the packed data scripts here,
   the works' data scripts in refs.js). */
window.kbGunzip = function (base64) {
  "use strict";
  var binary = atob(base64), bytes = new Uint8Array(binary.length);
  for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
};

/* Data scripts shipped packed (kb/site/assets.py packed_script: window.NAME_GZ is JSON, gzipped, in
   base64): kbUnpack("NAME") resolves to the value, unpacked once (window.NAME itself when a page or
   test set it plainly; undefined when the script is not on the page). */
window.kbUnpack = (function () {
  "use strict";
  var unpacked = {};
  return function (name) {
    if (!unpacked[name]) {
      var packed = window[name + "_GZ"];
      unpacked[name] = window[name] !== undefined ? Promise.resolve(window[name])
        : typeof packed !== "string" ? Promise.resolve(undefined)
        : window.kbGunzip(packed).then(function (text) { window[name] = JSON.parse(text); return window[name]; });
    }
    return unpacked[name];
  };
})();

window.kbCsv = (function () {
  "use strict";
  var FORMULA_FIRST = /^[=+\-@\t\r']/;
  var PLAIN_NUMBER = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

  function neutralise(value) {
    var text = value === null || value === undefined ? "" : String(value);
    return FORMULA_FIRST.test(text) && !PLAIN_NUMBER.test(text) ? "'" + text : text;
  }

  function field(value) {
    var text = neutralise(value);
    return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  /* A row of one empty cell is written "" (as Python's csv module does), not as a blank line. */
  function table(header, rows, lineEnd) {
    var end = lineEnd || "\n";
    return [header].concat(rows).map(function (row) {
      var line = row.map(field).join(",");
      return line === "" && row.length === 1 ? '""' : line;
    }).join(end) + end;
  }

  return { neutralise: neutralise, field: field, table: table };
})();

(function () {
  "use strict";

  function norm(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function rowsOf(table) {
    return Array.prototype.slice.call(table.tBodies[0] ? table.tBodies[0].rows : []);
  }

  document.querySelectorAll(".table-tools[data-table]").forEach(function (tools) {
    var table = document.getElementById(tools.getAttribute("data-table"));
    var input = tools.querySelector("input");
    var status = tools.querySelector(".table-status");
    if (!table || !input) return;
    tools.hidden = false;
    input.addEventListener("input", function () {
      var words = norm(input.value).split(/\s+/).filter(Boolean);
      var rows = rowsOf(table), shown = 0;
      rows.forEach(function (row) {
        var text = norm(row.textContent);
        var ok = words.every(function (w) { return text.indexOf(w) !== -1; });
        row.hidden = !ok;
        if (ok) shown += 1;
      });
      status.textContent = words.length ? shown + " of " + rows.length + " rows shown" : "";
    });
  });

  function sortKey(cell) {
    var value = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    var number = Number(value);
    return value !== "" && !isNaN(number) ? number : norm(value);
  }

  document.querySelectorAll("table[data-sortable]").forEach(function (table) {
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent;
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = rowsOf(table);
        rows.sort(function (a, b) {
          var x = sortKey(a.cells[index]), y = sortKey(b.cells[index]);
          var order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
          return ascending ? order : -order;
        });
        var body = table.tBodies[0];
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });

  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    var status = button.parentNode.querySelector(".copy-status");
    if (!source) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = source.textContent;
      function done(message) { if (status) status.textContent = message; }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(function () { done("Copied."); }, function () {
          selectText(source); done("Selected: press Ctrl+C (or ⌘C) to copy.");
        });
      } else {
        selectText(source);
        done("Selected: press Ctrl+C (or ⌘C) to copy.");
      }
    });
  });

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
})();

/* Pages that write a query once, as a template (kb/site/tablequery.py), and give each link the values
   of its placeholders: the link gets its query here, as tablequery's fill functions make it. */
(function () {
  "use strict";

  function fillQueries(specId, selector, values) {
    var spec = document.getElementById(specId);
    if (!spec) return;
    var template = JSON.parse(spec.textContent);
    document.querySelectorAll(selector).forEach(function (a) {
      var pairs = values(a);
      if (!pairs) return;
      var text = pairs.reduce(function (t, pair) { return t.split(pair[0]).join(pair[1]); }, template);
      a.setAttribute("href", a.getAttribute("href").split("#")[0] + "#query=" + encodeURIComponent(text));
    });
  }

  /* A map row's page writes its cells' query once (cell_template); each cell's "open as a SPARQL
     query" link names its outcome (tablequery.fill). */
  fillQueries("_cell-query", "a[data-cell-query]", function (a) {
    return [["@OUTCOME_IRI@", a.getAttribute("data-iri")], ["@OUTCOME_LABEL@", a.getAttribute("data-outcome-label")]];
  });

  /* A works page writes the query of its entries' "every claim that rests on it" links once
     (resting_template): each link names its work's label, and its entry's anchor is the work's key
     (tablequery.fill_work). */
  fillQueries("_work-query", "a[data-work-query]", function (a) {
    var entry = a.closest("article[id]");
    return entry ? [["@WORK_KEY@", entry.id], ["@WORK_LABEL@", a.getAttribute("data-label")]] : null;
  });
})();
