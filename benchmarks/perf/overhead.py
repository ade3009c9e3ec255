"""1. Engine overhead: CPU per node and per expansion, and as a share of wall time."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeVar

from benchmarks.perf.config import (
    THEOREM,
    PerfConfig,
    fixed_generator,
    search_config,
    synthetic_trace,
)
from benchmarks.perf.doubles import (
    CapturingEnvironment,
    ProcessPoolEnvironment,
    Timed,
    measure_clocks,
    replay_calls,
)
from prover.backends.replay import ReplayEnvironment
from prover.config import SearchConfig, SearchStats
from prover.env import Environment
from prover.generators.base import TacticGenerator
from prover.search import BestFirstSearch
from prover.types import Theorem

log = logging.getLogger(__name__)
T = TypeVar("T")


def _engine_run(env: Environment, generator: TacticGenerator, config: SearchConfig,
                repeats: int, *, concurrent: bool = False) -> dict[str, Any]:
    """Search CPU, baseline CPU and their difference (fastest of ``repeats`` each).

    ``concurrent``: the baseline runs each expansion's applications together, as the search
    does when the session lets them overlap (waiting on many timers at once costs less CPU
    than on one after another).
    """
    theorem = Theorem(THEOREM)
    capture = CapturingEnvironment(env, generator)
    # Only the stats are kept: a tree left alive would make the garbage collector's passes
    # over the heap in the timed runs longer than a real search's.
    captured = asyncio.run(BestFirstSearch(capture, capture, config=config).search(theorem)).stats
    search = BestFirstSearch(env, generator, config=config)
    best: tuple[SearchStats, str, Timed] | None = None
    base: Timed | None = None
    for _ in range(repeats):
        result, timed = asyncio.run(measure_clocks(search.search(theorem)))
        if best is None or timed.cpu_s < best[2].cpu_s:
            best = (result.stats, result.status, timed)
        del result
        _, base_timed = asyncio.run(measure_clocks(
            replay_calls(env, generator, capture.calls, concurrent)))
        if base is None or base_timed.cpu_s < base.cpu_s:
            base = base_timed
    assert best is not None and base is not None
    stats, status, timed = best
    if stats.env_calls != sum(t is not None for _, t, _ in capture.calls) or \
            stats.nodes != captured.nodes:
        raise RuntimeError("the timed search made other calls than the captured one")
    engine_s = max(timed.cpu_s - base.cpu_s, 0.0)
    created = max(stats.nodes - 1, 1)
    expansions = max(stats.expansions, 1)
    return {"nodes": stats.nodes, "expansions": stats.expansions,
            "env_calls": stats.env_calls, "status": status,
            "search_cpu_s": timed.cpu_s, "search_wall_s": timed.wall_s,
            "baseline_cpu_s": base.cpu_s, "engine_cpu_s": engine_s,
            "gc_s": timed.gc_s, "gc_share": timed.gc_s / timed.cpu_s if timed.cpu_s else 0.0,
            "engine_us_per_node": 1e6 * engine_s / created,
            "engine_us_per_expansion": 1e6 * engine_s / expansions,
            "engine_share_of_wall": engine_s / timed.wall_s if timed.wall_s else 0.0}


def measure_overhead(cfg: PerfConfig) -> list[dict[str, Any]]:
    """Engine CPU per node and per expansion at zero latency, for each shape and tree size."""
    rows = []
    for shape in cfg.shapes:
        for size in cfg.tree_sizes:
            env = ReplayEnvironment(synthetic_trace(size, cfg.branching, shape))
            repeats = cfg.repeats if size <= 10_000 else 1
            row = _engine_run(env, fixed_generator(cfg.branching),
                              search_config(max_nodes=size), repeats)
            row.update(shape=shape, size=size)
            log.info("overhead %s %d: %.1f us/node", shape, size, row["engine_us_per_node"])
            rows.append(row)
    return rows


def measure_latency_overhead(cfg: PerfConfig) -> list[dict[str, Any]]:
    """Engine CPU as a share of wall time when every tactic takes ``overhead_latency_s``.

    The search and its baseline each keep their fastest of ``repeats`` runs, as in section 1: a
    single run's difference of two noisy CPU times swung by half its value on a shared machine.
    """
    rows = []
    records = synthetic_trace(cfg.overhead_nodes, cfg.branching, "wide")
    for serial in (True, False):
        env = ProcessPoolEnvironment(ReplayEnvironment(records, cfg.overhead_latency_s),
                                     serial=serial)
        row = _engine_run(env, fixed_generator(cfg.branching),
                          search_config(max_nodes=cfg.overhead_nodes), cfg.repeats,
                          concurrent=not serial)
        row.update(latency_s=cfg.overhead_latency_s, serial=serial,
                   in_flight=1 if serial else SearchConfig().max_concurrent_tactics)
        rows.append(row)
    return rows
