"""Search trees as compact JSON: what ``bench`` keeps per attempt and the viewer reads.

A :class:`TreeDoc` is a plain, frozen copy of a :class:`~prover.tree.SearchTree` (plus the
search's result) that needs neither networkx nor the search to read back. On disk it is one JSON
object (``FORMAT``), compact because trees get large:

- ``goals``: every distinct goal text once; a node lists indices into it (the goals a tactic
  left untouched repeat across many states).
- ``nodes``: one array per state in creation order, fields named by ``node_fields``; ``parent``
  is the node it was first reached from (the tree the viewer lays out), ``-1`` for the root.
- ``edges``: every successful tactic ``[source, target, tactic, logprob, latency_s, rollout]``,
  ``target`` ``-1`` for the proved terminal; a second path to a known state is an edge too.
- ``errors`` inside a node: the failed tactics ``[tactic, logprob, outcome, message,
  latency_s, rollout]``.
- ``proof_path``: the node indices of the shortest proof (ending ``-1``), empty if none.

Scores are the heuristic's (``null`` for a state never scored, and for ``-inf``/NaN, which JSON
cannot hold: the viewer shows those as "never expanded"). Everything here is pure: no I/O but
:func:`write_tree`/:func:`read_tree`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prover.errors import DataFormatError
from prover.types import PROVED_KEY

if TYPE_CHECKING:
    from prover.config import SearchResult
    from prover.tree import SearchTree

FORMAT = "seg-prover-tree/1"
NODE_FIELDS = ("goals", "key", "parent", "status", "depth", "cumulative_logprob", "logprob",
               "score", "expanded", "rollout", "errors")
EDGE_FIELDS = ("source", "target", "tactic", "logprob", "latency_s", "rollout")
ERROR_FIELDS = ("tactic", "logprob", "outcome", "message", "latency_s", "rollout")
PROVED = -1
"""The index that stands for the proved terminal in edges and ``proof_path``."""


@dataclass(frozen=True)
class TreeError:
    """A tactic that failed on a state (it made no node)."""

    tactic: str
    logprob: float
    outcome: str
    message: str
    latency_s: float
    rollout: bool = False


@dataclass(frozen=True)
class TreeNode:
    """One proof state. ``expanded`` is its rank among expansions (0 first), ``None`` if never
    expanded; ``key`` is ``None`` when it equals the goals joined by blank lines."""

    goals: tuple[str, ...]
    key: str | None
    parent: int
    status: str
    depth: int
    cumulative_logprob: float
    logprob: float
    score: float | None
    expanded: int | None
    rollout: bool
    errors: tuple[TreeError, ...] = ()


@dataclass(frozen=True)
class TreeEdge:
    """A tactic that reached a state (``target`` a node index) or proved (``target == -1``)."""

    source: int
    target: int
    tactic: str
    logprob: float
    latency_s: float
    rollout: bool = False


@dataclass(frozen=True)
class TreeDoc:
    """A search tree with its result: what the viewer draws."""

    theorem: str
    nodes: tuple[TreeNode, ...]
    edges: tuple[TreeEdge, ...]
    proof_path: tuple[int, ...] = ()
    status: str = ""
    proof: tuple[str, ...] | None = None
    message: str | None = None
    stats: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    attempt: int = 0


def _number(value: float | None) -> float | None:
    """``value`` as JSON can hold it: non-finite numbers become ``None``."""
    return value if value is not None and math.isfinite(value) else None


def _ms(seconds: float) -> float:
    """Latencies to the microsecond: more digits are noise and cost bytes."""
    return round(float(seconds), 6)


def doc_from_tree(tree: SearchTree, result: SearchResult | None = None, *,
                  attempt: int = 0) -> TreeDoc:
    """The :class:`TreeDoc` of ``tree`` (and of its search's ``result``, when given)."""
    import networkx as nx

    views = list(tree.nodes())
    index = {view.state.key: i for i, view in enumerate(views)}
    expanded = {key: rank for rank, key in enumerate(tree.expansion_order)}
    graph = tree.graph
    nodes = []
    for view in views:
        key = view.state.key
        attrs = graph.nodes[key]
        nodes.append(TreeNode(
            goals=view.state.goals, key=None if key == view.state.pp else key,
            parent=index[view.parent.state.key] if view.parent is not None else -1,
            status=attrs["status"], depth=view.depth,
            cumulative_logprob=view.cumulative_logprob, logprob=view.logprob,
            score=_number(tree.scores.get(key)), expanded=expanded.get(key),
            rollout=bool(attrs["rollout"]),
            errors=tuple(TreeError(e["tactic"], e["logprob"], e["outcome"], e["message"],
                                   _ms(e["latency_s"]), bool(e["rollout"]))
                         for e in tree.errors(key))))

    def at(key: str) -> int:
        return PROVED if key == PROVED_KEY else index[key]

    edges = tuple(TreeEdge(at(a), at(b), data.tactic, data.logprob, _ms(data.latency_s),
                           bool(data.rollout))
                  for a, b, data in ((a, b, d["data"]) for a, b, d in graph.edges(data=True)))
    path: tuple[int, ...] = ()
    if tree.proved:
        path = tuple(at(k) for k in nx.shortest_path(graph, tree.root_key, PROVED_KEY))
    if result is None:
        return TreeDoc("", tuple(nodes), edges, path, attempt=attempt)
    return TreeDoc(result.theorem, tuple(nodes), edges, path, result.status, result.proof,
                   result.message, result.stats.to_dict(), attempt)


def doc_to_json(doc: TreeDoc) -> dict[str, Any]:
    """The JSON object of ``doc`` (see the module docstring)."""
    goal_ids: dict[str, int] = {}

    def goal_id(text: str) -> int:
        return goal_ids.setdefault(text, len(goal_ids))

    nodes = [[[goal_id(g) for g in n.goals], n.key, n.parent, n.status, n.depth,
              _number(n.cumulative_logprob), _number(n.logprob), _number(n.score), n.expanded,
              int(n.rollout),
              [[e.tactic, _number(e.logprob), e.outcome, e.message, e.latency_s,
                int(e.rollout)] for e in n.errors]]
             for n in doc.nodes]
    edges = [[e.source, e.target, e.tactic, _number(e.logprob), e.latency_s,
              int(e.rollout)] for e in doc.edges]
    return {"format": FORMAT, "theorem": doc.theorem, "attempt": doc.attempt,
            "status": doc.status, "proof": list(doc.proof) if doc.proof is not None else None,
            "message": doc.message, "stats": {k: _clean(v) for k, v in doc.stats.items()},
            "proof_path": list(doc.proof_path), "goals": list(goal_ids),
            "node_fields": list(NODE_FIELDS), "edge_fields": list(EDGE_FIELDS),
            "error_fields": list(ERROR_FIELDS), "nodes": nodes, "edges": edges}


def _clean(value: Any) -> Any:
    return _number(value) if isinstance(value, float) else value


def _float(value: Any) -> float:
    return -math.inf if value is None else float(value)


def doc_from_json(data: Mapping[str, Any], *, source: str = "<tree>") -> TreeDoc:
    """Read back :func:`doc_to_json`'s object; a malformed one is a DataFormatError naming
    ``source``. Non-finite numbers come back as ``-inf`` (scores: ``None``)."""
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise DataFormatError(f"{source}: not a search tree in format {FORMAT!r}")
    try:
        goals = list(data["goals"])
        nodes = tuple(
            TreeNode(tuple(goals[g] for g in n[0]), n[1], int(n[2]), str(n[3]), int(n[4]),
                     _float(n[5]), _float(n[6]), None if n[7] is None else float(n[7]),
                     None if n[8] is None else int(n[8]), bool(n[9]),
                     tuple(TreeError(str(e[0]), _float(e[1]), str(e[2]), str(e[3]),
                                     float(e[4]), bool(e[5])) for e in n[10]))
            for n in data["nodes"])
        edges = tuple(TreeEdge(int(e[0]), int(e[1]), str(e[2]), _float(e[3]), float(e[4]),
                               bool(e[5])) for e in data["edges"])
        proof = data.get("proof")
        _check_indices(nodes, edges, source)
        return TreeDoc(str(data.get("theorem", "")), nodes, edges,
                       tuple(int(i) for i in data.get("proof_path", ())),
                       str(data.get("status", "")),
                       tuple(proof) if proof is not None else None, data.get("message"),
                       dict(data.get("stats") or {}), int(data.get("attempt", 0)))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise DataFormatError(f"{source}: malformed search tree: {exc!r}") from exc


def _check_indices(nodes: Sequence[TreeNode], edges: Sequence[TreeEdge], source: str) -> None:
    """Indices must point at nodes (the viewer would draw nonsense, or nothing)."""
    n = len(nodes)
    bad: list[object] = [(e.source, e.target) for e in edges
                         if not (0 <= e.source < n and (e.target == PROVED or 0 <= e.target < n))]
    bad += [i for i, node in enumerate(nodes) if not -1 <= node.parent < n]
    if bad:
        raise DataFormatError(f"{source}: node indices out of range: {bad[:3]!r}")


def dumps(doc: TreeDoc) -> str:
    """``doc`` as one line of compact JSON."""
    return json.dumps(doc_to_json(doc), ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False)


def tree_filename(theorem: str, attempt: int) -> str:
    """The file name of an attempt's tree in a run's ``trees/`` directory: the theorem name
    made safe for any file system (with a hash of the real name when it had to change)."""
    safe = re.sub(r"[^\w.\-]", "_", theorem, flags=re.ASCII)[:120].lstrip(".") or "_"
    if safe != theorem:
        safe += "-" + hashlib.sha1(theorem.encode("utf-8")).hexdigest()[:8]
    return f"{safe}.{attempt}.json"


TREES_DIR = "trees"
"""The directory of a run directory that holds one tree file per attempt."""


def write_tree(path: str | Path, doc: TreeDoc) -> None:
    """Write ``doc`` to ``path`` atomically (a reader never sees half a tree)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(dumps(doc), encoding="utf-8")
    os.replace(tmp, target)


ROW_TREE_KEY = "_tree"
"""The key under which a result row carries its tree from the search to the run directory
(:func:`keep_row_tree` takes it out before the row is written)."""


def row_tree(result: SearchResult, attempt: int) -> dict[str, Any] | None:
    """The JSON object of ``result``'s tree to carry in its row (``None``: no tree)."""
    if result.tree is None:
        return None
    return doc_to_json(doc_from_tree(result.tree, result, attempt=attempt))


def keep_row_tree(run_dir: str | Path, row: dict[str, Any]) -> Path | None:
    """Take the tree out of ``row`` and write it to ``RUN_DIR/trees/`` (before the row is
    written, so that every row of results.jsonl finds its tree after a crash too); a row with
    no tree removes a stale file of the same attempt (one an earlier error row's rerun left).
    Returns the tree file written, if any."""
    data = row.pop(ROW_TREE_KEY, None)
    path = Path(run_dir) / TREES_DIR / tree_filename(str(row.get("theorem", "")),
                                                     int(row.get("attempt", 0)))
    if data is None:
        path.unlink(missing_ok=True)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":"),
                              allow_nan=False), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_tree(path: str | Path) -> TreeDoc:
    """Read a tree file written by :func:`write_tree`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: not JSON: {exc}") from exc
    return doc_from_json(data, source=str(path))


def proof_tactics(doc: TreeDoc) -> list[str]:
    """The tactics along ``doc.proof_path`` (each edge's own tactic, in order)."""
    by_pair = {(e.source, e.target): e.tactic for e in doc.edges}
    return [by_pair[(a, b)] for a, b in itertools.pairwise(doc.proof_path)
            if (a, b) in by_pair]


__all__ = ["FORMAT", "PROVED", "ROW_TREE_KEY", "TREES_DIR", "TreeDoc", "TreeEdge", "TreeError",
           "TreeNode", "doc_from_json", "doc_from_tree", "doc_to_json", "dumps", "keep_row_tree",
           "proof_tactics", "read_tree", "row_tree", "tree_filename", "write_tree"]
