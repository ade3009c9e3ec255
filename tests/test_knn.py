"""KNNTacticGenerator: featurisation, ranking, logprobs, loaders, leakage-free evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers import TraceBuilder

from benchmarks.knn_speed import leave_one_theorem_out, most_frequent_baseline, seen_elsewhere
from prover import BestFirstSearch, ConfigError, DataFormatError, ProofState, Theorem
from prover.generators import KNNTacticGenerator as LazyKNN
from prover.generators import TacticGenerator
from prover.generators.knn import (
    KNNConfig,
    KNNTacticGenerator,
    goal_features,
    read_steps,
    state_goals,
    tokenize,
)
from prover.traces import TraceRecord, write_trace

STEPS_FILE = Path("trajectories") / "leandojo_benchmark4_subset_steps.jsonl"

NEAR = "a b : ℕ\nh : a ≤ b\n⊢ Nat.succ a ≤ Nat.succ b"
# Pairs from nearest to farthest from NEAR, each with its own tactic.
GRADED = [
    ("a b : ℕ\nh : a ≤ b\n⊢ Nat.succ a ≤ Nat.succ b + 0", "t_nearest"),
    ("a c : ℕ\nh : a ≤ c\n⊢ Nat.succ a ≤ c", "t_middle"),
    ("x : ℤ\n⊢ x * 2 = x + x", "t_far"),
]


def lean_steps(tmp_path: Path, records: list[object]) -> Path:
    path = tmp_path / "steps.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


def assert_well_formed(candidates: list, k: int) -> None:
    assert len(candidates) <= k
    logprobs = [c.logprob for c in candidates]
    assert all(lp <= 0.0 and math.isfinite(lp) for lp in logprobs), logprobs
    assert logprobs == sorted(logprobs, reverse=True)
    tactics = [c.tactic for c in candidates]
    assert len(tactics) == len(set(tactics))


# --- featurisation -----------------------------------------------------------------------------

def test_tokenize_keeps_qualified_names_symbols_and_components_for_lean_and_coq() -> None:
    lean = tokenize("inst✝ : Fintype α\nh₀ : x ≠ 0\n⊢ Finset.card (insert a s) = s.card + 1")
    assert {"inst✝", "h₀", "≠", "Finset.card", "Finset", "card", "s.card", "+", "1"} <= set(lean)
    assert "(" not in lean and ")" not in lean
    coq = tokenize("n, m : nat\nH : n <= m -> S n <= S m /\\ True\n⊢ Nat.add_comm n m = 0%nat")
    assert {"<=", "->", "/\\", "Nat.add_comm", "add_comm", "S", "%", "nat"} <= set(coq)
    assert "," not in coq


def test_conclusion_and_first_goal_weigh_more() -> None:
    config = KNNConfig(conclusion_weight=3.0, other_goals_weight=0.5)
    features = goal_features(["h : P\n⊢ Q", "⊢ R"], config)
    assert features["P"] == 1.0
    assert features["Q"] == 3.0
    assert features["R"] == 1.5
    assert "S" not in goal_features(["⊢ Q", "⊢ S"], KNNConfig(other_goals_weight=0.0))


def test_state_goals_splits_lean_text_and_keeps_goal_without_turnstile() -> None:
    assert state_goals("2 goals\nx : ℕ\n⊢ P x\n\nx : ℕ\n⊢ Q x") == ("x : ℕ\n⊢ P x", "x : ℕ\n⊢ Q x")
    assert state_goals("forall n, n + 0 = n") == ("forall n, n + 0 = n",)
    assert state_goals("  ") == ()


# --- ranking and logprobs ----------------------------------------------------------------------

HYPS = "\n".join(f"h{i} : x{i} ≤ y{i}" for i in range(6))
CONCL = " ∧ ".join(["zeta_fun qux"] * 6)
LONG = f"{HYPS}\n⊢ {CONCL}"


async def test_exact_match_state_returns_its_tactic_first() -> None:
    # Under plain BM25 a short pair holding only the query's rare terms outscores a long query's
    # own text (shown below with a near-identical state); the identical state must still win.
    fillers = [(f"{HYPS}\n⊢ f{i}", f"fill{i}") for i in range(50)]
    pairs = [(f"⊢ {CONCL}", "t_short"), *fillers, (LONG, "t_exact")]
    for config in (KNNConfig(), KNNConfig(aggregate="max")):
        gen = KNNTacticGenerator(pairs, config=config)
        candidates = await gen.propose(ProofState((LONG,)), 4)
        assert candidates[0].tactic == "t_exact"
        assert_well_formed(candidates, 4)
        near = LONG.replace("h0 :", "h0' :")
        assert gen.suggest(near, 2)[0].tactic == "t_short"
    graded = KNNTacticGenerator([*GRADED, (NEAR, "t_exact")])
    assert graded.suggest(NEAR, 1)[0].tactic == "t_exact"


async def test_nearer_states_rank_first() -> None:
    gen = KNNTacticGenerator(list(reversed(GRADED)))
    candidates = await gen.propose(ProofState((NEAR,)), 3)
    assert [c.tactic for c in candidates] == ["t_nearest", "t_middle", "t_far"]
    assert candidates[0].logprob > candidates[1].logprob > candidates[2].logprob
    assert_well_formed(candidates, 3)


def test_duplicates_merged_max_keeps_best_and_sum_adds_probabilities() -> None:
    distinct = [*GRADED[:2], ("a c : ℕ\n⊢ c ≤ c", "t_other")]
    dup = [*GRADED[:2], ("a c : ℕ\n⊢ c ≤ c", "t_nearest")]
    max_cfg = KNNConfig(aggregate="max")
    apart = {c.tactic: c.logprob for c in KNNTacticGenerator(distinct, config=max_cfg)
             .suggest(NEAR, 8)}
    merged = KNNTacticGenerator(dup, config=max_cfg).suggest(NEAR, 8)
    assert [c.tactic for c in merged] == ["t_nearest", "t_middle"]
    assert merged[0].logprob == pytest.approx(apart["t_nearest"])
    assert merged[0].logprob > apart["t_other"]

    summed = KNNTacticGenerator(dup).suggest(NEAR, 8)
    apart_sum = {c.tactic: c.logprob for c in KNNTacticGenerator(distinct).suggest(NEAR, 8)}
    assert [c.tactic for c in summed] == ["t_nearest", "t_middle"]
    assert summed[0].logprob == pytest.approx(
        math.log(math.exp(apart_sum["t_nearest"]) + math.exp(apart_sum["t_other"])))
    assert_well_formed(summed, 8)
    # Whitespace variants of one tactic are one candidate.
    spaced = KNNTacticGenerator([(NEAR, "simp "), (NEAR, " simp")]).suggest(NEAR, 8)
    assert [c.tactic for c in spaced] == ["simp"]


def test_many_votes_can_beat_a_single_nearer_neighbour_only_when_summing() -> None:
    base = "a b : ℕ\nh : a ≤ b\n⊢ Nat.succ a ≤ Nat.succ b"
    pairs = [(base + " + 0", "t_lone")] + [(base + " + 0 + 0", "t_crowd")] * 8
    nearest = KNNTacticGenerator(pairs, config=KNNConfig(aggregate="max")).suggest(base, 2)
    assert [c.tactic for c in nearest] == ["t_lone", "t_crowd"]
    summed = KNNTacticGenerator(pairs).suggest(base, 2)
    assert [c.tactic for c in summed] == ["t_crowd", "t_lone"]
    assert sum(math.exp(c.logprob) for c in summed) == pytest.approx(1.0)
    assert summed[1].logprob == pytest.approx(nearest[0].logprob)


def test_k_respected_and_softmax_pool_at_least_k() -> None:
    pairs = [(f"x : ℕ\n⊢ f x = {i}", f"tac{i}") for i in range(20)]
    gen = KNNTacticGenerator(pairs, config=KNNConfig(neighbours=4))
    for k in (0, 1, 3, 10, 20, 50):
        candidates = gen.suggest("x : ℕ\n⊢ f x = 7", k)
        assert len(candidates) == min(k, 20)
        assert_well_formed(candidates, max(k, 1))
    assert gen.suggest("x : ℕ\n⊢ f x = 7", 1)[0].tactic == "tac7"


def test_ties_are_broken_by_insertion_order_and_calls_are_deterministic() -> None:
    pairs = [(f"x : ℕ\n⊢ g x = {i}", f"tac{i}") for i in range(6)]
    gen = KNNTacticGenerator(pairs)
    query = "x : ℕ\n⊢ g x"  # equally near to all six
    first = gen.suggest(query, 6)
    assert [c.tactic for c in first] == [f"tac{i}" for i in range(6)]
    assert len({c.logprob for c in first}) == 1
    assert gen.suggest(query, 6) == first == KNNTacticGenerator(pairs).suggest(query, 6)


async def test_empty_index_unknown_terms_and_proved_state_give_no_candidates() -> None:
    empty = KNNTacticGenerator([])
    assert len(empty) == 0
    assert await empty.propose(ProofState(("x : ℕ\n⊢ x = x",)), 8) == []
    gen = KNNTacticGenerator(GRADED)
    assert await gen.propose(ProofState(("⊢ completely_unrelated_identifier",)), 8) == []
    assert await gen.propose(ProofState(()), 8) == []


def test_generator_protocol_and_lazy_export() -> None:
    gen = KNNTacticGenerator(GRADED)
    assert isinstance(gen, TacticGenerator)
    assert LazyKNN is KNNTacticGenerator


# --- exclusion (leakage-free evaluation) -------------------------------------------------------

def test_excluding_theorems_hides_their_pairs_per_query_and_per_generator() -> None:
    pairs = [(NEAR, "own"), (GRADED[1][0], "other")]
    gen = KNNTacticGenerator(pairs, theorems=["t", "u"])
    assert gen.theorems == frozenset({"t", "u"})
    assert gen.suggest(NEAR, 2)[0].tactic == "own"
    assert [c.tactic for c in gen.suggest(NEAR, 2, exclude_theorems=["t"])] == ["other"]
    hidden = gen.excluding(["t"])
    assert [c.tactic for c in hidden.suggest(NEAR, 2)] == ["other"]
    assert hidden.excluding(["u"]).suggest(NEAR, 2) == []
    assert gen.suggest(NEAR, 2)[0].tactic == "own"  # the original is untouched
    permanent = KNNTacticGenerator(pairs, theorems=["t", "u"], exclude_theorems={"t"})
    assert [c.tactic for c in permanent.suggest(NEAR, 2)] == ["other"]
    with pytest.raises(ConfigError, match="theorems"):
        KNNTacticGenerator(pairs, theorems=["t"])


# --- loaders -----------------------------------------------------------------------------------

def _trace() -> list[TraceRecord]:
    return (TraceBuilder("t1", root="p ∧ q → q ∧ p")
            .edge("p ∧ q → q ∧ p", "rfl", "error")
            .edge("p ∧ q → q ∧ p", "omega", "timeout")
            .edge("p ∧ q → q ∧ p", "intro h", "q ∧ p")
            .edge("q ∧ p", "exact h.symm", "proved")).records


def test_from_traces_learns_only_tactics_that_worked(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write_trace(_trace(), path)
    for source in (path, str(path), [path], _trace(), [_trace()]):
        gen = KNNTacticGenerator.from_traces(source)
        assert len(gen) == 2
        assert gen.theorems == frozenset({"t1"})
        tactics = [c.tactic for c in gen.suggest("x : ℕ\n⊢ p ∧ q → q ∧ p", 8)]
        assert tactics[0] == "intro h"
        assert "rfl" not in tactics and "omega" not in tactics
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"theorem": "t", "state": "⊢ p", "tactic": "simp", "outcome": "maybe"}\n',
                   encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        KNNTacticGenerator.from_traces(bad)
    assert (info.value.path, info.value.line, info.value.field) == (str(bad), 1, "outcome")


async def test_learned_from_one_theorem_the_search_proves_a_similar_one() -> None:
    gen = KNNTacticGenerator.from_traces(_trace())
    target = (TraceBuilder("t2", root="r ∧ s → s ∧ r")
              .edge("r ∧ s → s ∧ r", "intro h", "s ∧ r")
              .edge("s ∧ r", "exact h.symm", "proved"))
    result = await BestFirstSearch(target.env(), gen).search(Theorem("t2"))
    assert result.status == "proved"
    assert result.proof == ("intro h", "exact h.symm")


def test_from_steps_reads_leandojo_and_coq_records(tmp_path: Path) -> None:
    lean = lean_steps(tmp_path, [
        {"full_name": "lean_thm", "state_before": NEAR, "tactic": "omega", "state_after": "x"},
    ])
    coq = tmp_path / "coq.jsonl"
    coq.write_text(json.dumps({"theorem": "Coq.Arith.le_S", "step": 0,
                               "state": "n, m : nat\nH : n <= m\n⊢ S n <= S m",
                               "tactic": "auto with arith.", "num_goals_before": 1}) + "\n\n",
                   encoding="utf-8")
    assert read_steps(coq)[0].theorem == "Coq.Arith.le_S"
    gen = KNNTacticGenerator.from_steps([lean, coq])
    assert len(gen) == 2 and gen.theorems == frozenset({"lean_thm", "Coq.Arith.le_S"})
    assert gen.suggest("n : nat\n⊢ S n <= S (S n)", 1)[0].tactic == "auto with arith."
    assert gen.suggest(NEAR, 1)[0].tactic == "omega"
    assert KNNTacticGenerator.from_steps(coq).suggest("⊢ S n <= S m", 1)


@pytest.mark.parametrize(("record", "line", "field"), [
    ({"state_before": NEAR}, 2, "tactic"),
    ({"tactic": "simp"}, 2, "state"),
    ({"state": 3, "tactic": "simp"}, 2, "state"),
    ({"state_before": NEAR, "tactic": ["simp"]}, 2, "tactic"),
    ({"state_before": NEAR, "tactic": "   "}, 2, "tactic"),
    ({"state": " \n ", "tactic": "simp"}, 2, "state"),
    ({"state": NEAR, "tactic": "simp", "theorem": 7}, 2, "theorem"),
    ({"state_before": NEAR, "tactic": "simp", "full_name": None}, None, None),
    ([NEAR, "simp"], 2, None),
])
def test_from_steps_bad_records_name_path_line_field(
        tmp_path: Path, record: object, line: int | None, field: str | None) -> None:
    path = lean_steps(tmp_path, [{"state_before": NEAR, "tactic": "ok", "full_name": "t"},
                                 record])
    if line is None:  # a null theorem is allowed: the pair just cannot be excluded by name
        assert len(KNNTacticGenerator.from_steps(path)) == 2
        return
    with pytest.raises(DataFormatError) as info:
        KNNTacticGenerator.from_steps(path)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), line, field)
    assert str(path) in str(info.value)


def test_bad_json_line_and_bad_pairs_and_config(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"state": "⊢ p", "tactic": "simp"}\n{"state": \n', encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        KNNTacticGenerator.from_steps(path)
    assert info.value.line == 2
    with pytest.raises(ConfigError, match=r"pairs\[1\]"):
        KNNTacticGenerator([(NEAR, "simp"), (NEAR, None)])  # type: ignore[list-item]
    for bad in ({"k1": 0.0}, {"b": 1.5}, {"temperature": -1.0}, {"neighbours": 0},
                {"conclusion_weight": math.inf}, {"other_goals_weight": -0.1},
                {"aggregate": "mean"}, {"neighbours": True}):
        with pytest.raises(ConfigError):
            KNNConfig(**bad)


# --- real data -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_leave_one_theorem_out_beats_most_frequent_tactics(shared_data: Path) -> None:
    path = shared_data / STEPS_FILE
    if not path.is_file():
        pytest.skip(f"{path} not found")
    steps = read_steps(path)
    gen = KNNTacticGenerator.from_steps(path)
    assert len(gen) == len(steps)
    knn = leave_one_theorem_out(gen, steps, (1, 8))
    baseline = most_frequent_baseline(steps, steps, (1, 8))
    assert 0.0 < baseline[8] < knn[8]
    assert baseline[1] < knn[1]
    # No leakage: a tactic used by no other theorem can never be proposed.
    assert knn[8] <= seen_elsewhere(steps)
