// seg-prover search-tree viewer: reads the tree JSON embedded in the page (format
// seg-prover-tree/1, see prover/view/tree_json.py) and draws it as SVG. No network, no library.
(function () {
  "use strict";
  var DX = 210, DY = 22, R = 6, LABEL = 22, CHAR = 7.3, AUTO_VISIBLE = 300;
  var SVGNS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("tree-data").textContent);
  var F = {};
  data.node_fields.forEach(function (name, i) { F[name] = i; });
  var EF = {};
  data.edge_fields.forEach(function (name, i) { EF[name] = i; });
  var ERF = {};
  data.error_fields.forEach(function (name, i) { ERF[name] = i; });

  // ---- the model: nodes (states, then one "QED" leaf per proof edge) ---------------------
  var nodes = data.nodes.map(function (row, i) {
    return { id: i, goals: row[F.goals].map(function (g) { return data.goals[g]; }),
             parent: row[F.parent], status: row[F.status], depth: row[F.depth],
             cum: row[F.cumulative_logprob], logprob: row[F.logprob], score: row[F.score],
             expanded: row[F.expanded], rollout: !!row[F.rollout], errors: row[F.errors],
             children: [], edge: null, qed: false };
  });
  var proofPath = data.proof_path || [];
  var onProof = {};
  var proofPairs = {};
  for (var p = 0; p < proofPath.length; p++) {
    onProof[proofPath[p]] = true;
    if (p > 0) proofPairs[proofPath[p - 1] + ">" + proofPath[p]] = true;
  }
  var dagEdges = [];
  data.edges.forEach(function (e) {
    var src = e[EF.source], dst = e[EF.target];
    var edge = { source: src, target: dst, tactic: e[EF.tactic], logprob: e[EF.logprob],
                 latency: e[EF.latency_s], rollout: !!e[EF.rollout],
                 proof: !!proofPairs[src + ">" + dst] };
    if (dst < 0) {  // the proved terminal: a leaf of its own under each proving state
      var qed = { id: nodes.length, goals: [], parent: src, status: "proved",
                  depth: nodes[src].depth + 1, cum: null, logprob: edge.logprob, score: null,
                  expanded: null, rollout: edge.rollout, errors: [], children: [], edge: edge,
                  qed: true };
      edge.target = qed.id;
      if (edge.proof) onProof[qed.id] = true;
      nodes.push(qed);
    } else if (nodes[dst].parent === src && !nodes[dst].edge) {
      nodes[dst].edge = edge;
    } else {
      dagEdges.push(edge);  // a second path to a known state
    }
  });
  nodes.forEach(function (n) { if (n.parent >= 0) nodes[n.parent].children.push(n.id); });

  // Columns as wide as the longest label needs (up to LABEL characters).
  var longest = 4;
  nodes.forEach(function (n) { longest = Math.max(longest, nodeLabel(n).length); });
  DX = Math.max(110, Math.min(DX, 40 + longest * CHAR));

  function descendants(id) {
    var count = 0, stack = nodes[id].children.slice();
    while (stack.length) { var c = stack.pop(); count++; stack.push.apply(stack, nodes[c].children); }
    return count;
  }

  // ---- collapse state: the proof path and the first levels open, the rest folded -----------
  var collapsed = {};
  function autoCollapse() {
    collapsed = {};
    nodes.forEach(function (n) { if (n.children.length) collapsed[n.id] = true; });
    var visible = 1, queue = nodes.length ? [0] : [];
    while (queue.length) {
      var id = queue.shift();
      if (!nodes[id].children.length) continue;
      if (!onProof[id] && visible + nodes[id].children.length > AUTO_VISIBLE) continue;
      delete collapsed[id];
      visible += nodes[id].children.length;
      queue.push.apply(queue, nodes[id].children);
    }
    proofPath.forEach(function (id) { if (id >= 0) delete collapsed[id]; });
  }
  function expandTo(id) {
    for (var cur = nodes[id].parent; cur >= 0; cur = nodes[cur].parent) delete collapsed[cur];
  }

  // ---- layout: leaves take rows, a parent sits between its first and last child -----------
  var pos = {};
  function layout() {
    pos = {};
    var row = 0, maxDepth = 0;
    function place(id, depth) {  // iterative post-order, deep trees must not blow the stack
      var stack = [[id, depth, 0]];
      while (stack.length) {
        var top = stack[stack.length - 1], n = nodes[top[0]];
        var kids = collapsed[n.id] ? [] : n.children;
        if (top[2] < kids.length) { stack.push([kids[top[2]++], top[1] + 1, 0]); continue; }
        stack.pop();
        maxDepth = Math.max(maxDepth, top[1]);
        if (!kids.length) pos[n.id] = { x: top[1], y: row++ };
        else pos[n.id] = { x: top[1], y: (pos[kids[0]].y + pos[kids[kids.length - 1]].y) / 2 };
      }
    }
    if (nodes.length) place(0, 0);
    return { rows: row, depth: maxDepth };
  }

  function short(text, n) {
    text = String(text).replace(/\s+/g, " ");
    return text.length > n ? text.slice(0, n - 1) + "\u2026" : text;
  }
  function el(name, attrs, parent) {
    var e = document.createElementNS(SVGNS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function px(p) { return { x: 20 + p.x * DX, y: 20 + p.y * DY }; }
  // An edge leaves its parent after the parent's label, so that it never crosses text.
  function labelEnd(id, at) {
    return { x: at.x + R + 8 + nodeLabel(nodes[id]).length * CHAR, y: at.y };
  }
  function curve(a, b) {
    b = { x: b.x - R - 1, y: b.y };
    var mid = (a.x + b.x) / 2;
    return "M" + a.x + "," + a.y + " C" + mid + "," + a.y + " " + mid + "," + b.y + " " + b.x + "," + b.y;
  }

  var selected = null, matches = [], matchAt = -1, matchSet = {};
  var canvas = document.getElementById("canvas");

  function nodeLabel(n) {
    if (n.qed) return "\u220e " + short(n.edge ? n.edge.tactic : "", LABEL);
    if (n.edge) return short(n.edge.tactic, LABEL);
    return n.id === 0 ? "root" : "#" + n.id;
  }

  function draw() {
    var size = layout();
    canvas.innerHTML = "";
    var svg = el("svg", { width: 60 + (size.depth + 1) * DX, height: 40 + size.rows * DY,
                          id: "tree-svg" }, canvas);
    var gEdges = el("g", {}, svg), gNodes = el("g", {}, svg);
    nodes.forEach(function (n) {
      if (!pos[n.id] || n.parent < 0 || !pos[n.parent]) return;
      var cls = "edge" + (n.edge && n.edge.rollout ? " rollout" : "") +
                (n.edge && n.edge.proof ? " proof" : "");
      el("path", { d: curve(labelEnd(n.parent, px(pos[n.parent])), px(pos[n.id])), "class": cls }, gEdges);
    });
    dagEdges.forEach(function (e) {
      if (!pos[e.source] || !pos[e.target]) return;
      var cls = "edge dag" + (e.rollout ? " rollout" : "") + (e.proof ? " proof" : "");
      var from = px(pos[e.source]);
      if (pos[e.source].x < pos[e.target].x) from = labelEnd(e.source, from);
      var path = el("path", { d: curve(from, px(pos[e.target])), "class": cls }, gEdges);
      el("title", {}, path).textContent = e.tactic;
    });
    nodes.forEach(function (n) {
      if (!pos[n.id]) return;
      var at = px(pos[n.id]);
      var cls = "node " + (n.qed ? "qed" : (n.expanded === null && n.status === "open" ? "unexpanded" : n.status)) +
                (n.rollout ? " rollout" : "") + (onProof[n.id] ? " onproof" : "") +
                (matchSet[n.id] ? " match" : "") + (selected === n.id ? " selected" : "");
      var g = el("g", { "class": cls, "data-id": n.id, transform: "translate(" + at.x + "," + at.y + ")" }, gNodes);
      el("circle", { r: n.qed ? R + 1 : R }, g);
      if (n.errors.some(function (er) { return er[ERF.rollout]; })) {
        var mark = el("rect", { x: -3, y: -R - 7, width: 6, height: 6, "class": "rollout-mark" }, g);
        el("title", {}, mark).textContent = "a rollout tried tactics here";
      }
      var label = el("text", { x: R + 4, y: 4, "class": "label" }, g);
      label.textContent = nodeLabel(n);
      el("title", {}, g).textContent = (n.edge ? n.edge.tactic + "\n\n" : "") + n.goals.join("\n\n");
      if (n.children.length && collapsed[n.id]) {
        var hidden = descendants(n.id);
        var bw = 10 + 7 * String(hidden).length;
        var badge = el("rect", { x: -R - bw - 4, y: -8, width: bw, height: 16, rx: 4, "class": "badge",
                                 "data-toggle": n.id }, g);
        var bt = el("text", { x: -R - bw, y: 4, "class": "badge-text", "data-toggle": n.id }, g);
        bt.textContent = "+" + hidden;
        el("title", {}, badge).textContent = "show " + hidden + " hidden states";
      }
    });
  }

  // ---- details of one node ------------------------------------------------------------------
  function fmt(x, digits) {
    if (x === null || x === undefined) return "\u2014";
    return typeof x === "number" ? x.toFixed(digits === undefined ? 3 : digits) : String(x);
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }
  function show(id) {
    selected = id;
    var n = nodes[id], d = document.getElementById("details"), e = n.edge, html = [];
    html.push("<h2>" + (n.qed ? "proof closed (\u220e)" : (id === 0 ? "root state" : "state #" + id)) + "</h2>");
    html.push("<table class='kv'>");
    function row(k, v) { html.push("<tr><td>" + k + "</td><td>" + v + "</td></tr>"); }
    row("tactic", e ? "<code>" + esc(e.tactic) + "</code>" : "<span class='muted'>(root)</span>");
    row("outcome", n.qed ? "proved" : (e ? "new state, " + n.goals.length + " goal(s)" : "\u2014"));
    row("status", esc(n.status) + (onProof[id] ? " \u00b7 on the proof" : ""));
    row("log-prob", fmt(e ? e.logprob : null));
    row("cumulative log-prob", fmt(n.cum));
    row("heuristic score", n.score === null && !n.qed && n.expanded === null ? "\u2014 (not scored, or -inf)" : fmt(n.score));
    row("latency", e ? fmt(e.latency * 1000, 1) + " ms" : "\u2014");
    row("expanded", n.expanded === null ? "no" : "yes, #" + (n.expanded + 1));
    row("rollout", e && e.rollout ? "yes (edge made by a rollout)" : "no");
    row("depth", n.depth);
    html.push("</table>");
    if (!n.qed) {
      html.push("<h2>goals (" + n.goals.length + ")</h2>");
      n.goals.forEach(function (g) { html.push("<pre>" + esc(g) + "</pre>"); });
    }
    if (n.children.length) {
      html.push("<h2>children (" + n.children.length + ")</h2><ul>");
      n.children.forEach(function (c) {
        var ce = nodes[c].edge;
        html.push("<li><a href='#' data-goto='" + c + "'><code>" + esc(ce ? ce.tactic : "#" + c) + "</code></a>" +
                  (ce && ce.rollout ? " <span class='muted'>(rollout)</span>" : "") + "</li>");
      });
      html.push("</ul>");
    }
    if (n.errors.length) {
      html.push("<h2>failed tactics (" + n.errors.length + ")</h2><table class='errs'>");
      n.errors.forEach(function (er) {
        html.push("<tr><td><code>" + esc(er[ERF.tactic]) + "</code>" + (er[ERF.rollout] ? " <span class='muted'>(rollout)</span>" : "") +
                  "</td><td>" + esc(er[ERF.outcome]) + "</td><td>" + fmt(er[ERF.logprob], 2) + "</td><td>" +
                  fmt(er[ERF.latency_s] * 1000, 1) + "&nbsp;ms</td></tr><tr><td colspan='4' class='muted'>" +
                  esc(short(er[ERF.message], 300)) + "</td></tr>");
      });
      html.push("</table>");
    }
    d.innerHTML = html.join("");
    draw();
  }

  function center(id) {
    var p = pos[id];
    if (!p) return;
    var at = px(p);
    canvas.scrollLeft = Math.max(0, at.x - canvas.clientWidth / 3);
    canvas.scrollTop = Math.max(0, at.y - canvas.clientHeight / 2);
  }

  // ---- events -------------------------------------------------------------------------------
  canvas.addEventListener("click", function (ev) {
    var t = ev.target;
    var toggle = t.getAttribute && t.getAttribute("data-toggle");
    if (toggle !== null && toggle !== undefined) {
      var tid = +toggle;
      if (collapsed[tid]) delete collapsed[tid]; else collapsed[tid] = true;
      draw();
      return;
    }
    var g = t.closest ? t.closest("g.node") : null;
    if (g) show(+g.getAttribute("data-id"));
  });
  canvas.addEventListener("dblclick", function (ev) {
    var g = ev.target.closest ? ev.target.closest("g.node") : null;
    if (!g) return;
    var id = +g.getAttribute("data-id");
    if (!nodes[id].children.length) return;
    if (collapsed[id]) delete collapsed[id]; else collapsed[id] = true;
    draw();
  });
  document.getElementById("details").addEventListener("click", function (ev) {
    var go = ev.target.closest ? ev.target.closest("[data-goto]") : null;
    if (!go) return;
    ev.preventDefault();
    var id = +go.getAttribute("data-goto");
    expandTo(id); show(id); center(id);
  });

  function runSearch() {
    var q = document.getElementById("search").value.trim().toLowerCase();
    matches = []; matchSet = {}; matchAt = -1;
    if (q) {
      nodes.forEach(function (n) {
        var hay = (n.edge ? n.edge.tactic + "\n" : "") + n.goals.join("\n") + "\n" +
                  n.errors.map(function (er) { return er[ERF.tactic]; }).join("\n");
        if (hay.toLowerCase().indexOf(q) >= 0) { matches.push(n.id); matchSet[n.id] = true; }
      });
    }
    matches.forEach(expandTo);
    document.getElementById("matches").textContent = q ? matches.length + " match" + (matches.length === 1 ? "" : "es") : "";
    draw();
    if (matches.length) nextMatch();
  }
  function nextMatch() {
    if (!matches.length) return;
    matchAt = (matchAt + 1) % matches.length;
    document.getElementById("matches").textContent = (matchAt + 1) + " of " + matches.length;
    show(matches[matchAt]); center(matches[matchAt]);
  }
  document.getElementById("search").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { if (matchAt < 0 || ev.target.dataset.q !== ev.target.value) { ev.target.dataset.q = ev.target.value; runSearch(); } else nextMatch(); }
  });
  document.getElementById("btn-search").addEventListener("click", runSearch);
  document.getElementById("btn-expand").addEventListener("click", function () { collapsed = {}; draw(); });
  document.getElementById("btn-fold").addEventListener("click", function () { autoCollapse(); draw(); });

  autoCollapse();
  var qedNode = nodes.filter(function (n) { return n.qed && onProof[n.id]; })[0];
  if (qedNode) show(qedNode.id); else if (nodes.length) show(0);
  // A link may carry a search: page.html#search=rewrite (the tests use it too).
  var hash = decodeURIComponent(location.hash || "");
  if (hash.indexOf("#search=") === 0) {
    document.getElementById("search").value = hash.slice(8);
    runSearch();
  }
  document.body.setAttribute("data-rendered", String(nodes.length));
})();
