"""Goal-aware rollouts, segment-level training data, and the policy trained on it."""

from rollout.config import RolloutConfig, choose_candidate
from rollout.policy import PolicyTrainer
from rollout.runner import RolloutHost, run_rollouts
from rollout.segments import (
    LoadedTrajectories,
    SegmentDatasetStats,
    Trajectory,
    TrajectoryStep,
    build_segment_dataset,
    load_trajectories,
    segment_spans,
    split_into_segments,
    training_pairs,
)
from rollout.trigger import GoalCountTrigger, RolloutTrigger

__all__ = [
    "GoalCountTrigger",
    "LoadedTrajectories",
    "PolicyTrainer",
    "RolloutConfig",
    "RolloutHost",
    "RolloutTrigger",
    "SegmentDatasetStats",
    "Trajectory",
    "TrajectoryStep",
    "build_segment_dataset",
    "choose_candidate",
    "load_trajectories",
    "run_rollouts",
    "segment_spans",
    "split_into_segments",
    "training_pairs",
]
