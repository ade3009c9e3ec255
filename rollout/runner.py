"""The rollout runner: short greedy or sampled walks from a state at a segment boundary.

The search owns the tree, the budgets and the calls to the environment and generator; it hands
the runner a :class:`RolloutHost` view of itself. Every step the runner takes goes through the
host, so it is an ordinary tree edge that the search can later expand from.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from rollout.config import RolloutConfig, choose_candidate

if TYPE_CHECKING:
    from prover.types import Candidate, SearchNode


class RolloutHost(Protocol):
    """What the runner needs from the search it runs inside."""

    def rollout_started(self) -> None:
        """Count one rollout (called as it starts, so a cancelled one still counts)."""
        ...

    async def rollout_propose(self, node: SearchNode, k: int) -> Sequence[Candidate]:
        """Candidates for ``node`` (no banned tactics; tactics the search already tried there
        are kept, and :meth:`rollout_step` follows their edge instead of applying them again)."""
        ...

    async def rollout_step(self, node: SearchNode, candidate: Candidate
                           ) -> tuple[SearchNode | None, bool]:
        """Apply ``candidate`` to ``node`` as a rollout edge (or follow its edge if the search
        already tried it there); return the node it reached if the rollout can go on from it
        (an open state not yet expanded, possibly created by the main loop a moment ago), else
        ``None`` (a proof, an error, a cycle, a dead or already expanded state), and whether
        the rollout may go on (budget and time left, not yet proved)."""
        ...


async def run_rollouts(host: RolloutHost, start: SearchNode, config: RolloutConfig,
                       rng: random.Random, num_candidates: int) -> None:
    """Run ``config.probes`` rollouts from ``start``, one after the other.

    Greedy probes take the ``i``-th best first candidate and the best one after that; sampled
    probes draw every step. A rollout stops at a proof, an error, a state the search already
    expanded, the next segment boundary (``stop_at_boundary``) or after ``config.depth`` steps.
    """
    first_k = config.probes if config.mode == "greedy" else num_candidates
    later_k = 1 if config.mode == "greedy" else num_candidates
    first = await host.rollout_propose(start, first_k)
    for probe in range(config.probes):
        candidate = choose_candidate(first, config, rng, rank=probe)
        node = start
        if candidate is None:
            break
        host.rollout_started()
        for depth in range(1, config.depth + 1):
            child, may_continue = await host.rollout_step(node, candidate)
            if child is None or not may_continue or depth == config.depth:
                break
            if config.stop_at_boundary and child.state.num_goals != node.state.num_goals:
                break
            node = child
            candidate = choose_candidate(await host.rollout_propose(node, later_k), config, rng)
            if candidate is None:
                break


__all__ = ["RolloutHost", "run_rollouts"]
