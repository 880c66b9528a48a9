/* Client-side search over the index the build writes (assets/search-index.js).

   Words are folded the same way in the index and in the query: accents dropped, British and
   American spellings made one ("hospitalization" finds "hospitalisation"), stop words dropped
   ("does", "the", "with"), and each word cut to a stem by a small hand-written stemmer (a light
   cousin of Porter's: plural and verb endings, -ation, -ment, -ness, -ity, -ful, a final e,
   double consonants), so "admissions", "admission" and "admitted" meet.
   A claim also matches the labels and alternative labels (skos:altLabel) of its population,
   setting, intervention and outcomes. Results are the records that match at least half of the query, rare words weighing
   more, ranked by how much they match (a word in a title counts three times); a concept whose name the query contains ("…reduce hospital
   admissions?" names Hospitalisation by its alternative label) comes first, so a question finds
   its outcome and population pages. Results are built with textContent, never innerHTML. */
(function () {
  "use strict";

  var STOP = {};
  ("a an the of on in and or for to with from at by as into about than then so if not no nor be is are was were been " +
   "being am do does did doing done can could should would will shall may might must has have had having what which " +
   "who whom whose how why when where whether there here this that these those it its they them their we our you your " +
   "i me my he she his her any some all each more most much many very also only just such there's it's").split(" ")
    .forEach(function (w) { if (w) STOP[w] = true; });

  /* British and American spellings made one (the British form is kept; any form would do). */
  var SPELLING = [
    [/^(behavi|col|fav|hon|lab|neighb|hum|rum|vig|flav|harb|savi|endeav)or/, "$1our"],
    [/^(cent|met|fib|theat)er(s?)$/, "$1re$2"],
    [/^program(s?)$/, "programme$1"],
    [/^(counsel|model|travel|label|signal|fuel|cancel)(ing|ed|er|ers)$/, "$1l$2"],
    [/^pediatr/, "paediatr"], [/^anesth/, "anaesth"], [/^(an)?emia/, "$1aemia"], [/^estrogen/, "oestrogen"],
    [/^fet(al|us)/, "foet$1"], [/^(hem)(at|or|o)/, "haem$2"], [/^orthoped/, "orthopaed"], [/^edema/, "oedema"],
    [/^aging$/, "ageing"], [/^judgment/, "judgement"], [/^defense/, "defence"], [/^offense/, "offence"],
    [/^license$/, "licence"], [/^enrollment/, "enrolment"], [/^fulfill/, "fulfil"], [/^gray$/, "grey"],
    [/^(.{2,})yz(e|ed|es|ing|er|ers)$/, "$1ys$2"],
    [/^(.{3,})iz(e|ed|es|ing|er|ers|ation|ations|ational)$/, "$1is$2"]
  ];
  /* Suffixes the stemmer removes, longest first; at least three letters must remain. */
  var SUFFIXES = ["isations", "isation", "ational", "ations", "ation", "nesses", "ments", "ities", "ness", "ment",
                  "ings", "ions", "ised", "ises", "ful", "ity", "ing", "ion", "ies", "ied", "ers", "ise", "ed", "es",
                  "er", "s"];

  function fold(text) {
    return (text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function spell(word) {
    for (var i = 0; i < SPELLING.length; i++) {
      if (SPELLING[i][0].test(word)) return word.replace(SPELLING[i][0], SPELLING[i][1]);
    }
    return word;
  }

  function stem(word) {
    var w = spell(word);
    if (w.length <= 3 || /\d/.test(w)) return w;
    for (var i = 0; i < SUFFIXES.length; i++) {
      var s = SUFFIXES[i];
      if (w.length - s.length >= 3 && w.slice(-s.length) === s) {
        if (s === "ies" || s === "ied") { w = w.slice(0, -3) + "y"; } else if (s === "s" && /(ss|us|is)$/.test(w)) { continue; } else { w = w.slice(0, -s.length); }
        break;
      }
    }
    if (w.length > 4 && w.slice(-1) === "e") w = w.slice(0, -1);
    if (/([b-df-hj-km-np-rtv-z])\1$/.test(w) && !/(ll|ss|zz)$/.test(w)) w = w.slice(0, -1);
    return w;
  }

  /* The stems of a text, stop words left out (kept only if nothing else is left). */
  function terms(text) {
    var words = fold(text).match(/[\p{L}\p{N}]+/gu) || [];
    var kept = words.filter(function (w) { return !STOP[w]; });
    return (kept.length ? kept : words).map(stem);
  }

  window.kbSearch = { terms: terms, stem: stem };  /* for the tests and the curious */

  /* The index is lean (kb/site/search.py): a claim has its id and the position of its statement in
     assets/map-statements.js, a work its citekey, and the script computes their paths (the site's
     URL scheme, assets/resolve.js); a claim lists its concepts by their position in the index. Both
     scripts come packed (site.js kbUnpack): the search starts once they are unpacked. */
  function prepareIndex(statements, records) {
    var bucket = window.kbAddress.bucket;
    return (records || []).map(function (r) {
      if (r.k === "claim") {
        r.u = "claims/" + bucket(r.i) + ".html#" + r.i;
        if (r.t === undefined) r.t = statements[r.n] || r.i;
        r.x = r.i + " " + r.x;
      } else if (r.k === "reference") {
        r.u = "references/" + bucket(r.c) + ".html#" + r.c;
        r.x = r.c + " " + r.x;
      }
      return r;
    });
  }
  var input = document.getElementById("q");
  var list = document.getElementById("search-results");
  var status = document.getElementById("search-status");
  var kinds = { claim: "Claim", reference: "Work", population: "Population", setting: "Setting", delivery: "Delivery",
                perspective: "Perspective", intervention: "Intervention", outcome: "Outcome", domain: "Outcome domain" };
  if (!input || !list) return;
  Promise.all([window.kbUnpack("KB_MAP_STATEMENTS"), window.kbUnpack("KB_SEARCH")]).then(function (got) {
    start(prepareIndex(got[0] || [], got[1]));
  });

  function start(index) {
    function set(list_) {
      var out = {};
      list_.forEach(function (t) { out[t] = true; });
      return out;
    }

    /* Prepared once: each record's title stems, other stems, and for concepts each name's stems. */
    var concepts = {};
    var prepared = index.map(function (r) {
      var p = { r: r, title: set(terms(r.t)), text: set(terms(r.x)) };
      if (r.id) {
        p.names = [r.t].concat(r.a || []).map(terms).filter(function (n) { return n.length; });
        p.names.forEach(function (n) { n.forEach(function (t) { p.title[t] = true; }); });
        concepts[r.id] = p;
      }
      return p;
    });
    prepared.forEach(function (p) {
      (p.r.cs || []).forEach(function (n) {
        var c = index[n] && concepts[index[n].id];
        if (c) for (var t in c.title) p.text[t] = true;
      });
    });
    var df = {};
    prepared.forEach(function (p) {
      var seen = {};
      for (var t in p.title) seen[t] = true;
      for (var u in p.text) seen[u] = true;
      for (var v in seen) df[v] = (df[v] || 0) + 1;
    });
    function weight(t) { return Math.log(1 + prepared.length / (1 + (df[t] || 0))); }

    function search(query) {
      var wanted = Object.keys(set(terms(query)));
      list.textContent = "";
      if (!wanted.length) { status.textContent = "Type a word or two, or a question: a population, an outcome, an author, a claim."; return; }
      var total = wanted.reduce(function (sum, t) { return sum + weight(t); }, 0);
      var hits = [];
      prepared.forEach(function (p) {
        var score = 0, matched = 0;
        wanted.forEach(function (t) {
          if (p.title[t]) { score += 3 * weight(t); matched += weight(t); } else if (p.text[t]) { score += weight(t); matched += weight(t); }
        });
        if (!matched) return;
        /* A concept named in full by the query ("hospital admission" in "…reduce hospital admissions?"). */
        var named = (p.names || []).some(function (n) { return n.every(function (t) { return wanted.indexOf(t) !== -1; }); });
        if (named) score += 10 * total;
        hits.push({ p: p, score: score, named: named, coverage: matched / total });
      });
      /* The concepts the query names, and the records that match at least half of it (by weight). */
      var shown = hits.filter(function (h) { return h.named || h.coverage >= 0.5; });
      shown.sort(function (a, b) { return b.score - a.score || (a.p.r.t < b.p.r.t ? -1 : a.p.r.t > b.p.r.t ? 1 : 0); });
      shown.slice(0, 100).forEach(function (hit) {
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
      status.textContent = shown.length === 0 ? "No results for “" + query + "”." :
        shown.length + (shown.length === 1 ? " result" : " results") + " for “" + query + "”" +
        (shown.length > 100 ? " (the first 100, best first)." : ", best first.");
    }

    var params = new URLSearchParams(window.location.search);
    input.value = params.get("q") || input.value;  /* what was typed while the index unpacked is kept */
    search(input.value);
    input.form.addEventListener("submit", function (event) {
      event.preventDefault();
      search(input.value);
      try { history.replaceState(null, "", "?q=" + encodeURIComponent(input.value)); } catch (e) { /* file:// may refuse */ }
    });
    input.addEventListener("input", function () { search(input.value); });
  }
})();
