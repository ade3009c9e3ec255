"""Replay the real LeanDojo proof steps through best-first search, multi-line tactics included.

Run ``python -m benchmarks.lean_replay_check``. The steps of
``../shared/data/trajectories/leandojo_benchmark4_subset_steps.jsonl`` become a
:class:`~prover.backends.replay.ReplayEnvironment` (:func:`prover.traces.from_leandojo_steps`);
every theorem is then searched by :class:`~prover.search.BestFirstSearch` with a generator that
proposes the recorded tactics, at three granularities:

- ``step``: at each recorded state, the tactics recorded from it, one candidate each;
- ``segment``: at the state a segment starts from, the segment's tactics as one candidate, the
  text ``seg-prover segments`` writes (:func:`rollout.segments.training_pairs`, one tactic per
  line); the replay session splits it with Lean's layout and applies the tactics in order;
- ``whole``: the whole recorded proof as one candidate.

A recorded proof is *replayable* when its steps, in order, form a chain from the first state
to ``no goals`` (each step starts from the state the step before it left), or reach ``no goals``
early (LeanDojo also traces the tactics nested inside an enclosing one, after it). The others
are listed by reason: LeanDojo shows only the goals a tactic works on, so after a branching
tactic the next step starts from one of the goals; a nested or combinator tactic is traced out
of order; the traced steps end with goals left (untraced tactics finish the proof).
The target: every replayable proof is found at every granularity. Exit status 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover import BestFirstSearch, FixedTacticGenerator, ReplayEnvironment, SearchConfig, Theorem
from prover.backends.lean_layout import split_lean_tactics
from prover.traces import from_leandojo_steps, iter_jsonl, split_lean_goals
from prover.trajectories import Trajectory, load_trajectories
from rollout.segments import training_pairs

DEFAULT_STEPS = (Path(__file__).resolve().parents[2] / "shared" / "data" / "trajectories"
                 / "leandojo_benchmark4_subset_steps.jsonl")
GRANULARITIES = ("step", "segment", "whole")


@dataclass
class Recorded:
    """One theorem's recorded steps: the replayable proof in them, or why there is none."""

    name: str
    tactics: list[str]
    proof: tuple[str, ...] | None = None
    reason: str = ""

    @property
    def multi_line(self) -> bool:
        return any("\n" in tactic for tactic in (self.proof or self.tactics))


@dataclass
class Tally:
    """What one granularity's searches found."""

    proved: set[str] = field(default_factory=set)
    proofs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    candidates: int = 0
    unsplittable: int = 0
    env_calls: int = 0
    seconds: float = 0.0


def recorded_proofs(rows: Sequence[dict[str, Any]]) -> dict[str, Recorded]:
    """Per theorem, follow its steps in order from the first state (see the module docstring)."""
    by_theorem: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_theorem.setdefault(row["full_name"], []).append(row)
    out: dict[str, Recorded] = {}
    for name, steps in by_theorem.items():
        steps.sort(key=lambda row: row["step_idx"])
        entry = out[name] = Recorded(name, [row["tactic"] for row in steps])
        state = split_lean_goals(steps[0]["state_before"])
        for index, row in enumerate(steps):
            before = split_lean_goals(row["state_before"])
            if before != state:
                entry.reason = ("branch: the next step works on one of the goals left"
                                if set(before) < set(state) else
                                "out of order: a nested or combinator tactic")
                break
            state = split_lean_goals(row["state_after"])
            if not state:
                entry.proof = tuple(entry.tactics[:index + 1])
                break
        else:
            entry.reason = "open at the end: untraced tactics finish the proof"
    return out


def candidate_table(trajectory: Trajectory, granularity: str, steps: Sequence[dict[str, Any]],
                    tally: Tally) -> dict[str, list[tuple[str, float]]]:
    """State text -> the candidates the generator proposes there; counts in ``tally`` the
    candidates that Lean's layout does not split back into their tactics."""
    table: dict[str, list[tuple[str, float]]] = {}
    if granularity == "step":
        for row in steps:
            state = "\n\n".join(split_lean_goals(row["state_before"]))
            table.setdefault(state, []).append((row["tactic"], 0.0))
        return table
    for pair in training_pairs(trajectory, granularity):  # type: ignore[arg-type]
        table.setdefault(pair["input"], []).append((pair["output"], 0.0))
        tally.candidates += 1
        if split_lean_tactics(pair["output"]) != list(trajectory.tactics[pair["start"]:
                                                                         pair["end"]]):
            tally.unsplittable += 1
    return table


async def search_all(env: ReplayEnvironment, names: Sequence[str],
                     trajectories: dict[str, Trajectory],
                     by_theorem: dict[str, list[dict[str, Any]]], granularity: str,
                     config: SearchConfig) -> Tally:
    """Search every theorem with the recorded candidates at ``granularity``."""
    tally = Tally()
    began = time.monotonic()
    for name in names:
        table = candidate_table(trajectories[name], granularity, by_theorem[name], tally)
        result = await BestFirstSearch(env, FixedTacticGenerator(table), config=config
                                       ).search(Theorem(name))
        tally.env_calls += result.stats.env_calls
        if result.proved and result.proof is not None:
            tally.proved.add(name)
            tally.proofs[name] = tuple(result.proof)
    tally.seconds = time.monotonic() - began
    return tally


async def run(path: Path, config: SearchConfig) -> dict[str, Any]:
    rows = [row for _, row in iter_jsonl(path)]
    by_theorem: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_theorem.setdefault(row["full_name"], []).append(row)
    recorded = recorded_proofs(rows)
    env = ReplayEnvironment(from_leandojo_steps(rows, path=path))
    # "local": each step keeps its shown state, the text the replay keys its transitions by
    loaded = load_trajectories(path, "leandojo", nonlinear="local", require_complete=False)
    trajectories = {t.theorem: t for t in loaded.trajectories}
    replayable = {name for name, r in recorded.items() if r.proof is not None}
    multi_tactics = sorted({r["tactic"] for r in rows if "\n" in r["tactic"]})
    report: dict[str, Any] = {
        "steps": len(rows), "theorems": len(recorded),
        "multi_line_tactics": len(multi_tactics),
        "replayable": len(replayable),
        "replayable_with_multi_line": sum(recorded[n].multi_line for n in replayable),
        "not_replayable": dict(Counter(r.reason for r in recorded.values() if r.proof is None)),
        "granularities": {},
    }
    for granularity in GRANULARITIES:
        tally = await search_all(env, list(recorded), trajectories, by_theorem, granularity,
                                 config)
        missed = sorted(replayable - tally.proved)
        report["granularities"][granularity] = {
            "proved": len(tally.proved),
            "replayable_found": len(replayable & tally.proved),
            "missed": missed,
            "found_not_replayable": sorted(tally.proved - replayable),
            "proofs_with_multi_line_tactic": sum(
                any("\n" in t for t in proof) for proof in tally.proofs.values()),
            "candidates_checked": tally.candidates,
            "unsplittable": tally.unsplittable,
            "env_calls": tally.env_calls,
            "seconds": round(tally.seconds, 2),
        }
    await env.close()
    return report


def print_report(report: dict[str, Any]) -> None:
    print(f"LeanDojo steps: {report['steps']} steps, {report['theorems']} theorems, "
          f"{report['multi_line_tactics']} distinct multi-line tactics")
    print(f"replayable recorded proofs: {report['replayable']} "
          f"({report['replayable_with_multi_line']} with a multi-line tactic)")
    print("not replayable, by reason:")
    for reason, count in sorted(report["not_replayable"].items(), key=lambda kv: -kv[1]):
        print(f"  {count:>5}  {reason}")
    print(f"{'granularity':<12}{'proved':>8}{'of replayable':>15}{'missed':>8}"
          f"{'multi-line':>12}{'unsplittable':>14}{'env calls':>11}{'s':>7}")
    for name, g in report["granularities"].items():
        print(f"{name:<12}{g['proved']:>8}{g['replayable_found']:>15}{len(g['missed']):>8}"
              f"{g['proofs_with_multi_line_tactic']:>12}{g['unsplittable']:>14}"
              f"{g['env_calls']:>11}{g['seconds']:>7}")
        for name_missed in g["missed"][:10]:
            print(f"    missed: {name_missed}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lean_replay_check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=Path, default=DEFAULT_STEPS,
                        help="LeanDojo step records (JSONL)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if not args.steps.is_file():
        print(f"no such file: {args.steps}", file=sys.stderr)
        return 2
    config = SearchConfig(max_expansions=64, time_limit_s=60.0)
    report = asyncio.run(run(args.steps, config))
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_report(report)
    missed = any(g["missed"] or g["unsplittable"] for g in report["granularities"].values())
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
