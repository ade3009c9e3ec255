"""Offline environments: replay a recorded trace, or record any environment into one.

:class:`ReplayEnvironment` is the seam tests and benchmarks use (as httpx's ``MockTransport``):
a real implementation of the protocols that answers from recorded transitions, deterministically.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from prover.backends.lean_layout import split_lean_tactics
from prover.env import Environment, Session, SessionBase
from prover.errors import ConfigError, EnvironmentInitError
from prover.session_wrapper import SessionWrapper
from prover.traces import TraceRecord, TraceWriter, read_trace
from prover.types import (
    Outcome,
    ProofState,
    Proved,
    StateReached,
    TacticError,
    TacticTimeout,
    Theorem,
    outcome_kind,
)

Latency = float | Literal["recorded"] | None
Layout = Callable[[str], list[str]]
"""How a session cuts a multi-tactic candidate into tactics (``Session.split_tactics``)."""

NOT_IN_TRACE = "not in trace"


@dataclass
class _TheoremTrace:
    root: TraceRecord
    transitions: dict[tuple[str, str], TraceRecord] = field(default_factory=dict)
    # Outcomes are frozen values: one per transition, built on first use, not on every apply
    # (building the state's text twice per tactic was a tenth of the replay's CPU).
    outcomes: dict[tuple[str, str], Outcome] = field(default_factory=dict)


def _state_text(state: ProofState) -> str:
    return state.handle if isinstance(state.handle, str) else state.pp


class ReplayEnvironment:
    """Answers tactics from recorded transitions.

    ``latency_s`` is ``None`` (answer at once), a fixed delay per apply in seconds, or
    ``"recorded"`` (sleep each record's own ``latency_s``). A tactic that is not recorded for a
    state gives ``TacticError("not in trace")``. When a transition (or a theorem's root) is
    recorded twice, the first record wins and ``conflicts`` counts the later ones that disagree.

    ``layout`` splits a multi-tactic candidate into tactics as the recorded prover would: Lean
    layout by default (traces and LeanDojo steps are Lean's); pass e.g.
    ``lambda text: [s.text for s in split_sentences(text)]`` to replay a Coq trace.
    """

    def __init__(self, records: Iterable[TraceRecord], latency_s: Latency = None, *,
                 layout: Layout = split_lean_tactics) -> None:
        if latency_s is not None and latency_s != "recorded":
            if isinstance(latency_s, bool) or not isinstance(latency_s, (int, float)) \
                    or not 0 <= latency_s < math.inf:  # NaN fails this too
                raise ConfigError(f"latency_s must be None, 'recorded' or a finite number "
                                  f">= 0, got {latency_s!r}")
        if not callable(layout):
            raise ConfigError(f"layout must be a function str -> list[str], got {layout!r}")
        self.latency_s = latency_s
        self.layout = layout
        self.conflicts = 0
        self._theorems: dict[str, _TheoremTrace] = {}
        for record in records:
            self._add(record)

    @classmethod
    def from_jsonl(cls, path: str | Path, latency_s: Latency = None, *,
                   layout: Layout = split_lean_tactics) -> ReplayEnvironment:
        """Load a trace file (DESIGN.md format); a malformed line raises DataFormatError."""
        return cls(read_trace(path), latency_s=latency_s, layout=layout)

    def _add(self, record: TraceRecord) -> None:
        entry = self._theorems.get(record.theorem)
        if record.is_root:
            if entry is None:
                self._theorems[record.theorem] = _TheoremTrace(record)
            elif (entry.root.state, entry.root.goals) != (record.state, record.goals):
                self.conflicts += 1  # a second, different root: the first one wins
            return
        if entry is None:
            # A transition before its root: the theorem's root is its first state seen.
            entry = self._theorems[record.theorem] = _TheoremTrace(
                TraceRecord(record.theorem, record.state, None, "state",
                            tuple(record.state.split("\n\n"))))
        key = (record.state, record.tactic or "")
        previous = entry.transitions.get(key)
        if previous is None:
            entry.transitions[key] = record
        elif (previous.outcome, previous.goals) != (record.outcome, record.goals):
            self.conflicts += 1

    def theorems(self) -> list[Theorem]:
        """Every theorem in the trace, in order of first appearance."""
        return [Theorem(name, statement=t.root.state) for name, t in self._theorems.items()]

    def transitions(self, theorem: str) -> int:
        """How many distinct transitions are recorded for ``theorem``."""
        return len(self._theorems[theorem].transitions)

    async def open(self, theorem: Theorem) -> ReplaySession:
        entry = self._theorems.get(theorem.name)
        if entry is None:
            raise EnvironmentInitError(f"theorem {theorem.name!r} is not in the replay trace")
        return ReplaySession(entry, self.latency_s, self.layout)

    async def close(self) -> None:
        return None


class ReplaySession(SessionBase):
    """A session over one theorem's recorded transitions."""

    def __init__(self, trace: _TheoremTrace, latency_s: Latency,
                 layout: Layout = split_lean_tactics) -> None:
        self._trace = trace
        self._latency_s = latency_s
        self._layout = layout
        self.apply_calls = 0
        self._root = ProofState(trace.root.goals, handle=trace.root.state)

    @property
    def root(self) -> ProofState:
        return self._root

    def _lookup(self, state: ProofState, tactic: str) -> TraceRecord | None:
        return self._trace.transitions.get((_state_text(state), tactic))

    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        self.apply_calls += 1
        key = (_state_text(state), tactic)
        record = self._trace.transitions.get(key)
        delay = self._latency_s
        if delay == "recorded":
            delay = record.latency_s if record is not None else None
        if delay:
            await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)  # a real environment always yields to the loop
        if record is None:
            return TacticError(NOT_IN_TRACE)
        outcome = self._trace.outcomes.get(key)
        if outcome is None:
            outcome = self._trace.outcomes[key] = record.to_outcome()
        return outcome

    def split_tactics(self, text: str) -> list[str]:
        return self._layout(text)

    async def verify(self, tactics: Sequence[str]) -> bool:
        state = self._root
        for index, tactic in enumerate(tactics):
            record = self._lookup(state, tactic)
            if record is None:
                return False
            outcome = record.to_outcome()
            if isinstance(outcome, Proved):
                return index == len(tactics) - 1
            if not isinstance(outcome, StateReached):
                return False
            state = outcome.state
        return False

    async def close(self) -> None:
        return None


class RecordingEnvironment:
    """Wraps any environment and appends every transition its sessions see to a trace file.

    The file can be replayed with :class:`ReplayEnvironment` to rerun a search offline.
    """

    def __init__(self, inner: Environment, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path)
        self._writer = TraceWriter(self.path)

    async def open(self, theorem: Theorem) -> RecordingSession:
        session = await self.inner.open(theorem)
        root = session.root
        self._writer.write(TraceRecord(theorem.name, root.pp, None, "state", root.goals))
        return RecordingSession(theorem.name, session, self._writer)

    async def close(self) -> None:
        self._writer.close()
        await self.inner.close()


class RecordingSession(SessionWrapper):
    """A session that writes each ``apply`` it forwards as a trace record."""

    def __init__(self, theorem: str, inner: Session, writer: TraceWriter) -> None:
        super().__init__(inner)
        self._theorem = theorem
        self._writer = writer

    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        start = time.monotonic()
        outcome = await self.inner.apply(state, tactic)
        latency = time.monotonic() - start
        goals: tuple[str, ...] = ()
        message: str | None = None
        if isinstance(outcome, StateReached):
            goals = outcome.state.goals
        elif isinstance(outcome, (TacticError, TacticTimeout)):
            message = outcome.message
        elif isinstance(outcome, Proved):
            message = outcome.message or None
        self._writer.write(TraceRecord(self._theorem, state.pp, tactic, outcome_kind(outcome),
                                       goals, message, round(latency, 6)))
        return outcome


__all__ = [
    "NOT_IN_TRACE",
    "RecordingEnvironment",
    "RecordingSession",
    "ReplayEnvironment",
    "ReplaySession",
]
