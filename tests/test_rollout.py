"""Goal-aware rollouts and multi-tactic candidates inside BestFirstSearch (replay traces)."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Sequence
from typing import Any

import pytest
from helpers import SpyEnvironment, TraceBuilder, key

from heuristics import CumulativeLogProb, as_heuristic
from prover import (
    BestFirstSearch,
    Candidate,
    ConfigError,
    FixedTacticGenerator,
    ProofState,
    SearchConfig,
    SearchNode,
    SearchResult,
    Theorem,
)
from rollout import GoalCountTrigger, RolloutConfig, choose_candidate


class Gen:
    """A state-keyed fixed generator (keys are TraceBuilder state names) that logs each call
    as ``(state name, k)`` and waits ``delay_s`` before answering, or ``delays[(name, k)]``.

    With the default ``num_candidates=8`` and greedy single-probe rollouts, calls with ``k=8``
    are expansions and calls with ``k=1`` are rollout steps."""

    def __init__(self, table: dict[str, Sequence[tuple[str, float]]], delay_s: float = 0.0,
                 delays: dict[tuple[str, int], float] | None = None) -> None:
        self.names = {key(name): name for name in table}
        self.inner = FixedTacticGenerator({key(s): list(v) for s, v in table.items()})
        self.delay_s = delay_s
        self.delays = delays or {}
        self.calls: list[tuple[str, int]] = []

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        call = (self.names.get(state.key, state.key), k)
        self.calls.append(call)
        delay = self.delays.get(call, self.delay_s)
        if delay:
            await asyncio.sleep(delay)
        return await self.inner.propose(state, k)


class SpyTrigger:
    """GoalCountTrigger that records every edge it was asked about."""

    def __init__(self) -> None:
        self.inner = GoalCountTrigger()
        self.asked: list[tuple[int, int, bool]] = []

    def fires(self, parent: SearchNode, child: SearchNode) -> bool:
        fired = self.inner.fires(parent, child)
        self.asked.append((parent.state.num_goals, child.state.num_goals, fired))
        return fired


def avoid(*names: str) -> Any:
    """Cumulative log-prob, but the main loop never expands the named states."""
    keys = {key(n) for n in names}
    return as_heuristic(lambda n: -math.inf if n.state.key in keys else n.cumulative_logprob)


def rollout_edges(result: SearchResult) -> list[str]:
    assert result.tree is not None
    return [d["data"].tactic for _, _, d in result.tree.graph.edges(data=True)
            if d["data"].rollout]


def checked(result: SearchResult) -> SearchResult:
    assert result.tree is not None
    result.tree.check_invariants()
    s = result.stats
    assert s.generator_calls >= s.rollout_generator_calls and s.env_calls >= s.rollout_env_calls
    return result


# ---- the trigger ----------------------------------------------------------------------------
def node(n: int) -> SearchNode:
    return SearchNode(ProofState(tuple(f"⊢ g{i}" for i in range(n))))


@pytest.mark.parametrize("before, after, fires", [
    (1, 1, False), (1, 2, True), (2, 1, True), (3, 3, False), (1, 0, False), (2, 0, False),
])
def test_goal_count_trigger(before: int, after: int, fires: bool) -> None:
    assert GoalCountTrigger().fires(node(before), node(after)) is fires


async def test_trigger_fires_exactly_at_count_changes_in_a_search() -> None:
    trace = (TraceBuilder()
             .edge("root", "same", "A")          # 1 -> 1
             .edge("root", "split", "B+C")       # 1 -> 2: fires
             .edge("root", "done", "error")
             .edge("B+C", "b", "C")              # 2 -> 1: fires
             .edge("B+C", "keep", "B2+C")        # 2 -> 2
             .edge("C", "c", "proved"))
    # the rollout from B+C takes "keep" (its best), so "b" is left to the main loop
    table = {"root": [("same", -1.0), ("split", -2.0), ("done", -3.0)],
             "B+C": [("keep", -1.0), ("b", -2.0)], "C": [("c", -0.1)]}
    trigger = SpyTrigger()
    gen = Gen(table)
    result = checked(await BestFirstSearch(trace.env(), gen, rollout=RolloutConfig(depth=1),
                                           trigger=trigger).search(Theorem("t")))
    assert result.proved
    assert all((a != b) == f for a, b, f in trigger.asked)
    # asked once per new state reached by an expansion (A, B+C, C), never for rollout edges
    assert trigger.asked == [(1, 1, False), (1, 2, True), (2, 1, True)]
    assert result.stats.rollouts == 2
    assert rollout_edges(result) == ["keep", "c"]


# ---- a rollout's course ---------------------------------------------------------------------
def boundary_trace() -> tuple[TraceBuilder, dict[str, list[tuple[str, float]]]]:
    """root -split-> B+C (fires) -x-> D+E (same count) -y-> E (boundary) -z-> proved."""
    trace = (TraceBuilder()
             .edge("root", "split", "B+C")
             .edge("B+C", "x", "D+E")
             .edge("D+E", "y", "E")
             .edge("E", "z", "proved"))
    table = {"root": [("split", -1.0)], "B+C": [("x", -0.1)], "D+E": [("y", -0.1)],
             "E": [("z", -0.1)]}
    return trace, table


async def test_rollout_stops_at_the_next_boundary_and_its_states_are_in_the_tree() -> None:
    trace, table = boundary_trace()
    gen = Gen(table)
    # the main loop never expands B+C's descendants: whatever lies below it is the rollout's
    search = BestFirstSearch(trace.env(), gen, avoid("B+C", "D+E", "E"),
                             rollout=RolloutConfig(depth=4))
    result = checked(await search.search(Theorem("t")))
    assert result.status == "failed"
    assert rollout_edges(result) == ["x", "y"]
    assert result.stats.rollouts == 1 and result.stats.rollout_steps == 2
    assert result.stats.rollout_generator_calls == 2 and result.stats.rollout_env_calls == 2
    tree = result.tree
    assert tree is not None
    for name in ("D+E", "E"):
        assert tree.graph.nodes[key(name)]["rollout"] is True
        assert tree.node(key(name)).tactics[-1] in ("x", "y")
    assert tree.graph.nodes[key("B+C")]["rollout"] is False
    assert ("E", 1) not in gen.calls  # stopped at E without asking for its tactic
    assert tree.node(key("E")).tactics == ("split", "x", "y")


async def test_without_stop_at_boundary_the_rollout_runs_to_the_proof() -> None:
    trace, table = boundary_trace()
    search = BestFirstSearch(trace.env(), Gen(table), avoid("B+C", "D+E", "E"),
                             rollout=RolloutConfig(depth=4, stop_at_boundary=False))
    result = checked(await search.search(Theorem("t")))
    assert result.proved and result.proof == ("split", "x", "y", "z")
    assert rollout_edges(result) == ["x", "y", "z"]
    assert result.stats.rollout_proofs == 1 and result.stats.rollout_steps == 3


@pytest.mark.parametrize("depth, edges", [(1, ["x"]), (2, ["x", "y"])])
async def test_rollout_depth_limit(depth: int, edges: list[str]) -> None:
    trace, table = boundary_trace()
    search = BestFirstSearch(trace.env(), Gen(table), avoid("B+C", "D+E", "E"),
                             rollout=RolloutConfig(depth=depth, stop_at_boundary=False))
    result = checked(await search.search(Theorem("t")))
    assert rollout_edges(result) == edges and result.stats.rollout_steps == depth


async def test_rollout_stops_at_an_error_and_it_is_recorded() -> None:
    trace = (TraceBuilder().edge("root", "split", "B+C").edge("B+C", "x", "error"))
    gen = Gen({"root": [("split", 0.0)], "B+C": [("x", 0.0)]})
    result = checked(await BestFirstSearch(trace.env(), gen, avoid("B+C"),
                                           rollout=RolloutConfig()).search(Theorem("t")))
    assert result.stats.rollout_steps == 1 and result.stats.rollouts == 1
    assert result.tree is not None
    (error,) = result.tree.errors(key("B+C"))
    assert error["tactic"] == "x" and error["rollout"] is True


async def test_proof_completed_by_a_rollout_is_found_and_counted() -> None:
    # root -split-> B+C -b-> C (2 -> 1 fires); the rollout from B+C only tries "bad" (its
    # best), so the main loop reaches C; the rollout from C goes c1 -> C2, c2 -> proved
    trace = (TraceBuilder()
             .edge("root", "split", "B+C").edge("B+C", "bad", "error").edge("B+C", "b", "C")
             .edge("C", "c1", "C2").edge("C2", "c2", "proved"))
    table = {"root": [("split", 0.0)], "B+C": [("bad", 0.0), ("b", -0.5)],
             "C": [("c1", -0.5)], "C2": [("c2", -0.5)]}
    gen = Gen(table)
    result = checked(await BestFirstSearch(trace.env(), gen, avoid("C", "C2"),
                                           rollout=RolloutConfig(depth=4)).search(Theorem("t")))
    assert result.proved and result.stats.verified is True
    assert result.proof == ("split", "b", "c1", "c2")
    assert result.stats.rollout_proofs == 1 and result.stats.rollouts == 2
    assert rollout_edges(result) == ["c1", "c2"]
    # the main loop expanded root and B+C only; the rest were rollout calls with k=1
    assert [c for c in gen.calls if c[1] != 1] == [("root", 8), ("B+C", 8)]
    assert sorted(c[0] for c in gen.calls if c[1] == 1) == ["B+C", "C", "C2"]

    # the same search without rollouts cannot prove it (C is never expanded)
    off = checked(await BestFirstSearch(trace.env(), Gen(table), avoid("C", "C2")
                                        ).search(Theorem("t")))
    assert off.status == "failed" and off.stats.rollouts == 0 and off.stats.rollout_proofs == 0


async def test_rollout_can_close_several_goals_at_once() -> None:
    trace = (TraceBuilder().edge("root", "split", "B+C").edge("B+C", "x", "D+E")
             .edge("D+E", "all_goals simp", "proved"))
    table = {"root": [("split", 0.0)], "B+C": [("x", 0.0)], "D+E": [("all_goals simp", 0.0)]}
    result = checked(await BestFirstSearch(trace.env(), Gen(table), avoid("B+C", "D+E"),
                                           rollout=RolloutConfig(depth=4)).search(Theorem("t")))
    assert result.proof == ("split", "x", "all_goals simp")
    assert result.stats.rollout_proofs == 1 and result.stats.rollout_steps == 2


async def test_proof_found_by_the_main_loop_is_not_a_rollout_proof() -> None:
    trace = (TraceBuilder().edge("root", "split", "B+C").edge("B+C", "x", "error")
             .edge("root", "a", "A").edge("A", "b", "proved"))
    table = {"root": [("split", 0.0), ("a", -0.1)], "B+C": [("x", 0.0)], "A": [("b", 0.0)]}
    result = checked(await BestFirstSearch(trace.env(), Gen(table), CumulativeLogProb(),
                                           rollout=RolloutConfig()).search(Theorem("t")))
    assert result.proved and result.proof == ("a", "b")
    assert result.stats.rollouts == 1 and result.stats.rollout_proofs == 0
    assert result.tree is not None
    assert not result.tree.proof_edges()[-1].rollout


async def test_greedy_probes_take_distinct_first_tactics() -> None:
    trace = (TraceBuilder().edge("root", "split", "B+C")
             .edge("B+C", "p", "P+Q").edge("B+C", "q", "Q+R").edge("B+C", "r", "R+S"))
    gen = Gen({"root": [("split", 0.0)], "B+C": [("p", -0.1), ("q", -0.2), ("r", -0.3)]})
    result = checked(await BestFirstSearch(trace.env(), gen, avoid("B+C"),
                                           rollout=RolloutConfig(probes=2)).search(Theorem("t")))
    assert sorted(rollout_edges(result)) == ["p", "q"]
    assert result.stats.rollouts == 2


def test_choose_candidate_greedy_and_sampled() -> None:
    cands = [Candidate("a", -3.0), Candidate("b", -0.1), Candidate("c", -1.0)]
    greedy = RolloutConfig()
    rng = random.Random(0)
    assert [choose_candidate(cands, greedy, rng, r).tactic for r in range(3)] == ["b", "c", "a"]
    assert choose_candidate(cands, greedy, rng, 3) is None
    assert choose_candidate([], greedy, rng) is None
    hot = RolloutConfig(mode="sample", temperature=1.0)
    drawn = [choose_candidate(cands, hot, random.Random(i)).tactic for i in range(400)]
    assert set(drawn) == {"a", "b", "c"} and drawn.count("b") > drawn.count("c") > drawn.count("a")
    cold = RolloutConfig(mode="sample", temperature=0.01)
    assert {choose_candidate(cands, cold, random.Random(i)).tactic for i in range(50)} == {"b"}


@pytest.mark.parametrize("kwargs", [
    {"depth": 0}, {"probes": 0}, {"mode": "beam"}, {"temperature": 0},
    {"temperature": math.inf}, {"budget_share": 0}, {"budget_share": 1.5},
    # wrong types: ConfigError, not a TypeError here or a crash inside a running search
    {"depth": 2.5}, {"probes": 1.5}, {"depth": "3"}, {"depth": True}, {"temperature": "1"},
    {"budget_share": "0.5"}, {"budget_share": math.nan},
])
def test_rollout_config_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        RolloutConfig(**kwargs)


# ---- budgets --------------------------------------------------------------------------------
def fan_trace(width: int, depth: int) -> tuple[TraceBuilder, dict[str, list[tuple[str, float]]]]:
    """root splits ``width`` ways into two-goal states; each continues in a chain of ``depth``
    two-goal states (rollouts never hit a boundary) and no proof."""
    trace = TraceBuilder()
    table: dict[str, list[tuple[str, float]]] = {"root": []}
    for i in range(width):
        first = f"a{i}+b{i}"
        trace.edge("root", f"s{i}", first)
        table["root"].append((f"s{i}", -0.1 * i))
        previous = first
        for d in range(depth):
            nxt = f"a{i}_{d}+b{i}"
            trace.edge(previous, f"t{i}_{d}", nxt)
            table[previous] = [(f"t{i}_{d}", -0.1)]
            previous = nxt
    return trace, table


@pytest.mark.parametrize("max_expansions, share, delay_s", [
    (4, 0.5, 0.0), (5, 1.0, 0.0), (6, 0.5, 0.002), (9, 1.0, 0.002), (3, 0.34, 0.002),
])
async def test_budget_is_respected_with_rollouts(max_expansions: int, share: float,
                                                 delay_s: float) -> None:
    trace, table = fan_trace(width=6, depth=6)
    gen = Gen(table, delay_s=delay_s)
    cfg = SearchConfig(max_expansions=max_expansions, num_candidates=6)
    search = BestFirstSearch(trace.env(), gen, config=cfg,
                             rollout=RolloutConfig(depth=8, probes=2, budget_share=share))
    result = checked(await search.search(Theorem("t")))
    s = result.stats
    assert result.status == "budget"
    assert s.rollouts >= 1
    assert len(gen.calls) == s.generator_calls <= max_expansions
    assert s.expansions + s.rollout_generator_calls <= max_expansions
    assert s.rollout_generator_calls <= int(share * max_expansions)


async def test_rollouts_on_and_off_spend_the_same_generator_budget() -> None:
    trace, table = fan_trace(width=4, depth=10)
    cfg = SearchConfig(max_expansions=10, num_candidates=4)
    calls = []
    for rollout in (None, RolloutConfig(depth=4, budget_share=0.5)):
        gen = Gen(table)
        result = checked(await BestFirstSearch(trace.env(), gen, config=cfg,
                                               rollout=rollout).search(Theorem("t")))
        calls.append(len(gen.calls))
        assert result.stats.generator_calls == len(gen.calls)
    assert calls == [10, 10]


async def test_time_limit_holds_with_a_slow_rollout() -> None:
    trace = (TraceBuilder().edge("root", "split", "B+C")
             .edge("B+C", "slow", "D+E", latency_s=5.0))
    gen = Gen({"root": [("split", 0.0)], "B+C": [("slow", 0.0)]})
    cfg = SearchConfig(time_limit_s=0.3)
    result = checked(await BestFirstSearch(trace.env(latency_s="recorded"), gen, avoid("B+C"),
                                           config=cfg, rollout=RolloutConfig()
                                           ).search(Theorem("t")))
    assert result.status == "budget" and result.stats.wall_s < 1.0
    assert result.stats.rollouts == 1


# ---- concurrency ----------------------------------------------------------------------------
@pytest.mark.parametrize("slots", [1, 8])
async def test_a_slow_rollout_does_not_block_the_main_loop(slots: int) -> None:
    # the rollout from B+C waits 3 s on its first tactic; the main loop proves via A meanwhile,
    # even when one tactic at a time is allowed (rollouts do not take the expansions' slots)
    trace = (TraceBuilder()
             .edge("root", "split", "B+C").edge("root", "a", "A")
             .edge("B+C", "slow", "proved", latency_s=3.0)
             .edge("A", "a2", "A2").edge("A2", "a3", "proved"))
    gen = Gen({"root": [("split", -0.1), ("a", -0.2)], "B+C": [("slow", 0.0)],
               "A": [("a2", -0.1)], "A2": [("a3", -0.1)]})
    cfg = SearchConfig(max_concurrent_tactics=slots)
    result = checked(await BestFirstSearch(trace.env(latency_s="recorded"), gen, avoid("B+C"),
                                           cfg, rollout=RolloutConfig()).search(Theorem("t")))
    assert result.proved and result.proof == ("a", "a2", "a3")
    assert result.stats.wall_s < 1.5
    assert result.stats.rollouts == 1 and result.stats.rollout_proofs == 0
    assert [c[0] for c in gen.calls if c[1] == 8] == ["root", "A", "A2"]


async def test_the_main_loop_expands_states_a_running_rollout_adds() -> None:
    # The main loop has nothing to do (B+C is never expanded by it) until the rollout from B+C
    # adds D+E, from which "fin" proves: it must expand D+E then, not when the slow rollout ends.
    trace = (TraceBuilder().edge("root", "split", "B+C")
             .edge("B+C", "x", "D+E", latency_s=0.2).edge("D+E", "y", "F+G", latency_s=0.2)
             .edge("F+G", "w", "H+I", latency_s=0.2).edge("H+I", "v", "J+K", latency_s=0.2)
             .edge("D+E", "fin", "proved"))
    gen = Gen({"root": [("split", 0.0)], "B+C": [("x", 0.0)],
               "D+E": [("y", 0.0), ("fin", -1.0)], "F+G": [("w", 0.0)], "H+I": [("v", 0.0)],
               "J+K": []})
    result = checked(await BestFirstSearch(trace.env(latency_s="recorded"), gen, avoid("B+C"),
                                           rollout=RolloutConfig(depth=4)).search(Theorem("t")))
    assert result.proved and result.proof == ("split", "x", "fin")
    assert ("D+E", 8) in gen.calls and ("H+I", 1) not in gen.calls
    assert result.stats.rollout_proofs == 0


async def test_a_rollout_reaching_a_state_the_main_loop_just_created_goes_on() -> None:
    # The main loop reaches D+E first (the rollout's call at B+C is slow) and is still choosing
    # D+E's tactics (slow) when the rollout gets there: D+E is known but not yet expanded, so the
    # rollout goes on. The main loop never expands F+G: only the rollout can finish the proof.
    trace = (TraceBuilder().edge("root", "split", "B+C").edge("B+C", "x", "D+E")
             .edge("D+E", "y", "F+G").edge("F+G", "all_goals simp", "proved"))
    table = {"root": [("split", 0.0)], "B+C": [("x", 0.0)], "D+E": [("y", 0.0)],
             "F+G": [("all_goals simp", 0.0)]}
    gen = Gen(table, delays={("B+C", 1): 0.1, ("D+E", 8): 0.5})
    result = checked(await BestFirstSearch(trace.env(), gen, avoid("F+G"),
                                           rollout=RolloutConfig(depth=4)).search(Theorem("t")))
    assert result.proved and result.stats.rollout_proofs == 1
    assert rollout_edges(result) == ["y", "all_goals simp"]  # x was the main loop's edge
    # x, tried by the main loop already, was followed along its edge, not applied again
    assert result.stats.rollouts == 1 and result.stats.rollout_steps == 2
    assert result.stats.rollout_env_calls == 2 and result.stats.env_calls == 4
    assert result.stats.rollout_generator_calls == 3


async def test_a_rollout_stops_at_a_state_the_search_already_expanded() -> None:
    # the main loop expands A (A stays open: A2 is never expanded) while the rollout from B+C
    # waits on its slow first call; the rollout's step to A ends it there
    trace = (TraceBuilder().edge("root", "split", "B+C").edge("root", "a", "A")
             .edge("B+C", "join", "A").edge("A", "next", "A2"))
    gen = Gen({"root": [("a", 0.0), ("split", -0.1)], "B+C": [("join", 0.0)],
               "A": [("next", 0.0)], "A2": []}, delays={("B+C", 1): 0.2})
    result = checked(await BestFirstSearch(
        trace.env(), gen, avoid("B+C", "A2"),
        rollout=RolloutConfig(depth=4, stop_at_boundary=False)).search(Theorem("t")))
    assert ("A", 8) in gen.calls and result.tree is not None
    assert result.tree.status(key("A")) == "open"
    assert result.stats.rollout_steps == 1 and result.stats.rollout_generator_calls == 1
    assert [c for c in gen.calls if c[1] == 1] == [("B+C", 1)]


async def test_rollouts_from_many_searches_share_one_instance() -> None:
    trace, table = boundary_trace()
    search = BestFirstSearch(trace.env(latency_s=0.001), FixedTacticGenerator(
        {key(s): v for s, v in table.items()}), rollout=RolloutConfig(depth=2))
    results = await asyncio.gather(*(search.search(Theorem("t")) for _ in range(10)))
    for result in results:
        checked(result)
        assert result.proof == ("split", "x", "y", "z")


# ---- multi-tactic candidates ----------------------------------------------------------------
def multi_trace() -> TraceBuilder:
    return (TraceBuilder()
            .edge("root", "a", "A").edge("A", "b", "B").edge("B", "c", "error")
            .edge("B", "d", "proved"))


async def test_multi_tactic_candidate_adds_each_state_and_stops_at_first_error() -> None:
    spy = SpyEnvironment(multi_trace().env())
    gen = Gen({"root": [("a\nb\nc\nd", -1.0)], "A": [], "B": []})
    result = checked(await BestFirstSearch(spy, gen).search(Theorem("t")))
    assert spy.applied == ["a", "b", "c"]  # d is never sent after c failed
    assert result.status == "failed"
    tree = result.tree
    assert tree is not None
    assert tree.node(key("A")).tactics == ("a",) and tree.node(key("B")).tactics == ("a", "b")
    # the candidate's logprob goes on its first tactic only
    assert tree.node(key("B")).cumulative_logprob == -1.0
    assert [e["tactic"] for e in tree.errors(key("B"))] == ["c"]
    assert result.stats.env_calls == 3
    # the intermediate states are ordinary frontier nodes: A and B were expanded afterwards
    assert sorted(c[0] for c in gen.calls[1:]) == ["A", "B"]
    assert result.stats.expansions == 3


async def test_multi_tactic_candidate_can_prove() -> None:
    gen = Gen({"root": [("a\nb\nd", -1.0), ("a", -2.0)]})
    result = checked(await BestFirstSearch(multi_trace().env(), gen).search(Theorem("t")))
    assert result.proved and result.proof == ("a", "b", "d")
    assert result.stats.verified is True and result.stats.expansions == 1


async def test_multi_tactic_rollout_steps_count_each_tactic() -> None:
    trace = (TraceBuilder().edge("root", "split", "B+C").edge("B+C", "x", "D+E")
             .edge("D+E", "y", "F+G").edge("F+G", "w", "H"))
    gen = Gen({"root": [("split", 0.0)], "B+C": [("x\ny\nw", 0.0)]})
    result = checked(await BestFirstSearch(trace.env(), gen, avoid("B+C", "D+E", "F+G", "H"),
                                           rollout=RolloutConfig(depth=4)).search(Theorem("t")))
    # one rollout step (one generator call) applies the three tactics; the last one crosses
    # a boundary (2 -> 1 goals), so the rollout stops there
    assert rollout_edges(result) == ["x", "y", "w"]
    assert result.stats.rollout_steps == 3 and result.stats.rollout_generator_calls == 1
    assert result.tree is not None and key("H") in result.tree
