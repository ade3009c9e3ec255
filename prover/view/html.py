"""Self-contained HTML views of search trees: one page per tree, an index per run directory.

Every page inlines its CSS, its script (``prover/data/viewer.css``/``viewer.js``, written for
this viewer: no library, no CDN) and its tree as JSON, so it opens from disk with no network.
A run directory's view is ``RUN_DIR/view/index.html`` (theorems with status, time, expansions)
plus ``RUN_DIR/view/<tree file name>.html`` per attempt whose tree ``bench`` kept.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from prover.errors import DataFormatError
from prover.view.tree_json import (
    TREES_DIR,
    TreeDoc,
    doc_to_json,
    proof_tactics,
    read_tree,
    tree_filename,
)

VIEW_DIR = "view"
"""Where ``seg-prover view RUN_DIR`` writes its pages, under the run directory."""
RESULTS_FILE = "results.jsonl"


def _asset(name: str) -> str:
    return (resources.files("prover") / "data" / name).read_text(encoding="utf-8")


def _script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element: ``<`` only occurs inside strings, where
    ``\\u003c`` means the same, so no ``</script>`` or ``<!--`` can end the element early."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).replace("<", "\\u003c")


def _stats_line(stats: Mapping[str, Any]) -> str:
    def num(key: str) -> Any:
        return stats.get(key, 0) or 0

    return (f"{num('expansions')} expansions, {num('nodes')} states, "
            f"{num('env_calls')} tactics run, {num('rollouts')} rollouts "
            f"({num('rollout_steps')} steps), {float(num('wall_s')):.2f} s search")


def render_page(doc: TreeDoc, *, back: str | None = None) -> str:
    """The HTML page of one search tree (``back``: a link to the index, relative)."""
    title = html.escape(doc.theorem or "search tree")
    status = html.escape(doc.status or ("proved" if doc.proof_path else "open"))
    tactics = list(doc.proof) if doc.proof is not None else proof_tactics(doc)
    proof = ("\n".join(html.escape(t) for t in tactics) if tactics
             else "(no proof)" + (f" {html.escape(doc.message)}" if doc.message else ""))
    back_link = f'<a href="{html.escape(back)}">&larr; all theorems</a> &middot; ' if back else ""
    attempt = f" (attempt {doc.attempt})" if doc.attempt else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - seg-prover search tree</title>
<style>{_asset("viewer.css")}</style></head>
<body>
<header><h1>{back_link}{title}{attempt} <span class="status {status}">{status}</span></h1>
<div id="stats">{html.escape(_stats_line(doc.stats))}</div>
<pre id="proof">{proof}</pre></header>
<div id="toolbar"><input id="search" type="search" placeholder="search tactics and goals (Enter)">
<button id="btn-search">find</button><span id="matches"></span>
<button id="btn-expand" title="show every state">expand all</button>
<button id="btn-fold" title="fold all but the proof and the first levels">fold</button>
<span class="legend"><span class="lg-proof">proof</span><span class="lg-rollout">rollout edge</span>
<span class="lg-rmark">rollout tried here</span>
<span class="lg-dag">second path</span><span>tactic</span>
<span class="muted">click a state for details; double-click or +N folds</span></span></div>
<main><div id="canvas"></div><div id="details"></div></main>
<script id="tree-data" type="application/json">{_script_json(doc_to_json(doc))}</script>
<script>{_asset("viewer.js")}</script>
</body></html>
"""


def write_page(doc: TreeDoc, path: str | Path, *, back: str | None = None) -> Path:
    """Write :func:`render_page` to ``path`` (its directory is made); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_page(doc, back=back), encoding="utf-8")
    return target


@dataclass(frozen=True)
class IndexEntry:
    """One attempt in a run's index page; ``page`` is ``None`` when no tree was kept."""

    theorem: str
    attempt: int
    status: str
    wall_s: float
    expansions: int
    nodes: int
    rollouts: int
    page: str | None


def render_index(title: str, entries: Iterable[IndexEntry]) -> str:
    """The index page: one row per attempt, sortable by clicking a column header."""
    rows = []
    for e in entries:
        name = html.escape(e.theorem)
        link = f'<a href="{html.escape(e.page)}">{name}</a>' if e.page else name
        rows.append(f'<tr><td>{link}</td><td class="num">{e.attempt}</td>'
                    f'<td><span class="status {html.escape(e.status)}">{html.escape(e.status)}'
                    f'</span></td><td class="num">{e.wall_s:.2f}</td>'
                    f'<td class="num">{e.expansions}</td><td class="num">{e.nodes}</td>'
                    f'<td class="num">{e.rollouts}</td></tr>')
    listed = list(rows)
    proved = sum('class="status proved"' in row for row in listed)
    sort_js = ("document.querySelectorAll('th').forEach(function(th,i){th.onclick=function(){"
               "var tb=th.closest('table').tBodies[0],rs=[].slice.call(tb.rows),"
               "num=th.className==='num',d=th.dataset.d=th.dataset.d==='1'?'-1':'1';"
               "rs.sort(function(a,b){var x=a.cells[i].textContent,y=b.cells[i].textContent;"
               "return (num?(+x)-(+y):x.localeCompare(y))*d;});"
               "rs.forEach(function(r){tb.appendChild(r);});};});")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} - seg-prover run</title>
<style>{_asset("viewer.css")}</style></head>
<body><header><h1>{html.escape(title)}</h1>
<div id="stats">{proved} of {len(listed)} attempts proved; click a theorem for its search
tree, a column header to sort.</div></header>
<table class="index"><thead><tr><th>theorem</th><th class="num">attempt</th><th>status</th>
<th class="num">time (s)</th><th class="num">expansions</th><th class="num">states</th>
<th class="num">rollouts</th></tr></thead>
<tbody>
{chr(10).join(listed)}
</tbody></table>
<script>{sort_js}</script>
</body></html>
"""


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of ``results.jsonl``, the last row of each (theorem, attempt) winning; a
    torn last line (a run killed mid-write) is skipped."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(row, dict) or "theorem" not in row:
            raise DataFormatError(f"{path}:{number}: not a result row")
        rows[(str(row["theorem"]), int(row.get("attempt", 0)))] = row
    return list(rows.values())


def write_run_view(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML view of a ``bench`` run directory (``out``: default ``RUN_DIR/view``);
    returns the index page's path."""
    run = Path(run_dir)
    results = run / RESULTS_FILE
    if not results.is_file():
        raise DataFormatError(f"{run} has no {RESULTS_FILE}: not a 'seg-prover bench' run "
                              f"directory")
    target = Path(out) if out is not None else run / VIEW_DIR
    target.mkdir(parents=True, exist_ok=True)
    entries = []
    for row in _read_rows(results):
        theorem, attempt = str(row["theorem"]), int(row.get("attempt", 0))
        name = tree_filename(theorem, attempt)
        tree_path = run / TREES_DIR / name
        page: str | None = None
        if tree_path.is_file():
            page = name[: -len(".json")] + ".html"
            write_page(read_tree(tree_path), target / page, back="index.html")
        stats = row.get("stats") or {}
        entries.append(IndexEntry(theorem, attempt, str(row.get("status", "")),
                                  float(stats.get("wall_s") or 0.0),
                                  int(stats.get("expansions") or 0), int(stats.get("nodes") or 0),
                                  int(stats.get("rollouts") or 0), page))
    index = target / "index.html"
    index.write_text(render_index(run.resolve().name, entries), encoding="utf-8")
    return index


__all__ = ["VIEW_DIR", "IndexEntry", "render_index", "render_page", "write_page",
           "write_run_view"]
