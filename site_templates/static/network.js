/* The evidence network, one node at a time (progressive enhancement: without JavaScript the
   drawing links every dot to its page, and the full list follows it).

   Choosing a node — in the list box or by selecting its dot — fades everything but the node, its
   neighbours and the lines between them, names the neighbours in the drawing, and lists them
   beside it with links. The choice is kept in the address (#focus=kind:id). */
(function () {
  "use strict";
  var svg = document.getElementById("net-svg");
  var tools = document.getElementById("net-tools");
  var select = document.getElementById("net-focus");
  var panel = document.getElementById("net-panel");
  if (!svg || !tools || !select || !panel) return;
  var SVGNS = "http://www.w3.org/2000/svg";
  var KINDS = { doc: "Work", claim: "Claim", population: "Population", intervention: "Intervention", outcome: "Outcome" };

  var nodes = {};
  svg.querySelectorAll("g.node").forEach(function (g) { nodes[g.getAttribute("data-id")] = g; });
  var near = {};
  svg.querySelectorAll("line[data-a]").forEach(function (line) {
    var a = line.getAttribute("data-a"), b = line.getAttribute("data-b");
    (near[a] = near[a] || []).push({ id: b, line: line });
    (near[b] = near[b] || []).push({ id: a, line: line });
  });

  function label(id) {
    var title = nodes[id] && nodes[id].querySelector("title");
    return title ? title.textContent : id;
  }

  function clear() {
    svg.classList.remove("focused");
    svg.querySelectorAll(".is-focus, .is-near").forEach(function (e) { e.classList.remove("is-focus", "is-near"); });
    svg.querySelectorAll("text.added").forEach(function (t) { t.remove(); });
    panel.hidden = true;
    panel.textContent = "";
    select.value = "";
  }

  function addLabel(g) {
    if (g.querySelector("text")) return;
    var t = document.createElementNS(SVGNS, "text");
    t.setAttribute("class", "added");
    t.setAttribute("x", String(Number(g.getAttribute("data-x")) + Number(g.getAttribute("data-r")) + 3));
    t.setAttribute("y", String(Number(g.getAttribute("data-y")) + 3.5));
    t.textContent = label(g.getAttribute("data-id"));
    (g.querySelector("a") || g).appendChild(t);
  }

  function link(id) {
    var a = nodes[id] && nodes[id].querySelector("a");
    var out = document.createElement(a ? "a" : "span");
    if (a) out.href = a.getAttribute("href");
    out.textContent = label(id);
    return out;
  }

  function focus(id) {
    clear();
    if (!nodes[id]) return;
    select.value = id;
    svg.classList.add("focused");
    nodes[id].classList.add("is-focus");
    addLabel(nodes[id]);
    var groups = {};
    (near[id] || []).forEach(function (n) {
      n.line.classList.add("is-near");
      if (!nodes[n.id]) return;
      nodes[n.id].classList.add("is-near");
      addLabel(nodes[n.id]);
      var kind = n.id.split(":")[0];
      (groups[kind] = groups[kind] || {})[n.id] = true;
    });
    var heading = document.createElement("h2");
    heading.appendChild(link(id));
    var count = document.createElement("span");
    count.className = "count";
    var n = (near[id] || []).length;
    count.textContent = " — " + n + (n === 1 ? " link" : " links");
    heading.appendChild(count);
    panel.appendChild(heading);
    Object.keys(KINDS).forEach(function (kind) {
      if (!groups[kind]) return;
      var ids = Object.keys(groups[kind]).sort(function (a, b) { return label(a).localeCompare(label(b)); });
      var p = document.createElement("p");
      var strong = document.createElement("strong");
      strong.textContent = KINDS[kind] + (ids.length === 1 ? "" : "s") + " (" + ids.length + "): ";
      p.appendChild(strong);
      ids.forEach(function (n, i) {
        if (i) p.appendChild(document.createTextNode("; "));
        p.appendChild(link(n));
      });
      panel.appendChild(p);
    });
    panel.hidden = false;
    try { history.replaceState(null, "", "#focus=" + encodeURIComponent(id)); } catch (e) { /* file:// may refuse */ }
  }

  tools.hidden = false;
  select.addEventListener("change", function () {
    if (select.value) { focus(select.value); } else { clear(); history.replaceState(null, "", window.location.pathname); }
  });
  document.getElementById("net-clear").addEventListener("click", function () {
    clear();
    try { history.replaceState(null, "", window.location.pathname); } catch (e) { /* file:// */ }
  });
  svg.addEventListener("click", function (event) {
    var g = event.target.closest("g.node");
    if (!g) return;
    var id = g.getAttribute("data-id");
    if (svg.classList.contains("focused") && nodes[id].classList.contains("is-focus")) return;  /* a second select opens the page */
    event.preventDefault();
    focus(id);
    panel.scrollIntoView({ block: "nearest" });
  });
  var match = /^#focus=(.+)$/.exec(window.location.hash);
  if (match) focus(decodeURIComponent(match[1]));
})();
