"""Goal-aware rollouts and segment-level training data (segment-level search)."""

from rollout.config import RolloutConfig, choose_candidate
from rollout.trigger import GoalCountTrigger, RolloutTrigger

__all__ = ["GoalCountTrigger", "RolloutConfig", "RolloutTrigger", "choose_candidate"]
