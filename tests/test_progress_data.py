"""The progress regressor's torch-free parts: JSONL loading, dataset building from recorded
proofs, the synthetic generator, the heuristic (with a stub scorer) and the package surface."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from helpers import TraceBuilder, generator, key

import heuristics
import heuristics.progress
from heuristics import CumulativeLogProb
from heuristics.progress import (
    ProgressDataset,
    ProgressHeuristic,
    build_progress_dataset,
    create_sample_dataset,
)
from heuristics.progress.heuristic import DEFAULT_STEP_WEIGHT, ProgressPredictor, edge_query
from heuristics.progress.template import PROGRESS_TEMPLATE, format_progress_input
from prover import BestFirstSearch, ConfigError, DataFormatError, ProofState, SearchNode, Theorem
from seg_prover.cli import main

PINNED = {"ProgressTrainer", "ProgressDataset", "create_sample_dataset", "build_progress_dataset",
          "ProgressScorer", "ProgressHeuristic"}


def write_lines(path: Path, lines: Sequence[object]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False))
                            + "\n" for x in lines), encoding="utf-8")
    return path


def ex(goal: str = "⊢ p", tactic: str = "simp", steps: object = 1, **extra: object) -> dict:
    return {"goal": goal, "tactic": tactic, "steps_remaining": steps, **extra}


# ---- package ------------------------------------------------------------------------------
def test_all_is_pinned_and_import_is_light() -> None:
    assert set(heuristics.progress.__all__) == PINNED
    for name in PINNED:
        assert hasattr(heuristics.progress, name)
    code = ("import sys, heuristics; assert 'heuristics.progress' not in sys.modules, 'eager';"
            "import heuristics.progress;"
            "heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules];"
            "print(heavy); sys.exit(1 if heavy else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_one_template_shared_by_training_and_inference() -> None:
    assert PROGRESS_TEMPLATE == "Goal:\n{goal}\n\nPrefix:\n{prefix}\n\nCandidate tactic:\n{tactic}"
    text = format_progress_input("⊢ a ∧ b", "intro x\nsimp", "constructor")
    assert text == "Goal:\n⊢ a ∧ b\n\nPrefix:\nintro x\nsimp\n\nCandidate tactic:\nconstructor"


# ---- ProgressDataset ----------------------------------------------------------------------
def test_dataset_reads_examples_prefix_optional(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", [
        ex("⊢ a", "intro", 2, prefix="x", theorem="t"), "", ex("⊢ b", "simp", 0, prefix=None)])
    data = ProgressDataset.from_jsonl(path)
    assert len(data) == 2 and data.skipped == 0
    assert (data[0].goal, data[0].prefix, data[0].tactic, data[0].steps_remaining) == \
        ("⊢ a", "x", "intro", 2)
    assert data[1].prefix == ""
    assert data.labels() == [2.0, 0.0]
    assert data.texts()[0] == format_progress_input("⊢ a", "x", "intro")


def test_fields_are_stripped_as_leandojo_v2_strips_them(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", [
        ex(" \n⊢ a ∧ b\n", "\tconstructor \n", 1, prefix="\n  intro x\nsimp  \n")])
    (example,) = ProgressDataset(path)
    assert (example.goal, example.prefix, example.tactic) == \
        ("⊢ a ∧ b", "intro x\nsimp", "constructor")
    expected = "Goal:\n⊢ a ∧ b\n\nPrefix:\nintro x\nsimp\n\nCandidate tactic:\nconstructor"
    assert example.text == expected
    # inference reads what training read
    assert format_progress_input("⊢ a ∧ b\n", " intro x\nsimp\n", "constructor\n") == expected


def test_dataset_from_a_path_loads_the_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", [ex("⊢ a", "intro", 2), ex("⊢ b", "simp", 0)])
    for source in (str(path), path):
        data = ProgressDataset(source)
        assert [(e.goal, e.tactic, e.steps_remaining) for e in data] == \
            [("⊢ a", "intro", 2), ("⊢ b", "simp", 0)]
        assert data.path == str(path) and data.examples == ProgressDataset.from_jsonl(path).examples
    with pytest.raises(DataFormatError, match="no such file"):
        ProgressDataset(str(tmp_path / "missing.jsonl"))  # not 'missing.jsonl' as characters
    with pytest.raises(ConfigError, match="item 0 is a str"):
        ProgressDataset(["⊢ a"])  # type: ignore[list-item]
    assert len(ProgressDataset(list(ProgressDataset(path)))) == 2


def test_missing_key_lines_are_skipped_counted_and_warned_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lines: list[object] = [ex()]
    lines += [{"goal": "⊢ p", "tactic": "simp"}] * 7  # lines 2..8: no steps_remaining
    lines += [{"tactic": "simp", "steps_remaining": 0}, ex(steps=0)]  # line 9: no goal
    path = write_lines(tmp_path / "d.jsonl", lines)
    with caplog.at_level(logging.WARNING, logger="heuristics.progress"):
        data = ProgressDataset.from_jsonl(path)
    assert len(data) == 2
    assert data.skipped == 8 and data.skipped_lines == (2, 3, 4, 5, 6, 7, 8, 9)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "skipped 8 line(s)" in message and "lines 2, 3, 4, 5, 6, ..." in message


@pytest.mark.parametrize(("bad", "field"), [
    ("{not json", None),
    ('["a list"]', None),
    (json.dumps(ex(steps="3")), "steps_remaining"),
    (json.dumps(ex(steps=2.5)), "steps_remaining"),
    (json.dumps(ex(steps=True)), "steps_remaining"),
    (json.dumps(ex(steps=-1)), "steps_remaining"),
    (json.dumps(ex(goal=["⊢ p"])), "goal"),
    (json.dumps(ex(tactic=None)), "tactic"),
    (json.dumps(ex(prefix=["simp"])), "prefix"),
])
def test_malformed_line_raises_with_its_line_number(tmp_path: Path, bad: str,
                                                    field: str | None) -> None:
    path = write_lines(tmp_path / "d.jsonl", [ex(), ex(), bad, ex()])
    with pytest.raises(DataFormatError) as info:
        ProgressDataset.from_jsonl(path)
    assert info.value.line == 3 and info.value.field == field
    assert "d.jsonl, line 3" in str(info.value)


def test_no_usable_example_raises(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no usable example"):
        ProgressDataset.from_jsonl(write_lines(tmp_path / "d.jsonl", [{"goal": "⊢ p"}]))
    with pytest.raises(DataFormatError, match="no usable example"):
        ProgressDataset.from_jsonl(write_lines(tmp_path / "e.jsonl", []))
    with pytest.raises(DataFormatError, match="no such file"):
        ProgressDataset.from_jsonl(tmp_path / "missing.jsonl")


# ---- create_sample_dataset ----------------------------------------------------------------
def test_sample_dataset_is_deterministic_and_labels_follow_the_goal(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert create_sample_dataset(first, n=57, seed=3) == 57
    create_sample_dataset(second, n=57, seed=3)
    assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8")
    data = ProgressDataset.from_jsonl(first)
    assert len(data) == 57 and {e.steps_remaining for e in data} > {0, 1}
    for example in data:  # conjuncts left in the goal = steps after the tactic + 1
        assert example.goal.split("⊢ ")[1].count(" ∧ ") == example.steps_remaining
        assert (example.steps_remaining == 0) == example.tactic.startswith("exact")
    with pytest.raises(ConfigError):
        create_sample_dataset(first, n=0)


def test_make_sample_module_entry_point(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    proc = subprocess.run([sys.executable, "-m", "heuristics.progress.make_sample",
                           str(out), "-n", "12"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no runpy double-import warning
    assert len(ProgressDataset.from_jsonl(out)) == 12


def test_importing_every_submodule_leaves_the_exported_names_alone() -> None:
    # importing a submodule sets the package attribute of its name: a module named like an
    # exported function (create_sample_dataset.py did) replaced that function
    code = ("import importlib, inspect, pkgutil, heuristics.progress as p;"
            "names = [m.name for m in pkgutil.iter_modules(p.__path__)];"
            "[importlib.import_module('heuristics.progress.' + n) for n in names];"
            "clash = sorted(set(names) & set(p.__all__));"
            "modules = [n for n in p.__all__ if inspect.ismodule(getattr(p, n))];"
            "assert not clash and not modules, (clash, modules);"
            "assert inspect.isfunction(p.create_sample_dataset)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# ---- build_progress_dataset ---------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def leandojo_step(name: str, idx: int, n: int, before: str, tactic: str, after: str) -> dict:
    return {"full_name": name, "step_idx": idx, "num_steps": n, "steps_remaining": n - idx,
            "state_before": before, "tactic": tactic, "state_after": after}


def test_build_from_leandojo_steps_labels_count_steps_after_the_tactic(tmp_path: Path) -> None:
    g = ["x : ℕ\n⊢ p x", "x : ℕ\n⊢ q x", "x : ℕ\n⊢ r x"]
    records = [  # out of order on purpose: grouped by theorem, ordered by step_idx
        leandojo_step("t", 2, 3, g[2], "exact h", "no goals"),
        leandojo_step("t", 0, 3, g[0], "intro", g[1]),
        leandojo_step("u", 0, 1, g[0], "simp", "no goals"),
        leandojo_step("t", 1, 3, g[1], "rw [h]", g[2]),
    ]
    out = tmp_path / "out.jsonl"
    stats = build_progress_dataset(write_lines(tmp_path / "steps.jsonl", records), out)
    rows = read_jsonl(out)
    t_rows = [r for r in rows if r["theorem"] == "t"]
    assert [(r["goal"], r["prefix"], r["tactic"], r["steps_remaining"]) for r in t_rows] == [
        (g[0], "", "intro", 2), (g[1], "intro", "rw [h]", 1), (g[2], "intro\nrw [h]", "exact h", 0)]
    # LeanDojo's own field counts the current step: ours is that minus one
    by_tactic = {r["tactic"]: r for r in records}
    assert all(r["steps_remaining"] == by_tactic[r["tactic"]]["steps_remaining"] - 1
               for r in rows)
    assert [r["steps_remaining"] for r in rows if r["theorem"] == "u"] == [0]
    assert stats.examples == 4 and stats.proofs == 2 and stats.formats == {"leandojo": 1}
    assert stats.histogram == {0: 2, 1: 1, 2: 1}
    assert len(ProgressDataset.from_jsonl(out)) == 4


def test_build_from_coq_step_records_ignores_their_own_label(tmp_path: Path) -> None:
    def coq(step: int, state: str, tactic: str, before: int, after: int) -> dict:
        return {"theorem": "add_0_r", "step": step, "state": state, "tactic": tactic,
                "num_goals_before": before, "num_goals_after": after, "steps_remaining": 99}
    records = [coq(1, "n : nat\n⊢ n + 0 = n", "induction n.", 1, 2),
               coq(3, "n : nat\nIHn : n + 0 = n\n⊢ S n + 0 = S n", "simpl; rewrite IHn.", 1, 0),
               coq(2, "⊢ 0 + 0 = 0", "reflexivity.", 2, 1)]
    out = tmp_path / "out.jsonl"
    stats = build_progress_dataset([write_lines(tmp_path / "coq.jsonl", records)], out)
    rows = read_jsonl(out)
    assert [(r["tactic"], r["prefix"], r["steps_remaining"]) for r in rows] == [
        ("induction n.", "", 2), ("reflexivity.", "induction n.", 1),
        ("simpl; rewrite IHn.", "induction n.\nreflexivity.", 0)]
    assert stats.formats == {"coq": 1}


def test_build_from_a_search_trace_uses_the_paths_that_reached_proved(tmp_path: Path) -> None:
    trace = (TraceBuilder("t")
             .edge("root", "t1", "A").edge("A", "t2", "proved")       # shortest: 2 steps
             .edge("A", "t6", "E").edge("E", "t7", "proved")          # shares t1 with it
             .edge("root", "t3", "B").edge("B", "t4", "C")            # dead end
             .edge("root", "bad", "error"))
    unproved = TraceBuilder("u").edge("root", "x", "A")
    path = tmp_path / "trace.jsonl"
    from prover.traces import write_trace
    write_trace([*trace.records, *unproved.records], path)

    out = tmp_path / "out.jsonl"
    stats = build_progress_dataset(path, out)
    assert [(r["goal"], r["prefix"], r["tactic"], r["steps_remaining"])
            for r in read_jsonl(out)] == [(key("root"), "", "t1", 1), (key("A"), "t1", "t2", 0)]
    assert stats.skipped == {"unproved": 1} and stats.formats == {"trace": 1}

    stats = build_progress_dataset(path, out, proofs_per_theorem=2)
    rows = {(r["prefix"], r["tactic"]): r["steps_remaining"] for r in read_jsonl(out)}
    # t1 starts both proofs: kept once, with the shorter proof's distance
    assert rows == {("", "t1"): 1, ("t1", "t2"): 0, ("t1", "t6"): 1, ("t1\nt6", "t7"): 0}
    assert stats.duplicates == 1 and stats.proofs == 2


def test_build_on_real_leandojo_steps(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "trajectories" / "leandojo_benchmark4_subset_steps.jsonl"
    records = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    out = tmp_path / "all.jsonl"
    stats = build_progress_dataset(source, out, nonlinear="local", require_complete=False)
    rows = read_jsonl(out)
    assert stats.examples == len(records) == len(rows)  # every recorded step, once
    expected = sorted((r["full_name"], r["tactic"], r["steps_remaining"] - 1) for r in records)
    assert sorted((r["theorem"], r["tactic"], r["steps_remaining"]) for r in rows) == expected

    stats = build_progress_dataset(source, out)  # default: full goal lists, complete proofs
    assert 0 < stats.examples < len(records) and stats.skipped
    rows = read_jsonl(out)
    assert all("⊢" in r["goal"] for r in rows)
    assert sum(r["steps_remaining"] == 0 for r in rows) == stats.proofs


def test_cli_build_dataset_and_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    steps = write_lines(tmp_path / "steps.jsonl", [
        leandojo_step("t", 0, 2, "⊢ p", "intro", "⊢ q"),
        leandojo_step("t", 1, 2, "⊢ q", "simp", "no goals")])
    out = tmp_path / "out.jsonl"
    assert main(["progress", "build-dataset", str(steps), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 examples from 1 proofs" in printed
    assert [r["steps_remaining"] for r in read_jsonl(out)] == [1, 0]
    assert main(["progress", "sample", str(tmp_path / "s.jsonl"), "-n", "5"]) == 0
    assert len(read_jsonl(tmp_path / "s.jsonl")) == 5
    bad = write_lines(tmp_path / "bad.jsonl", ['{"full_name": "t", "state_before": 3}'])
    assert main(["progress", "build-dataset", str(bad), str(out)]) == 2
    assert "bad.jsonl, line 1" in capsys.readouterr().err


# ---- ProgressHeuristic --------------------------------------------------------------------
class StubScorer:
    """A ProgressPredictor that looks steps up by tactic and records every batch it gets."""

    def __init__(self, steps: dict[str, float]) -> None:
        self.steps = steps
        self.batches: list[list[tuple[str, str, str]]] = []

    def predict(self, queries: Sequence[tuple[str, str, str]]) -> list[float]:
        self.batches.append(list(queries))
        return [self.steps.get(tactic, 3.0) for _, _, tactic in queries]


def test_stub_is_a_predictor_and_root_scores_zero_steps() -> None:
    stub = StubScorer({})
    assert isinstance(stub, ProgressPredictor)
    root = SearchNode(ProofState(("⊢ p",)))
    child = SearchNode(ProofState(("⊢ q",)), depth=1, cumulative_logprob=-0.5,
                       tactics=("intro",), parent=root, logprob=-0.5)
    grandchild = SearchNode(ProofState(("⊢ r",)), depth=2, cumulative_logprob=-1.5,
                            tactics=("intro", "simp"), parent=child, logprob=-1.0)
    assert edge_query(root) is None
    assert edge_query(grandchild) == ("⊢ q", "intro", "simp")

    import asyncio
    heuristic = ProgressHeuristic(stub, weight=2.0)
    assert asyncio.run(heuristic.score([root])) == [0.0] and stub.batches == []
    scores = asyncio.run(heuristic.score([root, child, grandchild]))
    assert scores == [0.0, -0.5 - 2.0 * 3.0, -1.5 - 2.0 * 3.0]
    assert len(stub.batches) == 1 and len(stub.batches[0]) == 2  # one call, root not asked
    progress_only = ProgressHeuristic(StubScorer({"simp": 1.0}), weight=1.0, logprob_weight=0)
    assert asyncio.run(progress_only.score([child, grandchild])) == [-3.0, -1.0]
    assert ProgressHeuristic(stub).weight == DEFAULT_STEP_WEIGHT


@pytest.mark.parametrize("kwargs", [{"weight": -1.0}, {"weight": float("nan")},
                                    {"logprob_weight": float("inf")},
                                    {"weight": 0.0, "logprob_weight": 0.0}])
def test_heuristic_rejects_bad_weights(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        ProgressHeuristic(StubScorer({}), **kwargs)


def test_heuristic_rejects_a_scorer_that_miscounts() -> None:
    class Short(StubScorer):
        def predict(self, queries: Sequence[tuple[str, str, str]]) -> list[float]:
            return []

    root = SearchNode(ProofState(("⊢ p",)))
    child = SearchNode(ProofState(("⊢ q",)), 1, -0.1, ("t",), root, -0.1)
    import asyncio
    with pytest.raises(ValueError, match="0 predictions for 1"):
        asyncio.run(ProgressHeuristic(Short({})).score([child]))


async def test_progress_changes_the_expansion_order_towards_the_near_proof() -> None:
    # log-prob prefers A (-0.5 > -1.0), but A is predicted 6 steps from a proof and B 0
    trace = (TraceBuilder()
             .edge("root", "t_far", "A").edge("root", "t_near", "B")
             .edge("A", "a1", "A1").edge("A1", "a2", "A2")
             .edge("B", "finish", "proved"))
    table = {"root": [("t_far", -0.5), ("t_near", -1.0)], "A": [("a1", -0.1)],
             "A1": [("a2", -0.1)], "B": [("finish", -0.1)]}
    stub = StubScorer({"t_far": 6.0, "t_near": 0.0, "a1": 5.0, "a2": 4.0})

    gen = generator(table)
    result = await BestFirstSearch(trace.env(), gen, CumulativeLogProb()).search(Theorem("t"))
    assert gen.asked[:3] == [key("root"), key("A"), key("A1")]
    baseline_expansions = result.stats.expansions

    gen = generator(table)
    result = await BestFirstSearch(trace.env(), gen, ProgressHeuristic(stub)).search(Theorem("t"))
    assert gen.asked == [key("root"), key("B")]
    assert result.proof == ("t_near", "finish")
    assert result.stats.expansions < baseline_expansions
    # one batched predict per expansion (the root's score asks nothing), with parent goal,
    # prefix and tactic of each new edge
    assert stub.batches == [[(key("root"), "", "t_far"), (key("root"), "", "t_near")]]

    # weighted too little, progress does not overturn the log-prob order
    gen = generator(table)
    await BestFirstSearch(trace.env(), gen, ProgressHeuristic(stub, weight=0.01)
                          ).search(Theorem("t"))
    assert gen.asked[:2] == [key("root"), key("A")]
