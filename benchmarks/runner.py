"""The benchmark runner: every (theorem, attempt) of a suite, one result row each, resumable.

:func:`run_benchmark` is the whole flow: load and select the suite, open the run directory
(lock, config check, torn-line repair), skip the rows already written, run the rest with
``concurrency`` searches in flight sharing one environment and one generator (or spread them over
Ray), append each row as it finishes, and return the summary. One attempt (the components it
shares, its row) is :mod:`benchmarks.attempts`.

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
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.attempts import (
    AttemptRunner,
    Components,
    RowSink,
    WorkItem,
    build_components,
    error_row,
    make_row,
    versions,
)
from benchmarks.config import BenchConfig
from benchmarks.metrics import RunSummary, summarize
from benchmarks.results import SUMMARY_FILE, RunDir, run_dir_io, write_json_atomic
from benchmarks.suites import Suite, load_suite
from prover.errors import BackendUnavailableError, ConfigError
from prover.view.tree_json import keep_row_tree

log = logging.getLogger(__name__)


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
