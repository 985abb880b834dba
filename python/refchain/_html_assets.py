"""The HTML report's style and script (refchain._html embeds them in each
page).  The script reads the page's JSON data block and builds every table
with createElement and textContent: nothing from the heap becomes markup."""

CSS = r"""
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
main { max-width: 1200px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 2px solid #d5dae3; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
section { background: #fff; border: 1px solid #e0e4ea; border-radius: 6px; padding: 8px 16px 16px;
          margin-top: 16px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eceff3; vertical-align: top; }
th { background: #eef1f5; user-select: none; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th[data-key] { cursor: pointer; }
th.sorted-desc::after { content: " \25BC"; } th.sorted-asc::after { content: " \25B2"; }
tr.click { cursor: pointer; } tr.click:hover { background: #f0f5ff; }
tr.picked { background: #dde8ff; }
.sites { color: #5a6473; font-size: 12px; white-space: pre-wrap; }
.mono, .chain { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px;
                white-space: pre-wrap; word-break: break-all; }
.memory { background: #fff7e0; border-left: 4px solid #e7b416; padding: 6px 10px; }
.note { color: #9a3a00; }
.muted { color: #6b7380; }
.drawing { max-width: 100%; border: 1px solid #e0e4ea; background: #fff; margin-top: 6px; }
.view { margin-top: 10px; }
.pager { margin: 8px 0; display: flex; gap: 8px; align-items: center; }
input[type=search] { padding: 4px 8px; width: 320px; }
.icicle { position: relative; width: 100%; }
.block { position: absolute; box-sizing: border-box; border: 1px solid #fff; overflow: hidden;
         font-size: 11px; padding: 2px 4px; color: #10213a; cursor: pointer; white-space: nowrap;
         text-overflow: ellipsis; }
.block:hover { outline: 2px solid #1d4ed8; z-index: 1; }
.block.picked { outline: 3px solid #b91c1c; z-index: 2; }
"""

JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("refchain-data").textContent);
  var main = document.getElementById("report");

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (k === "text") e.textContent = attrs[k];
        else if (k === "cls") e.className = attrs[k];
        else e.setAttribute(k, attrs[k]);
      }
    }
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return e;
  }
  function bytes(n) {
    if (n === null || n === undefined) return "";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], v = Math.abs(n), i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    var s = (i === 0 ? String(v) : v.toFixed(1)) + " " + units[i];
    return n < 0 ? "-" + s : s;
  }
  function num(n) { return n === null || n === undefined ? "" : n.toLocaleString("en-US"); }
  function signed(n) { return n === null || n === undefined ? "" : (n > 0 ? "+" : "") + num(n); }
  function short(t) { return t === null ? "" : t; }
  function sites(list) {
    return (list || []).map(function (s) { return "+" + s.count + " at " + s.site; }).join("\n");
  }
  function table(id, heads, rows) {
    var thead = el("thead", null, [el("tr", null, heads.map(function (h) {
      return el("th", {text: h[0], cls: h[1] || ""});
    }))]);
    var tbody = el("tbody", null, rows);
    return el("table", {id: id}, [thead, tbody]);
  }
  function td(text, cls) { return el("td", {text: text === null || text === undefined ? "" : String(text), cls: cls || ""}); }
  function img(src, alt) {
    if (!src) return el("p", {cls: "muted", text: "(no drawing: graphviz could not draw it)"});
    return el("img", {src: src, alt: alt, cls: "drawing"});
  }
  function section(id, title, children) {
    var s = el("section", {id: id}, [el("h2", {text: title})].concat(children));
    main.appendChild(s);
    return s;
  }

  // ---- summary ----
  var f = data.file, facts = data.facts;
  main.appendChild(el("h1", {text: data.title}));
  var summary = [
    ["process", "pid " + (f.pid || "?") + (facts.host ? " on " + facts.host : "") +
                (facts.argv ? ", argv " + facts.argv : "")],
    ["Python", f.python || "?"],
    ["dumped at", f.time || "?"],
    ["objects", num(f.objects)],
    ["report made", data.made]
  ];
  if (f.path) summary.splice(0, 0, ["snapshot", f.path]);
  if (data.since) summary.push(["since", typeof data.since === "string" ? data.since :
      data.since.path + " (" + num(data.since.objects) + " objects, " + data.since.time + ")"]);
  var sumTable = el("table", {id: "summary-table"}, [el("tbody", null, summary.map(function (r) {
    return el("tr", null, [el("th", {text: r[0]}), td(r[1])]);
  }))]);
  var mem = data.memory;
  var memBits = [el("div", {cls: "memory", id: "memory"}, [
    el("b", {text: "memory: "}), "RSS " + bytes(mem.rss) + " = objects " + bytes(mem.counted) +
    " + " + bytes(mem.unexplained) + " not in objects" +
    (mem.traced !== null && mem.traced !== undefined ? "; tracemalloc traces " + bytes(mem.traced) : ""),
    el("div", {cls: "muted", text: mem.text})])];
  if (data.since_memory) memBits.push(el("div", {cls: "muted", text: "before: " + data.since_memory.text}));
  section("summary", "Summary", [sumTable].concat(memBits).concat(
    data.notes.map(function (n) { return el("p", {cls: "note", text: n}); })));

  // ---- growth ----
  var grew = data.growth.map(function (g) {
    return el("tr", null, [td(g.type, "mono"), td(num(g.count), "n"), td(signed(g.delta), "n"),
      td((g.bytes_delta > 0 ? "+" : "") + bytes(g.bytes_delta) + (g.bytes_lower_bound ? " (at least)" : ""), "n"),
      el("td", {cls: "sites", text: sites(g.allocated_at)})]);
  });
  section("growth", data.since ? "What grew since the baseline" : "What there is (no baseline: every type, from 0)", [
    grew.length ? table("growth-table", [["type"], ["count", "n"], ["change", "n"], ["bytes change", "n"],
                                         ["allocated at"]], grew)
                : el("p", {text: "(no type grew)"}),
    data.traced ? null : el("p", {cls: "muted", text: "Allocation lines need tracemalloc.start() before the objects are made."})]);

  // ---- suspects ----
  var susView = el("div", {id: "suspect-view", cls: "view"});
  var susRows = data.suspects.map(function (s, i) {
    var tr = el("tr", {cls: "click", "data-index": String(i)}, [
      td(s.type, "mono"), td(s.holder, "mono"), td(bytes(s.bytes), "n"),
      td((100 * s.share).toFixed(1) + "%", "n"), td(num(s.count), "n"),
      td(s.accumulated ? num(s.accumulated.count) + " " + s.accumulated.type : "", "mono")]);
    tr.addEventListener("click", function () {
      Array.prototype.forEach.call(tr.parentNode.children, function (r) { r.classList.remove("picked"); });
      tr.classList.add("picked");
      susView.textContent = "";
      susView.appendChild(el("h3", {text: "Chain to the " + s.type + " at " + s.address}));
      susView.appendChild(el("div", {cls: "chain", text: s.chain.text}));
      susView.appendChild(img(s.svg, "the chain from a root to the suspect"));
    });
    return tr;
  });
  section("suspects", "Leak suspects: what one object's release would free", [
    susRows.length ? table("suspects-table", [["object"], ["held by"], ["retains", "n"], ["share", "n"],
                                              ["objects", "n"], ["mostly"]], susRows)
                   : el("p", {text: "(no suspect: no object retains " + (100 * data.min_share) + "% of the heap alone)"}),
    susRows.length ? el("p", {cls: "muted", text: "Click a suspect for its chain, drawn."}) : null,
    susView]);

  // ---- holders ----
  var holderParts = [];
  data.holders.forEach(function (h) {
    holderParts.push(el("h3", {text: h.type + ": " + (h.new ? "+" : "") + num(h.count) +
      (h.new ? " new" : " objects") + " (" + bytes(h.bytes) +
      (h.retained_bytes !== null ? "; retaining " + bytes(h.retained_bytes) + " in " + num(h.retained_count) + " objects" : "") + ")"}));
    var rows = h.groups.slice().sort(function (a, b) {
      return (b.retained_bytes || b.bytes) - (a.retained_bytes || a.bytes);
    }).map(function (g) {
      return el("tr", null, [td(num(g.count), "n"), td(bytes(g.bytes), "n"),
        td(g.retained_bytes !== null ? bytes(g.retained_bytes) : "", "n"),
        el("td", {cls: "chain"}, [g.path, el("div", {cls: "muted", text: "e.g. " + g.chain.text})]),
        el("td", {cls: "sites", text: sites(g.allocated_at)})]);
    });
    holderParts.push(table(null, [["objects", "n"], ["bytes", "n"], ["retaining", "n"], ["held through"],
                                  ["allocated at"]], rows));
    holderParts.push(img(h.svg, "the groups of " + h.type));
  });
  section("holders", data.since ? "What holds the new objects" : "What holds the largest types",
          holderParts.length ? holderParts : [el("p", {text: "(nothing new)"})]);

  // ---- garbage ----
  var gb = data.garbage;
  var cycRows = gb.cycles.map(function (c) {
    return el("tr", null, [td(c.types.join(", "), "mono"), td(num(c.count), "n"), td(num(c.objects), "n"),
      td(bytes(c.bytes), "n"), td(c.has_finalizers ? "yes" : "", ""), td(c.path, "chain"),
      el("td", {cls: "sites", text: sites(c.allocated_at)})]);
  });
  section("garbage", "Cycles: what the next gc.collect() would free", [
    el("p", {text: num(gb.object_count) + " objects are garbage waiting for the cyclic collector; " +
             "with what only they hold, collecting them frees " + bytes(gb.freed_bytes) + "."}),
    cycRows.length ? table("garbage-table", [["cycle of"], ["cycles", "n"], ["objects", "n"], ["bytes", "n"],
                                             ["finalizers"], ["a path"], ["allocated at"]], cycRows) : null,
    el("div", {cls: "mono muted", text: gb.text})]);

  // ---- census ----
  var PAGE = 50;
  var census = data.census, shown = census, sortKey = null, sortDesc = true, pageNo = 0;
  var keys = {type: 0, count: 1, bytes: 2, change: 3};
  var filter = el("input", {type: "search", id: "census-filter", placeholder: "filter types by name"});
  var info = el("span", {id: "census-info", cls: "muted"});
  var prev = el("button", {id: "census-prev", text: "\u2190 previous"});
  var next = el("button", {id: "census-next", text: "next \u2192"});
  var heads = [["type", "type", ""], ["count", "count", "n"], ["bytes", "bytes", "n"],
               [data.since ? "change since baseline" : "change", "change", "n"]];
  var headRow = el("tr", null, heads.map(function (h) {
    return el("th", {text: h[0], "data-key": h[1], cls: h[2]});
  }));
  var body = el("tbody");
  var ctable = el("table", {id: "census-table"}, [el("thead", null, [headRow]), body]);
  function draw() {
    body.textContent = "";
    var pages = Math.max(1, Math.ceil(shown.length / PAGE));
    if (pageNo >= pages) pageNo = pages - 1;
    var start = pageNo * PAGE, rows = shown.slice(start, start + PAGE);
    rows.forEach(function (r) {
      body.appendChild(el("tr", null, [td(r[0], "mono"), td(num(r[1]), "n"), td(bytes(r[2]), "n"),
                                       td(r[3] === null ? "" : signed(r[3]), "n")]));
    });
    info.textContent = (shown.length ? "types " + (start + 1) + "\u2013" + (start + rows.length) : "no type") +
      " of " + num(shown.length) + (shown.length !== census.length ? " matching" : "") +
      " (page " + (pageNo + 1) + " of " + pages + ")" +
      (data.census_types > census.length ? "; the report keeps the " + num(census.length) +
       " types of most bytes of " + num(data.census_types) : "");
    prev.disabled = pageNo === 0;
    next.disabled = pageNo >= pages - 1;
  }
  function resort() {
    if (sortKey === null) return;
    var i = keys[sortKey], d = sortDesc ? -1 : 1;
    shown = shown.slice().sort(function (a, b) {
      var x = a[i], y = b[i];
      if (x === null) x = -Infinity; if (y === null) y = -Infinity;
      return x < y ? -d : x > y ? d : 0;
    });
  }
  Array.prototype.forEach.call(headRow.children, function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      sortDesc = sortKey === key ? !sortDesc : key !== "type";
      sortKey = key;
      Array.prototype.forEach.call(headRow.children, function (o) { o.classList.remove("sorted-asc", "sorted-desc"); });
      th.classList.add(sortDesc ? "sorted-desc" : "sorted-asc");
      resort(); pageNo = 0; draw();
    });
  });
  filter.addEventListener("input", function () {
    var q = filter.value.toLowerCase();
    shown = q ? census.filter(function (r) { return r[0].toLowerCase().indexOf(q) >= 0; }) : census;
    resort(); pageNo = 0; draw();
  });
  prev.addEventListener("click", function () { pageNo--; draw(); });
  next.addEventListener("click", function () { pageNo++; draw(); });
  section("census", "The census: every type", [el("div", {cls: "pager"}, [filter, prev, next, info]), ctable]);
  draw();

  // ---- dominator tree (icicle) ----
  var blocks = data.dominators, domView = el("div", {id: "dom-view", cls: "view"});
  var ice = el("div", {cls: "icicle", id: "icicle"});
  var ROW = 34, total = 0, levels = 0, children = {};
  blocks.forEach(function (b) {
    if (b.parent === null) total += b.bytes;
    else (children[b.parent] = children[b.parent] || []).push(b);
  });
  function place(b, left, width, depth) {
    levels = Math.max(levels, depth + 1);
    var label = b.type === null ? "\u2026 " + num(b.others) + " more" : b.type;
    var div = el("div", {cls: "block", "data-id": String(b.id), title: label + ": retains " + bytes(b.bytes) +
                         " in " + num(b.count) + " objects"}, [label + " " + bytes(b.bytes)]);
    div.style.left = (100 * left) + "%";
    div.style.width = (100 * width) + "%";
    div.style.top = (depth * ROW) + "px";
    div.style.height = (ROW - 2) + "px";
    div.style.background = "hsl(" + (210 - 30 * depth) + ", 70%, " + (b.type === null ? 90 : 78 - 6 * depth) + "%)";
    div.addEventListener("click", function (ev) {
      ev.stopPropagation();
      Array.prototype.forEach.call(ice.querySelectorAll(".picked"), function (o) { o.classList.remove("picked"); });
      div.classList.add("picked");
      domView.textContent = "";
      domView.appendChild(el("h3", {text: label + " retains " + bytes(b.bytes) + " in " + num(b.count) + " objects"}));
      if (b.chain) {
        domView.appendChild(el("div", {cls: "chain", text: b.chain.text}));
        if (b.svg) domView.appendChild(img(b.svg, "the chain to " + label));
      } else {
        domView.appendChild(el("p", {cls: "muted", text: "the smaller children, summed up"}));
      }
    });
    ice.appendChild(div);
    var kids = children[b.id] || [], x = left;
    kids.forEach(function (k) {
      var w = b.bytes > 0 ? width * k.bytes / b.bytes : 0;
      place(k, x, w, depth + 1);
      x += w;
    });
  }
  var x0 = 0;
  blocks.forEach(function (b) {
    if (b.parent !== null) return;
    var w = total > 0 ? b.bytes / total : 0;
    place(b, x0, w, 0);
    x0 += w;
  });
  ice.style.height = (levels * ROW) + "px";
  section("dominators", "The dominator tree: the objects that retain the most", [
    el("p", {cls: "muted", text: "Each block is an object; its width is what it retains (what would be freed with it); " +
      "below it, the objects only it keeps alive. Click a block for its chain."}),
    blocks.length ? ice : el("p", {text: "(nothing retains anything)"}), domView]);

  document.body.setAttribute("data-ready", "1");
})();
"""
