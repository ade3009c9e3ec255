"""The retrieval policy at each granularity: a KNN generator over step, segment or whole-proof
units of recorded proofs.

The non-parametric version of the seed paper's question: index the same SFT pairs a trained
policy learns from (:func:`rollout.segments.training_pairs`: a unit's start state and its
tactics joined by ``"\\n"``, as ``seg-prover segments`` writes them) in a
:class:`~prover.generators.knn.KNNTacticGenerator`, so a candidate is a whole unit: one tactic,
a segment, or a whole proof, which the backend splits back into tactics
(:meth:`Session.split_tactics <prover.env.Session.split_tactics>`). A unit's text is indexed
as written: bullets and braces inside a segment stay in it.

Specs: ``knn:FILE[,FILE...]#granularity=segment`` (any recorded-proof format
:func:`~rollout.segments.load_trajectories` reads: traces, LeanDojo steps, Coq steps) and
``coq-index:DIR#granularity=segment``. Without the option, ``knn:`` keeps indexing every
transition of its traces that worked, proofs or not.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import cast

from prover.errors import ConfigError
from prover.generators.knn import KNNConfig, KNNTacticGenerator
from prover.trajectories import (
    NonLinear,
    Source,
    SourceTally,
    Trajectory,
    TrajectoryFormat,
    iter_trajectories,
)
from rollout.segments import (
    GRANULARITIES,
    Granularity,
    training_pairs,
)


@dataclass(frozen=True)
class UnitPairs:
    """The ``(state, unit text)`` pairs of some trajectories at one granularity, the theorem
    of each pair, and each unit's length in tactics."""

    granularity: str
    pairs: tuple[tuple[str, str], ...]
    theorems: tuple[str, ...]
    lengths: tuple[int, ...]


def unit_pairs(trajectories: Iterable[Trajectory], granularity: Granularity | str = "segment"
               ) -> UnitPairs:
    """The units of ``trajectories`` at ``granularity`` (see :func:`training_pairs`)."""
    if granularity not in GRANULARITIES:
        raise ConfigError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    unit = cast(Granularity, granularity)
    pairs: list[tuple[str, str]] = []
    theorems: list[str] = []
    lengths: list[int] = []
    for trajectory in trajectories:
        for pair in training_pairs(trajectory, unit):
            pairs.append((pair["input"], pair["output"]))
            theorems.append(trajectory.theorem)
            lengths.append(pair["end"] - pair["start"])
    return UnitPairs(granularity, tuple(pairs), tuple(theorems), tuple(lengths))


def knn_at_granularity(sources: Source | Iterable[Source],
                       granularity: Granularity | str = "segment",
                       *, config: KNNConfig | None = None, format: TrajectoryFormat = "auto",
                       nonlinear: NonLinear = "reconstruct",
                       exclude_theorems: Collection[str] = ()) -> KNNTacticGenerator:
    """A KNN generator whose candidates are whole units of the complete proofs in
    ``sources`` (files or :class:`Trajectory` values, read with
    :func:`~rollout.segments.iter_trajectories`). A source with no complete proof raises
    :class:`ConfigError`: an empty index would propose nothing, silently."""
    tally = SourceTally()
    units = unit_pairs(iter_trajectories(sources, tally, format=format, nonlinear=nonlinear),
                       granularity)
    if not units.pairs:
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(tally.skipped.items())) or "none"
        raise ConfigError(f"no complete proof to index at granularity {granularity!r} in "
                          f"{tally.files} file(s) (theorems left out: {skipped})")
    return KNNTacticGenerator(list(units.pairs), theorems=list(units.theorems), config=config,
                              exclude_theorems=exclude_theorems)


__all__ = ["UnitPairs", "knn_at_granularity", "unit_pairs"]
