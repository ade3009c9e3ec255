"""The granularity experiment's bookkeeping: equal compute, intervals, paired counts, tables."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from benchmarks.granularity import Cell, GridSettings, cells, main, quick_settings
from benchmarks.granularity_report import (
    CellResult,
    TrainingCost,
    _svg,
    comparisons,
    markdown_table,
    mcnemar_exact,
    paired,
    paired_table,
    plot,
)
from benchmarks.granularity_train import (
    TrainSettings,
    fill_to_budget,
    plan_budget,
    train_positions,
)
from benchmarks.metrics import summarize, wilson_interval
from prover.errors import ConfigError


def rows(outcomes: dict[str, bool], gen: int = 4, env: int = 10) -> list[dict[str, Any]]:
    return [{"theorem": name, "attempt": 0, "status": "proved" if ok else "failed",
             "stats": {"generator_calls": gen, "env_calls": env, "expansions": gen,
                       "wall_s": 1.0}} for name, ok in outcomes.items()]


def cell(policy: str, granularity: str, rollout: str, outcomes: dict[str, bool],
         training: TrainingCost | None = None, **kw: int) -> CellResult:
    summary = summarize(rows(outcomes, **kw), theorems=list(outcomes), label=granularity)
    return CellResult(policy, granularity, rollout, summary, training)


# ---- equal compute ---------------------------------------------------------------------------


@pytest.mark.parametrize("mean", [1.0, 3.7, 12.0, 80.0, 5000.0])
@pytest.mark.parametrize("ratio", [0.02, 0.1, 0.33])
def test_budget_gives_equal_steps_and_the_trainer_split(mean: float, ratio: float) -> None:
    settings = TrainSettings(steps=50, target_tokens=20_000, eval_ratio=ratio)
    budget = plan_budget("segment", mean, settings)
    assert budget.n_train == settings.steps * budget.batch_size
    # one epoch of n_train pairs at this batch size is exactly `steps` optimizer steps
    assert math.ceil(budget.n_train / budget.batch_size) == settings.steps
    assert budget.n_file - math.ceil(ratio * budget.n_file) == budget.n_train
    assert budget.batch_size == max(1, round(20_000 / (50 * mean)))
    positions = train_positions(budget.n_file, ratio, settings.seed)
    assert len(positions) == budget.n_train


def test_train_positions_are_the_trainers_split(tmp_path: Path) -> None:
    from rollout.policy import PolicyTrainer

    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"input": f"s{i}", "output": f"t{i}"}) + "\n"
                            for i in range(57)), encoding="utf-8")
    for seed in (0, 7):
        trainer = PolicyTrainer(data, "unused", tmp_path / "out", eval_ratio=0.1, seed=seed)
        assert trainer.split()[0] == train_positions(57, 0.1, seed)


def test_fill_to_budget_hits_the_target_with_distinct_pairs() -> None:
    lengths = [1 + (i * 37) % 29 for i in range(3000)]
    chosen = fill_to_budget(lengths, 400, 5000, tolerance=0.005, seed=3)
    assert len(chosen) == len(set(chosen)) == 400
    assert abs(sum(lengths[i] for i in chosen) - 5000) <= 25
    assert chosen == fill_to_budget(lengths, 400, 5000, tolerance=0.005, seed=3)


def test_fill_to_budget_refuses_a_small_pool() -> None:
    with pytest.raises(ConfigError, match="pool has 3 pairs"):
        fill_to_budget([1, 2, 3], 4, 10, tolerance=0.01, seed=0)


def test_budget_rejects_an_empty_pool_and_bad_settings() -> None:
    with pytest.raises(ConfigError):
        plan_budget("whole", 0.0, TrainSettings())
    with pytest.raises(ConfigError):
        TrainSettings(steps=10, target_tokens=5)


@pytest.mark.slow
def test_train_one_takes_the_planned_steps_and_target_tokens(tmp_path: Path) -> None:
    """Three granularities of very different target lengths, trained for real on a tiny model:
    the same optimizer steps and (within tolerance) the same target tokens."""
    import torch

    from benchmarks.granularity_train import _encoder, build_base, train_one

    settings = TrainSettings(steps=3, target_tokens=240, layers=1, hidden=16, heads=2,
                             vocab_size=300, max_length=96, max_target_tokens=60,
                             eval_ratio=0.2, tolerance=0.05)
    tactics = ["auto.", "simpl.", "reflexivity.", "intros n m.", "rewrite IHn.", "lia."]

    def run(i: int, n: int) -> str:  # n tactics, varied lengths
        return "\n".join(tactics[(i + j) % len(tactics)] for j in range(n))

    units = {
        "step": [(f"n{i} : nat\n⊢ n{i} + 0 = n{i}", run(i, 1)) for i in range(200)],
        "segment": [(f"n{i} : nat\n⊢ n{i} = n{i}", run(i, 2 + i % 3)) for i in range(200)],
        "whole": [(f"⊢ forall n{i}, n{i} + 0 = n{i}", run(i, 5 + i % 4)) for i in range(200)],
    }
    texts = [t for pairs in units.values() for pair in pairs for t in pair]
    threads = torch.get_num_threads()
    base = build_base(tmp_path / "base", texts, settings)
    encoder = _encoder(base, settings)
    try:
        costs = {g: train_one(g, pairs, base, encoder, tmp_path / g, settings)
                 for g, pairs in units.items()}
    finally:
        torch.set_num_threads(threads)
    for cost in costs.values():
        assert cost.steps == 3
        assert abs(cost.target_tokens - 240) <= 0.05 * 240 + 1
        assert cost.examples == 3 * cost.batch_size
    assert costs["step"].batch_size > costs["segment"].batch_size > costs["whole"].batch_size
    written = json.loads((tmp_path / "whole" / "cost.json").read_text("utf-8"))
    assert written["steps"] == 3 and written["granularity"] == "whole"
    lines = (tmp_path / "whole" / "pairs.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == plan_budget("whole", written["mean_target"], settings).n_file


# ---- intervals and paired counts --------------------------------------------------------------


def test_wilson_values() -> None:
    # the README's Coq KNN row: 18/100 -> [11.7%, 26.7%]
    low, high = wilson_interval(18, 100)
    assert (round(100 * low, 1), round(100 * high, 1)) == (11.7, 26.7)
    low, high = wilson_interval(0, 2)
    assert low == 0.0 and round(100 * high, 1) == 65.8
    low, high = wilson_interval(300, 300)
    assert high == pytest.approx(1.0) and round(100 * low, 1) == 98.7


def test_mcnemar_exact() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 0) == pytest.approx(2 / 32)
    assert mcnemar_exact(1, 3) == pytest.approx(2 * 5 / 16)
    assert mcnemar_exact(2, 2) == 1.0


def test_paired_counts() -> None:
    a = cell("knn", "segment", "off", {"t1": True, "t2": True, "t3": False, "t4": False,
                                       "t5": True})
    b = cell("knn", "step", "off", {"t1": True, "t2": False, "t3": True, "t4": False,
                                    "t6": True})
    p = paired(a, b)
    # t5 and t6 are each settled by one cell only: not compared
    assert (p.only_a, p.only_b, p.both, p.neither) == (("t2",), ("t3",), 1, 1)


def test_comparisons_pair_granularities_and_rollouts() -> None:
    outcome = {"t1": True, "t2": False}
    grid = [cell(p, g, r, outcome) for p in ("knn", "trained") for g in ("segment", "step",
                                                                         "whole")
            for r in ("off", "on (4)")]
    pairs = comparisons(grid)
    labels = [(p.a, p.b) for p in pairs]
    assert ("knn/segment/rollouts off", "knn/step/rollouts off") in labels
    assert ("trained/whole/rollouts off", "trained/whole/rollouts on (4)") in labels
    # 3 granularity pairs x 2 rollouts x 2 policies + 3 x 2 rollout pairs
    assert len(pairs) == 12 + 6


# ---- table and plot ---------------------------------------------------------------------------


def test_markdown_table_rows() -> None:
    cost = TrainingCost(steps=200, batch_size=30, examples=6000, target_tokens=60_012,
                        total_tokens=1_234_567, seconds=93.4)
    proved = cell("trained", "segment", "off", {"a": True, "b": False, "c": True, "d": False},
                  cost, gen=4, env=10)
    none = cell("knn", "whole", "on (4)", {"a": False, "b": False})
    table = markdown_table([proved, none]).splitlines()
    assert len(table) == 4
    assert table[2].startswith("| trained | segment | off | 50.0% [15.0%, 85.0%] | 2/4 | "
                               "8.0 | 20.0 | 4.0 | 10.0 | 0.0 | 200 | 60,012 | 1,234,567 | 93 |")
    assert table[3] == ("| knn | whole | on (4) | 0.0% [0.0%, 65.8%] | 0/2 | n/a | n/a | 4.0 | "
                        "10.0 | 0.0 | — | — | — | — |")
    pairs = paired_table([paired(proved, cell("trained", "step", "off",
                                              {"a": False, "b": False, "c": True, "d": True}))])
    assert pairs.splitlines()[2] == ("| trained/segment/rollouts off | trained/step/rollouts "
                                     "off | 1 | 1 | 1 | 1 | 1 |")


def test_plot_files(tmp_path: Path) -> None:
    grid = [cell("knn", g, r, {"a": True, "b": g == "segment"})
            for g in ("segment", "step", "whole") for r in ("off", "on (4)")]
    # 0/35 once gave a Wilson lower end a hair above the rate: a negative error bar
    grid += [cell("trained", g, "off", {f"t{i}": False for i in range(35)})
             for g in ("segment", "step")]
    png = plot(grid, tmp_path / "g.png")
    assert png.is_file() and png.read_bytes().startswith(b"\x89PNG")
    svg = _svg(grid, tmp_path / "g.svg")
    text = svg.read_text("utf-8")
    assert text.startswith("<svg") and text.count("<rect") == 8


# ---- the grid ---------------------------------------------------------------------------------


def test_grid_order_and_names() -> None:
    settings = GridSettings("x", "y", rollouts=("off", "4,2"))
    grid = cells(settings)
    assert len(grid) == 12
    assert all(c.rollout == "off" for c in grid[:6])
    assert grid[0] == Cell("knn", "segment", "off")
    assert grid[-1].name == "trained-whole-rollout-4_2"
    with pytest.raises(ConfigError, match="granularit"):
        GridSettings("x", "y", granularities=("proof",))
    assert quick_settings("q").knn_limit <= 5
    capped = GridSettings("x", "y", knn_limit=300, trained_limit=60, rollout_limit=100)
    assert [capped.limit("knn"), capped.limit("knn", "4"), capped.limit("trained", "4")] == \
        [300, 100, 60]


def test_a_pretrained_base_is_fine_tuned_from(tmp_path: Path) -> None:
    from benchmarks.granularity import train_settings
    from benchmarks.granularity_train import _encoder, build_base

    assert train_settings(GridSettings("x", "y")).base_model is None
    train = train_settings(GridSettings("x", "y", base_model="some/model", gguf_file="m.gguf"))
    assert (train.base_model, train.gguf_file, train.learning_rate) == \
        ("some/model", "m.gguf", 2e-5)
    tiny = TrainSettings(layers=1, hidden=16, heads=2, vocab_size=300)
    base = build_base(tmp_path / "base", ["intros.", "⊢ n = n"] * 20, tiny)
    encoder = _encoder(str(base), replace(tiny, base_model=str(base)))
    assert encoder.encode("⊢ n = n", "intros.").labels[-1] == encoder.eos_token_id


def test_report_only_reads_run_directories(tmp_path: Path, capsys: Any) -> None:
    from benchmarks.runner import versions

    out = tmp_path / "out"
    run = out / "runs" / "knn-segment-rollout-off"
    run.mkdir(parents=True)
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows(
        {"a": True, "b": False})), encoding="utf-8")
    assert versions()  # the run directory format this test writes by hand
    code = main(["--extraction", "x", "--out", str(out), "--report-only", "--policies", "knn"])
    assert code == 0
    text = (out / "granularity.md").read_text("utf-8")
    assert "| knn | segment | off | 50.0% [9.5%, 90.5%] | 1/2 |" in text
    data = json.loads((out / "granularity.json").read_text("utf-8"))
    assert data["cells"][0]["proved_lemmas"] == ["a"]


def test_report_only_with_no_run_says_so(tmp_path: Path, capsys: Any) -> None:
    assert main(["--extraction", "x", "--out", str(tmp_path), "--report-only"]) == 2
    assert "no run directory" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_mode_end_to_end(tmp_path: Path) -> None:
    """Needs Coq: extracts a few stdlib files, trains three tiny policies, searches."""
    pytest.importorskip("transformers")
    from prover.backends.coq import stdlib_theories

    try:
        stdlib_theories()
    except Exception:
        pytest.skip("no Coq")
    assert main(["--quick", "--out", str(tmp_path / "q")]) == 0
    data = json.loads((tmp_path / "q" / "granularity.json").read_text("utf-8"))
    assert len(data["cells"]) == 12
    assert [c["n"] for c in data["cells"]] == [2] * 6 + [1] * 6
    trained = [c for c in data["cells"] if c["policy"] == "trained"]
    assert {c["training"]["steps"] for c in trained} == {TrainSettings.quick().steps}
