"""Sizes and simulated costs of a perf run, and the synthetic traces it searches."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from benchmarks.coq_demo import DEMO_INDEX_FILES
from prover.config import SearchConfig
from prover.errors import ConfigError
from prover.generators.fixed import FixedTacticGenerator
from prover.traces import TraceRecord

log = logging.getLogger(__name__)
T = TypeVar("T")


Shape = Literal["wide", "mixed"]
"""Synthetic trees. ``wide``: every tactic reaches a new state. ``mixed``: of every state's
``branching`` tactics, half reach new states, one reaches a state reached before by another path
(a dedup hit), one leads back to the parent (a cycle) and the rest are not in the trace (errors),
which is closer to a real search, where most tactics fail."""

THEOREM = "synthetic"


# ---- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PerfConfig:
    """Sizes and simulated costs of one benchmark run (defaults: the full run, under 5 minutes
    on 2 cores; :meth:`quick`: a CI smoke test of a few seconds)."""

    tree_sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    shapes: tuple[Shape, ...] = ("wide", "mixed")
    branching: int = 8
    repeats: int = 3
    """Overhead runs of trees up to 10k nodes are repeated and the fastest kept (noise is
    one-sided: other processes only ever slow a run down)."""
    overhead_latency_s: float = 0.001
    overhead_nodes: int = 2_000
    latency_s: float = 0.020
    concurrency: tuple[int, ...] = (1, 8, 64)
    duration_s: float = 3.0
    """Target length of each throughput measurement."""
    batched_latency_s: float = 0.002
    gen_fixed_s: float = 0.040
    gen_per_item_s: float = 0.001
    max_batch: int = 32
    batched_concurrency: tuple[int, ...] = (8, 64)
    one_search_gen_s: float = 0.050
    """One search's generator cost per call (ReProver-size model on a GPU, ~50 ms)."""
    memory_nodes: int = 100_000
    coq_theorems: int = 24
    coq_time_limit_s: float = 10.0
    coq_max_expansions: int = 40
    coq_workers: int = 2
    coq_index: str | None = None
    """A ``seg-prover coq extract`` directory for the k-NN index; ``None``: extract
    ``coq_index_files`` (by default the demo's) into the demo's cache."""
    coq_index_files: tuple[str, ...] = DEMO_INDEX_FILES

    def __post_init__(self) -> None:
        positive = ("branching", "repeats", "overhead_nodes", "memory_nodes", "max_batch",
                    "coq_workers", "coq_max_expansions")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"PerfConfig.{name} must be an integer >= 1, got {value!r}")
        if self.branching < 4:
            raise ConfigError(f"PerfConfig.branching must be >= 4 (the mixed shape needs "
                              f"room for new, dedup, cycle and error tactics), got "
                              f"{self.branching}")
        for name in ("overhead_latency_s", "latency_s", "duration_s", "batched_latency_s",
                     "gen_fixed_s", "coq_time_limit_s", "one_search_gen_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"PerfConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if self.gen_per_item_s < 0:
            raise ConfigError(f"PerfConfig.gen_per_item_s must be >= 0, "
                              f"got {self.gen_per_item_s!r}")
        if self.coq_theorems < 0:
            raise ConfigError(f"PerfConfig.coq_theorems must be >= 0 (0 skips the Coq "
                              f"section), got {self.coq_theorems!r}")
        for name in ("tree_sizes", "concurrency", "batched_concurrency"):
            values = getattr(self, name)
            if not values or any(not isinstance(v, int) or v < 1 for v in values):
                raise ConfigError(f"PerfConfig.{name} must be integers >= 1, got {values!r}")

    @classmethod
    def quick(cls) -> PerfConfig:
        """A few seconds: every section runs, on small sizes (a smoke test, not a measurement)."""
        return cls(tree_sizes=(200, 1_000), repeats=1, overhead_nodes=200, duration_s=0.3,
                   concurrency=(1, 8), batched_concurrency=(8,), gen_fixed_s=0.010,
                   one_search_gen_s=0.010,
                   memory_nodes=2_000, coq_theorems=2, coq_time_limit_s=5.0,
                   coq_max_expansions=5, coq_index_files=("Arith/Between.v",))


# ---- synthetic traces -------------------------------------------------------------------------


def _goal(index: int) -> str:
    return f"x y : ℕ\nh : x < y + {index}\n⊢ P {index} x y"


def synthetic_trace(nodes: int, branching: int, shape: Shape = "wide",
                    theorem: str = THEOREM) -> list[TraceRecord]:
    """Records of a tree whose states ``0, 1, 2, ...`` are numbered breadth-first.

    Tactic ``t{i}`` on state ``p`` reaches a new state (``wide``: all ``i``; ``mixed``: the first
    half). A search with equal log-probs expands breadth-first (ties go by insertion order), so
    transitions are recorded for the first ``nodes // new_per_state + 2`` states: enough for a
    search capped at ``nodes`` states. ``mixed`` adds per state a dedup hit (the first child of
    the previous state), a cycle (back to the parent) and unrecorded tactics (errors).
    """
    new = branching if shape == "wide" else branching // 2
    records = [TraceRecord(theorem, _goal(0), None, "state", (_goal(0),))]
    for parent in range(nodes // new + 2):
        before = _goal(parent)
        for i in range(new):
            child = parent * new + i + 1
            records.append(TraceRecord(theorem, before, f"t{i}", "state", (_goal(child),)))
        if shape == "mixed":
            if parent >= 2:  # state 1 is the first child of state 0: not a dedup hit for 1
                records.append(TraceRecord(theorem, before, f"t{new}", "state",
                                           (_goal((parent - 1) * new + 1),)))
            if parent >= 1:
                records.append(TraceRecord(theorem, before, f"t{new + 1}", "state",
                                           (_goal((parent - 1) // new),)))
    return records


def fixed_generator(branching: int) -> FixedTacticGenerator:
    """Proposes ``t0 .. t{branching-1}``, all with log-prob 0 (so the search is breadth-first)."""
    return FixedTacticGenerator([f"t{i}" for i in range(branching)])


def search_config(**overrides: Any) -> SearchConfig:
    base: dict[str, Any] = {"max_expansions": 10**9, "time_limit_s": 1e6,
                            "verify_proof": False}
    base.update(overrides)
    return SearchConfig(**base)
