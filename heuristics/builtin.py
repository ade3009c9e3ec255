"""Built-in heuristics from the literature."""

from __future__ import annotations

import math
from collections.abc import Sequence

from heuristics.base import Heuristic, as_heuristic
from prover.errors import ConfigError
from prover.types import SearchNode


class CumulativeLogProb:
    """Sum of tactic log-probs along the path (ReProver's priority, lean-dojo/ReProver)."""

    async def score(self, nodes: Sequence[SearchNode]) -> list[float]:
        return [node.cumulative_logprob for node in nodes]

    def __repr__(self) -> str:
        return "CumulativeLogProb()"


class NormalizedLogProb:
    """Sum of log-probs divided by ``depth ** alpha`` (BFS-Prover V1, alpha = 0.5).

    The length normalisation lets deep paths compete with shallow ones; the root scores 0.
    """

    def __init__(self, alpha: float = 0.5) -> None:
        if not math.isfinite(alpha) or alpha < 0:
            raise ConfigError(f"alpha must be a finite number >= 0, got {alpha}")
        self.alpha = alpha

    async def score(self, nodes: Sequence[SearchNode]) -> list[float]:
        return [node.cumulative_logprob / node.depth ** self.alpha if node.depth else 0.0
                for node in nodes]

    def __repr__(self) -> str:
        return f"NormalizedLogProb(alpha={self.alpha})"


class Weighted:
    """A weighted sum of heuristics: ``Weighted([(1.0, CumulativeLogProb()), (0.5, h)])``.

    A ``-inf`` from any part with a positive weight makes the node ``-inf`` (never expand).
    Plain callables are lifted with :func:`as_heuristic`.
    """

    def __init__(self, parts: Sequence[tuple[float, object]]) -> None:
        if not parts:
            raise ConfigError("Weighted needs at least one (weight, heuristic) pair")
        self.parts: list[tuple[float, Heuristic]] = []
        for weight, heuristic in parts:
            if not math.isfinite(weight):
                raise ConfigError(f"weights must be finite, got {weight}")
            self.parts.append((float(weight), as_heuristic(heuristic)))  # type: ignore[arg-type]

    async def score(self, nodes: Sequence[SearchNode]) -> list[float]:
        totals = [0.0] * len(nodes)
        for weight, heuristic in self.parts:
            if weight == 0:
                continue
            scores = await heuristic.score(nodes)
            if len(scores) != len(nodes):
                raise ValueError(f"{heuristic!r} returned {len(scores)} scores "
                                 f"for {len(nodes)} nodes")
            for i, value in enumerate(scores):
                totals[i] = -math.inf if value == -math.inf else totals[i] + weight * value
        return totals

    def __repr__(self) -> str:
        return f"Weighted({self.parts!r})"


__all__ = ["CumulativeLogProb", "NormalizedLogProb", "Weighted"]
