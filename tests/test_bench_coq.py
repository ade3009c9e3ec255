"""``bench`` on real Coq lemmas: the time limit is the search's own, whatever the concurrency
(skipped when Coq is not installed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bench_suite import read_results

from benchmarks.minif2f import main
from prover.specs import make_environment

PLUGINS = Path(__file__).resolve().parent / "bench_plugins.py"

pytestmark = [pytest.mark.skipif(shutil.which("coqidetop.opt") is None,
                                 reason="coqidetop.opt not on PATH (apt-get install -y coq)"),
              pytest.mark.slow]


def coq_bench(tmp_path: Path, out: Path, concurrency: int) -> list[str]:
    from bench_plugins import COQ_TACTICS

    tactics = tmp_path / "coq_tactics.json"
    tactics.write_text(json.dumps(COQ_TACTICS), encoding="utf-8")
    return ["bench", "--suite", f"{PLUGINS}:coq_lemmas", "--backend", "coq",
            "--backend-option", "max_processes=2", "--generator", f"fixed:{tactics}",
            "--time-limit", "4", "--concurrency", str(concurrency),
            "--out", str(out), "--no-progress"]


def test_concurrency_1_and_8_on_a_pool_of_2_give_the_same_results(tmp_path: Path) -> None:
    # Before: the clock started before env.open, which waits for one of the 2 processes; at
    # concurrency 8 the quick lemmas queued behind the two slow ones (each busy until its 4 s
    # deadline: Coq's own 5 s Timeout outlasts it) ended `budget` with 0 expansions, where
    # concurrency 1 proved them.
    runs = {}
    for concurrency in (1, 8):
        out = tmp_path / f"c{concurrency}"
        assert main(coq_bench(tmp_path, out, concurrency)) == 0
        runs[concurrency] = {r["theorem"]: r for r in read_results(out)}
    one, eight = runs[1], runs[8]
    assert set(one) == set(eight) and len(one) == 8
    for name, row in one.items():
        other = eight[name]
        assert (row["status"], row["proof"]) == (other["status"], other["proof"]), name
        expected = "budget" if name.startswith("slow") else "proved"
        assert row["status"] == expected, row
        if expected == "proved":
            assert row["stats"]["expansions"] >= 1 and row["stats"]["verified"] is True
    # At concurrency 8 the quick lemmas waited for a process: that time is open_s, apart.
    waited = [r["stats"]["open_s"] for n, r in eight.items() if not n.startswith("slow")]
    slowest = min(r["stats"]["wall_s"] for n, r in eight.items() if n.startswith("slow"))
    assert max(waited) >= slowest


def test_tactic_timeout_reaches_the_coq_backend() -> None:
    env = make_environment("coq", {"max_processes": 2}, tactic_timeout_s=2.5)
    assert env.config.tactic_timeout_s == 2.5  # type: ignore[attr-defined]
    assert make_environment("coq", {}).config.tactic_timeout_s == 5.0  # type: ignore[attr-defined]
