"""Crash and soundness probes: adversarial generators, heuristics, environments and traces."""

from __future__ import annotations

import asyncio
import math
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers import SpyEnvironment, TraceBuilder, generator, key

from prover import (
    BestFirstSearch,
    Candidate,
    DataFormatError,
    ProofState,
    Proved,
    ReplayEnvironment,
    SearchConfig,
    StateReached,
    TacticError,
    Theorem,
)
from prover.config import DEFAULT_BANNED_TACTICS, banned_pattern
from prover.env import SessionBase
from prover.traces import TraceRecord, read_trace
from prover.types import Outcome
from rollout import RolloutConfig, choose_candidate

ROOT = ProofState(("⊢ root",))
Apply = Callable[[ProofState, str], Awaitable[Any]]


class Session(SessionBase):
    """A session whose apply/verify are plain async functions; records that it was closed."""

    def __init__(self, apply: Apply, verify: Callable[[Sequence[str]], Awaitable[Any]]) -> None:
        self._apply = apply
        self._verify = verify
        self.closed = False

    @property
    def root(self) -> ProofState:
        return ROOT

    async def apply(self, state: ProofState, tactic: str) -> Outcome:
        outcome: Outcome = await self._apply(state, tactic)
        return outcome

    async def verify(self, tactics: Sequence[str]) -> bool:
        verified: bool = await self._verify(tactics)  # may be anything: what is probed
        return verified

    async def close(self) -> None:
        self.closed = True


class Env:
    def __init__(self, apply: Apply | None = None, verify: Any = None, open_error: Any = None
                 ) -> None:
        self.apply = apply
        self.verify = verify or _true
        self.open_error = open_error
        self.sessions: list[Session] = []

    async def open(self, theorem: Theorem) -> Session:
        if self.open_error is not None:
            raise self.open_error
        assert self.apply is not None
        session = Session(self.apply, self.verify)
        self.sessions.append(session)
        return session

    async def close(self) -> None:
        return None


async def _true(tactics: object) -> bool:
    return True


async def _proves(state: ProofState, tactic: str) -> Outcome:
    return Proved()


class Gen:
    def __init__(self, propose: Callable[[ProofState, int], Awaitable[Any]]) -> None:
        self._propose = propose

    async def propose(self, state: ProofState, k: int) -> Any:
        return await self._propose(state, k)


async def _abc(state: ProofState, k: int) -> list[Candidate]:
    return [Candidate("a", -1.0), Candidate("b", -2.0), Candidate("c", -3.0)]


def two_paths() -> tuple[TraceBuilder, dict[str, list[tuple[str, float]]]]:
    trace = (TraceBuilder()
             .edge("root", "a", "A").edge("root", "b", "B")
             .edge("A", "a2", "A2").edge("A2", "done", "proved").edge("B", "finish", "proved"))
    table = {"root": [("a", -1.0), ("b", -1.2)], "A": [("a2", -0.6)],
             "A2": [("done", -0.1)], "B": [("finish", -0.1)]}
    return trace, table


# ---- generators ---------------------------------------------------------------------------
@pytest.mark.parametrize("answer", [
    ["a", "b"], None, "ab", [Candidate(5, 0.0)],  # type: ignore[arg-type]
    [Candidate("a", None)],  # type: ignore[arg-type]
])
async def test_a_generator_answering_non_candidates_is_a_generator_error(answer: Any) -> None:
    async def propose(state: ProofState, k: int) -> Any:
        return answer

    trace, _ = two_paths()
    result = await BestFirstSearch(trace.env(), Gen(propose)).search(Theorem("t"))
    assert result.status == "error"
    assert "GeneratorError" in (result.message or "")


async def test_a_generator_that_times_out_itself_is_not_the_deadline() -> None:
    async def propose(state: ProofState, k: int) -> Any:
        raise TimeoutError("HTTP read timed out")

    trace, _ = two_paths()
    result = await BestFirstSearch(trace.env(), Gen(propose)).search(Theorem("t"))
    # Before: read as the run's deadline, the root was dropped and the search "failed".
    assert result.status == "error"
    assert "GeneratorError" in (result.message or "") and "HTTP" in (result.message or "")


async def test_integer_logprobs_are_accepted_as_floats() -> None:
    async def propose(state: ProofState, k: int) -> list[Candidate]:
        return [Candidate("b" if state.key == key("root") else "finish", -1)]

    trace, _ = two_paths()
    result = await BestFirstSearch(trace.env(), Gen(propose)).search(Theorem("t"))
    assert result.proof == ("b", "finish")
    assert result.tree is not None
    assert isinstance(result.tree.node(key("B")).cumulative_logprob, float)


async def test_duplicate_candidates_of_one_expansion_are_applied_once() -> None:
    async def propose(state: ProofState, k: int) -> list[Candidate]:
        if state.key == key("root"):
            return [Candidate("b", -1.0), Candidate("b", -1.0), Candidate("  b ", -2.0),
                    Candidate("", 0.0), Candidate("\n\n", 0.0)]
        return [Candidate("finish", 0.0)]

    trace, _ = two_paths()
    spy = SpyEnvironment(trace.env())
    result = await BestFirstSearch(spy, Gen(propose)).search(Theorem("t"))
    assert result.proof == ("b", "finish")
    assert spy.applied == ["b", "finish"]
    assert result.tree is not None
    result.tree.check_invariants()


@pytest.mark.parametrize("logprob", [math.nan, math.inf, -math.inf, 1e308, -1e308])
@pytest.mark.parametrize("mode", ["greedy", "sample"])
async def test_non_finite_logprobs_with_rollouts_do_not_crash(logprob: float, mode: str) -> None:
    # root -> S (two goals: the trigger fires) -> T -> proved
    trace = (TraceBuilder().edge("root", "split", "s1+s2").edge("s1+s2", "left", "T")
             .edge("T", "done", "proved"))

    async def propose(state: ProofState, k: int) -> list[Candidate]:
        return [Candidate(t, logprob) for t in ("split", "left", "done", "other")][:k]

    result = await BestFirstSearch(
        trace.env(), Gen(propose), rollout=RolloutConfig(mode=mode, stop_at_boundary=False)  # type: ignore[arg-type]
    ).search(Theorem("t"))
    assert result.status in ("proved", "failed")
    assert result.tree is not None
    result.tree.check_invariants()


@pytest.mark.parametrize("logprobs", [[math.nan, 0.0], [0.0, math.nan], [math.inf, 0.0],
                                      [-math.inf, -math.inf], [math.nan, math.nan]])
def test_choose_candidate_with_non_finite_logprobs(logprobs: list[float]) -> None:
    candidates = [Candidate(str(i), lp) for i, lp in enumerate(logprobs)]
    for mode in ("greedy", "sample"):
        chosen = choose_candidate(candidates, RolloutConfig(mode=mode),  # type: ignore[arg-type]
                                  random.Random(0))
        assert chosen in candidates
    finite = [c for c in candidates if not math.isnan(c.logprob)]
    if finite:  # NaN never beats a number
        best = choose_candidate(candidates, RolloutConfig(), random.Random(0))
        assert best is not None and not math.isnan(best.logprob)
    sampled = {choose_candidate(candidates, RolloutConfig(mode="sample"), random.Random(s))
               for s in range(20)}
    if math.inf in logprobs:
        assert {c.logprob for c in sampled if c is not None} == {math.inf}


# ---- heuristics ---------------------------------------------------------------------------
class WrongCount:
    async def score(self, nodes: Sequence[Any]) -> list[float]:
        return [0.0] * (len(nodes) + 1)


class Raises:
    async def score(self, nodes: Sequence[Any]) -> list[float]:
        raise RuntimeError("scorer exploded")


class NotNumbers:
    async def score(self, nodes: Sequence[Any]) -> list[Any]:
        return [None] * len(nodes)


@pytest.mark.parametrize("heuristic, error", [
    (WrongCount(), ValueError), (Raises(), RuntimeError), (NotNumbers(), TypeError),
    (lambda n: 1 / 0, ZeroDivisionError)])
async def test_a_failing_heuristic_is_a_bug_that_propagates_cleanly(heuristic: Any,
                                                                   error: type) -> None:
    # A plug-in's own exception is a bug: it reaches the caller (the benchmark runner keeps
    # its traceback), after the session is closed and no task is left behind.
    env = Env(lambda state, tactic: asyncio.sleep(0, StateReached(ProofState(("⊢ x", "⊢ y")))))
    before = asyncio.all_tasks()
    with pytest.raises(error):
        await BestFirstSearch(env, Gen(_abc), heuristic, rollout=RolloutConfig()).search(
            Theorem("t"))
    await asyncio.sleep(0)
    assert env.sessions[0].closed and asyncio.all_tasks() - before == set()


@pytest.mark.parametrize("score, proved", [(math.nan, False), (-math.inf, False),
                                           (math.inf, True)])
async def test_non_finite_scores(score: float, proved: bool) -> None:
    trace, table = two_paths()
    result = await BestFirstSearch(trace.env(), generator(table),
                                   lambda n: 0.0 if n.depth == 0 else score).search(Theorem("t"))
    assert result.proved is proved and result.status in ("proved", "failed")


async def test_nan_scores_are_reported_once_per_search(caplog: pytest.LogCaptureFixture) -> None:
    trace, table = two_paths()
    with caplog.at_level("WARNING", logger="prover.search"):
        await BestFirstSearch(trace.env(), generator(table),
                              lambda n: 0.0 if n.depth == 0 else math.nan).search(Theorem("t"))
    nan_warnings = [r for r in caplog.records if "NaN" in r.getMessage()]
    assert len(nan_warnings) == 1


# ---- environments -------------------------------------------------------------------------
async def test_an_apply_raising_a_plain_exception_propagates_and_closes_the_session() -> None:
    calls = 0

    async def apply(state: ProofState, tactic: str) -> Outcome:
        nonlocal calls
        calls += 1
        if tactic == "b":
            raise RuntimeError("segfault in the REPL wrapper")
        await asyncio.sleep(30)  # the siblings are cancelled, not awaited to the end
        raise AssertionError

    env = Env(apply)
    before = asyncio.all_tasks()
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="segfault"):
        await BestFirstSearch(env, Gen(_abc)).search(Theorem("t"))
    assert time.monotonic() - start < 5 and calls in (2, 3)
    await asyncio.sleep(0)
    assert env.sessions[0].closed and asyncio.all_tasks() - before == set()


@pytest.mark.parametrize("answer", [None, "ok", True])
async def test_an_apply_answering_a_non_outcome_is_not_taken_for_a_tactic_error(answer: Any
                                                                               ) -> None:
    async def apply(state: ProofState, tactic: str) -> Any:
        return answer

    # Before: recorded as an "error" outcome, and the search reported "failed".
    with pytest.raises(TypeError, match="not an Outcome"):
        await BestFirstSearch(Env(apply), Gen(_abc)).search(Theorem("t"))


async def _verify_none(tactics: object) -> None:
    return None


async def _verify_truthy(tactics: object) -> str:
    return "no"


@pytest.mark.parametrize("verify", [_verify_none, _verify_truthy])
async def test_only_a_verify_answering_true_passes_a_proof(verify: Any) -> None:
    result = await BestFirstSearch(Env(_proves, verify), Gen(_abc)).search(Theorem("t"))
    assert result.status == "error" and not result.proved
    assert result.stats.verified is False
    assert result.proof == ("a",)  # the found proof is still reported, for inspection


async def test_a_proof_is_not_held_up_by_hanging_siblings() -> None:
    async def apply(state: ProofState, tactic: str) -> Outcome:
        if tactic == "b":
            return Proved()
        await asyncio.Event().wait()  # never answers
        raise AssertionError

    env = Env(apply)
    start = time.monotonic()
    result = await BestFirstSearch(env, Gen(_abc), config=SearchConfig(time_limit_s=30)).search(
        Theorem("t"))
    assert result.status == "proved" and result.proof == ("b",)
    assert time.monotonic() - start < 5  # before: the whole time limit
    assert env.sessions[0].closed
    assert result.tree is not None
    result.tree.check_invariants()


async def test_states_equal_to_an_ancestor_are_cycles_not_edges() -> None:
    async def apply(state: ProofState, tactic: str) -> Outcome:
        if state == ROOT:
            return StateReached(ProofState((f"⊢ {tactic}",)))
        return StateReached(ROOT)

    result = await BestFirstSearch(Env(apply), Gen(_abc)).search(Theorem("t"))
    assert result.status == "failed"
    assert result.tree is not None
    result.tree.check_invariants()
    assert all(e["outcome"] == "cycle" for k in ("⊢ a", "⊢ b", "⊢ c")
               for e in result.tree.errors(k))


async def test_cancelling_while_waiting_for_rollouts_leaves_no_task_behind() -> None:
    # The main loop's frontier is empty (the child scores -inf) while a rollout hangs: the loop
    # waits on the rollout and a wake-up event. Cancelling it there used to leak that waiter.
    async def apply(state: ProofState, tactic: str) -> Outcome:
        if state == ROOT:
            return StateReached(ProofState(("⊢ x", "⊢ y")))
        await asyncio.sleep(30)
        return TacticError("late")

    async def propose(state: ProofState, k: int) -> list[Candidate]:
        return [Candidate("a", -1.0)]

    env = Env(apply)
    search = BestFirstSearch(env, Gen(propose), lambda n: -math.inf if n.depth else 0.0,
                             SearchConfig(time_limit_s=30), rollout=RolloutConfig())
    before = asyncio.all_tasks()
    task = asyncio.ensure_future(search.search(Theorem("t")))
    await asyncio.sleep(0.1)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - before == set()
    assert env.sessions[0].closed


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling is 3.11+")
async def test_a_call_swallowing_the_deadline_leaves_no_cancel_on_the_callers_task() -> None:
    calls = 0

    async def propose(state: ProofState, k: int) -> list[Candidate]:
        nonlocal calls
        calls += 1
        if calls == 1:
            return [Candidate("a", 0.0)]
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:  # a generator that "cleans up" and answers anyway
            return []
        return []

    async def apply(state: ProofState, tactic: str) -> Outcome:
        return StateReached(ProofState(("⊢ next",)))

    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    result = await BestFirstSearch(Env(apply), Gen(propose),
                                   config=SearchConfig(time_limit_s=0.1)).search(Theorem("t"))
    assert result.stats.generator_calls == 2
    assert task.cancelling() == 0
    with pytest.raises(TimeoutError):  # the caller's own timeout still reads as a timeout
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)


# ---- soundness ----------------------------------------------------------------------------
@pytest.mark.parametrize("tactic", ["sorry", "  sorry", "exact sorry", "by sorry", "Sorry",
                                    "SORRY", "simp\nsorry", "intro x\n  exact sorry",
                                    "exact _root_.sorryAx _ false", "(ADMIT)"])
async def test_banned_tactics_in_any_case_and_spelling_never_reach_the_prover(tactic: str
                                                                             ) -> None:
    trace = TraceBuilder().edge("root", tactic, "proved")
    spy = SpyEnvironment(trace.env())
    result = await BestFirstSearch(spy, generator({"root": [(tactic, 0.0)]})).search(
        Theorem("t"))
    assert spy.applied == [] and not result.proved and result.stats.banned == 1


def test_banned_pattern_keeps_identifiers_that_contain_a_banned_word() -> None:
    pattern = banned_pattern(DEFAULT_BANNED_TACTICS)
    assert pattern is not None
    for text in ("exact foo_sorry", "exact h.admit_ok", "exact foo.sorry", "exact Nat.stop'"):
        assert pattern.search(text) is None, text


async def test_the_shortest_of_two_proofs_through_a_shared_state_is_kept() -> None:
    trace = (TraceBuilder().edge("root", "x", "X").edge("X", "y", "S").edge("root", "z", "S")
             .edge("S", "done", "proved").edge("X", "long", "L").edge("L", "fin", "proved"))
    table = {"root": [("x", -0.1), ("z", -3.0)], "X": [("y", -0.1), ("long", -10.0)],
             "S": [("done", -5.0)], "L": [("fin", -0.1)]}
    result = await BestFirstSearch(trace.env(), generator(table)).search(Theorem("t"))
    assert result.proved and result.proof is not None
    assert result.proof == ("z", "done")  # not x, y, done
    assert result.tree is not None
    assert result.tree.graph.has_edge(key("X"), key("S"))
    assert [e.tactic for e in result.tree.proof_edges()] == ["z", "done"]
    result.tree.check_invariants()


# ---- traces -------------------------------------------------------------------------------
ROOT_LINE = '{"theorem": "t", "state": "⊢ p", "tactic": null, "outcome": "state", ' \
            '"goals": ["⊢ p"]}'


@pytest.mark.parametrize("bad, field", [
    (b'{"theorem": "t", "state": "\xff", "tactic": "x", "outcome": "error"}', None),
    (b'{"theorem": "t", "state": "s", "tactic": "x", "outcome": "error", "latency_s": 1'
     + b"0" * 400 + b"}", "latency_s"),
    (b"[" * 100_000, None),
], ids=["not-utf8", "huge-int-latency", "nested-too-deep"])
def test_odd_trace_lines_are_data_format_errors(tmp_path: Path, bad: bytes, field: str | None
                                               ) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_bytes(ROOT_LINE.encode() + b"\n" + bad + b"\n")
    with pytest.raises(DataFormatError) as info:
        read_trace(path)
    assert info.value.line == 2 and info.value.field == field
    assert str(path) in str(info.value) and "line 2" in str(info.value)


def test_a_second_different_root_is_counted_as_a_conflict() -> None:
    first = TraceRecord("t", "⊢ p", None, "state", ("⊢ p",))
    second = TraceRecord("t", "⊢ q", None, "state", ("⊢ q",))
    env = ReplayEnvironment([first, first, second])
    assert env.conflicts == 1
    assert env.theorems()[0].statement == "⊢ p"


async def test_a_state_posing_as_the_proved_terminal_is_no_proof() -> None:
    from prover.types import PROVED_KEY

    async def apply(state: ProofState, tactic: str) -> Outcome:
        return StateReached(ProofState(("⊢ still open",), key=PROVED_KEY))

    result = await BestFirstSearch(Env(apply), Gen(_abc),
                                   config=SearchConfig(verify_proof=False)).search(Theorem("t"))
    assert not result.proved and result.proof is None  # before: "proved", proof ("a",)
    assert result.tree is not None
    result.tree.check_invariants()


# ---- budgets and results ------------------------------------------------------------------
def branching_env() -> Env:
    count = 0

    async def apply(state: ProofState, tactic: str) -> Outcome:
        nonlocal count
        count += 1
        if tactic == "c" and count > 12:
            return Proved()
        return StateReached(ProofState(tuple(f"⊢ g{count}.{i}" for i in range(count % 3 + 1))))

    return Env(apply)


@pytest.mark.parametrize("cap", [1, 2, 3, 5, 8])
async def test_max_nodes_holds_with_rollouts(cap: int) -> None:
    result = await BestFirstSearch(
        branching_env(), Gen(_abc), config=SearchConfig(max_nodes=cap, max_expansions=40),
        rollout=RolloutConfig(probes=2, depth=3, stop_at_boundary=False)).search(Theorem("t"))
    assert result.tree is not None and len(result.tree) <= cap and result.stats.nodes <= cap
    assert result.status in ("budget", "proved")
    result.tree.check_invariants()


async def test_a_proof_on_the_only_allowed_expansion_is_kept_with_rollouts() -> None:
    result = await BestFirstSearch(Env(_proves), Gen(_abc), config=SearchConfig(max_expansions=1),
                                   rollout=RolloutConfig()).search(Theorem("t"))
    assert result.status == "proved" and result.proof == ("a",)
    assert result.stats.expansions == 1 and result.stats.verified is True


async def test_search_result_to_dict_round_trips_through_json() -> None:
    import json

    from prover import SearchResult
    from prover.config import SearchStats

    trace, table = two_paths()
    for config in (SearchConfig(), SearchConfig(max_expansions=1)):
        result = await BestFirstSearch(trace.env(), generator(table), config=config).search(
            Theorem("t"))
        data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        back = SearchResult(data["theorem"], data["status"],
                            tuple(data["proof"]) if data["proof"] is not None else None,
                            SearchStats(**data["stats"]), data["message"])
        assert back == result
    assert SearchConfig(**json.loads(json.dumps(config.to_dict()))) == config


async def test_a_cancel_arriving_as_a_call_completes_is_not_swallowed() -> None:
    # Python 3.10's asyncio.wait_for returned the result and dropped the cancellation here,
    # so the cancelled search ran on to its end.
    answer: asyncio.Future[list[Candidate]] = asyncio.get_running_loop().create_future()

    async def propose(state: ProofState, k: int) -> list[Candidate]:
        return await answer

    trace, _ = two_paths()
    task = asyncio.ensure_future(BestFirstSearch(trace.env(), Gen(propose)).search(Theorem("t")))
    await asyncio.sleep(0.01)
    answer.set_result([])
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_infinite_time_limit_runs_to_the_end() -> None:
    trace, table = two_paths()
    result = await BestFirstSearch(trace.env(latency_s=0.001), generator(table),
                                   config=SearchConfig(time_limit_s=math.inf,
                                                       tactic_timeout_s=math.inf)
                                   ).search(Theorem("t"))
    assert result.proof == ("b", "finish")


async def test_no_task_is_pending_when_a_search_that_waited_on_rollouts_returns() -> None:
    # A caller may close its event loop right away (run_until_complete, then close): a task
    # still pending then is destroyed with "Task was destroyed but it is pending!".
    async def apply(state: ProofState, tactic: str) -> Outcome:
        if state == ROOT:
            return StateReached(ProofState(("⊢ x", "⊢ y")))
        await asyncio.sleep(0.05)
        return TacticError("no")

    async def propose(state: ProofState, k: int) -> list[Candidate]:
        return [Candidate("a", -1.0)]

    search = BestFirstSearch(Env(apply), Gen(propose), lambda n: -math.inf if n.depth else 0.0,
                             rollout=RolloutConfig())
    before = asyncio.all_tasks()
    result = await search.search(Theorem("t"))
    assert result.status == "failed" and result.stats.rollouts == 1
    assert asyncio.all_tasks() - before == set()  # no sleep: nothing left to finish


@pytest.mark.parametrize("limit", [1e-9, 1e-6, 1e-3])
async def test_a_tiny_time_limit_ends_at_once_as_budget(limit: float) -> None:
    trace, table = two_paths()
    spy = SpyEnvironment(trace.env(latency_s=0.01))
    before = asyncio.all_tasks()
    result = await BestFirstSearch(spy, generator(table),
                                   config=SearchConfig(time_limit_s=limit)).search(Theorem("t"))
    assert result.status == "budget" and result.proof is None
    assert result.stats.wall_s < 1.0
    assert asyncio.all_tasks() - before == set()
    assert result.tree is not None
    result.tree.check_invariants()
