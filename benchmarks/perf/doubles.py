"""Clocks and simulated prover processes the perf figures are measured with."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from benchmarks.perf.config import THEOREM
from prover.env import Environment, Session
from prover.generators.base import TacticGenerator
from prover.session_wrapper import SessionWrapper
from prover.types import Candidate, Outcome, ProofState, Theorem

log = logging.getLogger(__name__)
T = TypeVar("T")


class _GCTimer:
    """CPU time spent in the cyclic garbage collector while active (via ``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._began = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.process_time()
        else:
            self.seconds += time.process_time() - self._began

    @contextmanager
    def active(self) -> Iterator[_GCTimer]:
        gc.callbacks.append(self._callback)
        try:
            yield self
        finally:
            gc.callbacks.remove(self._callback)


@dataclass(frozen=True)
class Timed:
    cpu_s: float
    wall_s: float
    gc_s: float


async def measure_clocks(work: Awaitable[T]) -> tuple[T, Timed]:
    """Run ``work`` (a coroutine not yet started) under the clocks, after a full collection."""
    gc.collect()
    timer = _GCTimer()
    with timer.active():
        cpu, wall = time.process_time(), time.perf_counter()
        value = await work
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return value, Timed(cpu, wall, timer.seconds)


Call = tuple[ProofState, str | None, int]
"""A captured call: ``(state, tactic, k)``; ``tactic`` is ``None`` for ``propose(state, k)``."""


class CapturingEnvironment:
    """Wraps an environment and generator and logs every call, in order, for the baseline."""

    def __init__(self, env: Environment, generator: TacticGenerator) -> None:
        self.env = env
        self.generator = generator
        self.calls: list[Call] = []

    async def open(self, theorem: Theorem) -> Session:
        return _CapturingSession(await self.env.open(theorem), self.calls)

    async def close(self) -> None:
        await self.env.close()

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        self.calls.append((state, None, k))
        return await self.generator.propose(state, k)


class _CapturingSession(SessionWrapper):
    def __init__(self, inner: Session, calls: list[Call]) -> None:
        super().__init__(inner)
        self.calls = calls

    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        self.calls.append((state, tactic, 0))
        return await self.inner.apply(state, tactic)



async def replay_calls(env: Environment, generator: TacticGenerator, calls: Sequence[Call],
                        concurrent: bool) -> None:
    """The baseline: the environment's and generator's own work, with no search around it."""
    session = await env.open(Theorem(THEOREM))
    async with session:
        group: list[Awaitable[Outcome]] = []
        for state, tactic, k in calls:
            if tactic is None:
                if group:
                    await asyncio.gather(*group)
                    group = []
                await generator.propose(state, k)
            elif concurrent:
                group.append(session.apply(state, tactic))
            else:
                await session.apply(state, tactic)
        if group:
            await asyncio.gather(*group)


class SerialSession(SessionWrapper):
    """One prover process: applications queue and run one at a time. Logs each one's
    ``(start, end)`` (monotonic seconds, waiting in the queue excluded)."""

    def __init__(self, inner: Session, serial: bool) -> None:
        super().__init__(inner)
        self._lock = asyncio.Lock() if serial else None
        self.intervals: list[tuple[float, float]] = []

    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        if self._lock is None:
            return await self._timed_apply(state, tactic)
        async with self._lock:
            return await self._timed_apply(state, tactic)

    async def _timed_apply(self, state: ProofState, tactic: str) -> Outcome:
        began = time.monotonic()
        outcome = await self.inner.apply(state, tactic)
        self.intervals.append((began, time.monotonic()))
        return outcome



class ProcessPoolEnvironment:
    """Gives every session its own simulated prover process (``serial=True``), or lets a
    session run any number of applications at once (``serial=False``); keeps the sessions."""

    def __init__(self, inner: Environment, *, serial: bool = True) -> None:
        self.inner = inner
        self.serial = serial
        self.sessions: list[SerialSession] = []

    async def open(self, theorem: Theorem) -> SerialSession:
        session = SerialSession(await self.inner.open(theorem), self.serial)
        self.sessions.append(session)
        return session

    async def close(self) -> None:
        await self.inner.close()
