"""The search's side of goal-aware rollouts: it starts them beside the main loop, gives them a
budget share, and lets every rollout step through the search's own generator calls, tactic
runner and tree (so a rollout edge is an ordinary edge the main loop can expand from)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from prover.search.apply import Step, TacticRunner
from prover.search.counters import SearchCounters
from prover.tree import SearchTree
from prover.types import Candidate, SearchNode, StateReached

if TYPE_CHECKING:  # rollout imports prover: import it where used
    from rollout.config import RolloutConfig


class SearchView(Protocol):
    """What the rollouts need from the run they belong to."""

    tree: SearchTree
    n: SearchCounters
    runner: TacticRunner

    def remaining(self) -> float: ...

    def generator_budget_left(self) -> int: ...

    def allowed(self, node: SearchNode, candidate: Candidate) -> bool: ...

    async def propose(self, node: SearchNode, k: int, *, rollout: bool
                      ) -> list[Candidate] | None: ...

    def record(self, steps: Iterable[Step], *, rollout: bool) -> list[SearchNode]: ...

    async def push(self, nodes: Sequence[SearchNode]) -> None: ...

    def wake(self) -> None: ...


class Rollouts:
    """The rollouts of one run (a :class:`rollout.runner.RolloutHost`): started by
    :meth:`spawn`, ended by :meth:`stop`; the first exception of one is kept in ``failure``
    for the main loop to raise."""

    def __init__(self, run: SearchView, config: RolloutConfig, max_expansions: int,
                 num_candidates: int) -> None:
        self.run = run
        self.config = config
        self.share = int(config.budget_share * max_expansions)
        self.num_candidates = num_candidates
        self.rng = random.Random(config.seed)
        self.tasks: set[asyncio.Task[None]] = set()
        self.failure: BaseException | None = None

    def budget_left(self) -> bool:
        run = self.run
        return (run.n.rollout_generator_calls < self.share and run.generator_budget_left() > 0
                and not run.tree.proved and run.remaining() > 0)

    def spawn(self, start: SearchNode) -> None:
        if not self.budget_left():
            return
        task = asyncio.ensure_future(self._run(start))
        self.tasks.add(task)
        task.add_done_callback(self._done)

    async def _run(self, start: SearchNode) -> None:
        from rollout.runner import run_rollouts

        await run_rollouts(self, start, self.config, self.rng, self.num_candidates)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.run.wake()
        if not task.cancelled() and task.exception() is not None and self.failure is None:
            self.failure = task.exception()

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    # ---- RolloutHost -----------------------------------------------------------------------
    def rollout_started(self) -> None:
        self.run.n.rollouts += 1

    async def rollout_propose(self, node: SearchNode, k: int) -> list[Candidate]:
        if not self.budget_left():
            return []
        candidates = await self.run.propose(node, k, rollout=True)
        # Tried tactics stay: rollout_step follows their edge (the main loop often expands the
        # rollout's start node at once, so a filtered best tactic would end most rollouts).
        tree = self.run.tree
        return [c for c in candidates or []
                if self.run.allowed(node, c) or tree.tried(node.state.key, c.tactic)]

    async def rollout_step(self, node: SearchNode, candidate: Candidate
                           ) -> tuple[SearchNode | None, bool]:
        run, key = self.run, node.state.key
        if run.tree.tried(key, candidate.tactic):
            targets = [child for child in run.tree.graph.successors(key)
                       if run.tree.graph.edges[key, child]["data"].tactic == candidate.tactic]
            return self._target(targets[0] if targets else None), self.budget_left()
        steps = await run.runner.apply_candidate(node, candidate, rollout=True)
        run.n.rollout_steps += len(steps)
        await run.push(run.record(steps, rollout=True))
        last = steps[-1].outcome if steps else None
        reached = None
        if (isinstance(last, StateReached)
                and run.tree.graph.has_edge(steps[-1].parent_key, last.state.key)):
            reached = self._target(last.state.key)
        return reached, self.budget_left()

    def _target(self, key: str | None) -> SearchNode | None:
        """The node a rollout goes on from: an open state the search has not expanded yet (it
        may have created it a moment ago); ``None`` for a proof, a dead or expanded state."""
        tree = self.run.tree
        if key is None or key not in tree:
            return None
        return tree.node(key) if tree.expandable(key) else None


__all__ = ["Rollouts", "SearchView"]
