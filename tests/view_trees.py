"""Search trees for the viewer's tests: a small one with every kind of edge, a large one."""

from __future__ import annotations

import random

from prover.tree import SearchTree
from prover.types import Candidate, ProofState, Proved, StateReached, TacticError, TacticTimeout


def small_tree() -> SearchTree:
    """Root -> a (2 goals, rollout fired) -> b -> proved; root -> c (from a rollout);
    c -> b (a second path); failed tactics on the root and on a (one by a rollout)."""
    tree = SearchTree(ProofState(("n : nat\n⊢ n + 0 = n <tag>",)))
    root = tree.root_key
    a = ProofState(("n : nat\n⊢ n + 0 = n", "⊢ 0 = 0"), key="A-key")
    b = ProofState(("n : nat\n⊢ n = n",))
    c = ProofState(("⊢ 0 + 0 = 0",))
    tree.scores[root] = 0.0
    tree.add_outcome(root, Candidate("split_goal", -0.25), StateReached(a), 0.012)
    tree.add_outcome(root, Candidate("bogus </script> tactic", -1.5), TacticError("no such"),
                     0.003)
    tree.add_outcome(root, Candidate("hang", -2.0), TacticTimeout(), 5.0)
    tree.add_outcome(root, Candidate("rollout_step", -0.75), StateReached(c), 0.02,
                     rollout=True)
    tree.mark_expanded(root)
    tree.scores["A-key"] = -0.25
    tree.scores[c.key] = float("-inf")
    tree.add_outcome("A-key", Candidate("rewrite add_0_r", -0.5), StateReached(b), 0.004)
    tree.add_outcome("A-key", Candidate("rollout_fail", -0.9), TacticError("bad"), 0.001,
                     rollout=True)
    tree.mark_expanded("A-key")
    tree.add_outcome(c.key, Candidate("simpl_to_b", -0.1), StateReached(b), 0.002)
    tree.scores[b.key] = -0.75
    tree.add_outcome(b.key, Candidate("reflexivity", -0.05), Proved(), 0.001)
    tree.mark_expanded(b.key)
    return tree


def big_tree(n: int, seed: int = 0) -> SearchTree:
    """A random tree of ``n`` states (plus a proof at the end) with failed tactics and some
    rollout edges, as large searches make."""
    rng = random.Random(seed)
    tree = SearchTree(ProofState(("⊢ big_root_goal",)))
    keys = [tree.root_key]
    for i in range(1, n):
        parent = keys[min(len(keys) - 1, int(rng.expovariate(1 / max(1, len(keys) / 3))))]
        state = ProofState((f"x : nat\n⊢ goal_{i} x", f"⊢ side_{i % 7}")[: 1 + i % 2])
        rollout = i % 17 == 0
        tree.add_outcome(parent, Candidate(f"tac_{i}", -rng.random() * 3),
                         StateReached(state), rng.random() / 50, rollout=rollout)
        tree.scores[state.key] = -rng.random() * 10
        if i % 5 == 0:
            tree.add_outcome(parent, Candidate(f"oops_{i}", -4.0), TacticError("failed"), 0.001)
        keys.append(state.key)
    for key in keys[: n // 2]:
        tree.mark_expanded(key)
    tree.add_outcome(keys[-1], Candidate("needle_closing_tactic", -0.1), Proved(), 0.001)
    return tree
