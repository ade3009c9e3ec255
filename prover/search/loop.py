"""Best-first proof search: the loop.

One search runs one theorem. Its frontier is a heap keyed by heuristic score (higher first,
ties by insertion order, so deterministic inputs give the same tree every run). Candidates of
one expansion are applied concurrently (:mod:`prover.search.apply`); their outcomes enter the
tree in candidate order (a one-step proof ends the rest at once). A plug-in's own exception
(heuristic, environment, trigger) propagates after the run is cleaned up; a generator's becomes
``GeneratorError``, and every ProverError ends the search as status ``error``. The time limit is
one timer per run (:mod:`prover.search.deadline`). With a
:class:`~rollout.config.RolloutConfig`, a child at a segment boundary starts short rollouts
(:mod:`prover.search.rollouts`) that run beside the main loop and add ordinary edges to the
same tree.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from heuristics.base import Heuristic, NodeScoreFn, as_heuristic
from prover.config import SearchConfig, SearchResult, SearchStats, SearchStatus, banned_pattern
from prover.env import Environment, Session
from prover.errors import BackendUnavailableError, GeneratorError, ProverError
from prover.generators.base import TacticGenerator
from prover.generators.checks import checked_candidates, own_timeout
from prover.opening import SessionOpener
from prover.search.apply import Step, TacticRunner
from prover.search.counters import SearchCounters
from prover.search.deadline import Deadline
from prover.search.rollouts import Rollouts
from prover.tree import SearchTree
from prover.types import Candidate, SearchNode, StateReached, Theorem

if TYPE_CHECKING:  # rollout and heuristics.builtin import prover: import them where used
    from rollout.config import RolloutConfig
    from rollout.trigger import RolloutTrigger

log = logging.getLogger(__name__)


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


class _Run:
    """The state of one search: tree, frontier, counters; the tactic runner, the deadline and
    the rollouts are its parts."""

    def __init__(self, search: BestFirstSearch, session: Session, start: float, *,
                 open_s: float = 0.0) -> None:
        self.cfg = search.config
        self.open_s = open_s
        self.generator = search.generator
        self.heuristic = search.heuristic
        self.trigger = search.trigger
        self.session = session
        self.start = start
        self.n = SearchCounters()
        self.deadline = Deadline(start + self.cfg.time_limit_s, self.wake)
        self.tree = SearchTree(session.root)
        self.frontier: list[tuple[float, int, str]] = []
        self.order = itertools.count()
        self.banned = banned_pattern(self.cfg.banned_tactics)
        self.waiter: asyncio.Future[None] | None = None  # the main loop, waiting on rollouts
        self.warned_nan = False
        # The search's watchdog only guards sessions with no per-tactic timeout of their own:
        # one that has its own counts from when the tactic starts running, while this timer
        # would also count the wait behind the session's other tactics.
        own = _own_tactic_timeout(session) or _own_tactic_timeout(search.env)
        self.runner = TacticRunner(session, self.deadline, self.n,
                                   max_concurrent=self.cfg.max_concurrent_tactics,
                                   watchdog_s=None if own else self.cfg.tactic_timeout_s)
        self.rollouts = (Rollouts(self, search.rollout, self.cfg.max_expansions,
                                  self.cfg.num_candidates)
                         if search.rollout is not None else None)

    async def loop(self) -> SearchStatus:
        await self.push([self.tree.root])
        while not self.tree.proved:
            if self.rollouts is not None and self.rollouts.failure is not None:
                raise self.rollouts.failure
            if self.out_of_budget():
                return "budget"
            node = self.pop()
            if node is None:
                if self.rollouts is None or not self.rollouts.tasks:
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
        self.n.expansions += 1
        allowed: list[Candidate] = []
        seen: set[str] = set()
        for candidate in candidates:  # the same tactic twice in one batch is applied once
            if candidate.tactic not in seen and self.allowed(node, candidate):
                seen.add(candidate.tactic)
                allowed.append(candidate)
        results = await self.runner.apply_all(node, allowed)
        created = [child for steps in results for child in self.record(steps, rollout=False)]
        self.tree.mark_expanded(node.state.key)
        return created

    async def execute(self, theorem: Theorem) -> SearchResult:
        status: SearchStatus = "failed"
        message: str | None = None
        timer = self.deadline.arm()
        try:
            status = await self.loop()
        except BackendUnavailableError:
            raise
        except ProverError as exc:
            status, message = "error", f"{type(exc).__name__}: {exc}"
        finally:
            timer.cancel()
            if self.rollouts is not None:
                await self.rollouts.stop()
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
        stats = self.n.stats(nodes=len(self.tree), wall_s=time.monotonic() - self.start,
                             rollout_proofs=int(bool(edges) and edges[-1].rollout),
                             verified=verified, open_s=self.open_s)
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
        return self.deadline.remaining()

    def generator_budget_left(self) -> int:
        # Every call counts from the moment it is made: counting expansions only once their
        # call returned let rollouts spend the budget of an expansion still in flight.
        return int(self.cfg.max_expansions - self.n.generator_calls)

    def out_of_budget(self) -> bool:
        cap = self.cfg.max_nodes
        return (self.remaining() <= 0 or self.generator_budget_left() <= 0
                or (cap is not None and len(self.tree) >= cap))

    def allowed(self, node: SearchNode, candidate: Candidate) -> bool:
        if self.banned is not None and self.banned.search(candidate.tactic):
            self.n.banned += 1
            return False
        return not self.tree.tried(node.state.key, candidate.tactic)

    # ---- generator calls and the tree ----------------------------------------------------
    async def propose(self, node: SearchNode, k: int, *, rollout: bool) -> list[Candidate] | None:
        remaining = self.remaining()
        if remaining <= 0:
            return None
        began = time.monotonic()
        self.n.generator_calls += 1
        if rollout:
            self.n.rollout_generator_calls += 1
        try:
            proposed = await self.deadline.call(own_timeout(self.generator.propose(node.state, k)))
        except asyncio.TimeoutError:  # the run's deadline (a generator's own: GeneratorError)
            return None
        except ProverError:
            raise
        except Exception as exc:
            raise GeneratorError(f"{type(self.generator).__name__}.propose failed on "
                                 f"{node.state.key[:200]!r}: {exc!r}") from exc
        finally:
            self.n.generator_s += time.monotonic() - began
        return checked_candidates(self.generator, proposed)

    def record(self, steps: Iterable[Step], *, rollout: bool) -> list[SearchNode]:
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
            if (not rollout and self.rollouts is not None
                    and self.trigger.fires(self.tree.node(step.parent_key), child)):
                self.rollouts.spawn(child)
        return created

    def wake(self) -> None:
        """Resume the main loop if it waits on rollouts."""
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


def _own_tactic_timeout(obj: object) -> float | None:
    """The per-tactic timeout a session (or environment) declares as its own
    (``tactic_timeout_s``, a finite number > 0), or ``None``."""
    value = getattr(obj, "tactic_timeout_s", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value) and value > 0:
        return float(value)
    return None


__all__ = ["BestFirstSearch"]
