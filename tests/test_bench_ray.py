"""The benchmark runner on Ray: same rows as a local run; dead workers retried, then errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench_suite import comparable, plain_names, read_results, write_suite

from benchmarks.config import BenchConfig
from benchmarks.runner import run_benchmark
from prover.config import SearchConfig

ray = pytest.importorskip("ray")

PLUGINS = Path(__file__).resolve().parent / "bench_plugins.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 2-CPU local Ray instance; workers inherit BENCH_KILL_MARKER from this process."""
    marker = tmp_path_factory.mktemp("ray") / "killed-once"
    previous = os.environ.get("BENCH_KILL_MARKER")
    os.environ["BENCH_KILL_MARKER"] = str(marker)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield marker
    finally:
        ray.shutdown()
        if previous is None:
            del os.environ["BENCH_KILL_MARKER"]
        else:
            os.environ["BENCH_KILL_MARKER"] = previous


def test_ray_run_gives_the_same_rows_as_a_local_run(ray_cluster: Path, tmp_path: Path) -> None:
    trace, tactics = write_suite(tmp_path, n=9)
    config = BenchConfig(str(trace), "replay", f"fixed:{tactics}", attempts=2,
                         search=SearchConfig(max_expansions=10))
    local = run_benchmark(config, tmp_path / "local", concurrency=2, progress=False)
    remote = run_benchmark(config, tmp_path / "ray", concurrency=2, progress=False, ray=True)
    local_rows, ray_rows = read_results(tmp_path / "local"), read_results(tmp_path / "ray")
    assert len(ray_rows) == 18
    assert comparable(ray_rows) == comparable(local_rows)
    assert all(r["worker"].startswith("ray:") for r in ray_rows)
    assert {r["worker"] for r in ray_rows} != {ray_rows[0]["worker"]}  # both actors worked
    assert (remote.proved, remote.settled) == (local.proved, local.settled) == (6, 9)
    # resuming a finished Ray run starts nothing and writes nothing
    run_benchmark(config, tmp_path / "ray", progress=False, ray=True)
    assert len(read_results(tmp_path / "ray")) == 18


def test_dead_workers_are_retried_then_recorded_as_errors(ray_cluster: Path,
                                                          tmp_path: Path) -> None:
    trace, tactics = write_suite(tmp_path, n=3, extra=["killonce", "killalways"])
    config = BenchConfig(str(trace), "replay", f"fixed:{tactics}",
                         heuristic=f"{PLUGINS}:die_on_kill")
    summary = run_benchmark(config, tmp_path / "run", progress=False, ray=True, max_retries=1)
    rows = {r["theorem"]: r for r in read_results(tmp_path / "run")}
    assert sorted(rows) == sorted([*plain_names(3), "killonce", "killalways"])
    assert ray_cluster.exists()  # the 'killonce' worker did die once ...
    assert rows["killonce"]["status"] == "proved"  # ... and the retry succeeded
    assert rows["killalways"]["status"] == "error"
    assert "died on all 2 tries" in rows["killalways"]["message"]
    assert (summary.proved, summary.errors, summary.settled) == (3, 1, 5)
