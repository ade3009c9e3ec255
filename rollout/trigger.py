"""When to fire a rollout: the goal-aware trigger of segment-level search."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from prover.types import SearchNode


@runtime_checkable
class RolloutTrigger(Protocol):
    """Decides whether the edge ``parent -> child`` starts a rollout from ``child``."""

    def fires(self, parent: SearchNode, child: SearchNode) -> bool: ...


class GoalCountTrigger:
    """Fires when the child is still open and its open-goal count differs from its parent's.

    This is the segment boundary of "Rethinking Supervision Granularity: Segment-Level Learning
    for LLM-Based Theorem Proving": a tactic that splits or closes goals ends a segment.
    """

    def fires(self, parent: SearchNode, child: SearchNode) -> bool:
        return child.state.num_goals > 0 and child.state.num_goals != parent.state.num_goals

    def __repr__(self) -> str:
        return "GoalCountTrigger()"


__all__ = ["GoalCountTrigger", "RolloutTrigger"]
