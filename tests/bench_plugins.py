"""User code that the benchmark tests name by path (``tests/bench_plugins.py:NAME``), as a
researcher would name their own heuristic, backend or generator."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from prover.backends.replay import ReplayEnvironment
from prover.errors import BackendUnavailableError, EnvironmentInitError
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


class UnavailableBackend:
    """A backend whose executable is missing: it cannot even be built."""

    def __init__(self, **options: Any) -> None:
        raise BackendUnavailableError("prover-exe not found on PATH: install it, or put its "
                                      "directory on PATH")


class UnavailableOnOpen:
    """A replay backend that cannot start a prover for the theorems in ``broken`` (every
    theorem when ``broken`` is ``["*"]``): BackendUnavailableError at open."""

    def __init__(self, trace: str, broken: Sequence[str] = ("*",)) -> None:
        self.inner = ReplayEnvironment.from_jsonl(trace)
        self.broken = set(broken)

    async def open(self, theorem: Theorem) -> Any:
        if "*" in self.broken or theorem.name in self.broken:
            raise BackendUnavailableError("prover-exe exited at start: bad executable "
                                          "(exec format error)")
        return await self.inner.open(theorem)

    async def close(self) -> None:
        await self.inner.close()


class FailWhileListed:
    """A replay backend whose ``open`` fails (a passing EnvironmentInitError) for the theorems
    listed, one per line, in the file named by $BENCH_FAIL_FILE (read at each open)."""

    def __init__(self, trace: str) -> None:
        self.inner = ReplayEnvironment.from_jsonl(trace)

    async def open(self, theorem: Theorem) -> Any:
        listed = Path(os.environ["BENCH_FAIL_FILE"])
        if listed.exists() and theorem.name in listed.read_text().split():
            raise EnvironmentInitError(f"prover for {theorem.name} crashed while loading")
        return await self.inner.open(theorem)

    async def close(self) -> None:
        await self.inner.close()


class SlowTactics:
    """A replay backend with a per-tactic timeout of its own (``tactic_timeout_s``), whose
    tactics each take ``delay_s``; appends the timeout it was built with to the file named by
    $BENCH_TIMEOUT_LOG."""

    def __init__(self, trace: str, delay_s: float = 0.2,
                 tactic_timeout_s: float | None = None) -> None:
        with open(os.environ["BENCH_TIMEOUT_LOG"], "a", encoding="utf-8") as log:
            log.write(f"{tactic_timeout_s}\n")
        self.inner = ReplayEnvironment.from_jsonl(trace, latency_s=delay_s)

    async def open(self, theorem: Theorem) -> Any:
        return await self.inner.open(theorem)

    async def close(self) -> None:
        await self.inner.close()


def interrupt_on_marked(node: SearchNode) -> float:
    """Ctrl-C (KeyboardInterrupt) on a state of theorem t03, unless the marker file named by
    $BENCH_INTERRUPT_MARKER exists (it is created first): the run is interrupted once."""
    if "t03" in node.state.pp:
        marker = Path(os.environ["BENCH_INTERRUPT_MARKER"])
        if not marker.exists():
            marker.write_text("interrupted once")
            raise KeyboardInterrupt
    return node.cumulative_logprob


# ---- a small Coq suite (real coqidetop) -------------------------------------------------------
COQ_PRELUDE = "Require Import Arith Lia."
SLOW_PRELUDE = COQ_PRELUDE + " Definition slow (n : nat) := n = S n."
COQ_SLOW_TACTIC = ("lazymatch goal with |- context [slow] => repeat (assert True by trivial) "
                   "| _ => fail end.")
"""Runs until Coq's Timeout on the 'slow' lemmas (a goal naming ``slow``), fails at once on the
others (``slow`` is not defined there)."""

COQ_TACTICS = [["intro.", -0.1], [COQ_SLOW_TACTIC, -0.2], ["auto with arith.", -0.3],
               ["lia.", -0.4], ["tauto.", -0.5], ["intros.", -0.6]]


def coq_lemmas() -> list[Theorem]:
    """Two lemmas that keep a search busy until its time limit (every state of theirs runs
    :data:`COQ_SLOW_TACTIC` until Coq's Timeout), then quick ones; at a concurrency above the
    pool of two processes, the quick ones wait for the slow ones to end."""
    slow = [Theorem(f"slow{i}", f"Lemma slow{i} : forall a b c d e f g h : nat, slow a.",
                    {"prelude": SLOW_PRELUDE}) for i in (1, 2)]
    quick = [("plus_zero", "forall n : nat, n + 0 = n"),
             ("comm", "forall a b : nat, a + b = b + a"),
             ("and_swap", "forall A B : Prop, A /\\ B -> B /\\ A"),
             ("le_add", "forall n m : nat, n <= n + m"),
             ("mul_one", "forall n : nat, n * 1 = n"),
             ("or_swap", "forall A B : Prop, A \\/ B -> B \\/ A")]
    return slow + [Theorem(name, f"Lemma {name} : {statement}.", {"prelude": COQ_PRELUDE})
                   for name, statement in quick]
