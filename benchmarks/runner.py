"""The benchmark runner: every (theorem, attempt) of a suite, one result row each, resumable.

:func:`run_benchmark` is the whole flow: load and select the suite, open the run directory
(lock, config check, torn-line repair), skip the rows already written, run the rest with
``concurrency`` searches in flight sharing one environment and one generator (or spread them over
Ray), append each row as it finishes, and return the summary.

Every search gives exactly one row. A search that raises anything (an environment failure, a bug
in a user's heuristic) is a row with status ``error``, its message and traceback, and counts as a
failure in the pass rate. An ``error`` is taken for passing: a resumed run runs it again (unless
``keep_errors``) and its new row supersedes the old one. A backend that cannot start at all
(:class:`~prover.errors.BackendUnavailableError`) is no row: it stops the run, and the command
fails with its message. ``config.json`` is written once every spec has been built.

Each row's search tree is kept as compact JSON in ``RUN_DIR/trees/`` (written before its row, so
a resumed run finds a tree for every row; ``seg-prover view RUN_DIR`` draws them).

Seeds: attempt ``i`` uses seed ``config.seed + i``. It seeds the rollout sampler
(``RolloutConfig.seed``) and, when the generator has a ``with_seed(seed)`` method returning a
generator (sampling generators that share one model), the generator's sampling. Generators without
it (fixed lists, k-NN, beam search) propose the same tactics in every attempt, so their attempts
differ only where the search itself is stochastic; the runner logs a warning when ``attempts > 1``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import math
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.config import BenchConfig
from benchmarks.metrics import RunSummary, summarize
from benchmarks.results import SUMMARY_FILE, RunDir, run_dir_io, write_json_atomic
from benchmarks.suites import Suite, load_suite
from prover.config import SearchConfig, SearchResult, SearchStats
from prover.errors import BackendUnavailableError, ConfigError
from prover.types import Theorem
from prover.view.tree_json import ROW_TREE_KEY, keep_row_tree, row_tree

if TYPE_CHECKING:
    from heuristics.base import Heuristic
    from prover.env import Environment
    from prover.generators.base import TacticGenerator
    from prover.search import BestFirstSearch
    from rollout.config import RolloutConfig

log = logging.getLogger(__name__)

WorkItem = tuple[Theorem, int]
"""A theorem and the index of the attempt to run on it."""

RowSink = Callable[[dict[str, Any]], None]

_VERSIONED_MODULES = ("torch", "transformers", "lean_dojo", "lean_interact", "vllm", "ray")
_TRACEBACK_CHARS = 4000


def versions() -> dict[str, str]:
    """Versions of seg-prover, Python and the heavy libraries this process has imported."""
    from prover import __version__

    out = {"seg-prover": __version__, "python": platform.python_version()}
    for name in _VERSIONED_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            out[name] = str(getattr(module, "__version__", "unknown"))
    return out


@dataclass
class Components:
    """What the searches of one process share: environment, generator, heuristic, rollouts,
    and the search budgets they run with (``None``: the config's own)."""

    env: Environment
    generator: TacticGenerator
    heuristic: Heuristic
    rollout: RolloutConfig | None
    search: SearchConfig | None = None

    async def close(self) -> None:
        """Close the environment, and the generator if it has ``aclose``/``close``."""
        try:
            await self.env.close()
        finally:
            closer = getattr(self.generator, "aclose", None) or getattr(self.generator, "close",
                                                                        None)
            if callable(closer):
                outcome = closer()
                if inspect.isawaitable(outcome):
                    await outcome


async def build_components(config: BenchConfig, *, trace: str | None = None) -> Components:
    """Build the components named in ``config``; ``trace`` is the suite's file if it is a trace.

    The heuristic and rollout specs are checked first (cheap) so a typo fails before a model or a
    prover process is started. ``config.search.tactic_timeout_s`` (``--tactic-timeout``) goes to
    a backend with a per-tactic timeout of its own, and the searches then run without the
    search's watchdog (which would count a tactic's wait behind another as its time); a backend
    without one (``replay``) gets the watchdog.
    """
    from benchmarks.specs import (
        backend_owns_tactic_timeout,
        make_environment,
        make_generator,
        make_heuristic,
        parse_rollout,
    )

    heuristic = make_heuristic(config.heuristic)
    rollout = parse_rollout(config.rollout)
    timeout = config.search.tactic_timeout_s
    search = config.search
    if backend_owns_tactic_timeout(config.backend):
        search = dataclasses.replace(search, tactic_timeout_s=None)
    env = make_environment(config.backend, config.backend_options, trace=trace,
                           tactic_timeout_s=timeout)
    try:
        generator = make_generator(config.generator)
    except BaseException:
        await env.close()
        raise
    return Components(env, generator, heuristic, rollout, search)


class AttemptRunner:
    """Runs one attempt on one theorem and returns its result row (never raises ``Exception``)."""

    def __init__(self, config: BenchConfig, components: Components, *,
                 worker: str = "local") -> None:
        self.config = config
        self.components = components
        self.worker = worker
        self.config_hash = config.config_hash()
        self._searches: dict[int, BestFirstSearch] = {}
        self._seeded = callable(getattr(components.generator, "with_seed", None))
        if config.attempts > 1 and not self._seeded:
            log.warning("%s has no with_seed(seed): its %d attempts per theorem propose the "
                        "same tactics", type(components.generator).__name__, config.attempts)

    def search_for(self, seed: int) -> BestFirstSearch:
        """The search of the attempts with this seed (built once, shared by them)."""
        from prover.search import BestFirstSearch

        search = self._searches.get(seed)
        if search is None:
            parts = self.components
            generator = parts.generator
            if self._seeded:
                generator = getattr(generator, "with_seed")(seed)  # noqa: B009 - optional method
            rollout = dataclasses.replace(parts.rollout, seed=seed) if parts.rollout else None
            search = BestFirstSearch(parts.env, generator, parts.heuristic,
                                     parts.search or self.config.search, rollout=rollout)
            self._searches[seed] = search
        return search

    async def run(self, theorem: Theorem, attempt: int) -> dict[str, Any]:
        seed = self.config.seed_for(attempt)
        start = time.monotonic()
        trace: str | None = None
        try:
            result = await self.search_for(seed).search(theorem)
            data = result.to_dict()
            data[ROW_TREE_KEY] = row_tree(result, attempt)  # written to trees/ by the sink
        except BackendUnavailableError:
            raise  # permanent: no row, the run stops (see run_local)
        except Exception as exc:
            log.warning("search of %s (attempt %d) raised %s: %s (traceback in its row)",
                        theorem.name, attempt, type(exc).__name__, exc)
            data = SearchResult(theorem.name, "error", message=f"{type(exc).__name__}: {exc}",
                                stats=SearchStats(wall_s=time.monotonic() - start)).to_dict()
            trace = traceback.format_exc()[-_TRACEBACK_CHARS:]
        return make_row(data, attempt=attempt, seed=seed, config_hash=self.config_hash,
                        worker=self.worker, traceback_text=trace)


def make_row(result: Mapping[str, Any], *, attempt: int, seed: int, config_hash: str,
             worker: str, traceback_text: str | None = None) -> dict[str, Any]:
    """A results.jsonl row: the SearchResult fields plus attempt, seed, hash and versions."""
    row = dict(result)
    row.update({"attempt": attempt, "seed": seed, "config_hash": config_hash,
                "versions": versions(), "worker": worker, "finished_at": round(time.time(), 3)})
    if traceback_text:
        row["traceback"] = traceback_text
    return row


def error_row(theorem: str, attempt: int, config: BenchConfig, message: str, *,
              worker: str) -> dict[str, Any]:
    """The row of an attempt that could not run at all (e.g. its Ray worker kept dying)."""
    data = SearchResult(theorem, "error", message=message).to_dict()
    return make_row(data, attempt=attempt, seed=config.seed_for(attempt),
                    config_hash=config.config_hash(), worker=worker)


def plan(suite: Suite, attempts: int, done: Iterable[tuple[str, int]] = ()) -> list[WorkItem]:
    """The (theorem, attempt) pairs still to run, attempt-major (all first attempts first, so
    an interrupted pass@K run already has a complete pass@1)."""
    finished = set(done)
    return [(theorem, attempt) for attempt in range(attempts) for theorem in suite.theorems
            if (theorem.name, attempt) not in finished]


async def run_local(runner: AttemptRunner, items: Sequence[WorkItem], sink: RowSink, *,
                    concurrency: int) -> None:
    """Run ``items`` with at most ``concurrency`` searches in flight; ``sink`` each row.

    What a worker raises (the backend is unavailable, ``sink`` cannot write) stops the others
    at once, so that no row is written after it, and is re-raised."""
    pending = iter(items)

    async def worker() -> None:
        for theorem, attempt in pending:  # the shared iterator hands each item out once
            sink(await runner.run(theorem, attempt))

    workers = [asyncio.ensure_future(worker())
               for _ in range(max(1, min(concurrency, len(items))))]
    try:
        await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    for task in workers:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _run_here(config: BenchConfig, suite: Suite, items: Sequence[WorkItem],
                    sink: RowSink, concurrency: int, ready: Callable[[], None]) -> None:
    components = await build_components(config, trace=suite.trace)
    try:
        ready()
        await run_local(AttemptRunner(config, components), items, sink, concurrency=concurrency)
    finally:
        await components.close()


def select_suite(config: BenchConfig) -> Suite:
    """The suite of ``config`` with its limit and filter applied; a filter that matches no
    theorem is a ConfigError naming it."""
    suite = load_suite(config.suite)
    chosen = suite.select(limit=config.limit, pattern=config.filter)
    if not chosen.theorems:
        raise ConfigError(f"--filter {config.filter!r} matches none of the "
                          f"{len(suite.theorems)} theorems of suite {config.suite} "
                          f"(a regular expression searched in each name, e.g. "
                          f"{suite.theorems[0].name!r})")
    return chosen


def run_benchmark(config: BenchConfig, run_dir: str | Path, *, concurrency: int = 1,
                  force: bool = False, progress: bool = True, ray: bool = False,
                  ray_address: str | None = None, ray_actors: int | None = None,
                  ray_actor_options: Mapping[str, Any] | None = None,
                  max_retries: int = 2, keep_errors: bool = False) -> RunSummary:
    """Run (or resume) a benchmark into ``run_dir`` and return its summary.

    ``ray`` spreads the attempts over a Ray cluster (``ray_address``, or the one already
    initialised, or a local one) with ``ray_actors`` workers of ``concurrency`` searches each
    (``ray_actor_options`` such as ``num_gpus`` go to Ray); an attempt whose worker dies is
    retried up to ``max_retries`` times, then recorded as ``error``. A resumed run runs the
    ``error`` rows again unless ``keep_errors``. The summary is also written to
    ``RUN_DIR/summary.json``.

    Raises :class:`~prover.errors.BackendUnavailableError` (no row for it; rows written before
    are kept), :class:`~benchmarks.results.RunDirError` when the run directory cannot be
    written, and ``KeyboardInterrupt``;
    the same call then resumes. The directory's lock is released on every exit.
    """
    from benchmarks.progress import ProgressView

    if concurrency < 1:
        raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
    suite = select_suite(config)
    names = suite.names
    label = Path(run_dir).name or str(run_dir)
    with RunDir.open(run_dir, config, names, force=force, versions=versions()) as run:
        kept = {key: row for key, row in run.done.items()
                if keep_errors or row.get("status") != "error"}
        items = plan(suite, config.attempts, kept)
        if run.done:
            log.info("resuming %s: %d rows done, %d to run (%d errors run again)", run.path,
                     len(kept), len(items), len(run.done) - len(kept))
        selected = set(names)
        view = ProgressView(len(names) * config.attempts,
                            [r for (name, attempt), r in kept.items()
                             if attempt < config.attempts and name in selected],
                            enabled=progress)

        def sink(row: dict[str, Any]) -> None:
            with run_dir_io():
                keep_row_tree(run.path, row)
            run.append(row)
            view.update(row)

        try:
            if items and ray:
                from benchmarks.ray_runner import run_on_ray

                run_on_ray(config, suite, items, sink, address=ray_address, actors=ray_actors,
                           concurrency=concurrency, max_retries=max_retries,
                           actor_options=ray_actor_options, ready=run.commit)
            elif items:
                asyncio.run(_run_here(config, suite, items, sink, concurrency, run.commit))
        except BackendUnavailableError as exc:
            raise BackendUnavailableError(
                f"backend {config.backend!r} cannot start: {' '.join(str(exc).split())} -- "
                f"the run stopped with no row for it ({len(run.done)} rows are kept in "
                f"{run.path}); fix that, then run the same command again to resume") from exc
        finally:
            view.close()
        summary = summarize(run.done.values(), k=config.attempts, theorems=names, label=label)
        if run.committed:
            with run_dir_io():
                write_json_atomic(run.path / SUMMARY_FILE, _finite(summary.to_dict()))
        return summary


def _finite(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with NaN numbers (no value yet) as ``null``: JSON has no NaN."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return {key: clean(value) for key, value in data.items()}


__all__ = [
    "AttemptRunner",
    "Components",
    "RowSink",
    "WorkItem",
    "build_components",
    "error_row",
    "make_row",
    "plan",
    "run_benchmark",
    "run_local",
    "select_suite",
    "versions",
]
