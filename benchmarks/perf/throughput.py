"""2. Throughput against the limit, with a fixed and with a batched generator."""

from __future__ import annotations

import asyncio
import logging
import math
import statistics
import time
from collections.abc import Sequence
from typing import Any, TypeVar

from benchmarks.perf.config import (
    THEOREM,
    PerfConfig,
    fixed_generator,
    search_config,
    synthetic_trace,
)
from benchmarks.perf.doubles import ProcessPoolEnvironment, SerialSession, measure_clocks
from prover.backends.replay import ReplayEnvironment
from prover.config import SearchConfig, SearchResult
from prover.search import BestFirstSearch
from prover.types import Candidate, ProofState, Theorem

log = logging.getLogger(__name__)
T = TypeVar("T")


def window_rate(sessions: Sequence[SerialSession]) -> tuple[float, float]:
    """Applications completed per second while every session was running, and the window.

    The window runs from the last session's first application to the first session's last;
    an application that straddles an edge counts by the fraction of it inside the window.
    """
    live = [s.intervals for s in sessions if s.intervals]
    if len(live) < len(sessions):
        return 0.0, 0.0
    start = max(iv[0][0] for iv in live)
    end = min(iv[-1][1] for iv in live)
    if end <= start:
        return 0.0, 0.0
    done = 0.0
    for intervals in live:
        for began, ended in intervals:
            inside = min(ended, end) - max(began, start)
            if inside > 0:
                done += inside / (ended - began) if ended > began else 1.0
    return done / (end - start), end - start


async def _run_searches(search: BestFirstSearch, count: int) -> list[SearchResult]:
    return list(await asyncio.gather(*(search.search(Theorem(THEOREM)) for _ in range(count))))


async def _bare_drivers(env: ProcessPoolEnvironment, count: int, steps: int, k: int) -> None:
    """``count`` loops, one session each, applying ``k`` tactics per step (one after another, or
    together when the session is not serial) with no search around them."""
    async def drive() -> None:
        session = await env.open(Theorem(THEOREM))
        async with session:
            tactics = [f"t{i}" for i in range(k)]
            for _ in range(steps):
                if env.serial:
                    for tactic in tactics:
                        await session.apply(session.root, tactic)
                else:
                    await asyncio.gather(*(session.apply(session.root, t) for t in tactics))

    await asyncio.gather(*(drive() for _ in range(count)))


def measure_throughput(cfg: PerfConfig) -> list[dict[str, Any]]:
    """Achieved / limit applications per second for W searches, each with its own process.

    ``limit = W / L`` is what the processes could do if each answered in exactly ``L`` and never
    waited. ``bare`` is what they give, in the same run, to loops that make the same number of
    applications with no search around them: the simulated latency itself overshoots ``L`` (the
    event loop's timers), and on a shared machine other processes take the CPU; achieved/bare is
    the part the engine is answerable for.
    """
    k = SearchConfig().num_candidates
    expansions = max(2, math.ceil(cfg.duration_s / (k * cfg.latency_s)))
    records = synthetic_trace(expansions * k + k, k, "wide")
    setups: list[tuple[int, bool]] = [(w, True) for w in cfg.concurrency]
    setups.append((1, False))  # one search, its candidates in flight together
    rows = []
    for searches, serial in setups:
        # Noisy on a shared machine: each setup runs `repeats` times; the median row is kept.
        runs = [_throughput_once(cfg, records, k, expansions, searches, serial)
                for _ in range(cfg.repeats)]
        row = median_row(runs)
        rows.append(row)
        log.info("throughput W=%d serial=%s: %.3f of the limit", searches, serial, row["ratio"])
    return rows


def median_row(runs: Sequence[dict[str, Any]], key: str = "ratio") -> dict[str, Any]:
    """The run with the median ``key``, with every run's value beside it (``key + "s"``)."""
    ordered = sorted(runs, key=lambda r: r[key])
    row = dict(ordered[(len(ordered) - 1) // 2])
    row[key + "s"] = [r[key] for r in runs]
    return row


def _throughput_once(cfg: PerfConfig, records: Sequence[Any], k: int, expansions: int,
                     searches: int, serial: bool) -> dict[str, Any]:
    env = ProcessPoolEnvironment(ReplayEnvironment(records, cfg.latency_s), serial=serial)
    search = BestFirstSearch(env, fixed_generator(k),
                             config=search_config(max_expansions=expansions))
    results, timed = asyncio.run(measure_clocks(_run_searches(search, searches)))
    rate, window = window_rate(env.sessions)
    bare_env = ProcessPoolEnvironment(ReplayEnvironment(records, cfg.latency_s), serial=serial)
    bare_clock = asyncio.run(measure_clocks(_bare_drivers(bare_env, searches, expansions, k)))[1]
    bare, _ = window_rate(bare_env.sessions)
    in_flight = searches if serial else min(k, SearchConfig().max_concurrent_tactics)
    limit = in_flight / cfg.latency_s
    env_calls = sum(r.stats.env_calls for r in results)
    bare_calls = searches * expansions * k
    return {"searches": searches, "serial": serial, "in_flight": in_flight,
            "latency_s": cfg.latency_s, "achieved_per_s": rate, "limit_per_s": limit,
            "ratio": rate / limit, "bare_per_s": bare,
            "ratio_bare": rate / bare if bare else 0.0,
            "window_s": window, "cpu_s": timed.cpu_s, "wall_s": timed.wall_s,
            "env_calls": env_calls,
            # CPU per tactic of the whole process (search + replay environment + event loop),
            # and of the bare loops that make the same calls with no search.
            "cpu_us_per_tactic": 1e6 * timed.cpu_s / max(env_calls, 1),
            "bare_cpu_us_per_tactic": 1e6 * bare_clock.cpu_s / max(bare_calls, 1)}


class SimulatedModel:
    """A :class:`~prover.generators.batching.BatchGenerator` whose call on ``n`` states sleeps
    ``fixed_s + per_item_s * n`` (a GPU's cost shape) and proposes ``t0 .. t{k-1}``."""

    def __init__(self, fixed_s: float, per_item_s: float) -> None:
        self.fixed_s = fixed_s
        self.per_item_s = per_item_s
        self.calls: list[tuple[float, float, int]] = []

    def generate(self, states: Sequence[ProofState], k: int) -> list[list[Candidate]]:
        began = time.monotonic()
        time.sleep(self.fixed_s + self.per_item_s * len(states))
        self.calls.append((began, time.monotonic(), len(states)))
        return [[Candidate(f"t{i}", 0.0) for i in range(k)] for _ in states]


def closed_loop_bound(searches: int, k: int, latency_s: float, fixed_s: float,
                      per_item_s: float, max_batch: int) -> tuple[float, float]:
    """An upper bound on expansions per second for ``searches`` closed-loop searches, and the
    mean batch that reaches it.

    A search waits for its own proposal, then for its own ``k`` tactics (one process each, ``L``
    per tactic), so its cycle is at least ``k L + a + b B`` when its proposal rode in a batch of
    ``B``; ``W`` searches give at most ``W / (k L + a + b B)``. The generator, busy ``a + b B``
    per batch, gives at most ``B / (a + b B)``. The first falls and the second rises with the
    mean batch ``B`` (1 <= B <= min(max_batch, W)), so the bound is the larger of the two minima
    at their crossing, or at the end of B's range. (A batch of every waiting search is not best:
    the searches then all wait for the generator together and all leave it idle together.)
    """
    a, b, w, env = fixed_s, per_item_s, searches, k * latency_s
    top = float(min(max_batch, searches))
    if b > 0:  # b B^2 + (kL + a - b W) B - a W = 0
        c = env + a - b * w
        crossing = (-c + math.sqrt(c * c + 4 * a * b * w)) / (2 * b)
    else:
        crossing = a * w / (env + a)
    batch = min(max(crossing, 1.0), top)
    return min(w / (env + a + b * batch), batch / (a + b * batch)), batch


class DirectModel:
    """The same simulated model called directly, one state per call, in a worker thread (as a
    generator with no batcher would): the baseline of the one-search batched figure."""

    def __init__(self, model: SimulatedModel) -> None:
        self.model = model

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        return (await asyncio.to_thread(self.model.generate, [state], k))[0]


def measure_one_search_batched(cfg: PerfConfig) -> dict[str, Any]:
    """One search, a generator of ``one_search_gen_s`` per call: expansions per second with the
    model behind :class:`MicroBatcher` against the same model called directly (no company
    can come, so the batcher must not wait for any)."""
    from prover.generators.batching import MicroBatcher

    k = SearchConfig().num_candidates
    cost = cfg.one_search_gen_s + k * cfg.latency_s
    expansions = max(3, math.ceil(cfg.duration_s / cost))
    records = synthetic_trace(expansions * k + k, k, "wide")

    def rate(generator: Any) -> float:
        env = ProcessPoolEnvironment(ReplayEnvironment(records, cfg.latency_s))
        search = BestFirstSearch(env, generator,
                                 config=search_config(max_expansions=expansions))
        results, timed = asyncio.run(measure_clocks(_run_searches(search, 1)))
        return results[0].stats.expansions / timed.wall_s

    runs = []
    for _ in range(cfg.repeats):
        batcher = MicroBatcher(SimulatedModel(cfg.one_search_gen_s, 0.0), max_batch=cfg.max_batch)
        try:
            batched = rate(batcher)
        finally:
            batcher.close()
        direct = rate(DirectModel(SimulatedModel(cfg.one_search_gen_s, 0.0)))
        runs.append({"gen_s": cfg.one_search_gen_s, "latency_s": cfg.latency_s,
                     "batched_per_s": batched, "direct_per_s": direct,
                     "ratio": batched / direct if direct else 0.0,
                     "early_dispatches": batcher.early_dispatches,
                     "batches": sum(batcher.batch_sizes.values())})
    return median_row(runs)


def measure_batched(cfg: PerfConfig) -> list[dict[str, Any]]:
    """Expansions per second with a batched, costly generator against min(env, generator) and
    against :func:`closed_loop_bound` (median of ``repeats`` runs per W)."""
    rows = []
    for searches in cfg.batched_concurrency:
        row = median_row([_batched_once(cfg, searches) for _ in range(cfg.repeats)],
                         "ratio_closed_loop")
        rows.append(row)
        log.info("batched W=%d: %.3f of the bound", searches, row["ratio_closed_loop"])
    return rows


def _batched_once(cfg: PerfConfig, searches: int) -> dict[str, Any]:
    from prover.generators.batching import MicroBatcher

    k = SearchConfig().num_candidates
    batch = min(cfg.max_batch, searches)
    gen_limit = batch / (cfg.gen_fixed_s + cfg.gen_per_item_s * batch)
    env_limit = searches / (k * cfg.batched_latency_s)
    closed_loop, best_batch = closed_loop_bound(searches, k, cfg.batched_latency_s,
                                                cfg.gen_fixed_s, cfg.gen_per_item_s,
                                                cfg.max_batch)
    expansions = max(3, math.ceil(cfg.duration_s * min(gen_limit, env_limit) / searches))
    records = synthetic_trace(expansions * k + k, k, "wide")
    env = ProcessPoolEnvironment(ReplayEnvironment(records, cfg.batched_latency_s))
    model = SimulatedModel(cfg.gen_fixed_s, cfg.gen_per_item_s)
    batcher = MicroBatcher(model, max_batch=cfg.max_batch)
    try:
        search = BestFirstSearch(env, batcher,
                                 config=search_config(max_expansions=expansions))
        results, timed = asyncio.run(measure_clocks(_run_searches(search, searches)))
    finally:
        batcher.close()
    # Expansions per second in the window where every search runs: each application
    # is 1/k of an expansion (every expansion applies all k candidates).
    rate, window = window_rate(env.sessions)
    rate /= k
    limit = min(gen_limit, env_limit)
    sizes = [n for _, _, n in model.calls]
    return {"searches": searches, "latency_s": cfg.batched_latency_s,
                 "gen_fixed_s": cfg.gen_fixed_s, "gen_per_item_s": cfg.gen_per_item_s,
                 "max_batch": cfg.max_batch, "achieved_per_s": rate,
                 "env_limit_per_s": env_limit, "gen_limit_per_s": gen_limit,
                 "limit_per_s": limit, "ratio": rate / limit,
                 "closed_loop_per_s": closed_loop, "closed_loop_batch": best_batch,
                 "ratio_closed_loop": rate / min(limit, closed_loop),
                 "mean_batch": statistics.fmean(sizes) if sizes else 0.0,
                 "window_s": window, "wall_s": timed.wall_s,
                 "expansions": sum(r.stats.expansions for r in results)}
