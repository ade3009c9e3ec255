"""The KNN policy at step, segment and whole-proof granularity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.knn_granularity import compare, format_table, leave_one_out
from benchmarks.specs import make_generator as bench_generator
from prover.errors import ConfigError
from prover.generators.knn import KNNTacticGenerator
from prover.specs import make_generator
from prover.trajectories import SourceTally, Trajectory, TrajectoryStep, iter_trajectories
from prover.types import ProofState
from rollout.policy.retrieval import knn_at_granularity, unit_pairs


def lean_trajectory(theorem: str) -> Trajectory:
    """Counts 1,1,2,2,1,0 over t1..t5: segments [t1,t2] [t3,t4] [t5] (DESIGN.md)."""
    states = ["x : ℕ\n⊢ x + 0 = x", "x : ℕ\n⊢ x = x + 0",
              "case a\nx : ℕ\n⊢ x ≤ x + 0\n\ncase b\nx : ℕ\n⊢ x + 0 ≤ x",
              "case a\nx : ℕ\n⊢ x ≤ x\n\ncase b\nx : ℕ\n⊢ x + 0 ≤ x", "case b\nx : ℕ\n⊢ x ≤ x"]
    tactics = ["symm", "simp only []", "apply le_antisymm", "· rfl", "exact le_refl x"]
    counts = [1, 1, 2, 2, 1, 0]
    return Trajectory(theorem, tuple(TrajectoryStep(s, t, counts[i], counts[i + 1])
                                     for i, (s, t) in enumerate(zip(states, tactics))))


def write_trace(path: Path, trajectory: Trajectory) -> Path:
    """The trajectory as a trace file (DESIGN.md format), root record first."""
    records = [{"theorem": trajectory.theorem, "state": trajectory.steps[0].state,
                "tactic": None, "outcome": "state",
                "goals": trajectory.steps[0].state.split("\n\n")}]
    for i, step in enumerate(trajectory.steps):
        after = trajectory.steps[i + 1].state if i + 1 < len(trajectory.steps) else None
        records.append({"theorem": trajectory.theorem, "state": step.state,
                        "tactic": step.tactic, "outcome": "state" if after else "proved",
                        "goals": after.split("\n\n") if after else []})
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


def coq_steps(path: Path) -> Path:
    """Coq step records whose middle segment holds a bullet: ``split.`` (1 -> 2), then
    ``-`` / ``exact I.`` closing one goal (2 -> 1), then ``-`` / ``exact I.`` (1 -> 0)."""
    state = "============================\nTrue /\\ True"
    rows = [("split.", 1, 2), ("-", 2, 2), ("exact I.", 2, 1), ("-", 1, 1), ("exact I.", 1, 0)]
    path.write_text("".join(json.dumps({
        "theorem": "Coq.Demo.both", "step": i, "state": state if i == 0 else f"goal {i}\n⊢ True",
        "tactic": tactic, "num_goals_before": before, "num_goals_after": after}) + "\n"
        for i, (tactic, before, after) in enumerate(rows)), encoding="utf-8")
    return path


async def test_segment_knn_proposes_whole_segments_from_a_spec(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "trace.jsonl", lean_trajectory("demo"))
    root = ProofState(("x : ℕ\n⊢ x + 0 = x",))
    middle = ProofState(("case a\nx : ℕ\n⊢ x ≤ x + 0", "case b\nx : ℕ\n⊢ x + 0 ≤ x"))
    segment = make_generator(f"knn:{trace}#granularity=segment")
    assert isinstance(segment, KNNTacticGenerator) and len(segment) == 3
    assert [c.tactic for c in await segment.propose(root, 1)] == ["symm\nsimp only []"]
    assert [c.tactic for c in await segment.propose(middle, 1)] == ["apply le_antisymm\n· rfl"]
    whole = make_generator(f"knn:{trace}#granularity=whole")
    assert [c.tactic for c in await whole.propose(root, 1)] == [
        "symm\nsimp only []\napply le_antisymm\n· rfl\nexact le_refl x"]
    step = make_generator(f"knn:{trace}#granularity=step")
    assert [c.tactic for c in await step.propose(root, 1)] == ["symm"]


def test_bullets_inside_a_coq_segment_are_kept(tmp_path: Path) -> None:
    generator = knn_at_granularity(coq_steps(tmp_path / "steps.jsonl"), "segment")
    assert [c.tactic for c in generator.suggest("goal 1\n⊢ True", 1)] == ["-\nexact I."]
    units = unit_pairs(iter_trajectories(tmp_path / "steps.jsonl", SourceTally()), "segment")
    assert [text for _, text in units.pairs] == ["split.", "-\nexact I.", "-\nexact I."]


def test_coq_index_spec_takes_a_granularity(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    # the index files' traces, named as `seg-prover coq extract` names them
    write_trace(files / "Arith__Between.traces.jsonl", lean_trajectory("Coq.Arith.Between.x"))
    generator = bench_generator(f"coq-index:{tmp_path}#granularity=segment")
    assert isinstance(generator, KNNTacticGenerator) and len(generator) == 3
    with pytest.raises(ConfigError, match="granularity"):
        bench_generator(f"coq-index:{tmp_path}#depth=2")


def test_bad_granularity_and_empty_index_are_config_errors(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "trace.jsonl", lean_trajectory("demo"))
    with pytest.raises(ConfigError, match="granularity must be one of"):
        make_generator(f"knn:{trace}#granularity=tactic")
    with pytest.raises(ConfigError, match="bad option"):
        make_generator(f"knn:{trace}#depth=2")
    unproved = tmp_path / "unproved.jsonl"
    unproved.write_text(json.dumps({"theorem": "t", "state": "⊢ p", "tactic": None,
                                    "outcome": "state", "goals": ["⊢ p"]}) + "\n",
                        encoding="utf-8")
    with pytest.raises(ConfigError, match=r"no complete proof.*unproved 1"):
        make_generator(f"knn:{unproved}#granularity=segment")


def test_leave_one_out_finds_a_proof_shared_by_two_theorems() -> None:
    scores = compare([lean_trajectory("a"), lean_trajectory("b")])
    assert [s.granularity for s in scores] == ["segment", "step", "whole"]
    for score in scores:
        assert score.top1 == score.top8 == score.tactics_at_1 == score.first_at_1 == 1.0
    assert [s.units for s in scores] == [6, 10, 2]
    alone = leave_one_out(unit_pairs([lean_trajectory("a")], "segment"))
    assert alone.top1 == 0.0  # its own proof is left out: nothing to retrieve
    assert "segment" in format_table(scores, 2)
