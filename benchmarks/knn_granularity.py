"""Leave-one-theorem-out accuracy of the KNN policy at step, segment and whole-proof granularity.

Run ``python -m benchmarks.knn_granularity [FILE ...]`` (default: the LeanDojo Benchmark 4
steps in ``../shared/data``; any recorded-proof format :func:`rollout.segments.load_trajectories`
reads). For each granularity the complete proofs are cut into units
(:func:`rollout.policy.retrieval.unit_pairs`) and indexed; every unit's start state is then
queried with its own theorem's units left out, and the table reports:

- ``top-1`` / ``top-8``: the share of units whose exact text (all its tactics) is among the
  first 1 / 8 candidates;
- ``tactics@1``: the share of all tactics covered by top-1 hits (a hit on a unit of n tactics
  counts n), what a greedy policy gets right per tactic;
- ``first@1``: the share of units whose top-1 candidate starts with the unit's first tactic
  (the next step is right even when the rest of the unit is not).

The three granularities query different states (every state, segment starts, roots), so the
rows answer "how often is the retrieved unit exactly right", not a search pass rate.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from prover.generators.knn import KNNTacticGenerator
from prover.trajectories import SourceTally, Trajectory, iter_trajectories
from rollout.policy.retrieval import UnitPairs, unit_pairs
from rollout.segments import GRANULARITIES

DEFAULT_STEPS = (Path(__file__).resolve().parents[2] / "shared" / "data" / "trajectories"
                 / "leandojo_benchmark4_subset_steps.jsonl")


@dataclass(frozen=True)
class GranularityScore:
    """Leave-one-theorem-out figures of one granularity (see the module docstring)."""

    granularity: str
    units: int
    tactics: int
    top1: float
    top8: float
    tactics_at_1: float
    first_at_1: float
    seconds: float

    @property
    def mean_length(self) -> float:
        return self.tactics / self.units if self.units else 0.0


def leave_one_out(units: UnitPairs, ks: Sequence[int] = (1, 8)) -> GranularityScore:
    """Query every unit's start state with its own theorem's units left out of the index."""
    started = time.monotonic()
    generator = KNNTacticGenerator(list(units.pairs), theorems=list(units.theorems))
    top = max(ks)
    hits = dict.fromkeys(ks, 0)
    covered = first = 0
    for (state, text), theorem, length in zip(units.pairs, units.theorems, units.lengths):
        proposed = [c.tactic for c in generator.suggest(state, top, exclude_theorems=(theorem,))]
        target = text.strip()
        for k in ks:
            hits[k] += target in proposed[:k]
        if proposed and proposed[0] == target:
            covered += length
        if proposed and proposed[0].split("\n", 1)[0] == target.split("\n", 1)[0]:
            first += 1
    n, tactics = len(units.pairs), sum(units.lengths)
    return GranularityScore(units.granularity, n, tactics, hits[1] / n if n else 0.0,
                            hits[top] / n if n else 0.0, covered / tactics if tactics else 0.0,
                            first / n if n else 0.0, time.monotonic() - started)


def compare(trajectories: Sequence[Trajectory]) -> list[GranularityScore]:
    """:func:`leave_one_out` at every granularity over the same proofs."""
    return [leave_one_out(unit_pairs(trajectories, g)) for g in GRANULARITIES]


def format_table(scores: Sequence[GranularityScore], proofs: int) -> str:
    lines = [f"{proofs} complete proofs, leave-one-theorem-out",
             f"{'granularity':<12}{'units':>7}{'mean len':>10}{'top-1':>8}{'top-8':>8}"
             f"{'tactics@1':>11}{'first@1':>9}{'s':>7}"]
    for s in scores:
        lines.append(f"{s.granularity:<12}{s.units:>7}{s.mean_length:>10.2f}{s.top1:>8.1%}"
                     f"{s.top8:>8.1%}{s.tactics_at_1:>11.1%}{s.first_at_1:>9.1%}"
                     f"{s.seconds:>7.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.knn_granularity",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*", default=[str(DEFAULT_STEPS)],
                        help="recorded proofs (default: the shared LeanDojo steps)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    tally = SourceTally()
    trajectories = list(iter_trajectories(list(args.inputs), tally))
    scores = compare(trajectories)
    if args.json:
        print(json.dumps({"proofs": len(trajectories), "skipped": dict(tally.skipped),
                          "scores": [asdict(s) for s in scores]}, indent=1))
    else:
        print(format_table(scores, len(trajectories)))
        if tally.skipped:
            print("theorems left out: " + ", ".join(f"{k} {v}"
                                                    for k, v in sorted(tally.skipped.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["GranularityScore", "compare", "format_table", "leave_one_out", "main"]
