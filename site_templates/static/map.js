/* The evidence map's filters (progressive enhancement: without JavaScript the map shows every
   finding and the domains open with their checkboxes, in CSS).

   The findings come from assets/map-data.js (window.KB_MAP, written by kb.site.evmap.map_data),
   shared by every map page. A filter keeps a finding when any of its values is ticked (a claim
   about two populations matches either); filters combine with AND; nothing ticked means any.
   The view — filters, open domains, compact, list or grid — lives in the URL's query string, so
   it can be shared, bookmarked and reloaded; the map links to the other maps with the same
   view. The caption, the counts, the CSV download and the SPARQL link follow the filters. */
(function () {
  "use strict";
  var data = window.KB_MAP;
  var form = document.getElementById("map-filters");
  var wrap = document.getElementById("map-wrap");
  var table = document.getElementById("evmap");
  if (!data || !form || !wrap || !table) return;

  var AXIS = wrap.getAttribute("data-axis");
  var MULTI = { population: true, setting: true, delivery: true };
  var DIRECTIONS = ["benefit", "no_effect", "harm", "mixed", "inconclusive", "not_reported", "not_applicable"];
  var WORDS = { benefit: "benefit", no_effect: "no effect", harm: "harm", mixed: "mixed", inconclusive: "inconclusive",
                not_reported: "no result reported", not_applicable: "not a change" };
  var filterNames = [];
  form.querySelectorAll("details.filter").forEach(function (d) { filterNames.push(d.getAttribute("data-filter")); });
  var status = document.getElementById("map-status");
  var captionText = document.getElementById("map-caption-text");
  var list = document.getElementById("map-list");
  var viewButton = document.getElementById("map-view");
  var csvLink = document.getElementById("map-csv");
  var queryLink = document.getElementById("map-query");
  var baseQuery = queryLink ? decodeURIComponent(queryLink.getAttribute("href").split("#query=")[1] || "") : "";
  var openBoxes = Array.prototype.slice.call(table.querySelectorAll("input.open-domain"));

  /* --- the findings, decoded once ------------------------------------------------------------ */
  var fieldIndex = {};
  data.claimFields.forEach(function (name, i) { fieldIndex[name] = i; });
  var findings = data.rows.map(function (row) {
    var claim = data.claims[row[0]], f = { claim: row[0] };
    data.claimFields.forEach(function (name, i) {
      if (name === "id") return;
      var v = claim[i];
      f[name] = MULTI[name] ? v.map(function (k) { return data.values[name][k]; }) : [data.values[name][v]];
    });
    f.outcome = [data.values.outcome[row[1]]];
    f.direction = [data.values.direction[row[2]]];
    f.domain = data.values.domain[data.domainOf[row[1]]];
    return f;
  });
  var total = findings.length;

  /* Which findings each cell holds: "row|outcome" and "row|domain", rows being the axis's values. */
  var cells = {};
  function add(key, r) { (cells[key] = cells[key] || []).push(r); }
  findings.forEach(function (f, r) {
    f[AXIS].forEach(function (value) {
      add(value + "|" + f.outcome[0], r);
      add(value + "|" + (f.domain || "other"), r);
    });
  });

  /* --- state: the form <-> the URL ------------------------------------------------------------ */
  function boxes(name) { return Array.prototype.slice.call(form.querySelectorAll("input[name='" + name + "']")); }

  function defaults(name) { return (data.defaults && data.defaults[name]) || []; }

  function selected(name) {
    return boxes(name).filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
  }

  function setSelected(name, values) {
    boxes(name).forEach(function (b) { b.checked = values.indexOf(b.value) !== -1; });
  }

  function same(a, b) { return a.length === b.length && a.every(function (v) { return b.indexOf(v) !== -1; }); }

  /* The query string of the current view; parameters at their default are left out. */
  function viewParams() {
    var params = [];
    filterNames.forEach(function (name) {
      var chosen = selected(name);
      if (!same(chosen, defaults(name))) params.push(name + "=" + chosen.map(encodeURIComponent).join(","));
    });
    var open = openBoxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    if (open.length) params.push("open=" + (open.length === openBoxes.length ? "all" : open.join(",")));
    if (form.elements.compact.checked) params.push("compact=1");
    if (wrap.classList.contains("as-list")) params.push("view=list");
    if (wrap.classList.contains("as-grid")) params.push("view=grid");
    return params.length ? "?" + params.join("&") : "";
  }

  function readUrl() {
    var params = new URLSearchParams(window.location.search);
    filterNames.forEach(function (name) {
      var value = params.get(name);
      setSelected(name, value === null ? defaults(name) : value.split(",").filter(Boolean));
    });
    var open = (params.get("open") || "").split(",");
    openBoxes.forEach(function (b) { b.checked = open.indexOf("all") !== -1 || open.indexOf(b.value) !== -1; });
    form.elements.compact.checked = params.get("compact") === "1";
    setView(params.get("view"));
  }

  function writeUrl() {
    var search = viewParams();
    if (search !== window.location.search) {
      try { history.replaceState(null, "", window.location.pathname + search + window.location.hash); } catch (e) { /* file:// may refuse */ }
    }
    document.querySelectorAll(".view-toggle a").forEach(function (a) {
      a.href = a.getAttribute("href").split("?")[0].split("#")[0] + search;
    });
  }

  function setView(view) {
    wrap.classList.toggle("as-list", view === "list");
    wrap.classList.toggle("as-grid", view === "grid");
    var listShown = list && getComputedStyle(list).display !== "none";
    viewButton.textContent = listShown ? "Show as a grid" : "Show as a list";
    viewButton.setAttribute("aria-pressed", String(listShown));
  }

  /* --- filtering -------------------------------------------------------------------------- */
  function active() {
    var out = {};
    filterNames.forEach(function (name) {
      var chosen = selected(name);
      if (chosen.length) out[name] = chosen;
    });
    return out;
  }

  function matches(f, wanted) {
    for (var name in wanted) {
      var values = f[name], ok = false;
      for (var i = 0; i < values.length && !ok; i++) ok = wanted[name].indexOf(values[i]) !== -1;
      if (!ok) return false;
    }
    return true;
  }

  var LEVELS = ["high", "moderate", "low", "very_low"];
  var LEVEL_WORDS = { high: "high", moderate: "moderate", low: "low", very_low: "very low" };

  /* A cell in words, as kb.site.evmap.cell_text writes it. */
  function describe(counts, levels, n) {
    if (!n) return "No matching findings";
    var parts = DIRECTIONS.filter(function (d) { return counts[d]; }).map(function (d) { return counts[d] + " " + WORDS[d]; });
    var sure = LEVELS.filter(function (c) { return levels[c]; }).map(function (c) { return levels[c] + " " + LEVEL_WORDS[c]; });
    return n + (n === 1 ? " finding: " : " findings: ") + parts.join(", ") + "; certainty " + sure.join(", ");
  }

  /* Show the marks and counts of one cell (a grid cell or a list item) for the findings kept. */
  function update(element, members, ok) {
    var counts = {}, levels = {}, n = 0;
    (members || []).forEach(function (r) {
      if (!ok[r]) return;
      var d = findings[r].direction[0], c = findings[r].certainty[0];
      counts[d] = (counts[d] || 0) + 1;
      levels[c] = (levels[c] || 0) + 1;
      n += 1;
    });
    element.querySelectorAll(".mk[data-r]").forEach(function (mark) {
      if (ok[Number(mark.getAttribute("data-r"))]) { mark.removeAttribute("hidden"); } else { mark.setAttribute("hidden", ""); }
    });
    element.querySelectorAll(".tally").forEach(function (t) {
      var d = t.getAttribute("data-d");
      t.hidden = !counts[d];
      t.querySelector(".n").textContent = counts[d] || 0;
    });
    var text = element.querySelector(".cell-text");
    if (text) text.textContent = describe(counts, levels, n);
    element.classList.toggle("filtered-out", n === 0 && (members || []).length > 0);
    return n;
  }

  function labelled(name, values) {
    return values.map(function (v) {
      var box = boxes(name).filter(function (b) { return b.value === v; })[0];
      return box ? box.parentNode.textContent.replace(/\s*\(\d+\)\s*$/, "").trim() : v;
    });
  }

  /* The caption in words: "87 of 124 findings: effects of peer-delivered interventions (certainty: high)". */
  function caption(wanted, shown) {
    var parts = [];
    filterNames.forEach(function (name) {
      if (name === "finding_type" || name === "intervention_kind" || !wanted[name]) return;
      var label = form.querySelector("details[data-filter='" + name + "'] summary").firstChild.textContent.replace(/:\s*$/, "");
      parts.push(label.toLowerCase() + ": " + labelled(name, wanted[name]).join(" or "));
    });
    var what = wanted.finding_type ? labelled("finding_type", wanted.finding_type).join(" or ").toLowerCase() + " findings"
      : "findings of every kind";
    if (wanted.intervention_kind) what += " of " + labelled("intervention_kind", wanted.intervention_kind).join(" or ").toLowerCase() + " interventions";
    if (parts.length) what += " (" + parts.join("; ") + ")";
    return (shown === total && !Object.keys(wanted).length ? "all " + total : shown + " of " + total) + " findings: " + what;
  }

  function apply() {
    var wanted = active();
    var ok = findings.map(function (f) { return matches(f, wanted); });
    var shown = ok.filter(Boolean).length;
    var rowCounts = {}, colCounts = {};

    table.querySelectorAll("tbody tr[data-row]").forEach(function (tr) {
      var row = tr.getAttribute("data-row"), sum = 0;
      tr.querySelectorAll("td.cell").forEach(function (td) {
        var key = td.getAttribute("data-key");
        var n = update(td, cells[row + "|" + key], ok);
        colCounts[key] = (colCounts[key] || 0) + n;
        if (td.classList.contains("dom-cell")) sum += n;
      });
      rowCounts[row] = sum;
      tr.querySelector(".row-count").textContent = "(" + sum + ")";
    });
    table.querySelectorAll("thead th[data-dom], thead th[data-col]").forEach(function (th) {
      var key = th.getAttribute("data-dom") || th.getAttribute("data-col");
      th.querySelector(".col-count").textContent = "(" + (colCounts[key] || 0) + ")";
    });
    if (list) {
      list.querySelectorAll(".list-row").forEach(function (section) {
        var row = section.getAttribute("data-row"), sum = 0;
        section.querySelectorAll(".list-dom").forEach(function (li) {
          var inDomain = 0;
          li.querySelectorAll(".list-cell").forEach(function (item) {
            var n = update(item, cells[row + "|" + item.getAttribute("data-key")], ok);
            item.hidden = n === 0;
            inDomain += n;
          });
          li.hidden = inDomain === 0;
          sum += inDomain;
        });
        section.hidden = sum === 0;
        section.querySelector(".row-count").textContent = "(" + sum + ")";
      });
    }
    compact(form.elements.compact.checked, rowCounts, colCounts);
    form.querySelectorAll("details.filter").forEach(function (d) {
      var name = d.getAttribute("data-filter"), chosen = selected(name);
      d.querySelector(".filter-summary").textContent = chosen.length ? labelled(name, chosen).join(", ") : "any";
    });
    var text = caption(wanted, shown);
    captionText.textContent = text;
    document.getElementById("filter-panel-summary").textContent = text;
    status.textContent = shown === total ? "Showing all " + total + " findings." : "Showing " + shown + " of " + total + " findings.";
    if (queryLink) queryLink.href = queryLink.getAttribute("href").split("#")[0] + "#query=" + encodeURIComponent(sparql(wanted));
    writeUrl();
  }

  /* Hide rows and columns with no finding left (or show them all again). */
  function compact(on, rowCounts, colCounts) {
    table.querySelectorAll("tbody tr[data-row]").forEach(function (tr) { tr.hidden = on && !rowCounts[tr.getAttribute("data-row")]; });
    table.querySelectorAll("thead th[data-dom], thead th[data-col]").forEach(function (th) {
      var key = th.getAttribute("data-dom") || th.getAttribute("data-col");
      th.classList.toggle("col-hidden", on && !colCounts[key]);
    });
    table.querySelectorAll("tbody td.cell").forEach(function (td) {
      td.classList.toggle("col-hidden", on && !colCounts[td.getAttribute("data-key")]);
    });
  }

  /* --- the map's SPARQL query, with the filters as FILTER EXISTS blocks ---------------------------- */
  var PATHS = { population: "?claim psk:population", setting: "?claim psk:setting", delivery: "?claim psk:deliveryMode",
                perspective: "?claim psk:perspective", intervention: "?claim psk:intervention",
                intervention_kind: "?claim psk:intervention/psk:interventionKind", finding_type: "?claim psk:findingType",
                design: "?claim psk:design", certainty: "?claim psk:certainty", source: "?claim prov:wasQuotedFrom",
                direction: "?finding psk:direction" };

  function sparql(wanted) {
    var lines = [];
    filterNames.forEach(function (name) {
      if (!wanted[name] || !PATHS[name] || !data.iris[name]) return;
      var iris = wanted[name].map(function (v) { return "<" + data.iris[name] + v + ">"; }).join(" ");
      lines.push("  FILTER EXISTS { " + PATHS[name] + " ?" + name + "_ . VALUES ?" + name + "_ { " + iris + " } }\n");
    });
    return baseQuery.replace("  # filters\n", lines.length ? lines.join("") : "  # filters\n");
  }

  /* --- the CSV of the findings kept: the columns of data/claims.csv, through site.js's writer ----- */
  var COLUMNS = ["claim_id", "statement", "population", "intervention", "outcome", "direction", "certainty", "design", "source"];

  function label(field, value) { return data.labels[field][data.values[field].indexOf(value)]; }

  function csvRows(statements) {
    var wanted = active(), out = [];
    findings.forEach(function (f) {
      if (!matches(f, wanted)) return;
      var claim = data.claims[f.claim];
      out.push([claim[0], statements[f.claim], f.population.map(function (p) { return label("population", p); }).join("; "),
                label("intervention", f.intervention[0]), label("outcome", f.outcome[0]), f.direction[0], f.certainty[0],
                label("design", f.design[0]), label("source", f.source[0])]);
    });
    return out;
  }

  function withStatements(callback) {
    function unpacked() { window.kbUnpack("KB_MAP_STATEMENTS").then(function (s) { callback(s || []); }); }
    if (window.KB_MAP_STATEMENTS || window.KB_MAP_STATEMENTS_GZ) { unpacked(); return; }
    var script = document.createElement("script");
    var own = document.querySelector("script[src$='assets/map.js']");
    script.src = own.getAttribute("src").replace(/map\.js$/, "map-statements.js");
    script.onload = unpacked;
    document.body.appendChild(script);
  }

  if (csvLink) {
    csvLink.addEventListener("click", function (event) {
      event.preventDefault();
      withStatements(function (statements) {
        var text = window.kbCsv.table(COLUMNS, csvRows(statements));
        var url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
        var a = document.createElement("a");
        a.href = url;
        a.download = "findings.csv";
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
      });
    });
  }

  /* --- wiring ---------------------------------------------------------------------------- */
  form.hidden = false;
  if (window.matchMedia && window.matchMedia("(max-width: 47.99em)").matches) document.getElementById("filter-panel").open = false;
  readUrl();
  apply();
  form.addEventListener("change", apply);
  // An aggregated cell's tooltip is its text (what its tallies count, under the current filters),
  // set when the pointer reaches it: a title per tally was ~1 MB of a large KB's map (issue 17).
  document.addEventListener("mouseover", function (event) {
    var link = event.target.closest && event.target.closest(".aggregated .cell-link, .list-cell .cell-link");
    var text = link && link.querySelector(".cell-text");
    if (text && link.querySelector(".tally")) link.title = text.textContent;
  });
  table.addEventListener("change", function (event) { if (event.target.classList.contains("open-domain")) writeUrl(); });
  form.addEventListener("reset", function (event) {
    event.preventDefault();
    filterNames.forEach(function (name) { setSelected(name, defaults(name)); });
    form.elements.compact.checked = false;
    apply();
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
  document.getElementById("map-open-all").addEventListener("click", function () {
    openBoxes.forEach(function (b) { b.checked = true; });
    writeUrl();
  });
  document.getElementById("map-close-all").addEventListener("click", function () {
    openBoxes.forEach(function (b) { b.checked = false; });
    writeUrl();
  });
  viewButton.addEventListener("click", function () {
    var listShown = getComputedStyle(list).display !== "none";
    setView(listShown ? "grid" : "list");
    writeUrl();
  });
  /* Close an open filter list when focus or a click goes elsewhere. */
  document.addEventListener("click", function (event) {
    form.querySelectorAll("details.filter[open]").forEach(function (d) { if (!d.contains(event.target)) d.open = false; });
  });
  form.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = event.target.closest("details.filter[open]");
    if (open) { open.open = false; open.querySelector("summary").focus(); }
  });
})();
