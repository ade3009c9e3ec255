"""Smoke tests of the benchmarks: ``seg-prover perf --quick`` and the rollout ablation.

They check that every figure is computed and consistent, not how fast anything is (speed is
reported by the benchmarks themselves, measured within one run).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from benchmarks.perf import PerfConfig, closed_loop_bound
from prover.errors import ConfigError
from seg_prover.cli import main


def _ratio(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


@pytest.mark.slow
def test_perf_quick_computes_every_ratio(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "perf.json"
    assert main(["perf", "--quick", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for heading in ("1. Engine overhead", "2. Throughput", "3. Real prover", "4. Memory",
                    "Targets"):
        assert heading in text
    results = json.loads(out.read_text())
    assert results["overhead"] and all(row["engine_us_per_node"] > 0
                                       for row in results["overhead"])
    for row in results["throughput"]:
        assert _ratio(row["ratio"]) and row["ratio"] <= 1.05  # cannot beat W / L by much
        assert row["limit_per_s"] == pytest.approx(row["in_flight"] / row["latency_s"])
    for row in results["batched"]:
        assert _ratio(row["ratio"]) and row["mean_batch"] >= 1
    for row in results["throughput"]:
        assert row["cpu_us_per_tactic"] > 0 and row["bare_cpu_us_per_tactic"] > 0
    one = results["one_search_batched"]
    assert _ratio(one["ratio"]) and one["batches"] >= 3
    # A lone search never waits for company: every batch starts at once.
    assert one["early_dispatches"] == one["batches"]
    assert set(results["load"]) >= {"throughput", "batched", "one_search_batched"}
    memory = results["memory"]
    assert memory["cap_holds"] and memory["nodes"] <= memory["cap"]
    assert memory["bytes_per_node"] > 0
    assert {t["target"].split(" ")[0] for t in results["targets"]} >= {
        "engine", "achieved/limit", "one", "batched"}
    assert all(isinstance(t["met"], bool) and math.isfinite(t["value"]) for t in results["targets"])
    coq = results["coq"]
    if shutil.which("coqidetop.opt") is None:
        assert "not on PATH" in coq["skipped"]
    else:
        assert coq["tactics"] > 0 and coq["single_pass_tactics"] > 0
        assert coq["limit_per_s"] == pytest.approx(coq["workers"] / coq["median_latency_s"])
        assert _ratio(coq["ratio"]) and _ratio(coq["ratio_wall"])
        assert coq["ratio_wall"] < coq["ratio"]  # opening lemmas is not tactic time


def test_closed_loop_bound_never_exceeds_either_limit() -> None:
    searches, k, latency, fixed, per_item = 8, 8, 0.002, 0.010, 0.001
    bound, batch = closed_loop_bound(searches, k, latency, fixed, per_item, max_batch=32)
    assert 1 <= batch <= searches
    env_limit = searches / (k * latency)
    gen_limit = 32 / (fixed + per_item * 32)
    assert 0 < bound <= min(env_limit, gen_limit)


def test_perf_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="coq_theorems"):
        PerfConfig(coq_theorems=-1)
    with pytest.raises(ConfigError, match="branching"):
        PerfConfig(branching=2)


def test_rollout_ablation_on_a_replay_suite(tmp_path: Path, shared_data: Path) -> None:
    from benchmarks.rollout_ablation import main as ablation

    out = tmp_path / "ablation.md"
    assert ablation(["--limit", "40", "--depths", "2,4", "--out", str(out)]) == 0
    table = out.read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    labels = [row.split("|")[1].strip() for row in rows[1:]]
    assert labels == ["off", "depth 2", "depth 4"]
    off = rows[1].split("|")
    assert off[7].strip() == "0"  # no rollout runs when they are off
