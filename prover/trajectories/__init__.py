"""Recorded proofs, read once: every format (traces, LeanDojo steps and Benchmark theorems, Coq
steps) becomes :class:`Trajectory` objects through :func:`load_trajectories` /
:func:`iter_trajectories`, with the field rules of :mod:`prover.records`.
Segments (:mod:`rollout.segments`), progress datasets (:mod:`heuristics.progress`), the KNN
generator and the trace converters all read through here."""

from prover.trajectories.leandojo import NonLinear
from prover.trajectories.load import (
    FORMATS,
    NONLINEAR_MODES,
    TrajectoryFormat,
    detect_format,
    load_trajectories,
)
from prover.trajectories.model import LoadedTrajectories, Trajectory, TrajectoryStep
from prover.trajectories.sources import (
    Source,
    SourceTally,
    add_trajectory_arguments,
    iter_trajectories,
    trajectory_options,
)

__all__ = ["FORMATS", "NONLINEAR_MODES", "LoadedTrajectories", "NonLinear", "Source",
           "SourceTally", "Trajectory", "TrajectoryFormat", "TrajectoryStep",
           "add_trajectory_arguments", "detect_format", "iter_trajectories",
           "load_trajectories", "trajectory_options"]
