"""Segmentation of proof trajectories and the segment / step / whole-proof SFT datasets."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from helpers import TraceBuilder

from prover.backends.lean_layout import split_lean_tactics
from prover.errors import ConfigError, DataFormatError
from prover.traces import split_lean_goals, write_trace
from rollout import (
    Trajectory,
    TrajectoryStep,
    build_segment_dataset,
    load_trajectories,
    split_into_segments,
    training_pairs,
)
from rollout.segments import detect_format, segment_spans, trajectory_spans
from seg_prover.cli import main

LEANDOJO_STEPS = "trajectories/leandojo_benchmark4_subset_steps.jsonl"


# ---- split_into_segments --------------------------------------------------------------------
def test_design_example() -> None:
    assert split_into_segments([1, 1, 2, 2, 1, 0]) == [(0, 2), (2, 4), (4, 5)]


def test_no_change_at_all_is_one_segment() -> None:
    assert split_into_segments([1, 1, 1, 1]) == [(0, 3)]
    assert split_into_segments([2, 2]) == [(0, 1)]
    assert split_into_segments([1]) == []  # no tactic, no segment


def test_closing_several_goals_at_once_is_one_boundary() -> None:
    # t1 splits into 3 goals, t2 rewrites, t3 closes all three (e.g. `all_goals simp`)
    assert split_into_segments([1, 3, 3, 0]) == [(0, 1), (1, 3)]
    assert split_into_segments([3, 3, 3, 0]) == [(0, 3)]
    # a count that goes down and up again by the same tactic count still changes each step
    assert split_into_segments([2, 1, 2, 0]) == [(0, 1), (1, 2), (2, 3)]


def test_unfinished_trajectory_ends_a_segment_at_its_end() -> None:
    assert split_into_segments([1, 1, 2, 2]) == [(0, 2), (2, 3)]


def test_max_len_cuts_long_runs_from_the_start() -> None:
    counts = [1] * 6 + [0]  # six tactics, one segment
    assert split_into_segments(counts) == [(0, 6)]
    assert split_into_segments(counts, max_len=4) == [(0, 4), (4, 6)]
    assert split_into_segments(counts, max_len=2) == [(0, 2), (2, 4), (4, 6)]
    assert split_into_segments(counts, max_len=1) == [(i, i + 1) for i in range(6)]
    # short segments are untouched
    assert split_into_segments([1, 1, 2, 2, 1, 0], max_len=2) == [(0, 2), (2, 4), (4, 5)]


def test_merge_singletons_is_off_by_default_and_joins_forward_then_back() -> None:
    counts = [1, 2, 2, 2, 1, 0]  # [t1] [t2 t3 t4] [t5]
    assert split_into_segments(counts) == [(0, 1), (1, 4), (4, 5)]
    assert split_into_segments(counts, merge_singletons=True) == [(0, 5)]
    # the limit wins over merging
    assert split_into_segments(counts, merge_singletons=True, max_len=4) == [(0, 4), (4, 5)]
    assert split_into_segments([1, 2, 2, 1], merge_singletons=True) == [(0, 3)]
    # every unit is at least two tactics long when there are at least two tactics
    assert split_into_segments([1, 2, 3, 4, 0], merge_singletons=True) == [(0, 2), (2, 4)]
    assert split_into_segments([1, 0], merge_singletons=True) == [(0, 1)]


def _reference_segments(counts: list[int]) -> list[tuple[int, int]]:
    """The DESIGN.md definition, written independently: maximal runs ending at a boundary."""
    spans, current = [], []
    for i in range(len(counts) - 1):
        current.append(i)
        if counts[i + 1] != counts[i]:
            spans.append((current[0], current[-1] + 1))
            current = []
    if current:
        spans.append((current[0], current[-1] + 1))
    return spans


def test_random_trajectories_match_the_definition() -> None:
    rng = random.Random(7)
    for _ in range(500):
        n = rng.randint(1, 12)
        counts = [rng.choice([1, 1, 1, 2, 3]) for _ in range(n)] + [rng.choice([0, 1, 2])]
        spans = split_into_segments(counts)
        assert spans == _reference_segments(counts)
        # a partition of the tactics where only each segment's last step may change the count
        assert [i for s, e in spans for i in range(s, e)] == list(range(n))
        for s, e in spans:
            assert all(counts[i + 1] == counts[i] for i in range(s, e - 1))
        for max_len in (1, 2, 3):
            cut = split_into_segments(counts, max_len=max_len)
            assert all(e - s <= max_len for s, e in cut)
            assert [i for s, e in cut for i in range(s, e)] == list(range(n))
            merged = split_into_segments(counts, max_len=max_len, merge_singletons=True)
            assert all(e - s <= max_len for s, e in merged)
            assert [i for s, e in merged for i in range(s, e)] == list(range(n))
            assert len(merged) <= len(cut)


@pytest.mark.parametrize("counts, match", [
    ([], "empty"),
    ([1, -1, 0], "negative"),
    ([1, 0, 1, 0], "only the last"),
    ([1, 1.5, 0], "must be an int"),
    ([1, True, 0], "must be an int"),
    ("110", "sequence"),
])
def test_bad_goal_counts(counts: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        split_into_segments(counts)


@pytest.mark.parametrize("max_len", [0, -2, True, 2.5])
def test_bad_max_len(max_len: Any) -> None:
    with pytest.raises(ConfigError, match="max_len"):
        split_into_segments([1, 1, 0], max_len=max_len)


def test_segment_spans_from_per_step_flags() -> None:
    assert segment_spans([False, True, False, True, True]) == [(0, 2), (2, 4), (4, 5)]
    assert segment_spans([]) == []


# ---- trajectories and pairs -----------------------------------------------------------------
def hand_trajectory() -> Trajectory:
    counts = [1, 1, 2, 2, 1, 0]
    steps = tuple(TrajectoryStep(f"S{i}", f"t{i + 1}", counts[i], counts[i + 1])
                  for i in range(5))
    return Trajectory("thm", steps, "test")


def test_training_pairs_at_each_granularity() -> None:
    traj = hand_trajectory()
    assert traj.goal_counts == (1, 1, 2, 2, 1, 0) and traj.complete
    seg = training_pairs(traj, "segment")
    assert [(p["input"], p["output"], p["start"], p["end"]) for p in seg] == [
        ("S0", "t1\nt2", 0, 2), ("S2", "t3\nt4", 2, 4), ("S4", "t5", 4, 5)]
    assert [(p["goals_before"], p["goals_after"]) for p in seg] == [(1, 2), (2, 1), (1, 0)]
    assert {p["theorem"] for p in seg} == {"thm"}
    step = training_pairs(traj, "step")
    assert [(p["input"], p["output"]) for p in step] == [(f"S{i}", f"t{i + 1}") for i in range(5)]
    whole = training_pairs(traj, "whole")
    assert len(whole) == 1 and whole[0]["input"] == "S0"
    assert split_lean_tactics(whole[0]["output"]) == list(traj.tactics)


def test_granularity_options_are_checked() -> None:
    traj = hand_trajectory()
    with pytest.raises(ConfigError, match="granularity"):
        training_pairs(traj, "proof")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="segment"):
        training_pairs(traj, "whole", max_len=2)
    with pytest.raises(ConfigError, match="segment"):
        training_pairs(traj, "step", merge_singletons=True)


# ---- trace files ----------------------------------------------------------------------------
def proof_trace() -> TraceBuilder:
    """Two proofs of t (a 4-step one and a 5-step one), a dead branch, and an unproved u."""
    trace = (TraceBuilder("t")
             .edge("root", "intro", "A")
             .edge("A", "constructor", "B+C")
             .edge("B+C", "simp", "C")
             .edge("C", "ring", "proved")
             .edge("root", "norm_num", "D")          # dead end
             .edge("D", "linarith", "error")
             .edge("A", "rw [h]", "A2")
             .edge("A2", "constructor", "B2+C2")
             .edge("B2+C2", "simp", "C2")
             .edge("C2", "ring", "proved"))
    other = TraceBuilder("u").edge("root", "simp", "X").edge("X", "ring", "error")
    trace.records.extend(other.records)
    return trace


def test_trace_file_gives_shortest_proved_paths(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    write_trace(proof_trace().records, path)
    assert detect_format(path) == "trace"
    loaded = load_trajectories(path)
    assert loaded.format == "trace" and dict(loaded.skipped) == {"unproved": 1}
    (traj,) = loaded.trajectories
    assert traj.theorem == "t"
    assert traj.tactics == ("intro", "constructor", "simp", "ring")
    assert traj.goal_counts == (1, 1, 2, 1, 0)
    assert traj.steps[2].state == "\n\n".join(TraceBuilder.goals("B+C"))
    assert trajectory_spans(traj) == [(0, 2), (2, 3), (3, 4)]

    two = load_trajectories(path, proofs_per_theorem=2).trajectories
    assert [t.tactics for t in two] == [("intro", "constructor", "simp", "ring"),
                                        ("intro", "rw [h]", "constructor", "simp", "ring")]

    out = tmp_path / "pairs.jsonl"
    stats = build_segment_dataset(path, out, "segment", proofs_per_theorem=2)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert stats.pairs == len(rows) == 6 and stats.trajectories == 2 and stats.steps == 9
    assert dict(stats.histogram) == {1: 4, 2: 1, 3: 1}
    assert rows[0]["output"] == "intro\nconstructor" and rows[0]["input"] == traj.steps[0].state
    assert rows[3]["output"] == "intro\nrw [h]\nconstructor"


# ---- LeanDojo step records ------------------------------------------------------------------
HYP = "a b : ℕ\nh : a ≤ b"


def ld(name: str, idx: int, before: str, tactic: str, after: str) -> dict[str, Any]:
    return {"full_name": name, "step_idx": idx, "state_before": before, "tactic": tactic,
            "state_after": after}


def by_cases_records() -> list[dict[str, Any]]:
    root = f"{HYP}\n⊢ P"
    pos, neg = f"case pos\n{HYP}\n⊢ P", f"case neg\n{HYP}\n⊢ P"
    return [  # listed out of order on purpose: step_idx decides
        ld("bc", 2, neg, "omega", "no goals"),
        ld("bc", 0, root, "by_cases h : a = b", f"{pos}\n\n{neg}"),
        ld("bc", 1, pos, "simp [h]", "no goals"),
    ]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def test_leandojo_nonlinear_chain_is_reconstructed(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "steps.jsonl", by_cases_records())
    assert detect_format(path) == "leandojo"
    (traj,) = load_trajectories(path).trajectories
    assert traj.tactics == ("by_cases h : a = b", "simp [h]", "omega")
    assert traj.goal_counts == (1, 2, 1, 0)
    # inputs are full states: the pending case neg is part of the state simp [h] sees
    assert traj.steps[1].state.count("⊢") == 2 and "case neg" in traj.steps[1].state
    assert traj.steps[2].state.startswith("case neg") and traj.steps[2].state.count("⊢") == 1
    assert trajectory_spans(traj) == [(0, 1), (1, 2), (2, 3)]

    local = load_trajectories(path, nonlinear="local").trajectories[0]
    assert [s.state.count("⊢") for s in local.steps] == [1, 1, 1]
    assert [s.boundary for s in local.steps] == [s.boundary for s in traj.steps]
    skipped = load_trajectories(path, nonlinear="skip")
    assert skipped.trajectories == () and dict(skipped.skipped) == {"nonlinear": 1}


def test_leandojo_new_goals_go_before_the_pending_ones(tmp_path: Path) -> None:
    left, right = "case left\n⊢ P ∧ Q", "case right\n⊢ R"
    l1, l2 = "case left.left\n⊢ P", "case left.right\n⊢ Q"
    rows = [ld("s", 0, "⊢ (P ∧ Q) ∧ R", "constructor", f"{left}\n\n{right}"),
            ld("s", 1, left, "constructor", f"{l1}\n\n{l2}"),
            ld("s", 2, l1, "exact hp", "no goals"),
            ld("s", 3, l2, "exact hq", "no goals"),
            ld("s", 4, right, "exact hr", "no goals")]
    (traj,) = load_trajectories(write_jsonl(tmp_path / "s.jsonl", rows)).trajectories
    assert traj.goal_counts == (1, 2, 3, 2, 1, 0)
    assert not any(step.reordered for step in traj.steps)
    assert split_lean_goals(traj.steps[2].state) == (l1, l2, right)
    assert split_lean_goals(traj.steps[3].state) == (l2, right)


def test_leandojo_out_of_order_cases_are_reordered(tmp_path: Path) -> None:
    rows = by_cases_records()
    rows[0]["step_idx"], rows[2]["step_idx"] = 1, 2  # neg is proved before pos
    (traj,) = load_trajectories(write_jsonl(tmp_path / "s.jsonl", rows)).trajectories
    assert traj.tactics == ("by_cases h : a = b", "omega", "simp [h]")
    assert traj.steps[1].reordered and traj.steps[1].state.startswith("case neg")
    assert traj.goal_counts == (1, 2, 1, 0)
    pairs = training_pairs(traj, "step")
    assert [p["reordered"] for p in pairs] == [False, True, False]


def test_leandojo_nested_tactics_are_skipped(tmp_path: Path) -> None:
    # `exact foo (by simp)`: the nested simp is traced after the step that already closed it
    rows = [ld("n", 0, "⊢ P", "exact foo (by simp)", "no goals"),
            ld("n", 1, "⊢ Q", "simp", "no goals"),
            # a proof finished by an untraced tactic: incomplete
            ld("m", 0, "⊢ P", "constructor", "case left\n⊢ P\n\ncase right\n⊢ P"),
            ld("m", 1, "case left\n⊢ P", "simp", "no goals")]
    loaded = load_trajectories(write_jsonl(tmp_path / "s.jsonl", rows))
    assert loaded.trajectories == ()
    assert dict(loaded.skipped) == {"unreconstructable": 1, "incomplete": 1}
    kept = load_trajectories(tmp_path / "s.jsonl", require_complete=False).trajectories
    assert [t.theorem for t in kept] == ["m"] and kept[0].goal_counts == (1, 2, 1)


def test_leandojo_bad_record_names_line_and_field(tmp_path: Path) -> None:
    rows = by_cases_records()
    del rows[1]["tactic"]
    with pytest.raises(DataFormatError) as info:
        load_trajectories(write_jsonl(tmp_path / "s.jsonl", rows))
    assert info.value.line == 2 and info.value.field == "tactic"
    rows = by_cases_records()
    rows[2]["state_before"] = "no goals"
    with pytest.raises(DataFormatError, match="state_before"):
        load_trajectories(write_jsonl(tmp_path / "s.jsonl", rows))


# ---- Coq step records -----------------------------------------------------------------------
def coq(theorem: str, step: int, state: str, tactic: str, before: int, after: int
        ) -> dict[str, Any]:
    return {"theorem": theorem, "step": step, "state": state, "tactic": tactic,
            "num_goals_before": before, "num_goals_after": after, "steps_remaining": 0}


def test_coq_step_records(tmp_path: Path) -> None:
    rows = [coq("plus_comm", 1, "n, m : nat |- n + m = m + n", "intros n m.", 1, 1),
            coq("plus_comm", 2, "n + m = m + n", "induction n.", 1, 2),
            coq("plus_comm", 3, "0 + m = m + 0", "simpl.", 2, 2),
            coq("plus_comm", 4, "m = m + 0", "auto.", 2, 1),
            coq("plus_comm", 5, "S n + m = m + S n", "lia.", 1, 0),
            coq("half", 1, "P", "split.", 1, 2)]
    path = write_jsonl(tmp_path / "coq.jsonl", rows[::-1])
    assert detect_format(path) == "coq"
    loaded = load_trajectories(path)
    assert dict(loaded.skipped) == {"incomplete": 1}
    (traj,) = loaded.trajectories
    assert traj.tactics == ("intros n m.", "induction n.", "simpl.", "auto.", "lia.")
    assert trajectory_spans(traj) == [(0, 2), (2, 4), (4, 5)]
    out = tmp_path / "out.jsonl"
    stats = build_segment_dataset([path], out, "whole")
    assert stats.formats == {"coq": 1} and stats.pairs == 1 and dict(stats.histogram) == {5: 1}
    row = json.loads(out.read_text(encoding="utf-8"))
    assert row["input"] == "n, m : nat |- n + m = m + n" and row["output"].count("\n") == 4

    bad = [dict(rows[0], num_goals_after="1")]
    with pytest.raises(DataFormatError, match="num_goals_after"):
        load_trajectories(write_jsonl(tmp_path / "bad.jsonl", bad))


def test_unknown_format_is_reported(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"foo": 1}])
    with pytest.raises(DataFormatError, match="format"):
        load_trajectories(path)
    with pytest.raises(ConfigError, match="nonlinear"):
        load_trajectories(path, nonlinear="guess")  # type: ignore[arg-type]


def test_build_from_trajectory_objects_and_merge(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    stats = build_segment_dataset([hand_trajectory()], out, merge_singletons=True)
    assert stats.pairs == 2 and dict(stats.histogram) == {2: 1, 3: 1} and stats.files == 0
    assert stats.mean_length == 2.5


# ---- the CLI --------------------------------------------------------------------------------
def test_cli_reports_counts_and_histogram(tmp_path: Path, capsys: Any) -> None:
    trace = tmp_path / "trace.jsonl"
    write_trace(proof_trace().records, trace)
    steps = write_jsonl(tmp_path / "steps.jsonl", by_cases_records())
    out = tmp_path / "out.jsonl"
    assert main(["segments", str(trace), str(steps), str(out), "--granularity", "step"]) == 0
    text = capsys.readouterr().out
    assert "2 file(s)" in text and "7 pairs from 2 trajectories" in text
    assert "unproved 1" in text
    assert "     1      7" in text  # the histogram row: length 1, 7 pairs
    assert len(out.read_text(encoding="utf-8").splitlines()) == 7
    assert main(["segments", str(steps), str(out), "--granularity", "whole",
                 "--max-len", "2"]) == 2
    assert "segment" in capsys.readouterr().err


# ---- real LeanDojo Benchmark 4 steps --------------------------------------------------------
def test_real_leandojo_steps(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / LEANDOJO_STEPS
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    by_theorem: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in raw:
        by_theorem[record["full_name"]].append(record)

    loaded = load_trajectories(path)
    assert loaded.format == "leandojo"
    assert len(loaded.trajectories) + sum(loaded.skipped.values()) == len(by_theorem)
    # every linear chain that ends in "no goals" is kept, with its raw ⊢ counts
    kept = {t.theorem: t for t in loaded.trajectories}
    linear = [name for name, rows in by_theorem.items()
              if rows[0]["linear_chain"] and rows[-1]["state_after"] == "no goals"]
    assert len(linear) > 700 and set(linear) <= set(kept)
    for name in linear:
        rows = sorted(by_theorem[name], key=lambda r: r["step_idx"])
        counts = [rows[0]["state_before"].count("⊢")] + [r["state_after"].count("⊢")
                                                         for r in rows]
        traj = kept[name]
        assert traj.goal_counts == tuple(counts)
        assert traj.tactics == tuple(r["tactic"] for r in rows)
        assert trajectory_spans(traj) == _reference_segments(counts)
    # non-linear proofs that could be rebuilt: counts chain, end at 0, steps keep their tactics
    rebuilt = [t for t in loaded.trajectories if not by_theorem[t.theorem][0]["linear_chain"]]
    assert len(rebuilt) > 100
    for traj in rebuilt:
        assert traj.goal_counts[-1] == 0 and 0 not in traj.goal_counts[:-1]
        for step, nxt in zip(traj.steps, traj.steps[1:]):
            assert step.goals_after == nxt.goals_before == len(split_lean_goals(nxt.state))

    sizes = {}
    for granularity in ("segment", "step", "whole"):
        out = tmp_path / f"{granularity}.jsonl"
        stats = build_segment_dataset(path, out, granularity)  # type: ignore[arg-type]
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert stats.pairs == len(rows) and stats.unsplittable == 0
        assert stats.steps == sum(len(t.steps) for t in loaded.trajectories)
        assert sum(k * v for k, v in stats.histogram.items()) == stats.steps
        assert Counter(r["end"] - r["start"] for r in rows) == Counter(stats.histogram)
        sizes[granularity] = stats.pairs
        if granularity == "segment":
            for row in rows:  # inside a segment the count never changes before its last step
                traj = kept[row["theorem"]]
                inner = traj.steps[row["start"]:row["end"]]
                assert not any(s.boundary for s in inner[:-1])
                assert row["input"] == inner[0].state
                assert split_lean_tactics(row["output"]) == [s.tactic for s in inner]
    assert sizes["whole"] == len(loaded.trajectories) < sizes["segment"] < sizes["step"]


# ---- outputs split back into their tactics, by the language of the data ---------------------
LEANDOJO_FILES = (LEANDOJO_STEPS, "trajectories/leandojo_benchmark4_subset/long1k_train.json",
                  "trajectories/leandojo_benchmark4_subset/val20.json")


@pytest.mark.slow
def test_every_output_from_the_shared_lean_data_splits_back(shared_data: Path, tmp_path: Path,
                                                            capsys: Any) -> None:
    multi_line_outputs = 0
    for name in LEANDOJO_FILES:
        for nonlinear in ("reconstruct", "local", "skip"):
            for granularity in ("segment", "step", "whole"):
                out = tmp_path / "pairs.jsonl"
                stats = build_segment_dataset(
                    shared_data / name, out, granularity,  # type: ignore[arg-type]
                    nonlinear=nonlinear, require_complete=False)  # type: ignore[arg-type]
                assert stats.pairs > 0 and stats.unsplittable == 0, (name, nonlinear, granularity)
                for line in out.read_text(encoding="utf-8").splitlines():
                    row = json.loads(line)
                    tactics = split_lean_tactics(row["output"])
                    assert len(tactics) == row["end"] - row["start"]
                    multi_line_outputs += any("\n" in t for t in tactics)
    assert multi_line_outputs >= 12 * 3  # the multi-line tactics are in there, at least once
    # the command says nothing about unsplittable outputs either
    out = tmp_path / "cli.jsonl"
    assert main(["segments", str(shared_data / LEANDOJO_STEPS), str(out), "--nonlinear", "local",
                 "--granularity", "whole", "--allow-incomplete"]) == 0
    assert "do not split back" not in capsys.readouterr().out


def test_a_tactic_that_takes_the_lines_after_it_is_kept_apart(tmp_path: Path) -> None:
    # LeanDojo traces `classical` with its block at the same column as one tactic; the nested
    # tactics follow it as steps of their own
    tactics = ("classical\next s\nrw [count_roots]", "ext s", "rw [count_roots]")
    steps = [TrajectoryStep(f"⊢ P{i}", tactic, 1, 1) for i, tactic in enumerate(tactics)]
    traj = Trajectory("roots", tuple(steps))
    (whole,) = training_pairs(traj, "whole")
    assert split_lean_tactics(whole["output"]) == list(tactics)
    stats = build_segment_dataset(traj, tmp_path / "o.jsonl", "whole")
    assert stats.unsplittable == 0


def coq_outputs_split_back(steps_path: Path, tmp_path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for granularity in ("segment", "step", "whole"):
        out = tmp_path / f"coq-{granularity}.jsonl"
        stats = build_segment_dataset(steps_path, out, granularity)  # type: ignore[arg-type]
        assert stats.formats == {"coq": 1} and stats.pairs > 0
        assert stats.unsplittable == 0, granularity
        rows += [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return rows


def test_coq_outputs_split_back_as_sentences(tmp_path: Path) -> None:
    tactics = ["split.", "-", "intros x; auto.", "-", "{", "auto.", "}"]
    rows = [coq("t", i, f"⊢ G{i}", tactic, 1, 1) for i, tactic in enumerate(tactics)]
    rows[-1]["num_goals_after"] = 0
    coq_outputs_split_back(write_jsonl(tmp_path / "coq.jsonl", rows), tmp_path)


async def test_every_output_from_a_coq_extraction_splits_back(tmp_path: Path) -> None:
    import shutil

    from prover.backends.coq import CoqEnvironment, stdlib_theories
    from prover.backends.coq_extract import extract_file

    if shutil.which("coqidetop.opt") is None:
        pytest.skip("coqidetop.opt not on PATH")
    root = stdlib_theories()
    env = CoqEnvironment(max_processes=1)
    try:
        result = await extract_file(env, root / "Arith/Between.v", root)
    finally:
        await env.close()
    steps = write_jsonl(tmp_path / "steps.jsonl", result.steps)
    rows = coq_outputs_split_back(steps, tmp_path)
    # bullets are steps: Lean's layout would glue them to the line above
    assert any("\n-\n" in row["output"] for row in rows)
    assert any(split_lean_tactics(row["output"]) != row["output"].split("\n") for row in rows)
