"""Goal-aware rollouts and segment-level training data (segment-level search)."""

from rollout.config import RolloutConfig, choose_candidate
from rollout.runner import RolloutHost, run_rollouts
from rollout.trigger import GoalCountTrigger, RolloutTrigger

__all__ = [
    "GoalCountTrigger",
    "RolloutConfig",
    "RolloutHost",
    "RolloutTrigger",
    "choose_candidate",
    "run_rollouts",
]
