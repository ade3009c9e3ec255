"""A proof as a run of tactics with the open-goal counts around each: what every reader of
recorded proofs produces (:mod:`prover.trajectories.load`) and every consumer (segments,
progress datasets, the KNN, converters) takes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrajectoryStep:
    """One tactic of a trajectory: the state it was applied to and the counts around it."""

    state: str
    tactic: str
    goals_before: int
    goals_after: int
    reordered: bool = False

    @property
    def boundary(self) -> bool:
        """Whether the step changes the open-goal count (a segment boundary)."""
        return self.goals_after != self.goals_before


@dataclass(frozen=True)
class Trajectory:
    """The tactics of one proof (attempt) in order, with the states they were applied to."""

    theorem: str
    steps: tuple[TrajectoryStep, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.steps, tuple):
            object.__setattr__(self, "steps", tuple(self.steps))

    @property
    def tactics(self) -> tuple[str, ...]:
        return tuple(step.tactic for step in self.steps)

    @property
    def complete(self) -> bool:
        """Whether the last step leaves no open goal."""
        return bool(self.steps) and self.steps[-1].goals_after == 0

    @property
    def goal_counts(self) -> tuple[int, ...]:
        """``g0..gn``: the first step's count before, then every step's count after."""
        if not self.steps:
            return ()
        return (self.steps[0].goals_before, *(step.goals_after for step in self.steps))

    @property
    def boundaries(self) -> tuple[bool, ...]:
        """Per step, whether it changes the open-goal count (ends a segment)."""
        return tuple(step.boundary for step in self.steps)


@dataclass(frozen=True)
class LoadedTrajectories:
    """What :func:`load_trajectories` read from one file: the trajectories, the detected
    format, and how many theorems were left out, by reason."""

    path: str
    format: str
    trajectories: tuple[Trajectory, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)


__all__ = ["LoadedTrajectories", "Trajectory", "TrajectoryStep"]
