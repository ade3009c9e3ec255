"""One attempt of a benchmark: the shared components, the attempt runner and its result row.

What the local runner (:mod:`benchmarks.runner`) and the Ray workers
(:mod:`benchmarks.ray_runner`) share: both build :class:`Components` from a
:class:`~benchmarks.config.BenchConfig` (specs become objects here, through
:mod:`prover.specs`; objects are used as they are) and run each (theorem, attempt) through an
:class:`AttemptRunner`, which turns it into one ``results.jsonl`` row and never raises
``Exception``.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import platform
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmarks.config import BenchConfig
from prover.config import SearchConfig, SearchResult, SearchStats
from prover.errors import BackendUnavailableError
from prover.types import Theorem
from prover.view.tree_json import ROW_TREE_KEY, row_tree

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
    from benchmarks.specs import make_generator
    from prover.specs import (
        backend_owns_tactic_timeout,
        make_environment,
        make_heuristic,
        parse_rollout,
    )

    heuristic = (make_heuristic(config.heuristic) if isinstance(config.heuristic, str)
                 else config.heuristic)
    rollout = parse_rollout(config.rollout)
    timeout = config.search.tactic_timeout_s
    search = config.search
    if backend_owns_tactic_timeout(config.backend):
        search = dataclasses.replace(search, tactic_timeout_s=None)
    env = make_environment(config.backend, config.backend_options, trace=trace,
                           tactic_timeout_s=timeout)
    try:
        generator = (make_generator(config.generator) if isinstance(config.generator, str)
                     else config.generator)
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


__all__ = ["AttemptRunner", "Components", "RowSink", "WorkItem", "build_components",
           "error_row", "make_row", "versions"]
