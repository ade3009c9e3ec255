"""3. A real prover (Coq) against its limit; 4. memory per tree node."""

from __future__ import annotations

import asyncio
import gc
import logging
import statistics
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.perf.config import (
    THEOREM,
    PerfConfig,
    fixed_generator,
    search_config,
    synthetic_trace,
)
from benchmarks.perf.doubles import ProcessPoolEnvironment, SerialSession
from prover.backends.replay import ReplayEnvironment
from prover.config import SearchConfig, SearchResult
from prover.search import BestFirstSearch
from prover.types import Theorem

log = logging.getLogger(__name__)
T = TypeVar("T")


def measure_coq(cfg: PerfConfig) -> dict[str, Any]:
    """Coq stdlib theorems with the k-NN generator and ``coq_workers`` prover processes.

    Two passes over the same held-out lemmas of the ``coq-stdlib`` suite. The first runs one
    search at a time on one ``coqidetop``: the median of its tactic applications is the
    single-tactic latency ``L``. The second runs ``coq_workers`` searches at once, each on its
    own process, so the limit is ``coq_workers / L`` applications per second. A search spends
    seconds opening its lemma (replaying the file up to the statement) and checking its proof,
    which are no tactic applications: the rate is counted over each search's tactic phase
    (first application to last), where the engine and the generator must keep the process
    busy; the rate over the whole wall time is reported beside it.
    """
    import shutil

    if shutil.which("coqidetop.opt") is None:
        return {"skipped": "coqidetop.opt is not on PATH (apt-get install -y coq)"}
    return asyncio.run(_measure_coq(cfg))


async def _measure_coq(cfg: PerfConfig) -> dict[str, Any]:
    from benchmarks.coq_demo import ensure_demo_index
    from benchmarks.coq_suite import index_records, knn_for, load_coq_suite
    from prover.backends.coq import CoqConfig, CoqEnvironment

    if cfg.coq_index is not None:
        index_dir = Path(cfg.coq_index)
    else:
        index_dir = await ensure_demo_index(cfg.coq_index_files, progress=False)
    generator = knn_for(index_records(index_dir))
    theorems = load_coq_suite(split="test", limit=cfg.coq_theorems)
    search_config = SearchConfig(time_limit_s=cfg.coq_time_limit_s,
                                 max_expansions=cfg.coq_max_expansions, verify_proof=False)

    async def run_pass(workers: int) -> tuple[list[SearchResult], list[SerialSession], float]:
        env = ProcessPoolEnvironment(CoqEnvironment(CoqConfig(max_processes=workers,
                                                              tactic_timeout_s=5.0)))
        search = BestFirstSearch(env, generator, config=search_config)
        gate = asyncio.Semaphore(workers)

        async def one(theorem: Theorem) -> SearchResult:
            async with gate:
                return await search.search(theorem)

        began = time.monotonic()
        try:
            results = list(await asyncio.gather(*(one(t) for t in theorems)))
        finally:
            await env.close()
        return results, env.sessions, time.monotonic() - began

    _, single_sessions, _ = await run_pass(1)
    latencies = [end - start for s in single_sessions for start, end in s.intervals]
    results, sessions, wall = await run_pass(cfg.coq_workers)
    if not latencies or not any(s.intervals for s in sessions):
        return {"skipped": "no tactic was applied"}
    median = statistics.median(latencies)
    tactics = sum(len(s.intervals) for s in sessions)
    achieved = _phase_rate(sessions, cfg.coq_workers)
    single = _phase_rate(single_sessions, 1)
    limit = cfg.coq_workers / median
    return {"workers": cfg.coq_workers, "theorems": len(theorems),
            "proved": sum(r.proved for r in results), "tactics": tactics, "wall_s": wall,
            "median_latency_s": median, "mean_latency_s": statistics.fmean(latencies),
            "single_pass_tactics": len(latencies),
            "single_per_s": single, "single_ratio": single * median,
            "achieved_per_s": achieved, "limit_per_s": limit, "ratio": achieved / limit,
            "ratio_mean": achieved * statistics.fmean(latencies) / cfg.coq_workers,
            "achieved_wall_per_s": tactics / wall, "ratio_wall": tactics / wall / limit,
            "index_dir": str(index_dir)}


def _phase_rate(sessions: Sequence[SerialSession], workers: int) -> float:
    """Applications per second over the sessions' tactic phases (first application to last),
    as if ``workers`` of them always ran side by side."""
    tactics = sum(len(s.intervals) for s in sessions)
    phases = sum(s.intervals[-1][1] - s.intervals[0][0] for s in sessions if s.intervals)
    return tactics / (phases / workers) if phases > 0 else 0.0


def measure_memory(cfg: PerfConfig) -> dict[str, Any]:
    """Bytes per tree node (retained and peak) for a search capped at ``memory_nodes``."""
    cap = cfg.memory_nodes
    env = ReplayEnvironment(synthetic_trace(cap + cfg.branching, cfg.branching, "wide"))
    search = BestFirstSearch(env, fixed_generator(cfg.branching),
                             config=search_config(max_nodes=cap))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = search.run(Theorem(THEOREM))
        gc.collect()
        with_tree, peak = tracemalloc.get_traced_memory()
        tree = result.tree
        nodes = len(tree) if tree is not None else 0
        del result, tree
        gc.collect()
        without_tree = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # The state text belongs to the trace the environment holds, so it is not counted here:
    # these are the engine's own bytes per node (a real Lean state adds its text, 0.2-2 kB).
    return {"cap": cap, "nodes": nodes, "cap_holds": nodes <= cap,
            "bytes_per_node": (with_tree - without_tree) / max(nodes, 1),
            "peak_bytes_per_node": (peak - before) / max(nodes, 1),
            "retained_mb": (with_tree - without_tree) / 2**20}
