/* The site's URL scheme in JavaScript (kb/site/addresses.py is the same in Python, docs/urls.md
   defines it): an IRI of the KB → the page, or the anchor on a page, that shows it. resolve.html
   uses it so that a persistent-identifier service, which can only rewrite with regular
   expressions, may send claim/<id> and work/<key> to resolve.html#claim/<id>. */
(function () {
  "use strict";

  /* 32-bit FNV-1a of the UTF-8 bytes; the bucket is its top ten bits as three hex digits. */
  function fnv1a32(text) {
    var bytes = new TextEncoder().encode(text), hash = 0x811c9dc5;
    for (var i = 0; i < bytes.length; i++) {
      hash ^= bytes[i];
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    return hash >>> 0;
  }

  function bucket(id) { return ("00" + (fnv1a32(id) >>> 22).toString(16)).slice(-3); }

  /* The site path of an IRI (or of its part after the base IRI), or null if it names nothing here. */
  function address(iri, config) {
    var rest = iri.indexOf(config.base) === 0 ? iri.slice(config.base.length) : iri;
    var parts = rest.replace(/^\/+/, "").split(/[#?]/)[0].split("/");
    var kind = parts[0], id = parts[1] || "";
    if (kind === "claim" && id) return "claims/" + bucket(id) + ".html#" + id;
    if (kind === "work" && id) return "references/" + bucket(id) + ".html#" + id;
    if (kind === "concept" && id && parts[2]) {
      var scheme = id, concept = parts[2], folder = config.folders[scheme];
      if (scheme === "outcome-domain") return "outcomes/index.html#domain-" + concept;
      if (!folder) return "method.html#" + scheme + "-" + concept;
      if (scheme === "outcome" && config.domains.indexOf(concept) !== -1) return "outcomes/index.html#domain-" + concept;
      return folder + "/" + concept + ".html";
    }
    if (kind === "scheme" && id) return "method.html#scheme-" + id;
    if (kind === "dataset" || kind === "graph" || kind === "") return "index.html";
    return null;
  }

  window.kbAddress = { fnv1a32: fnv1a32, bucket: bucket, address: address };

  var form = document.getElementById("resolve-form");
  if (!form) return;
  var config = JSON.parse(form.getAttribute("data-config"));
  var input = document.getElementById("resolve-iri"), status = document.getElementById("resolve-status");

  function go(value, replace) {
    var iri = decodeURIComponent(value.trim());
    var target = address(iri, config);
    if (!target) { status.textContent = "“" + iri + "” names nothing on this site."; return; }
    status.textContent = "Opening " + target + "…";
    if (replace) window.location.replace(target); else window.location.href = target;
  }

  form.hidden = false;
  form.addEventListener("submit", function (event) { event.preventDefault(); go(input.value, false); });
  var asked = window.location.hash.slice(1) || new URLSearchParams(window.location.search).get("iri") || "";
  if (asked) { input.value = decodeURIComponent(asked); go(asked, true); }
})();
