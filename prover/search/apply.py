"""Applying candidates to a session: a candidate's tactics in order, the candidates of one
expansion concurrently, every call timed, bounded and counted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import NamedTuple

from prover.env import Session
from prover.search.counters import SearchCounters
from prover.search.deadline import Deadline
from prover.types import (
    Candidate,
    Outcome,
    ProofState,
    Proved,
    SearchNode,
    StateReached,
    TacticError,
    TacticTimeout,
)

_OUTCOMES = (StateReached, Proved, TacticError, TacticTimeout)


class Step(NamedTuple):  # one per tactic: a frozen dataclass took twice as long to make
    """One tactic applied: from ``parent_key``, the (part of the) candidate, what came of it."""

    parent_key: str
    candidate: Candidate
    outcome: Outcome
    latency_s: float


class _Group:
    """The concurrent applications of one expansion; the first proof or failure stops the rest."""

    __slots__ = ("failure", "stopped", "tasks")

    def __init__(self) -> None:
        self.tasks: list[asyncio.Future[list[Step]]] = []
        self.stopped = False
        self.failure: BaseException | None = None

    def stop(self, failure: BaseException | None) -> None:
        if self.stopped:
            return
        self.stopped, self.failure = True, failure
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:  # cancelling itself would turn its own result into a cancel
                task.cancel()


class TacticRunner:
    """Applies candidates on one session for one search.

    At most ``max_concurrent`` tactics of the main loop run at once, and as many again for
    rollouts (their own slots, so that they never hold the expansions'). ``watchdog_s`` (or
    ``None``) bounds one ``Session.apply`` for sessions with no per-tactic timeout of their own.
    """

    def __init__(self, session: Session, deadline: Deadline, counters: SearchCounters, *,
                 max_concurrent: int, watchdog_s: float | None) -> None:
        self.session = session
        self.deadline = deadline
        self.n = counters
        self.watchdog_s = watchdog_s
        self.slots = asyncio.Semaphore(max_concurrent)
        self.rollout_slots = asyncio.Semaphore(max_concurrent)

    async def apply_candidate(self, node: SearchNode, candidate: Candidate, *,
                              rollout: bool, group: _Group | None = None) -> list[Step]:
        """Apply the candidate's tactics in order; stop at the first that does not reach a state.

        ``group``: the expansion this application belongs to (see :meth:`apply_all`).
        ``env_calls`` counts the tactics the session answered; a call the search gave up on
        first (a sibling proved the node, the run's deadline, a cancel from outside) counts in
        ``cancelled_calls`` instead. Only the watchdog turns a slow answer into a TacticTimeout.
        """
        steps: list[Step] = []
        state = node.state
        try:
            for index, tactic in enumerate(self.session.split_tactics(candidate.tactic)):
                async with self.rollout_slots if rollout else self.slots:
                    if self.deadline.remaining() <= 0:  # past the deadline: not asked
                        self.n.cancelled_calls += 1
                        break
                    outcome, latency = await self.timed_apply(state, tactic, rollout=rollout)
                # The first tactic carries the candidate's logprob (usually it is the candidate).
                part = candidate if index == 0 and tactic == candidate.tactic else Candidate(
                    tactic, candidate.logprob if index == 0 else 0.0)
                steps.append(Step(state.key, part, outcome, latency))
                if not isinstance(outcome, StateReached):
                    break
                state = outcome.state
        except asyncio.CancelledError:
            if group is None:  # a group's cancelled members are counted by apply_all
                self.n.cancelled_calls += 1
            raise
        except Exception as exc:
            if group is not None:
                group.stop(exc)
            raise
        if group is not None and len(steps) == 1 and isinstance(steps[0].outcome, Proved):
            group.stop(None)
        return steps

    async def timed_apply(self, state: ProofState, tactic: str, *, rollout: bool
                          ) -> tuple[Outcome, float]:
        """One ``Session.apply``, its outcome and latency, counted (see apply_candidate)."""
        began = time.monotonic()
        outcome: Outcome
        answered = False
        try:
            outcome = await self.deadline.call(self.session.apply(state, tactic), self.watchdog_s)
            answered = True
        except asyncio.TimeoutError:
            waited = time.monotonic() - began
            if self.deadline.passed():
                # The run's own time limit, not the tactic's: the tree keeps it as a timeout
                # edge, the count does not pretend the prover answered.
                outcome = TacticTimeout(f"the search's time limit ran out after {waited:.3g} s "
                                        f"on this tactic")
            else:
                answered = True
                outcome = TacticTimeout(f"no answer within {self.watchdog_s:.3g} s "
                                        f"(SearchConfig.tactic_timeout_s)")
        finally:
            latency = time.monotonic() - began
            self.n.env_s += latency
        if answered:
            self.n.env_calls += 1
            if rollout:
                self.n.rollout_env_calls += 1
        else:
            self.n.cancelled_calls += 1
        if not isinstance(outcome, _OUTCOMES):  # a backend bug, not a failed tactic
            raise TypeError(f"{type(self.session).__name__}.apply({tactic[:200]!r}) "
                            f"returned {outcome!r}, not an Outcome")
        return outcome, latency

    async def apply_all(self, node: SearchNode, candidates: Sequence[Candidate]
                        ) -> list[list[Step]]:
        """Apply the candidates of one expansion concurrently; their steps, in candidate order.

        A candidate that proves ``node`` in one step ends the others still in flight (no proof
        through ``node`` can be shorter, and a hanging sibling would hold the proof until its
        timeout); they are left out. A candidate that raises ends the others and is re-raised.
        """
        group = _Group()
        group.tasks = [asyncio.ensure_future(self.apply_candidate(node, c, rollout=False,
                                                                  group=group))
                       for c in candidates]
        try:
            results = await asyncio.gather(*group.tasks, return_exceptions=True)
        except BaseException:  # cancelled from outside: gather has cancelled the tasks
            for task in group.tasks:
                task.cancel()
            await asyncio.gather(*group.tasks, return_exceptions=True)
            raise
        if group.failure is not None:
            raise group.failure
        steps: list[list[Step]] = []
        for result in results:
            if isinstance(result, BaseException):
                if group.stopped and isinstance(result, asyncio.CancelledError):
                    # Stopped before its answer (maybe before it even started): its tactic
                    # is counted as cancelled, not as a call the prover answered.
                    self.n.cancelled_calls += 1
                    continue
                raise result  # cancelled by someone else (nobody should)
            steps.append(result)
        return steps


__all__ = ["Step", "TacticRunner"]
