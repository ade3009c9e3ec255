"""User code that the benchmark tests name by path (``tests/bench_plugins.py:NAME``), as a
researcher would name their own heuristic, backend or generator."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from prover.backends.replay import ReplayEnvironment
from prover.errors import EnvironmentInitError
from prover.types import Candidate, ProofState, SearchNode, Theorem


def fewest_bad(node: SearchNode) -> float:
    """A plain node -> float heuristic: avoid paths that used the tactic ``bad``."""
    return -float(node.tactics.count("bad"))


class FewestBad:
    """The same as a Heuristic class (instantiated by the runner)."""

    async def score(self, nodes: Sequence[SearchNode]) -> list[float]:
        return [fewest_bad(n) for n in nodes]


def crash_on_boom(node: SearchNode) -> float:
    """A buggy user heuristic: raises on any state of a theorem whose goal mentions 'boom'."""
    if "boom" in node.state.pp:
        raise ZeroDivisionError("user heuristic bug")
    return node.cumulative_logprob


def die_on_kill(node: SearchNode) -> float:
    """Kills its process on states mentioning 'killalways', and on 'killonce' unless the marker
    file named by $BENCH_KILL_MARKER exists (then it creates it first)."""
    text = node.state.pp
    if "killalways" in text:
        os._exit(17)
    if "killonce" in text:
        marker = Path(os.environ["BENCH_KILL_MARKER"])
        if not marker.exists():
            marker.write_text("died once")
            os._exit(17)
    return node.cumulative_logprob


class FlakyReplay:
    """A replay backend whose ``open`` fails for the theorems named in ``fail``."""

    def __init__(self, trace: str, fail: Sequence[str] = (), latency_s: Any = None) -> None:
        self.inner = ReplayEnvironment.from_jsonl(trace, latency_s=latency_s)
        self.fail = set(fail)

    async def open(self, theorem: Theorem) -> Any:
        if theorem.name in self.fail:
            raise EnvironmentInitError(f"cannot start a prover for {theorem.name}")
        return await self.inner.open(theorem)

    async def close(self) -> None:
        await self.inner.close()


class SeededGenerator:
    """Proposes ``good`` first under odd seeds and ``bad`` first otherwise; records the seeds
    it was asked for through ``with_seed``."""

    seeds_requested: ClassVar[list[int]] = []

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def with_seed(self, seed: int) -> SeededGenerator:
        SeededGenerator.seeds_requested.append(seed)
        return SeededGenerator(seed)

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        first, second = ("good", "bad") if self.seed % 2 else ("bad", "good")
        return [Candidate(first, -0.1), Candidate(second, -2.0), Candidate("finish", -0.5)][:k]


def two_theorems() -> list[Theorem]:
    """A user's suite: a function returning theorems."""
    return [Theorem("t01"), Theorem("t02")]
