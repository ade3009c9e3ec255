"""Many trajectory sources read as one stream, with a tally of what was read and left out; and
the command-line options of every command that reads recorded proofs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from prover.trajectories.leandojo import NonLinear
from prover.trajectories.load import (
    FORMATS,
    NONLINEAR_MODES,
    TrajectoryFormat,
    load_trajectories,
)
from prover.trajectories.model import Trajectory

Source: TypeAlias = str | Path | Trajectory
"""A trajectory file (any format :func:`load_trajectories` reads) or one trajectory."""


@dataclass
class SourceTally:
    """What :func:`iter_trajectories` read: files, their detected formats, and the proofs the
    loader left out, by reason."""

    files: int = 0
    formats: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)


def iter_trajectories(trajectories: Source | Iterable[Source], tally: SourceTally, *,
                      format: TrajectoryFormat = "auto", nonlinear: NonLinear = "reconstruct",
                      require_complete: bool = True, proofs_per_theorem: int = 1
                      ) -> Iterator[Trajectory]:
    """The trajectories of a file, a :class:`Trajectory`, or an iterable of either, in order;
    files are read with :func:`load_trajectories` (the keyword options go to it) and counted
    in ``tally``."""
    sources: Iterable[Source] = (
        [trajectories] if isinstance(trajectories, (str, Path, Trajectory)) else trajectories)
    for source in sources:
        if isinstance(source, Trajectory):
            yield source
            continue
        loaded = load_trajectories(source, format, nonlinear=nonlinear,
                                   require_complete=require_complete,
                                   proofs_per_theorem=proofs_per_theorem)
        tally.files += 1
        tally.formats[loaded.format] += 1
        tally.skipped.update(loaded.skipped)
        yield from loaded.trajectories


def add_trajectory_arguments(parser: Any) -> None:
    """``IN... OUT`` and the :func:`iter_trajectories` options, for every command that reads
    recorded proofs (``seg-prover segments``, ``seg-prover progress build-dataset``)."""
    parser.add_argument("inputs", nargs="+", metavar="IN",
                        help="trace JSONL, LeanDojo step JSONL / benchmark JSON, Coq step JSONL")
    parser.add_argument("out", metavar="OUT", help="output JSONL (overwritten)")
    parser.add_argument("--format", choices=FORMATS, default="auto",
                        help="input format (default: detected per file)")
    parser.add_argument("--nonlinear", choices=NONLINEAR_MODES, default="reconstruct",
                        help="LeanDojo steps that do not chain (default: reconstruct)")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="keep proofs that do not end with no goals")
    parser.add_argument("--proofs-per-theorem", type=int, default=1,
                        help="trace files: this many shortest proofs per theorem")


def trajectory_options(args: Any) -> dict[str, Any]:
    """The :func:`iter_trajectories` keyword options of arguments parsed with
    :func:`add_trajectory_arguments`."""
    return {"format": args.format, "nonlinear": args.nonlinear,
            "require_complete": not args.allow_incomplete,
            "proofs_per_theorem": args.proofs_per_theorem}


__all__ = ["Source", "SourceTally", "add_trajectory_arguments", "iter_trajectories",
           "trajectory_options"]
