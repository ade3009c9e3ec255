"""Ordering the frontier by predicted distance to a proof (LeanProgress).

A node is scored by the edge that reached it: the model reads the parent's state, the tactics
before the edge and the edge's tactic, and predicts how many tactics the proof still needs
after it. The score trades that against the path's log-probability::

    score = logprob_weight * cumulative_logprob - weight * predicted_steps

``logprob_weight=0`` orders by progress alone. The root has no edge: it gets 0 steps.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from prover.errors import ConfigError

if TYPE_CHECKING:
    from prover.types import SearchNode

ProgressQuery = tuple[str, str, str]
"""``(goal, prefix, tactic)``: the state before the tactic, earlier tactics joined by newlines,
the tactic."""

DEFAULT_STEP_WEIGHT = 1.0
"""Log-prob units (nats) charged per predicted remaining step: each step costs as much as a
tactic of probability 1/e, so the score reads as an A*-style estimate of the whole proof's
log-probability. Our choice (the LeanProgress paper gives no weight we could check); tune it
with the benchmark runner."""


@runtime_checkable
class ProgressPredictor(Protocol):
    """What :class:`ProgressHeuristic` needs of a model (:class:`ProgressScorer` is one).

    ``predict`` is synchronous (the heuristic runs it in a worker thread), takes a batch of
    queries and returns one non-negative step count per query, in order.
    """

    def predict(self, queries: Sequence[ProgressQuery]) -> list[float]: ...


def edge_query(node: SearchNode) -> ProgressQuery | None:
    """The query for the edge that reached ``node``; ``None`` for the root."""
    if node.parent is None or node.tactic is None:
        return None
    return node.parent.state.pp, "\n".join(node.tactics[:-1]), node.tactic


class ProgressHeuristic:
    """``logprob_weight * cumulative_logprob - weight * predicted_steps`` (higher first).

    ``scorer`` is a :class:`ProgressPredictor`, usually a
    :class:`~heuristics.progress.scorer.ProgressScorer`. Each :meth:`score` call (one
    expansion's new nodes) makes one ``predict`` call for all its nodes, off the event loop.
    """

    def __init__(self, scorer: ProgressPredictor, weight: float = DEFAULT_STEP_WEIGHT,
                 logprob_weight: float = 1.0) -> None:
        for name, value in (("weight", weight), ("logprob_weight", logprob_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ConfigError(f"ProgressHeuristic.{name} must be a finite number >= 0, "
                                  f"got {value!r}")
        if weight == 0 and logprob_weight == 0:
            raise ConfigError("ProgressHeuristic: weight and logprob_weight are both 0, so "
                              "every node would score the same")
        if not callable(getattr(scorer, "predict", None)):
            raise ConfigError(f"scorer must have a predict(queries) method, got {scorer!r}")
        self.scorer = scorer
        self.weight = float(weight)
        self.logprob_weight = float(logprob_weight)

    async def score(self, nodes: Sequence[SearchNode]) -> list[float]:
        queries: list[ProgressQuery] = []
        positions: list[int] = []
        for index, node in enumerate(nodes):
            query = edge_query(node)
            if query is not None:
                queries.append(query)
                positions.append(index)
        steps = [0.0] * len(nodes)
        if queries and self.weight:
            predicted = await asyncio.to_thread(self.scorer.predict, queries)
            if len(predicted) != len(queries):
                raise ValueError(f"{self.scorer!r} returned {len(predicted)} predictions for "
                                 f"{len(queries)} queries")
            for index, value in zip(positions, predicted):
                if math.isnan(value):
                    raise ValueError(f"{self.scorer!r} predicted NaN steps")
                steps[index] = max(0.0, float(value))
        return [self.logprob_weight * node.cumulative_logprob - self.weight * step
                for node, step in zip(nodes, steps)]

    def __repr__(self) -> str:
        return (f"ProgressHeuristic({self.scorer!r}, weight={self.weight}, "
                f"logprob_weight={self.logprob_weight})")


__all__ = ["DEFAULT_STEP_WEIGHT", "ProgressHeuristic", "ProgressPredictor", "ProgressQuery",
           "edge_query"]
