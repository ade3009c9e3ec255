"""The heuristic protocol: how the frontier is ordered."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # prover imports this module: keep the runtime import graph acyclic
    from prover.types import SearchNode

NEVER = -math.inf
"""A score that means "never expand this node"."""


@runtime_checkable
class Heuristic(Protocol):
    """Scores new nodes; higher is expanded first, ``-inf`` never.

    ``score`` receives every node created by one expansion at once, so a model-backed heuristic
    makes one batched call per expansion. It must return one float per node, in order.
    """

    async def score(self, nodes: Sequence[SearchNode]) -> list[float]: ...


NodeScoreFn = Callable[["SearchNode"], float]
"""A plain per-node scoring function, lifted by :func:`as_heuristic`."""


class FunctionHeuristic:
    """A heuristic from a plain ``fn(node) -> float``."""

    def __init__(self, fn: NodeScoreFn) -> None:
        self.fn = fn

    async def score(self, nodes: Sequence[SearchNode]) -> list[float]:
        return [float(self.fn(node)) for node in nodes]

    def __repr__(self) -> str:
        return f"as_heuristic({getattr(self.fn, '__qualname__', self.fn)!r})"


def as_heuristic(fn: NodeScoreFn | Heuristic) -> Heuristic:
    """Lift ``fn(node) -> float`` to a :class:`Heuristic`; a Heuristic is returned unchanged."""
    if isinstance(fn, type):  # a class passes both checks below, and fails only once called
        raise TypeError(f"expected a Heuristic or a callable node -> float, got the class "
                        f"{fn.__qualname__}: pass an instance, {fn.__qualname__}(...)")
    if isinstance(fn, Heuristic):
        return fn
    if not callable(fn):
        raise TypeError(f"expected a Heuristic or a callable node -> float, got {fn!r}")
    return FunctionHeuristic(fn)


__all__ = ["NEVER", "FunctionHeuristic", "Heuristic", "NodeScoreFn", "as_heuristic"]
