/* Evidence map filters (progressive enhancement): hide the marks of findings that do not match,
   recount aggregated cells, and keep every cell's text for screen readers in step. */
(function () {
  "use strict";
  var form = document.getElementById("map-filters");
  var table = document.getElementById("evmap");
  var island = document.getElementById("map-data");
  if (!form || !table || !island) return;
  var data = JSON.parse(island.textContent);
  var field = {};
  data.fields.forEach(function (name, i) { field[name] = i; });
  /* Rows come dictionary-encoded (indices into data.values); decode them once. */
  data.rows = data.rows.map(function (row) {
    return row.map(function (v, i) { return data.values[data.fields[i]][v]; });
  });
  var levels = ["high", "moderate", "low", "very_low"];
  var labels = { benefit: "benefit", no_effect: "no effect", harm: "harm", mixed: "mixed", inconclusive: "inconclusive",
                 not_reported: "no result reported", not_applicable: "not a change" };
  var order = ["benefit", "no_effect", "harm", "mixed", "inconclusive", "not_reported", "not_applicable"];
  var status = document.getElementById("map-status");
  var total = data.rows.length;
  form.hidden = false;

  function matches(row, wanted) {
    for (var name in wanted) {
      if (!wanted[name]) continue;
      if (name === "certainty") {
        if (levels.indexOf(row[field.certainty]) > levels.indexOf(wanted.certainty)) return false;
      } else if (row[field[name]] !== wanted[name]) {
        return false;
      }
    }
    return true;
  }

  function describe(counts, n) {
    if (!n) return "No matching findings";
    var parts = order.filter(function (d) { return counts[d]; }).map(function (d) { return counts[d] + " " + labels[d]; });
    return n + (n === 1 ? " finding: " : " findings: ") + parts.join(", ");
  }

  function apply() {
    var wanted = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && el.type !== "checkbox") wanted[el.name] = el.value;
    });
    var ok = data.rows.map(function (row) { return matches(row, wanted); });
    /* A finding with two populations (or settings) has a mark in each row: count findings, not marks. */
    var seen = {}, shown = 0;
    function count(r) { if (!seen[r]) { seen[r] = true; shown += 1; } }
    table.querySelectorAll("td.cell:not(.empty)").forEach(function (cell) {
      var counts = {}, n = 0;
      if (cell.hasAttribute("data-rows")) {
        cell.getAttribute("data-rows").split(" ").forEach(function (r) {
          if (ok[Number(r)]) { var d = data.rows[Number(r)][field.direction]; counts[d] = (counts[d] || 0) + 1; n += 1; count(r); }
        });
        cell.querySelectorAll(".tally").forEach(function (tally) {
          var d = tally.getAttribute("data-d");
          tally.hidden = !counts[d];
          tally.querySelector(".n").textContent = counts[d] || 0;
        });
      } else {
        cell.querySelectorAll(".mk[data-r]").forEach(function (mark) {
          var r = Number(mark.getAttribute("data-r"));
          var visible = ok[r];
          if (visible) { mark.removeAttribute("hidden"); } else { mark.setAttribute("hidden", ""); }
          if (visible) { var d = data.rows[r][field.direction]; counts[d] = (counts[d] || 0) + 1; n += 1; count(r); }
        });
      }
      cell.classList.toggle("filtered-out", n === 0);
      cell.querySelector(".cell-text").textContent = describe(counts, n);
    });
    compact(form.elements.compact && form.elements.compact.checked);
    status.textContent = shown === total ? "Showing all " + total + " findings." : "Showing " + shown + " of " + total + " findings.";
  }

  /* Hide rows, outcome columns and domains with no visible finding (or show everything again). */
  function compact(on) {
    var body = table.tBodies[0];
    var columns = table.tHead.rows[1].cells.length - 1;
    var used = [];
    for (var c = 0; c < columns; c++) used.push(false);
    Array.prototype.forEach.call(body.rows, function (row) {
      var any = false;
      for (var c = 0; c < columns; c++) {
        var cell = row.cells[c + 1];
        var has = cell.classList.contains("cell") && !cell.classList.contains("empty") && !cell.classList.contains("filtered-out");
        if (has) { used[c] = true; any = true; }
      }
      row.hidden = on && !any;
    });
    var outcomeCells = table.tHead.rows[1].cells;
    for (var c = 0; c < columns; c++) {
      var hide = on && !used[c];
      outcomeCells[c + 1].classList.toggle("col-hidden", hide);
      Array.prototype.forEach.call(body.rows, function (row) { row.cells[c + 1].classList.toggle("col-hidden", hide); });
    }
    var index = 0;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      if (!th.hasAttribute("data-span")) return;
      var span = Number(th.getAttribute("data-span")), visible = 0;
      for (var k = 0; k < span; k++) if (!(on && !used[index + k])) visible += 1;
      index += span;
      th.colSpan = Math.max(visible, 1);
      th.classList.toggle("col-hidden", visible === 0);
    });
  }

  form.addEventListener("change", apply);
  form.addEventListener("reset", function () { setTimeout(apply, 0); });
  form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
})();
