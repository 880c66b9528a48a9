/* "Download these references": joins the RIS, CSL-JSON or BibTeX of a list's works in the browser
   and saves them as one file. The texts come from the data scripts the build writes
   (assets/refs/<n>.js, loaded on first use); they are joined exactly as `kb export` joins the
   whole bibliography, so the same works give the same bytes. Without JavaScript the buttons
   stay hidden; every work's entry on its page links its own files. */
(function () {
  "use strict";
  var FORMATS = {
    ris: { field: "r", ext: "ris", type: "application/x-research-info-systems", label: "RIS",
           join: function (texts) { return texts.join("\r\n"); } },
    csljson: { field: "c", ext: "json", type: "application/vnd.citationstyles.csl+json", label: "CSL-JSON",
               join: function (texts) { return texts.length ? "[\n" + texts.join(",\n") + "\n]\n" : "[]\n"; } },
    bibtex: { field: "b", ext: "bib", type: "application/x-bibtex", label: "BibTeX",
              join: function (texts) { return texts.join("\n"); } }
  };
  var loading = {};

  function load(src) {
    if (!loading[src]) {
      loading[src] = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = src;
        script.onload = resolve;
        script.onerror = function () { reject(new Error("could not load " + src)); };
        document.head.appendChild(script);
      });
    }
    return loading[src];
  }

  /* Each data script pushes its works (JSON, gzip, base64) onto KB_REFS_GZ; they are decoded into
     KB_REFS one load after another, so a download never reads a half-decoded script. */
  var decoded = Promise.resolve();

  function decodeLoaded() {
    decoded = decoded.then(function () {
      var pending = (window.KB_REFS_GZ || []).splice(0);
      return Promise.all(pending.map(window.kbGunzip)).then(function (texts) {
        window.KB_REFS = window.KB_REFS || {};
        texts.forEach(function (text) { Object.assign(window.KB_REFS, JSON.parse(text)); });
      });
    });
    return decoded;
  }

  function byCodePoint(a, b) { return a < b ? -1 : a > b ? 1 : 0; }  /* citekeys are ASCII: same order as Python */

  /* The works' keys: written on the widget, or (a claim's) the anchors of the list just before it. */
  function keysOf(widget) {
    if (widget.hasAttribute("data-refs")) return widget.getAttribute("data-refs").split(" ").filter(Boolean);
    var list = widget.previousElementSibling, keys = [];
    if (!list) return keys;
    list.querySelectorAll("a[href*='#']").forEach(function (a) {
      var key = decodeURIComponent(a.getAttribute("href").split("#")[1]);
      if (keys.indexOf(key) < 0) keys.push(key);
    });
    return keys.sort(byCodePoint);
  }

  function chosen(widget) {
    if (widget.hasAttribute("data-ref-shards")) {
      /* the numbers of the data scripts, which sit beside this script in refs/ */
      var own = document.querySelector("script[src$='assets/refs.js']").getAttribute("src");
      return { keys: keysOf(widget),
               srcs: widget.getAttribute("data-ref-shards").split(" ").filter(Boolean).map(function (n) {
                 return own.replace(/refs\.js$/, "refs/") + n + ".js"; }) };
    }
    var base = widget.getAttribute("data-ref-base"), keys = [], shards = {};
    document.querySelectorAll(widget.getAttribute("data-ref-rows")).forEach(function (row) {
      if (row.hidden || !row.hasAttribute("data-ref")) return;
      keys.push(row.getAttribute("data-ref"));
      shards[row.getAttribute("data-shard")] = true;
    });
    return { keys: keys, srcs: Object.keys(shards).map(function (n) { return base + n + ".js"; }) };
  }

  function save(name, format, text) {
    var blob = new Blob([text], { type: format.type + ";charset=utf-8" });
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name + "." + format.ext;
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }

  /* The page writes only the widget's data (a bucket page has one per claim); its parts are made here. */
  function build(widget) {
    var label = document.createElement("span");
    label.className = "ref-download-label";
    var count = widget.hasAttribute("data-ref-shards") ? keysOf(widget).length : 0;
    label.textContent = (widget.getAttribute("data-label") || "Download these references") +
      (count > 1 ? " (" + count + " works):" : ":");
    widget.appendChild(label);
    ["ris", "csljson", "bibtex"].forEach(function (name) {
      var button = document.createElement("button");
      button.type = "button";
      button.setAttribute("data-format", name);
      button.textContent = FORMATS[name].label;
      widget.appendChild(document.createTextNode(" "));
      widget.appendChild(button);
    });
    var status = document.createElement("span");
    status.className = "ref-download-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    widget.appendChild(document.createTextNode(" "));
    widget.appendChild(status);
    return status;
  }

  document.querySelectorAll("[data-ref-download]").forEach(function (widget) {
    var status = build(widget);
    widget.hidden = false;
    widget.querySelectorAll("button[data-format]").forEach(function (button) {
      button.addEventListener("click", function () {
        var format = FORMATS[button.getAttribute("data-format")], list = chosen(widget);
        if (!list.keys.length) { status.textContent = "No works in this list."; return; }
        if (typeof DecompressionStream !== "function") {
          status.textContent = "This browser cannot unpack the references (it needs DecompressionStream); " +
            "the bibliography page links every work as RIS, CSL-JSON and BibTeX.";
          return;
        }
        status.textContent = "Preparing…";
        Promise.all(list.srcs.map(load)).then(decodeLoaded).then(function () {
          var refs = window.KB_REFS || {}, seen = {};
          var keys = list.keys.filter(function (k) { var fresh = !seen[k] && refs[k]; seen[k] = true; return fresh; });
          keys.sort(byCodePoint);
          save(widget.getAttribute("data-ref-name") || "claim-" + widget.closest("article").id + "-works", format,
               format.join(keys.map(function (k) { return refs[k][format.field]; })));
          status.textContent = keys.length + (keys.length === 1 ? " work" : " works") + " saved as " + format.label + ".";
        }, function (error) { status.textContent = "Download failed: " + error.message; });
      });
    });
  });
})();
