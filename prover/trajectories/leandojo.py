"""LeanDojo step records as trajectories, including proofs whose steps do not form a chain.

LeanDojo prints only the goals a tactic works on: after a branching tactic (``by_cases``,
``cases``, ``constructor``) the next ``state_before`` holds one case, and tactics nested inside a
term (``exact foo (by simp)``) or a combinator (``classical; simp``) are traced besides their
enclosing tactic, out of execution order. ``nonlinear`` says what to do with such proofs (see
:mod:`prover.trajectories.load`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from prover.errors import DataFormatError
from prover.records import LeanStep, parse_lean_step
from prover.traces import split_lean_goals
from prover.trajectories.model import Trajectory, TrajectoryStep

NonLinear = Literal["reconstruct", "local", "skip"]


def from_leandojo(numbered: Iterable[tuple[int | None, Any]], path: Path, nonlinear: NonLinear,
                   skipped: Counter[str], source: str) -> list[Trajectory]:
    by_theorem: dict[str, list[tuple[int, int | None, LeanStep]]] = {}
    for line, obj in numbered:
        record = parse_lean_step(obj, {"path": path, "line": line})
        rows = by_theorem.setdefault(record.theorem, [])
        rows.append((len(rows) if record.index is None else record.index, line, record))
    out: list[Trajectory] = []
    for theorem, rows in by_theorem.items():
        rows.sort(key=lambda row: row[0])
        shown = [(split_lean_goals(r.state_before), r.tactic, split_lean_goals(r.state_after))
                 for _, _, r in rows]
        for (_, line, _), (before, _, _) in zip(rows, shown):
            if not before:
                raise DataFormatError("state_before has no goal (no '⊢')", path=path, line=line,
                                      field="state_before")
        linear = all(shown[i][2] == shown[i + 1][0] for i in range(len(shown) - 1))
        if nonlinear == "local" or (linear and nonlinear == "skip"):
            steps = [TrajectoryStep(_pp(b), t, len(b), len(a)) for b, t, a in shown]
        elif nonlinear == "skip":
            skipped["nonlinear"] += 1
            continue
        else:
            rebuilt = _reconstruct(shown)
            if rebuilt is None:
                skipped["unreconstructable"] += 1
                continue
            steps = rebuilt
        out.append(Trajectory(theorem, tuple(steps), source))
    return out


def _reconstruct(shown: Sequence[tuple[tuple[str, ...], str, tuple[str, ...]]]
                 ) -> list[TrajectoryStep] | None:
    """Replay the pending-goal list through steps that show only their focused goals."""
    pending = list(shown[0][0])
    steps: list[TrajectoryStep] = []
    for before, tactic, after in shown:
        if not pending:
            return None  # steps after the proof was complete: nested tactics
        at = _find_run(pending, before)
        if at is None:
            return None
        rest = pending[:at] + pending[at + len(before):]
        full_before = [*before, *rest]
        steps.append(TrajectoryStep(_pp(full_before), tactic, len(full_before),
                                    len(after) + len(rest), reordered=at != 0))
        pending = [*after, *rest]
    return steps


def _find_run(items: Sequence[str], run: Sequence[str]) -> int | None:
    n = len(run)
    for start in range(len(items) - n + 1):
        if list(items[start:start + n]) == list(run):
            return start
    return None


def _pp(goals: Sequence[str]) -> str:
    return "\n\n".join(goals)


__all__ = ["NonLinear", "from_leandojo"]
