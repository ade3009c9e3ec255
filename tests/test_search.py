"""Behaviour of BestFirstSearch on hand-built replay traces."""

from __future__ import annotations

import asyncio
import math

import pytest
from helpers import SpyEnvironment, TraceBuilder, generator, key

from heuristics import CumulativeLogProb, NormalizedLogProb, Weighted, as_heuristic
from prover import (
    BestFirstSearch,
    Candidate,
    ConfigError,
    FixedTacticGenerator,
    SearchConfig,
    SearchNode,
    Theorem,
)
from prover.errors import EnvironmentCrashError, GeneratorError


def two_paths() -> tuple[TraceBuilder, dict[str, list[tuple[str, float]]]]:
    """Cumulative log-prob prefers B (-1.2 > -1.6); normalised prefers A2 (-1.13 > -1.2)."""
    trace = (TraceBuilder()
             .edge("root", "a", "A").edge("root", "b", "B")
             .edge("A", "a2", "A2")
             .edge("A2", "done", "proved")
             .edge("B", "finish", "proved"))
    table = {"root": [("a", -1.0), ("b", -1.2)], "A": [("a2", -0.6)],
             "A2": [("done", -0.1)], "B": [("finish", -0.1)]}
    return trace, table


async def test_cumulative_and_normalised_logprob_expand_different_paths() -> None:
    trace, table = two_paths()
    gen = generator(table)
    result = await BestFirstSearch(trace.env(), gen, CumulativeLogProb()).search(Theorem("t"))
    assert result.proof == ("b", "finish")
    assert gen.asked == [key("root"), key("A"), key("B")]
    result.tree.check_invariants()

    gen = generator(table)
    result = await BestFirstSearch(trace.env(), gen, NormalizedLogProb(0.5)).search(Theorem("t"))
    assert result.proof == ("a", "a2", "done")
    assert gen.asked == [key("root"), key("A"), key("A2")]
    result.tree.check_invariants()


async def test_plain_function_heuristic_and_weighted() -> None:
    trace, table = two_paths()
    # prefer the deepest node: a depth-first heuristic given as a plain function
    result = await BestFirstSearch(trace.env(), generator(table),
                                   lambda node: float(node.depth) - 0.01 * len(node.tactics[-1:])
                                   ).search(Theorem("t"))
    assert result.proof == ("a", "a2", "done")
    weighted = Weighted([(1.0, CumulativeLogProb()), (0.0, NormalizedLogProb())])
    result = await BestFirstSearch(trace.env(), generator(table), weighted).search(Theorem("t"))
    assert result.proof == ("b", "finish")


async def test_never_expand_score_prunes() -> None:
    trace, table = two_paths()
    never_b = as_heuristic(lambda n: -math.inf if n.tactic == "b" else n.cumulative_logprob)
    gen = generator(table)
    result = await BestFirstSearch(trace.env(), gen, never_b).search(Theorem("t"))
    assert key("B") not in gen.asked
    assert result.proof == ("a", "a2", "done")


async def test_equal_states_are_deduplicated() -> None:
    trace = (TraceBuilder().edge("root", "x", "S").edge("root", "y", "S")
             .edge("S", "z", "proved"))
    gen = generator({"root": [("x", -1.0), ("y", -0.5)], "S": [("z", 0.0)]})
    result = await BestFirstSearch(trace.env(), gen).search(Theorem("t"))
    tree = result.tree
    assert len(tree) == 2  # root and S, reached twice
    assert tree.graph.has_edge(key("root"), key("S"))
    assert gen.asked.count(key("S")) == 1
    # the node keeps the path of its first creation (candidates are recorded best first: y)
    assert tree.node(key("S")).tactics == ("y",)
    assert result.proof == ("y", "z")
    tree.check_invariants()


async def test_cycle_and_no_progress_are_not_edges() -> None:
    trace = (TraceBuilder().edge("root", "go", "A").edge("A", "back", "root")
             .edge("A", "stay", "A"))
    gen = generator({"root": [("go", 0.0)], "A": [("back", 0.0), ("stay", 0.0)]})
    result = await BestFirstSearch(trace.env(), gen).search(Theorem("t"))
    assert result.status == "failed"
    kinds = sorted(e["outcome"] for e in result.tree.errors(key("A")))
    assert kinds == ["cycle", "no_progress"]
    result.tree.check_invariants()
    assert result.tree.status(key("root")) == "failed"


def chain(n: int) -> tuple[TraceBuilder, dict[str, list[tuple[str, float]]]]:
    """root -> s1 -> ... -> s{n-1} -> proved: exactly n expansions to a proof."""
    trace = TraceBuilder()
    table: dict[str, list[tuple[str, float]]] = {}
    names = ["root", *[f"s{i}" for i in range(1, n)]]
    for i, name in enumerate(names):
        nxt = names[i + 1] if i + 1 < len(names) else "proved"
        trace.edge(name, f"t{i}", nxt)
        table[name] = [(f"t{i}", -0.1)]
    return trace, table


async def test_max_expansions_budget_and_proof_on_last_allowed_expansion() -> None:
    trace, table = chain(3)
    cfg = SearchConfig(max_expansions=2)
    result = await BestFirstSearch(trace.env(), generator(table), config=cfg).search(Theorem("t"))
    assert result.status == "budget" and result.proof is None
    assert result.stats.expansions == 2
    result.tree.check_invariants()

    cfg = SearchConfig(max_expansions=3)
    result = await BestFirstSearch(trace.env(), generator(table), config=cfg).search(Theorem("t"))
    assert result.status == "proved"
    assert result.proof == ("t0", "t1", "t2")
    assert result.stats.expansions == 3
    assert result.stats.verified is True


async def test_time_limit_budget() -> None:
    trace, table = chain(50)
    cfg = SearchConfig(time_limit_s=0.3)
    result = await BestFirstSearch(trace.env(latency_s=0.05), generator(table),
                                   config=cfg).search(Theorem("t"))
    assert result.status == "budget"
    assert result.stats.wall_s < 1.0
    assert 2 <= result.stats.expansions < 50
    result.tree.check_invariants()


async def test_deadline_interrupts_calls_in_flight_and_keeps_a_proof() -> None:
    # The run's deadline (one timer per run) ends a hanging tactic as a timeout; a proof that
    # another candidate of the same expansion found before the deadline is kept.
    trace = (TraceBuilder().edge("root", "hang", "proved", latency_s=30.0)
             .edge("root", "step", "A", latency_s=0.0)
             .edge("root", "win", "proved", latency_s=0.1))
    table = {"root": [("hang", 0.0), ("step", -1.0)]}
    cfg = SearchConfig(time_limit_s=0.3)
    result = await BestFirstSearch(trace.env(latency_s="recorded"), generator(table),
                                   config=cfg).search(Theorem("t"))
    assert result.status == "budget" and result.stats.wall_s < 2.0
    assert [e["outcome"] for e in result.tree.errors(key("root"))] == ["timeout"]
    assert key("A") in result.tree
    result.tree.check_invariants()

    table = {"root": [("hang", 0.0), ("win", -1.0)]}
    result = await BestFirstSearch(trace.env(latency_s="recorded"), generator(table),
                                   config=cfg).search(Theorem("t"))
    assert result.status == "proved" and result.proof == ("win",)
    assert result.stats.wall_s < 2.0


class HangingGenerator:
    """Answers the root, then never answers again."""

    def __init__(self, tactics: list[tuple[str, float]]) -> None:
        self.tactics = tactics
        self.calls = 0

    async def propose(self, state: object, k: int) -> list[Candidate]:
        self.calls += 1
        if self.calls > 1:
            await asyncio.sleep(30)
        return [Candidate(t, lp) for t, lp in self.tactics[:k]]


async def test_deadline_interrupts_a_hanging_generator() -> None:
    trace = TraceBuilder().edge("root", "a", "A")
    cfg = SearchConfig(time_limit_s=0.2)
    result = await BestFirstSearch(trace.env(), HangingGenerator([("a", 0.0)]),
                                   config=cfg).search(Theorem("t"))
    assert result.status == "budget" and result.stats.wall_s < 2.0
    assert result.stats.generator_calls == 2


async def test_cancelling_a_search_is_not_mistaken_for_its_deadline() -> None:
    trace = TraceBuilder().edge("root", "hang", "A", latency_s=30.0)
    search = BestFirstSearch(trace.env(latency_s="recorded"), generator({"root": [("hang", 0.0)]}),
                             config=SearchConfig(time_limit_s=0.1))
    task = asyncio.ensure_future(search.search(Theorem("t")))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_max_nodes_cap_holds() -> None:
    trace = TraceBuilder()
    table: dict[str, list[tuple[str, float]]] = {"root": []}
    for i in range(10):
        trace.edge("root", f"w{i}", f"n{i}")
        table["root"].append((f"w{i}", -0.01 * i))
    cfg = SearchConfig(max_nodes=4, num_candidates=10)
    result = await BestFirstSearch(trace.env(), generator(table), config=cfg).search(Theorem("t"))
    assert result.status == "budget"
    assert len(result.tree) == 4
    result.tree.check_invariants()


async def test_tactic_timeout_is_an_outcome() -> None:
    trace = TraceBuilder().edge("root", "slow", "proved", latency_s=2.0).edge(
        "root", "fast", "A", latency_s=0.0)
    gen = generator({"root": [("slow", 0.0), ("fast", -1.0)]})
    cfg = SearchConfig(tactic_timeout_s=0.05)
    result = await BestFirstSearch(trace.env(latency_s="recorded"), gen,
                                   config=cfg).search(Theorem("t"))
    assert result.status == "failed"
    errors = result.tree.errors(key("root"))
    assert [e["outcome"] for e in errors] == ["timeout"]
    assert key("A") in result.tree


async def test_banned_tactics_never_reach_the_environment() -> None:
    trace = (TraceBuilder().edge("root", "sorry", "proved")
             .edge("root", "exact foo_sorry", "A").edge("A", "admit", "proved")
             .edge("A", "simp; admit", "proved").edge("A", "exact h.admit_ok", "proved"))
    gen = generator({"root": [("sorry", 0.0), ("exact foo_sorry", -1.0)],
                     "A": [("admit", 0.0), ("simp; admit", 0.0), ("exact h.admit_ok", -1.0)]})
    spy = SpyEnvironment(trace.env())
    result = await BestFirstSearch(spy, gen).search(Theorem("t"))
    assert spy.applied == ["exact foo_sorry", "exact h.admit_ok"]
    assert result.proof == ("exact foo_sorry", "exact h.admit_ok")
    assert result.stats.banned == 3


async def test_unsound_proof_rejected_by_verify() -> None:
    trace = TraceBuilder().edge("root", "trust_me", "proved")
    env = trace.env()

    async def refuse(tactics: object) -> bool:
        return False

    original_open = env.open

    async def open_(theorem: Theorem):  # type: ignore[no-untyped-def]
        session = await original_open(theorem)
        session.verify = refuse  # type: ignore[method-assign]
        return session

    env.open = open_  # type: ignore[method-assign]
    result = await BestFirstSearch(env, generator({"root": [("trust_me", 0.0)]})).search(
        Theorem("t"))
    assert result.status == "error"
    assert "verify" in (result.message or "")
    assert result.stats.verified is False


async def test_deterministic_tree_across_runs() -> None:
    trace, table = two_paths()
    trace.edge("root", "c", "C").edge("C", "c2", "A2")
    table["root"].append(("c", -1.0))  # ties with "a": insertion order decides
    table["C"] = [("c2", -0.1)]
    shapes = []
    for _ in range(3):
        result = await BestFirstSearch(trace.env(latency_s=0.001), generator(table),
                                       NormalizedLogProb()).search(Theorem("t"))
        result.tree.check_invariants()
        shapes.append([(e["source"], e["target"], e["tactic"])
                       for e in result.tree.to_json()["edges"]])
    assert shapes[0] == shapes[1] == shapes[2]
    assert len(shapes[0]) >= 4


async def test_unknown_theorem_is_an_error_result() -> None:
    trace, table = two_paths()
    result = await BestFirstSearch(trace.env(), generator(table)).search(Theorem("nope"))
    assert result.status == "error"
    assert "nope" in (result.message or "")


async def test_generator_failure_is_typed() -> None:
    class Broken:
        async def propose(self, state: object, k: int) -> list:  # type: ignore[type-arg]
            raise RuntimeError("CUDA out of memory")

    trace, _ = two_paths()
    result = await BestFirstSearch(trace.env(), Broken()).search(Theorem("t"))
    assert result.status == "error"
    assert "GeneratorError" in (result.message or "") and "CUDA" in (result.message or "")

    class Typed:
        async def propose(self, state: object, k: int) -> list:  # type: ignore[type-arg]
            raise GeneratorError("server said 500")

    result = await BestFirstSearch(trace.env(), Typed()).search(Theorem("t"))
    assert result.status == "error" and "500" in (result.message or "")


async def test_environment_crash_is_an_error_result_and_keeps_tree() -> None:
    trace, table = two_paths()
    env = trace.env()
    original_open = env.open

    async def open_(theorem: Theorem):  # type: ignore[no-untyped-def]
        session = await original_open(theorem)
        inner = session.apply
        calls = 0

        async def apply(state, tactic):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            if calls > 2:
                raise EnvironmentCrashError("prover died: exit code 137")
            return await inner(state, tactic)

        session.apply = apply  # type: ignore[method-assign]
        return session

    env.open = open_  # type: ignore[method-assign]
    result = await BestFirstSearch(env, generator(table)).search(Theorem("t"))
    assert result.status == "error" and "137" in (result.message or "")
    assert result.tree is not None and len(result.tree) >= 2
    result.tree.check_invariants()


async def test_concurrent_candidates_are_bounded_and_concurrent() -> None:
    active = 0
    peak = 0
    trace = TraceBuilder()
    table: dict[str, list[tuple[str, float]]] = {"root": []}
    for i in range(8):
        trace.edge("root", f"w{i}", f"n{i}")
        table["root"].append((f"w{i}", 0.0))
    env = trace.env()
    original_open = env.open

    async def open_(theorem: Theorem):  # type: ignore[no-untyped-def]
        session = await original_open(theorem)
        inner = session.apply

        async def apply(state, tactic):  # type: ignore[no-untyped-def]
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.01)
            active -= 1
            return await inner(state, tactic)

        session.apply = apply  # type: ignore[method-assign]
        return session

    env.open = open_  # type: ignore[method-assign]
    cfg = SearchConfig(max_concurrent_tactics=3, max_expansions=1)
    await BestFirstSearch(env, generator(table), config=cfg).search(Theorem("t"))
    assert peak == 3


async def test_many_searches_share_one_instance() -> None:
    trace, table = two_paths()
    search = BestFirstSearch(trace.env(latency_s=0.001), FixedTacticGenerator(
        {key(s): v for s, v in table.items()}))
    results = await asyncio.gather(*(search.search(Theorem("t")) for _ in range(20)))
    assert {r.proof for r in results} == {("b", "finish")}


def test_sync_run_wrapper() -> None:
    trace, table = two_paths()
    result = BestFirstSearch(trace.env(), generator(table)).run(Theorem("t"))
    assert result.proved and result.to_dict()["proof"] == ["b", "finish"]


@pytest.mark.parametrize("kwargs", [
    {"num_candidates": 0}, {"max_expansions": -1}, {"time_limit_s": 0},
    {"tactic_timeout_s": 0}, {"max_nodes": 0}, {"max_concurrent_tactics": 0},
    {"banned_tactics": "sorry"}, {"num_candidates": True},
    # wrong types and values: ConfigError, not a TypeError (or a crash once a search runs)
    {"max_nodes": "5"}, {"max_nodes": 2.5}, {"max_nodes": True}, {"tactic_timeout_s": "1"},
    {"tactic_timeout_s": math.nan}, {"time_limit_s": True}, {"time_limit_s": math.nan},
    {"banned_tactics": None}, {"banned_tactics": (None,)},
    {"banned_tactics": ("",)},  # a blank word would match between tokens, banning anything
])
def test_config_validation(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError):
        SearchConfig(**kwargs)


def test_search_node_tactic_property() -> None:
    from prover.types import ProofState

    root = SearchNode(ProofState(("⊢ p",)))
    assert root.tactic is None and root.state.num_goals == 1
    child = SearchNode(ProofState(()), depth=1, tactics=("simp",), parent=root)
    assert child.tactic == "simp" and child.state.num_goals == 0


# ---- multi-line candidates: the replay session splits them with Lean's layout ----------------
CASES = "cases h with\n| inl h => exact h\n| inr h => simp"


async def test_a_multi_line_tactic_is_sent_as_one_tactic() -> None:
    spy = SpyEnvironment(TraceBuilder().edge("root", CASES, "proved").env())
    result = await BestFirstSearch(spy, generator({"root": [(CASES, -0.5)]})).search(Theorem("t"))
    assert spy.applied == [CASES]  # not cut at each line into three pieces Lean rejects
    assert result.proved and result.proof == (CASES,) and result.stats.env_calls == 1


async def test_a_two_tactic_candidate_adds_the_intermediate_state() -> None:
    trace = TraceBuilder().edge("root", "intro x", "A").edge("A", CASES, "proved")
    spy = SpyEnvironment(trace.env())
    gen = generator({"root": [("intro x\n" + CASES, -1.0)], "A": []})
    result = await BestFirstSearch(spy, gen).search(Theorem("t"))
    assert spy.applied == ["intro x", CASES]
    assert result.proved and result.proof == ("intro x", CASES)
    assert result.tree is not None and result.tree.node(key("A")).tactics == ("intro x",)
    result.tree.check_invariants()


async def test_replay_layout_is_a_choice_of_the_environment() -> None:
    from prover import ReplayEnvironment
    from prover.backends.coq_sources import split_sentences

    records = TraceBuilder().records
    async with await ReplayEnvironment(records).open(Theorem("t")) as session:
        assert session.split_tactics("constructor\n<;> simp") == ["constructor\n<;> simp"]
    coq = ReplayEnvironment(records, layout=lambda text: [s.text for s in split_sentences(text)])
    async with await coq.open(Theorem("t")) as session:
        assert session.split_tactics("intros.\n- auto.") == ["intros.", "-", "auto."]
    with pytest.raises(ConfigError, match="layout"):
        ReplayEnvironment(records, layout="lean")  # type: ignore[arg-type]


def test_a_heuristic_class_instead_of_an_instance_is_refused_at_once() -> None:
    trace, table = two_paths()
    with pytest.raises(TypeError, match=r"CumulativeLogProb\(\.\.\.\)"):
        BestFirstSearch(trace.env(), generator(table), CumulativeLogProb)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="instance"):
        as_heuristic(NormalizedLogProb)  # type: ignore[arg-type]
