"""Best-first proof search: the loop, and the per-run bookkeeping it calls.

One search runs one theorem. Its frontier is a heap keyed by heuristic score (higher first,
ties by insertion order, so deterministic inputs give the same tree every run). Candidates of
one expansion are applied concurrently; their outcomes enter the tree in candidate order (a
one-step proof ends the rest at once). A plug-in's own exception (heuristic, environment,
trigger) propagates after the run is cleaned up; a generator's becomes ``GeneratorError``, and
every ProverError ends the search as status ``error``.
With a :class:`~rollout.config.RolloutConfig`, a child at a segment boundary starts short
rollouts that run beside the main loop and add ordinary edges to the same tree.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import random
import sys
import time
from collections.abc import Awaitable, Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from heuristics.base import Heuristic, NodeScoreFn, as_heuristic
from prover.config import SearchConfig, SearchResult, SearchStats, SearchStatus, banned_pattern
from prover.env import Environment, Session
from prover.errors import BackendUnavailableError, GeneratorError, ProverError
from prover.generators.base import TacticGenerator
from prover.generators.checks import checked_candidates, own_timeout
from prover.opening import SessionOpener
from prover.tree import SearchTree
from prover.types import (
    Candidate,
    Outcome,
    ProofState,
    Proved,
    SearchNode,
    StateReached,
    TacticError,
    TacticTimeout,
    Theorem,
)

if TYPE_CHECKING:  # rollout and heuristics.builtin import prover: import them where used
    from rollout.config import RolloutConfig
    from rollout.trigger import RolloutTrigger

T = TypeVar("T")
log = logging.getLogger(__name__)

_OUTCOMES = (StateReached, Proved, TacticError, TacticTimeout)


class BestFirstSearch:
    """Best-first search over an :class:`Environment` with a :class:`TacticGenerator`.

    ``heuristic`` orders the frontier (default: cumulative log-prob, as ReProver); a plain
    ``fn(node) -> float`` is accepted. ``rollout`` turns on goal-aware rollouts fired by
    ``trigger`` (default :class:`GoalCountTrigger`). The object holds no per-run state: one
    instance can run many searches concurrently.
    """

    def __init__(self, env: Environment, generator: TacticGenerator,
                 heuristic: Heuristic | NodeScoreFn | None = None,
                 config: SearchConfig | None = None, *,
                 rollout: RolloutConfig | None = None,
                 trigger: RolloutTrigger | None = None) -> None:
        from heuristics.builtin import CumulativeLogProb
        from rollout.trigger import GoalCountTrigger

        self.env = env
        self.generator = generator
        self.heuristic = as_heuristic(heuristic) if heuristic is not None else CumulativeLogProb()
        self.config = config or SearchConfig()
        self.rollout = rollout
        self.trigger = trigger or GoalCountTrigger()
        self._opener = SessionOpener()

    async def search(self, theorem: Theorem) -> SearchResult:
        """Search for a proof of ``theorem``; environment failures become status ``error``.

        The time limit starts once the session is open: the open (waiting for a prover
        process included) is reported apart as ``stats.open_s`` and bounded by
        ``SearchConfig.open_timeout_s``. :class:`BackendUnavailableError` (the backend cannot
        start for any theorem) propagates: it is no result of this theorem.
        """
        began = time.monotonic()
        try:
            session = await self._opener.open(self.env, theorem, self.config.open_timeout_s)
        except BackendUnavailableError:
            raise
        except ProverError as exc:
            return SearchResult(theorem.name, "error", message=f"{type(exc).__name__}: {exc}",
                                stats=SearchStats(open_s=time.monotonic() - began))
        start = time.monotonic()
        async with session:
            return await _Run(self, session, start, open_s=start - began).execute(theorem)

    def run(self, theorem: Theorem) -> SearchResult:
        """Synchronous wrapper around :meth:`search` (starts its own event loop)."""
        return asyncio.run(self.search(theorem))


class _Step(NamedTuple):  # one per tactic: a frozen dataclass took twice as long to make
    parent_key: str
    candidate: Candidate
    outcome: Outcome
    latency_s: float


class _Group:
    """The concurrent applications of one expansion; the first proof or failure stops the rest."""

    __slots__ = ("failure", "stopped", "tasks")

    def __init__(self) -> None:
        self.tasks: list[asyncio.Future[list[_Step]]] = []
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


class _Run:
    """The state of one search: tree, frontier, counters, background rollouts."""

    def __init__(self, search: BestFirstSearch, session: Session, start: float, *,
                 open_s: float = 0.0) -> None:
        self.cfg = search.config
        self.open_s = open_s
        self.generator = search.generator
        self.heuristic = search.heuristic
        self.rollout = search.rollout
        self.trigger = search.trigger
        self.session = session
        self.start = start
        self.deadline = start + self.cfg.time_limit_s
        self.expired = False  # set by the deadline's timer (see `call`)
        self.calls: set[asyncio.Task[object]] = set()  # tasks awaiting the env or generator
        self.interrupted: set[asyncio.Task[object]] = set()  # of those, cancelled by `expire`
        self.tree = SearchTree(session.root)
        self.frontier: list[tuple[float, int, str]] = []
        self.order = itertools.count()
        self.banned = banned_pattern(self.cfg.banned_tactics)
        self.slots = asyncio.Semaphore(self.cfg.max_concurrent_tactics)
        # Rollouts get slots of their own, so that they never hold the expansions' slots.
        self.rollout_slots = asyncio.Semaphore(self.cfg.max_concurrent_tactics)
        self.background: set[asyncio.Task[None]] = set()
        self.waiter: asyncio.Future[None] | None = None  # the main loop, waiting on rollouts
        self.failure: BaseException | None = None
        self.warned_nan = False
        self.rng = random.Random(self.rollout.seed if self.rollout else 0)
        # The search's watchdog only guards sessions with no per-tactic timeout of their own:
        # one that has its own counts from when the tactic starts running, while this timer
        # would also count the wait behind the session's other tactics.
        own = _own_tactic_timeout(session) or _own_tactic_timeout(search.env)
        self.watchdog_s = None if own else self.cfg.tactic_timeout_s
        self.n = {"expansions": 0, "env_calls": 0, "cancelled_calls": 0, "generator_calls": 0,
                  "banned": 0, "rollouts": 0, "rollout_steps": 0, "rollout_env_calls": 0,
                  "rollout_generator_calls": 0, "env_s": 0.0, "generator_s": 0.0}

    # ---- the loop ------------------------------------------------------------------------
    async def loop(self) -> SearchStatus:
        await self.push([self.tree.root])
        while not self.tree.proved:
            if self.failure is not None:
                raise self.failure
            if self.out_of_budget():
                return "budget"
            node = self.pop()
            if node is None:
                if not self.background:
                    return "failed"
                # Wake when a rollout ends or adds states to the frontier, or at the deadline
                # (`wake`). A plain future, not a task: nothing is left pending if cancelled.
                self.waiter = asyncio.get_running_loop().create_future()
                try:
                    await self.waiter
                finally:
                    self.waiter = None
                continue
            await self.push(await self.expand(node))
        return "proved"

    async def expand(self, node: SearchNode) -> list[SearchNode]:
        candidates = await self.propose(node, self.cfg.num_candidates, rollout=False)
        if candidates is None:
            return []
        self.n["expansions"] += 1
        allowed: list[Candidate] = []
        seen: set[str] = set()
        for candidate in candidates:  # the same tactic twice in one batch is applied once
            if candidate.tactic not in seen and self.allowed(node, candidate):
                seen.add(candidate.tactic)
                allowed.append(candidate)
        results = await self.apply_all(node, allowed)
        created = [child for steps in results for child in self.record(steps, rollout=False)]
        self.tree.mark_expanded(node.state.key)
        return created

    async def execute(self, theorem: Theorem) -> SearchResult:
        status: SearchStatus = "failed"
        message: str | None = None
        deadline = asyncio.get_running_loop().call_later(max(self.remaining(), 0.0), self.expire)
        try:
            status = await self.loop()
        except BackendUnavailableError:
            raise
        except ProverError as exc:
            status, message = "error", f"{type(exc).__name__}: {exc}"
        finally:
            deadline.cancel()
            await self.stop_background()
        proof = self.tree.extract_proof()
        verified: bool | None = None
        if proof is not None:
            status, message = "proved", None  # kept even when it arrived with a budget hit
            if self.cfg.verify_proof:
                try:
                    # Only a real True passes: a truthy "no" or None from a backend is no proof.
                    verified = await self.session.verify(proof) is True
                    if not verified:
                        status, message = "error", "the proof found was rejected by Session.verify"
                except BackendUnavailableError:
                    raise
                except ProverError as exc:
                    # A crash judged nothing: the proof is neither accepted nor rejected.
                    status, message = "error", (f"verify crashed (the proof was not judged): "
                                                f"{type(exc).__name__}: {exc}")
        edges = self.tree.proof_edges()
        n = self.n
        stats = SearchStats(
            expansions=int(n["expansions"]), nodes=len(self.tree), env_calls=int(n["env_calls"]),
            cancelled_calls=int(n["cancelled_calls"]),
            generator_calls=int(n["generator_calls"]), banned=int(n["banned"]),
            wall_s=time.monotonic() - self.start, env_s=n["env_s"], generator_s=n["generator_s"],
            rollouts=int(n["rollouts"]), rollout_steps=int(n["rollout_steps"]),
            rollout_proofs=int(bool(edges) and edges[-1].rollout),
            rollout_env_calls=int(n["rollout_env_calls"]),
            rollout_generator_calls=int(n["rollout_generator_calls"]), verified=verified,
            open_s=self.open_s)
        return SearchResult(theorem.name, status, proof, stats, message, self.tree)

    # ---- frontier ------------------------------------------------------------------------
    async def push(self, nodes: Sequence[SearchNode]) -> None:
        if not nodes:
            return
        scores = await self.heuristic.score(nodes)
        if len(scores) != len(nodes):
            raise ValueError(f"heuristic {self.heuristic!r} returned {len(scores)} scores "
                             f"for {len(nodes)} nodes")
        for node, score in zip(nodes, scores):
            self.tree.scores[node.state.key] = score  # for the viewer
            if math.isnan(score) or score == -math.inf:
                if math.isnan(score) and not self.warned_nan:
                    # -inf is a heuristic's way to say "never"; NaN is almost always a bug
                    self.warned_nan = True
                    log.warning("heuristic %r scored a state NaN: it is never expanded (as "
                                "for -inf); said once per search", self.heuristic)
                continue
            heapq.heappush(self.frontier, (-score, next(self.order), node.state.key))
            if self.waiter is not None:
                self.wake()

    def pop(self) -> SearchNode | None:
        while self.frontier:
            _, _, key = heapq.heappop(self.frontier)
            if self.tree.expandable(key):
                return self.tree.node(key)
        return None

    # ---- budgets -------------------------------------------------------------------------
    def remaining(self) -> float:
        return 0.0 if self.expired else self.deadline - time.monotonic()

    def generator_budget_left(self) -> int:
        # Every call counts from the moment it is made: counting expansions only once their
        # call returned let rollouts spend the budget of an expansion still in flight.
        return int(self.cfg.max_expansions - self.n["generator_calls"])

    def out_of_budget(self) -> bool:
        cap = self.cfg.max_nodes
        return (self.remaining() <= 0 or self.generator_budget_left() <= 0
                or (cap is not None and len(self.tree) >= cap))

    def allowed(self, node: SearchNode, candidate: Candidate) -> bool:
        if self.banned is not None and self.banned.search(candidate.tactic):
            self.n["banned"] += 1
            return False
        return not self.tree.tried(node.state.key, candidate.tactic)

    # ---- environment and generator calls --------------------------------------------------
    async def propose(self, node: SearchNode, k: int, *, rollout: bool) -> list[Candidate] | None:
        remaining = self.remaining()
        if remaining <= 0:
            return None
        began = time.monotonic()
        self.n["generator_calls"] += 1
        if rollout:
            self.n["rollout_generator_calls"] += 1
        try:
            proposed = await self.call(own_timeout(self.generator.propose(node.state, k)))
        except asyncio.TimeoutError:  # the run's deadline (a generator's own: GeneratorError)
            return None
        except ProverError:
            raise
        except Exception as exc:
            raise GeneratorError(f"{type(self.generator).__name__}.propose failed on "
                                 f"{node.state.key[:200]!r}: {exc!r}") from exc
        finally:
            self.n["generator_s"] += time.monotonic() - began
        return checked_candidates(self.generator, proposed)

    async def apply_candidate(self, node: SearchNode, candidate: Candidate, *,
                              rollout: bool, group: _Group | None = None) -> list[_Step]:
        """Apply the candidate's tactics in order; stop at the first that does not reach a state.

        ``group``: the expansion this application belongs to (see :meth:`apply_all`).
        ``env_calls`` counts the tactics the session answered; a call the search gave up on
        first (a sibling proved the node, the run's deadline, a cancel from outside) counts in
        ``cancelled_calls`` instead. Only the watchdog (:attr:`SearchConfig.tactic_timeout_s`,
        for sessions with no timeout of their own) turns a slow answer into a TacticTimeout.
        """
        steps: list[_Step] = []
        state = node.state
        try:
            for index, tactic in enumerate(self.session.split_tactics(candidate.tactic)):
                async with self.rollout_slots if rollout else self.slots:
                    if self.remaining() <= 0:  # past the deadline: the session is not asked
                        self.n["cancelled_calls"] += 1
                        break
                    outcome, latency = await self.timed_apply(state, tactic, rollout=rollout)
                # The first tactic carries the candidate's logprob (usually it is the candidate).
                part = candidate if index == 0 and tactic == candidate.tactic else Candidate(
                    tactic, candidate.logprob if index == 0 else 0.0)
                steps.append(_Step(state.key, part, outcome, latency))
                if not isinstance(outcome, StateReached):
                    break
                state = outcome.state
        except asyncio.CancelledError:
            if group is None:  # a group's cancelled members are counted by apply_all
                self.n["cancelled_calls"] += 1
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
            outcome = await self.call(self.session.apply(state, tactic), self.watchdog_s)
            answered = True
        except asyncio.TimeoutError:
            waited = time.monotonic() - began
            if self.expired or time.monotonic() >= self.deadline:
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
            self.n["env_s"] += latency
        if answered:
            self.n["env_calls"] += 1
            if rollout:
                self.n["rollout_env_calls"] += 1
        else:
            self.n["cancelled_calls"] += 1
        if not isinstance(outcome, _OUTCOMES):  # a backend bug, not a failed tactic
            raise TypeError(f"{type(self.session).__name__}.apply({tactic[:200]!r}) "
                            f"returned {outcome!r}, not an Outcome")
        return outcome, latency

    async def apply_all(self, node: SearchNode, candidates: Sequence[Candidate]
                        ) -> list[list[_Step]]:
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
        steps: list[list[_Step]] = []
        for result in results:
            if isinstance(result, BaseException):
                if group.stopped and isinstance(result, asyncio.CancelledError):
                    # Stopped before its answer (maybe before it even started): its tactic
                    # is counted as cancelled, not as a call the prover answered.
                    self.n["cancelled_calls"] += 1
                    continue
                raise result  # cancelled by someone else (nobody should)
            steps.append(result)
        return steps

    async def call(self, awaitable: Awaitable[T], timeout: float | None = None) -> T:
        """Await an environment or generator call; TimeoutError after ``timeout`` seconds or at
        the run's deadline.

        The deadline is one timer per run (`expire`), not one per call: a timer per call was a
        fifth of the engine's function calls per tactic, and the cancelled timers it left in
        the event loop's heap made every other timer (the environment's own) dearer too.
        (``asyncio.wait_for``, before that, also made a task per call: twice the cost again.)
        """
        if sys.version_info < (3, 11):  # no Task.uncancel: a timer per call, as before
            return await _wait_for(awaitable, min(timeout or math.inf, self.remaining()))
        task = asyncio.current_task()
        assert task is not None
        cancels = task.cancelling()
        self.calls.add(task)
        try:
            if timeout is None:
                return await awaitable
            async with asyncio.timeout(timeout):
                return await awaitable
        except asyncio.CancelledError:
            # Ours only if the deadline cancelled this task and nobody else did meanwhile.
            if task in self.interrupted:
                self.interrupted.discard(task)
                if task.uncancel() <= cancels:
                    raise asyncio.TimeoutError from None
            raise
        finally:
            self.calls.discard(task)
            if task in self.interrupted:
                # The call swallowed the deadline's cancel and answered (or raised something
                # else): take that cancel back, or it would stay counted on the caller's task,
                # whose own asyncio.timeout would then raise CancelledError, not TimeoutError.
                self.interrupted.discard(task)
                task.uncancel()

    def expire(self) -> None:
        """The deadline: cancel the calls in flight (`call` turns that into TimeoutError)."""
        self.expired = True
        self.wake()
        for task in list(self.calls):
            if task.cancel():
                self.interrupted.add(task)

    def record(self, steps: Iterable[_Step], *, rollout: bool) -> list[SearchNode]:
        """Add steps to the tree (in order); start rollouts where the trigger fires."""
        created: list[SearchNode] = []
        cap = self.cfg.max_nodes
        for step in steps:
            if step.parent_key not in self.tree:
                break
            if (cap is not None and len(self.tree) >= cap
                    and isinstance(step.outcome, StateReached)
                    and step.outcome.state.key not in self.tree):
                break
            child = self.tree.add_outcome(step.parent_key, step.candidate, step.outcome,
                                          step.latency_s, rollout=rollout)
            if child is None:
                continue
            created.append(child)
            if (not rollout and self.rollout is not None
                    and self.trigger.fires(self.tree.node(step.parent_key), child)):
                self.spawn_rollout(child)
        return created

    # ---- rollouts ------------------------------------------------------------------------
    def rollout_budget_left(self) -> bool:
        assert self.rollout is not None
        share = int(self.rollout.budget_share * self.cfg.max_expansions)
        return (self.n["rollout_generator_calls"] < share and self.generator_budget_left() > 0
                and not self.tree.proved and self.remaining() > 0)

    def spawn_rollout(self, start: SearchNode) -> None:
        if not self.rollout_budget_left():
            return
        task = asyncio.ensure_future(self.run_rollouts(start))
        self.background.add(task)
        task.add_done_callback(self._rollout_done)

    def wake(self) -> None:
        """Resume the main loop if it waits on rollouts."""
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _rollout_done(self, task: asyncio.Task[None]) -> None:
        self.background.discard(task)
        self.wake()
        if not task.cancelled() and task.exception() is not None and self.failure is None:
            self.failure = task.exception()

    async def run_rollouts(self, start: SearchNode) -> None:
        from rollout.runner import run_rollouts

        assert self.rollout is not None
        await run_rollouts(self, start, self.rollout, self.rng, self.cfg.num_candidates)

    def rollout_started(self) -> None:
        self.n["rollouts"] += 1

    async def rollout_propose(self, node: SearchNode, k: int) -> list[Candidate]:
        if not self.rollout_budget_left():
            return []
        candidates = await self.propose(node, k, rollout=True)
        # Tried tactics stay: rollout_step follows their edge (the main loop often expands the
        # rollout's start node at once, so a filtered best tactic would end most rollouts).
        return [c for c in candidates or []
                if self.allowed(node, c) or self.tree.tried(node.state.key, c.tactic)]

    async def rollout_step(self, node: SearchNode, candidate: Candidate
                           ) -> tuple[SearchNode | None, bool]:
        key = node.state.key
        if self.tree.tried(key, candidate.tactic):
            targets = [child for child in self.tree.graph.successors(key)
                       if self.tree.graph.edges[key, child]["data"].tactic == candidate.tactic]
            return self._rollout_target(targets[0] if targets else None), self.rollout_budget_left()
        steps = await self.apply_candidate(node, candidate, rollout=True)
        self.n["rollout_steps"] += len(steps)
        created = self.record(steps, rollout=True)
        await self.push(created)
        last = steps[-1].outcome if steps else None
        reached = None
        if (isinstance(last, StateReached)
                and self.tree.graph.has_edge(steps[-1].parent_key, last.state.key)):
            reached = self._rollout_target(last.state.key)
        return reached, self.rollout_budget_left()

    def _rollout_target(self, key: str | None) -> SearchNode | None:
        """The node a rollout goes on from: an open state the search has not expanded yet (it
        may have created it a moment ago); ``None`` for a proof, a dead or expanded state."""
        if key is None or key not in self.tree:
            return None
        return self.tree.node(key) if self.tree.expandable(key) else None

    async def stop_background(self) -> None:
        for task in list(self.background):
            task.cancel()
        if self.background:
            await asyncio.gather(*self.background, return_exceptions=True)


def _own_tactic_timeout(obj: object) -> float | None:
    """The per-tactic timeout a session (or environment) declares as its own
    (``tactic_timeout_s``, a finite number > 0), or ``None``."""
    value = getattr(obj, "tactic_timeout_s", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value) and value > 0:
        return float(value)
    return None


async def _wait_for(awaitable: Awaitable[T], timeout: float) -> T:
    """``asyncio.wait_for`` for Python 3.10, whose own returns the result, swallowing the
    cancellation, when the caller is cancelled just as the call completes."""
    task = asyncio.ensure_future(awaitable)
    try:
        await asyncio.wait((task,), timeout=timeout)
    finally:  # timed out, or cancelled from outside: end the call before going on
        if not task.done():
            task.cancel()
            await asyncio.wait((task,))
    if task.cancelled():
        raise asyncio.TimeoutError
    return task.result()


__all__ = ["BestFirstSearch"]
