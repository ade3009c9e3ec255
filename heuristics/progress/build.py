"""Progress training data from recorded proofs.

For each step of a completed proof, one example: ``goal`` = the state the tactic was applied
to, ``prefix`` = the tactics before it joined by newlines, ``tactic``, and ``steps_remaining`` =
the tactics left *after* it (the last tactic of a proof has 0). That is what
:class:`~heuristics.progress.heuristic.ProgressHeuristic` asks of the model for the edge that
reached a node: how far the child is from a proof.

Note the convention: LeanDojo step records (``leandojo_benchmark4_subset_steps.jsonl``) carry
their own ``steps_remaining`` that counts the current step too (3, 2, 1 for a 3-tactic proof);
ours is that value minus one (2, 1, 0). Labels are recomputed from each proof's step order, so
a record's own ``steps_remaining`` field (LeanDojo or Coq) is never read.

Inputs are read by :func:`prover.trajectories.load_trajectories`, the project's one trajectory
reader: trace files (DESIGN.md format; a recorded search tree gives the shortest root-to-proof
path of each proved theorem, as LeanProgress labels states by the shortest proof in the tree),
LeanDojo step records (grouped by theorem, ordered by ``step_idx``; by default non-chaining
steps are rebuilt into full goal lists, so ``goal`` is the whole state a search would show) and
Coq step records ``{theorem, step, state, tactic, ...}`` (grouped by theorem, ordered by
``step``). Its module docstring describes the options.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.trajectories import (
    NonLinear,
    Source,
    SourceTally,
    Trajectory,
    TrajectoryFormat,
    iter_trajectories,
)


@dataclass(frozen=True)
class ProgressDatasetStats:
    """What :func:`build_progress_dataset` wrote: counts of files, proofs and examples, the
    detected input formats, theorems left out by reason, and the label histogram."""

    files: int = 0
    proofs: int = 0
    examples: int = 0
    duplicates: int = 0
    formats: Mapping[str, int] = field(default_factory=dict)
    skipped: Mapping[str, int] = field(default_factory=dict)
    histogram: Mapping[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "proofs": self.proofs, "examples": self.examples,
                "duplicates": self.duplicates, "formats": dict(self.formats),
                "skipped": dict(self.skipped),
                "histogram": {str(k): v for k, v in sorted(self.histogram.items())}}


def progress_examples(trajectory: Trajectory) -> list[dict[str, Any]]:
    """The examples of one completed proof, in step order (JSON-ready dicts with ``theorem``)."""
    tactics = trajectory.tactics
    last = len(tactics) - 1
    return [{"goal": step.state, "prefix": "\n".join(tactics[:i]), "tactic": step.tactic,
             "steps_remaining": last - i, "theorem": trajectory.theorem}
            for i, step in enumerate(trajectory.steps)]


def build_progress_dataset(trajectories: Source | Iterable[Source], out: str | Path, *,
                           format: TrajectoryFormat = "auto",
                           nonlinear: NonLinear = "reconstruct",
                           require_complete: bool = True,
                           proofs_per_theorem: int = 1) -> ProgressDatasetStats:
    """Write progress examples (JSONL: ``goal``, ``prefix``, ``tactic``, ``steps_remaining``,
    ``theorem``) for every proof in ``trajectories`` to ``out`` (overwritten).

    ``trajectories`` is a file, a :class:`~prover.trajectories.Trajectory`, or an iterable of
    either; the keyword options go to :func:`prover.trajectories.load_trajectories`. When one
    theorem yields the same (goal, prefix, tactic) more than once (several proofs of a trace
    sharing their first steps), it is written once with the smallest label, the distance along
    the shortest recorded proof; ``duplicates`` counts the others.
    """
    tally = SourceTally()
    best: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    proofs = duplicates = 0
    for trajectory in iter_trajectories(trajectories, tally, format=format, nonlinear=nonlinear,
                                        require_complete=require_complete,
                                        proofs_per_theorem=proofs_per_theorem):
        proofs += 1
        for example in progress_examples(trajectory):
            key = (trajectory.theorem, example["goal"], example["prefix"], example["tactic"])
            seen = best.get(key)
            if seen is None:
                best[key] = example
                continue
            duplicates += 1
            if example["steps_remaining"] < seen["steps_remaining"]:
                seen["steps_remaining"] = example["steps_remaining"]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    histogram: Counter[int] = Counter()
    with open(out, "w", encoding="utf-8") as handle:
        for example in best.values():
            histogram[example["steps_remaining"]] += 1
            handle.write(json.dumps(example, ensure_ascii=False) + "\n")
    return ProgressDatasetStats(tally.files, proofs, len(best), duplicates, dict(tally.formats),
                                {k: v for k, v in tally.skipped.items() if v},
                                dict(sorted(histogram.items())))


__all__ = ["ProgressDatasetStats", "build_progress_dataset", "progress_examples"]
