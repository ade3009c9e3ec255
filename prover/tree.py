"""The search tree: a DAG of proof states on a ``networkx.DiGraph``.

Nodes are keyed by :attr:`ProofState.key`, so a second path to the same state adds an edge, not a
node (as in ReProver). Every proof edge leads to one terminal node, :data:`PROVED_KEY`. Failed
tactics are not nodes: they are kept on their parent's ``errors`` list. The tree owns status
propagation and proof extraction so that the search loop stays short.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import networkx as nx

from prover.types import (
    PROVED_KEY,
    Candidate,
    Outcome,
    ProofState,
    Proved,
    SearchNode,
    StateReached,
    outcome_kind,
)

Status = Literal["open", "proved", "failed"]

_UNUSED: tuple[()] = ()
"""What a node's ``tried`` and ``errors`` hold until its first tactic or error: most nodes stay
unexpanded leaves, and an empty set and list for each were 14% of the tree's memory and two more
objects per node for the garbage collector to scan."""


@dataclass(frozen=True)
class Edge:
    """A successful tactic application stored on a graph edge."""

    tactic: str
    logprob: float
    outcome: str
    latency_s: float
    rollout: bool = False


class SearchTree:
    """The states a search has reached and the tactics between them."""

    def __init__(self, root: ProofState) -> None:
        if root.key == PROVED_KEY:
            raise ValueError(f"a root state may not have the key {PROVED_KEY!r}: it is the "
                             f"search tree's proved terminal")
        self.graph: nx.DiGraph = nx.DiGraph()
        self.root_key = root.key
        self._counter = 0
        # key -> the graph's own attribute dict of that node (the same object, so edits through
        # ``graph.nodes`` show here): the hot paths skip ``graph.nodes[key]``, whose view costs
        # three times a dict lookup.
        self._attrs: dict[str, dict[str, Any]] = {}
        # For the viewer: the heuristic's score of each state pushed on the frontier, and the
        # states in the order they were expanded (plain containers, not per-node attributes,
        # so that unscored leaves cost nothing).
        self.scores: dict[str, float] = {}
        self.expansion_order: list[str] = []
        self._add_node(SearchNode(root))
        self.graph.add_node(PROVED_KEY, status="proved", expanded=True, order=-1, view=None,
                            errors=[], tried=set(), rollout=False)
        self._attrs[PROVED_KEY] = self.graph.nodes[PROVED_KEY]

    # ---- queries -------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of proof states (the terminal proved node is not counted)."""
        return int(self.graph.number_of_nodes()) - 1

    def __contains__(self, key: object) -> bool:
        return key in self._attrs and key != PROVED_KEY

    @property
    def root(self) -> SearchNode:
        return self.node(self.root_key)

    def node(self, key: str) -> SearchNode:
        view: SearchNode = self._attrs[key]["view"]
        return view

    def status(self, key: str) -> Status:
        status: Status = self._attrs[key]["status"]
        return status

    def expandable(self, key: str) -> bool:
        """Whether ``key`` is open and not yet expanded (what the frontier may pop)."""
        attrs = self._attrs[key]
        return attrs["status"] == "open" and not attrs["expanded"]

    @property
    def proved(self) -> bool:
        return self.status(self.root_key) == "proved"

    def nodes(self) -> Iterator[SearchNode]:
        """Every state node in creation order."""
        keys = sorted((k for k in self.graph.nodes if k != PROVED_KEY),
                      key=lambda k: self.graph.nodes[k]["order"])
        return (self.node(k) for k in keys)

    def tried(self, key: str, tactic: str) -> bool:
        """Whether ``tactic`` was already applied to the state ``key``."""
        return tactic in self._attrs[key]["tried"]

    def errors(self, key: str) -> list[dict[str, Any]]:
        """The failed tactics tried on ``key``: dicts of tactic, logprob, outcome, message,
        latency_s, rollout."""
        errors = self._attrs[key]["errors"]
        return errors if isinstance(errors, list) else []

    # ---- updates -------------------------------------------------------------------------
    def _add_node(self, view: SearchNode, rollout: bool = False) -> None:
        key = view.state.key
        self.graph.add_node(key, view=view, status="open", expanded=False,
                            order=self._counter, errors=_UNUSED, tried=_UNUSED, rollout=rollout)
        self._attrs[key] = self.graph.nodes[key]
        self._counter += 1

    def add_outcome(self, parent_key: str, candidate: Candidate, outcome: Outcome,
                    latency_s: float = 0.0, *, rollout: bool = False) -> SearchNode | None:
        """Record applying ``candidate`` to ``parent_key``; returns the node if it is new.

        A state seen before gets an edge to the existing node (unless that would close a cycle
        or the state did not change, which are recorded as errors). The new node's path data
        (depth, logprob, tactics) come from the path that first reached it.
        """
        parent_attrs = self._attrs[parent_key]
        parent: SearchNode = parent_attrs["view"]
        tried = parent_attrs["tried"]
        if tried is _UNUSED:
            tried = parent_attrs["tried"] = set()
        tried.add(candidate.tactic)
        if isinstance(outcome, Proved):
            if not self.graph.has_edge(parent_key, PROVED_KEY):
                self.graph.add_edge(parent_key, PROVED_KEY, data=Edge(
                    candidate.tactic, candidate.logprob, "proved", latency_s, rollout))
            self._propagate_proved(parent_key)
            return None
        if not isinstance(outcome, StateReached):
            self._record_error(parent_key, candidate, outcome_kind(outcome),
                               getattr(outcome, "message", ""), latency_s, rollout)
            return None
        child_key = outcome.state.key
        edge = Edge(candidate.tactic, candidate.logprob, "state", latency_s, rollout)
        if child_key in self._attrs:
            if child_key == PROVED_KEY:  # an open state posing as the terminal: no proof
                self._record_error(parent_key, candidate, "error",
                                   f"state key {PROVED_KEY!r} is reserved", latency_s, rollout)
            elif child_key == parent_key:
                self._record_error(parent_key, candidate, "no_progress", "state unchanged",
                                   latency_s, rollout)
            elif self._reaches(child_key, parent_key):
                self._record_error(parent_key, candidate, "cycle",
                                   "leads back to an ancestor state", latency_s, rollout)
            elif not self.graph.has_edge(parent_key, child_key):
                self.graph.add_edge(parent_key, child_key, data=edge)
                status = self.status(child_key)
                if status == "proved":
                    self._propagate_proved(parent_key)
                elif status == "open":
                    self._reopen(parent_key)
            return None
        view = SearchNode(
            state=outcome.state,
            depth=parent.depth + 1,
            cumulative_logprob=parent.cumulative_logprob + candidate.logprob,
            tactics=(*parent.tactics, candidate.tactic),
            parent=parent,
            logprob=candidate.logprob,
        )
        self._add_node(view, rollout=rollout)
        self.graph.add_edge(parent_key, child_key, data=edge)
        self._reopen(parent_key)
        return view

    def _reaches(self, source: str, target: str) -> bool:
        """Whether a path leads from ``source`` to ``target`` (the edge back would close a cycle).
        A source with no children or a target with no parents (the root) is answered at once."""
        graph = self.graph
        if not graph.succ[source] or not graph.pred[target]:
            return False
        return bool(nx.has_path(graph, source, target))

    def _record_error(self, key: str, candidate: Candidate, kind: str, message: str,
                      latency_s: float, rollout: bool) -> None:
        attrs = self._attrs[key]
        if attrs["errors"] is _UNUSED:
            attrs["errors"] = []
        attrs["errors"].append({"tactic": candidate.tactic, "logprob": candidate.logprob,
                                "outcome": kind, "message": message,
                                "latency_s": latency_s, "rollout": rollout})

    def mark_expanded(self, key: str) -> None:
        """Record that ``key`` was fully expanded; a node whose children all failed fails."""
        self._attrs[key]["expanded"] = True
        self.expansion_order.append(key)
        self._propagate_failed(key)

    def _propagate_proved(self, key: str) -> None:
        stack = [key]
        while stack:
            current = stack.pop()
            attrs = self._attrs[current]
            if attrs["status"] == "proved":
                continue
            attrs["status"] = "proved"
            stack.extend(self.graph.predecessors(current))

    def _reopen(self, key: str) -> None:
        # A rollout may add a live child to a node the search already saw fail.
        stack = [key]
        while stack:
            current = stack.pop()
            attrs = self._attrs[current]
            if attrs["status"] == "failed":
                attrs["status"] = "open"
                stack.extend(self.graph.predecessors(current))

    def _propagate_failed(self, key: str) -> None:
        stack = [key]
        while stack:
            current = stack.pop()
            attrs = self._attrs[current]
            if attrs["status"] != "open" or not attrs["expanded"]:
                continue
            if all(self._attrs[child]["status"] == "failed"
                   for child in self.graph.successors(current)):
                attrs["status"] = "failed"
                stack.extend(self.graph.predecessors(current))

    # ---- results -------------------------------------------------------------------------
    def extract_proof(self) -> tuple[str, ...] | None:
        """The shortest proof (fewest tactics) from the root, or None if not proved."""
        if not self.proved:
            return None
        return tuple(edge.tactic for edge in self.proof_edges())

    def proof_edges(self) -> list[Edge]:
        """The edges of :meth:`extract_proof`'s path (empty if not proved)."""
        if not self.proved:
            return []
        path = nx.shortest_path(self.graph, self.root_key, PROVED_KEY)
        return [self.graph.edges[a, b]["data"] for a, b in itertools.pairwise(path)]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: nodes (creation order) and edges."""
        nodes = []
        for view in self.nodes():
            attrs = self.graph.nodes[view.state.key]
            nodes.append({"key": view.state.key, "goals": list(view.state.goals),
                          "status": attrs["status"], "expanded": attrs["expanded"],
                          "depth": view.depth, "cumulative_logprob": view.cumulative_logprob,
                          "rollout": attrs["rollout"], "errors": list(attrs["errors"])})
        edges = [{"source": a, "target": b, **self.graph.edges[a, b]["data"].__dict__}
                 for a, b in self.graph.edges]
        return {"root": self.root_key, "proved_key": PROVED_KEY, "nodes": nodes, "edges": edges}

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1),
                              encoding="utf-8")

    def write_graphml(self, path: str | Path) -> None:
        """GraphML for Gephi/yEd: scalar attributes only (goals joined, errors counted)."""
        out: nx.DiGraph = nx.DiGraph()
        for key, attrs in self.graph.nodes(data=True):
            view = attrs["view"]
            out.add_node(key, status=attrs["status"], expanded=attrs["expanded"],
                         depth=view.depth if view else -1,
                         cumulative_logprob=view.cumulative_logprob if view else 0.0,
                         num_goals=view.state.num_goals if view else 0,
                         errors=len(attrs["errors"]), rollout=attrs["rollout"])
        for a, b, attrs in self.graph.edges(data=True):
            edge: Edge = attrs["data"]
            out.add_edge(a, b, **edge.__dict__)
        nx.write_graphml(out, str(path))

    def check_invariants(self) -> None:
        """Raise AssertionError if the tree is inconsistent (used by the tests)."""
        g = self.graph
        if not nx.is_directed_acyclic_graph(g):
            raise AssertionError("search graph has a cycle")
        if g.in_degree(self.root_key) != 0:
            raise AssertionError("root has a parent")
        if g.out_degree(PROVED_KEY) != 0:
            raise AssertionError("the proved terminal has children")
        reachable = nx.descendants(g, self.root_key) | {self.root_key}
        if set(g.nodes) - reachable - {PROVED_KEY}:
            raise AssertionError("nodes unreachable from the root")
        orders = [g.nodes[k]["order"] for k in g.nodes if k != PROVED_KEY]
        if len(set(orders)) != len(orders):
            raise AssertionError("duplicate creation order")
        for key in g.nodes:
            if key == PROVED_KEY:
                continue
            attrs = g.nodes[key]
            view: SearchNode = attrs["view"]
            if view.state.key != key:
                raise AssertionError(f"node {key!r} holds state with key {view.state.key!r}")
            if view.parent is not None and not g.has_edge(view.parent.state.key, key):
                raise AssertionError(f"node {key!r} has no edge from its recorded parent")
            if view.depth != len(view.tactics):
                raise AssertionError(f"node {key!r}: depth {view.depth} != path length")
            children = list(g.successors(key))
            proved_child = any(g.nodes[c]["status"] == "proved" for c in children)
            if (attrs["status"] == "proved") != proved_child:
                raise AssertionError(f"node {key!r}: status {attrs['status']} but proved "
                                     f"child={proved_child}")
            if attrs["status"] == "failed":
                if not attrs["expanded"] or any(g.nodes[c]["status"] != "failed"
                                                for c in children):
                    raise AssertionError(f"node {key!r} failed with a live child")
            for child in children:
                edge = g.edges[key, child]["data"]
                if edge.tactic not in attrs["tried"]:
                    raise AssertionError(f"edge tactic {edge.tactic!r} not marked as tried")
        proof = self.extract_proof()
        if self.proved and not proof:
            raise AssertionError("proved root without a proof path")


__all__ = ["Edge", "SearchTree", "Status"]
