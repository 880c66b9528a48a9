/* Client-side search over the index the build writes (assets/search-index.js): every word must
   match; titles weigh more. Results are built with textContent, never innerHTML. */
(function () {
  "use strict";
  var index = window.KB_SEARCH || [];
  var input = document.getElementById("q");
  var list = document.getElementById("search-results");
  var status = document.getElementById("search-status");
  var kinds = { claim: "Claim", reference: "Work", population: "Population", intervention: "Intervention", outcome: "Outcome" };
  if (!input || !list) return;

  function norm(text) {
    return (text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  var prepared = index.map(function (r) { return { r: r, t: norm(r.t), x: norm(r.x) }; });

  function search(query) {
    var words = norm(query).split(/[^\p{L}\p{N}_-]+/u).filter(Boolean);
    list.textContent = "";
    if (!words.length) { status.textContent = "Type a word or two: a population, an outcome, an author, a claim."; return; }
    var hits = [];
    prepared.forEach(function (p) {
      var score = 0;
      for (var i = 0; i < words.length; i++) {
        var w = words[i], inTitle = p.t.indexOf(w) !== -1;
        if (!inTitle && p.x.indexOf(w) === -1) return;
        score += inTitle ? 3 : 1;
      }
      hits.push({ p: p, score: score });
    });
    hits.sort(function (a, b) { return b.score - a.score || (a.p.t < b.p.t ? -1 : a.p.t > b.p.t ? 1 : 0); });
    hits.slice(0, 100).forEach(function (hit) {
      var li = document.createElement("li");
      var kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = kinds[hit.p.r.k] || hit.p.r.k;
      var a = document.createElement("a");
      a.href = hit.p.r.u;
      a.textContent = hit.p.r.t;
      if (hit.p.r.c) { li.setAttribute("data-ref", hit.p.r.c); li.setAttribute("data-shard", hit.p.r.s); }
      li.appendChild(kind);
      li.appendChild(a);
      list.appendChild(li);
    });
    status.textContent = hits.length === 0 ? "No results for “" + query + "”." :
      hits.length + (hits.length === 1 ? " result" : " results") + " for “" + query + "”" + (hits.length > 100 ? " (first 100 shown)." : ".");
  }

  var params = new URLSearchParams(window.location.search);
  input.value = params.get("q") || "";
  search(input.value);
  input.form.addEventListener("submit", function (event) {
    event.preventDefault();
    search(input.value);
    try { history.replaceState(null, "", "?q=" + encodeURIComponent(input.value)); } catch (e) { /* file:// may refuse */ }
  });
  input.addEventListener("input", function () { search(input.value); });
})();
