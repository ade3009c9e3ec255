"""Builders shared by the tests: hand-made traces and instrumented generators/environments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prover.backends.replay import ReplayEnvironment
from prover.env import Session
from prover.generators.fixed import FixedTacticGenerator
from prover.session_wrapper import SessionWrapper
from prover.traces import TraceRecord
from prover.types import Candidate, Outcome, ProofState, Theorem


def goal(name: str) -> str:
    """A Lean-looking goal whose text is unique to ``name``."""
    return f"x : ℕ\n⊢ {name}"


class TraceBuilder:
    """Builds a trace for one theorem from edges ``state --tactic--> state | proved | error``.

    States are named; a state's goals are ``goal(name)`` for each part of the name split on
    ``+`` (so ``"a+b"`` is a two-goal state).
    """

    def __init__(self, theorem: str = "t", root: str = "root") -> None:
        self.theorem = theorem
        self.records: list[TraceRecord] = [self._root(root)]

    @staticmethod
    def goals(state: str) -> tuple[str, ...]:
        return tuple(goal(part) for part in state.split("+"))

    def _root(self, state: str) -> TraceRecord:
        goals = self.goals(state)
        return TraceRecord(self.theorem, "\n\n".join(goals), None, "state", goals)

    def edge(self, before: str, tactic: str, after: str, latency_s: float | None = None
             ) -> TraceBuilder:
        """``after`` is a state name, ``"proved"``, ``"error"`` or ``"timeout"``."""
        text = "\n\n".join(self.goals(before))
        if after in ("proved", "error", "timeout"):
            record = TraceRecord(self.theorem, text, tactic, after,  # type: ignore[arg-type]
                                 (), None if after == "proved" else f"{after}!", latency_s)
        else:
            record = TraceRecord(self.theorem, text, tactic, "state", self.goals(after), None,
                                 latency_s)
        self.records.append(record)
        return self

    def env(self, latency_s: Any = None) -> ReplayEnvironment:
        return ReplayEnvironment(self.records, latency_s=latency_s)

    def theorem_obj(self) -> Theorem:
        return Theorem(self.theorem)


def key(state: str) -> str:
    """The ProofState key of a named state of :class:`TraceBuilder`."""
    return "\n\n".join(TraceBuilder.goals(state))


def generator(table: dict[str, Sequence[tuple[str, float]]]) -> LoggingGenerator:
    """A fixed generator keyed by state *name*, logging the states it was asked about."""
    return LoggingGenerator(FixedTacticGenerator({key(s): list(v) for s, v in table.items()}))


class LoggingGenerator:
    """Wraps a generator and records the order of the states it was asked to expand."""

    def __init__(self, inner: FixedTacticGenerator) -> None:
        self.inner = inner
        self.asked: list[str] = []

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        self.asked.append(state.key)
        return await self.inner.propose(state, k)


class SpyEnvironment:
    """Wraps an environment and records every tactic that reaches it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.applied: list[str] = []

    async def open(self, theorem: Theorem) -> Session:
        return _SpySession(await self.inner.open(theorem), self.applied)

    async def close(self) -> None:
        await self.inner.close()


class _SpySession(SessionWrapper):
    def __init__(self, inner: Session, applied: list[str]) -> None:
        super().__init__(inner)
        self.applied = applied

    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        self.applied.append(tactic)
        return await self.inner.apply(state, tactic)


class Capture:
    """Wraps an environment and keeps the sessions it opened (the search closes them)."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.sessions: list[Any] = []

    async def open(self, theorem: Theorem) -> Any:
        session = await self.env.open(theorem)
        self.sessions.append(session)
        return session

    async def close(self) -> None:
        await self.env.close()
