"""Segment-level training data: proof trajectories cut where the open-goal count changes
(:mod:`rollout.segments.segmentation`), written as SFT pairs (:mod:`rollout.segments.dataset`,
``seg-prover segments``: :mod:`rollout.segments.cli`).

The trajectory names are re-exported from :mod:`prover.trajectories`, which reads every
recorded-proof format.
"""

from prover.trajectories import (
    FORMATS,
    NONLINEAR_MODES,
    LoadedTrajectories,
    NonLinear,
    Source,
    SourceTally,
    Trajectory,
    TrajectoryFormat,
    TrajectoryStep,
    add_trajectory_arguments,
    detect_format,
    iter_trajectories,
    load_trajectories,
    trajectory_options,
)
from rollout.segments.cli import register
from rollout.segments.dataset import SegmentDatasetStats, build_segment_dataset
from rollout.segments.segmentation import (
    GRANULARITIES,
    Granularity,
    Span,
    segment_spans,
    split_into_segments,
    training_pairs,
    trajectory_spans,
)

__all__ = [
    "FORMATS",
    "GRANULARITIES",
    "NONLINEAR_MODES",
    "Granularity",
    "LoadedTrajectories",
    "NonLinear",
    "SegmentDatasetStats",
    "Source",
    "SourceTally",
    "Span",
    "Trajectory",
    "TrajectoryFormat",
    "TrajectoryStep",
    "add_trajectory_arguments",
    "build_segment_dataset",
    "detect_format",
    "iter_trajectories",
    "load_trajectories",
    "register",
    "segment_spans",
    "split_into_segments",
    "training_pairs",
    "trajectory_options",
    "trajectory_spans",
]
