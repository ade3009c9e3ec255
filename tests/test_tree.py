"""SearchTree: status propagation, proof extraction, exports, invariants."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

from prover import Candidate, ProofState, Proved, SearchTree, StateReached, TacticError
from prover.types import PROVED_KEY


def st(name: str, n: int = 1) -> ProofState:
    return ProofState(tuple(f"⊢ {name}{i}" for i in range(n)))


def test_failure_propagates_only_when_every_child_failed() -> None:
    tree = SearchTree(st("r"))
    a = tree.add_outcome(tree.root_key, Candidate("a", -1), StateReached(st("a")))
    b = tree.add_outcome(tree.root_key, Candidate("b", -2), StateReached(st("b")))
    assert a is not None and b is not None
    tree.add_outcome(tree.root_key, Candidate("c", -3), TacticError("nope"))
    tree.mark_expanded(tree.root_key)
    assert tree.status(tree.root_key) == "open"
    tree.mark_expanded(a.state.key)
    assert tree.status(a.state.key) == "failed" and tree.status(tree.root_key) == "open"
    tree.mark_expanded(b.state.key)
    assert tree.status(tree.root_key) == "failed"
    tree.check_invariants()


def test_proof_propagates_and_shortest_proof_is_extracted() -> None:
    tree = SearchTree(st("r"))
    a = tree.add_outcome(tree.root_key, Candidate("a", -1), StateReached(st("a")))
    b = tree.add_outcome(a.state.key, Candidate("b", -1), StateReached(st("b")))  # type: ignore[union-attr]
    tree.add_outcome(b.state.key, Candidate("long", -1), Proved())  # type: ignore[union-attr]
    assert tree.proved and tree.extract_proof() == ("a", "b", "long")
    tree.add_outcome(a.state.key, Candidate("short", -5), Proved())  # type: ignore[union-attr]
    assert tree.extract_proof() == ("a", "short")
    tree.check_invariants()


def test_live_child_reopens_a_failed_node() -> None:
    tree = SearchTree(st("r"))
    tree.mark_expanded(tree.root_key)
    assert tree.status(tree.root_key) == "failed"
    tree.add_outcome(tree.root_key, Candidate("late", 0), StateReached(st("x")))
    assert tree.status(tree.root_key) == "open"
    tree.check_invariants()


def test_exports(tmp_path: Path) -> None:
    tree = SearchTree(st("r", 2))
    a = tree.add_outcome(tree.root_key, Candidate("a", -1), StateReached(st("a")))
    tree.add_outcome(a.state.key, Candidate("b", -1), Proved())  # type: ignore[union-attr]
    data = tree.to_json()
    assert data["root"] == tree.root_key and len(data["nodes"]) == 2
    assert {(e["source"], e["target"], e["tactic"]) for e in data["edges"]} == {
        (tree.root_key, a.state.key, "a"), (a.state.key, PROVED_KEY, "b")}  # type: ignore[union-attr]
    tree.write_json(tmp_path / "t.json")
    tree.write_graphml(tmp_path / "t.graphml")
    back = nx.read_graphml(tmp_path / "t.graphml")
    assert back.number_of_edges() == 2 and back.nodes[tree.root_key]["num_goals"] == 2


def test_check_invariants_catches_corruption() -> None:
    tree = SearchTree(st("r"))
    a = tree.add_outcome(tree.root_key, Candidate("a", -1), StateReached(st("a")))
    tree.graph.nodes[a.state.key]["status"] = "proved"  # type: ignore[union-attr]
    with pytest.raises(AssertionError):
        tree.check_invariants()


def test_tried_and_errors_of_untouched_and_used_nodes() -> None:
    tree = SearchTree(st("r"))
    a = tree.add_outcome(tree.root_key, Candidate("a", -1), StateReached(st("a")))
    assert a is not None
    # a leaf: nothing tried, no errors, and a query gives a fresh empty list each time
    assert not tree.tried(a.state.key, "x") and tree.errors(a.state.key) == []
    tree.errors(a.state.key).append({"tactic": "junk"})
    assert tree.errors(a.state.key) == []
    tree.add_outcome(a.state.key, Candidate("bad", -2), TacticError("nope"))
    tree.add_outcome(a.state.key, Candidate("worse", -3), TacticError("no"))
    assert tree.tried(a.state.key, "bad") and tree.tried(a.state.key, "worse")
    assert [e["tactic"] for e in tree.errors(a.state.key)] == ["bad", "worse"]
    assert tree.to_json()["nodes"][0]["errors"] == []
    # the graph's attribute dicts are the tree's own: an edit through graph.nodes is seen
    tree.graph.nodes[a.state.key]["status"] = "failed"
    assert tree.status(a.state.key) == "failed" and not tree.expandable(a.state.key)


def test_a_state_keyed_like_the_proved_terminal_is_not_a_proof() -> None:
    tree = SearchTree(st("r"))
    impostor = ProofState(("⊢ still open",), key=PROVED_KEY)
    assert tree.add_outcome(tree.root_key, Candidate("trick", 0), StateReached(impostor)) is None
    assert not tree.proved and tree.extract_proof() is None
    assert [e["outcome"] for e in tree.errors(tree.root_key)] == ["error"]
    tree.check_invariants()
    with pytest.raises(ValueError, match="proved terminal"):
        SearchTree(impostor)


def test_goals_given_as_one_string_are_refused() -> None:
    with pytest.raises(TypeError, match="not the string"):
        ProofState("⊢ p ∧ q")  # type: ignore[arg-type]
    assert ProofState(["⊢ p", "⊢ q"]).num_goals == 2  # type: ignore[arg-type]
