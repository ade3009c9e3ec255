"""The Coq testbed's parts: the generator mixture, hammer tactics, the Coq progress regressor
and the ablation script."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from pathlib import Path

import pytest

from benchmarks.coq_ablation import parse_cells, report
from benchmarks.coq_progress import pairwise_accuracy
from heuristics.progress.features import FeatureConfig, FeatureProgressModel
from heuristics.progress.heuristic import ProgressHeuristic
from prover.backends.coq_config import HAMMER_PRELUDE, CoqConfig, hammer_available
from prover.backends.coq_documents import document_for
from prover.errors import ConfigError, DataFormatError
from prover.generators.fixed import FixedTacticGenerator
from prover.generators.hammer import hammer_generator, hammer_tactics
from prover.generators.mixture import MixtureGenerator, MixtureSource, mix_candidates
from prover.specs import make_generator
from prover.types import Candidate, ProofState, SearchNode, Theorem

needs_coq = pytest.mark.skipif(shutil.which("coqidetop.opt") is None, reason="needs Coq 8.16")


# ---- the mixture --------------------------------------------------------------------------
def test_each_source_becomes_a_distribution_and_weights_scale_it() -> None:
    model = [Candidate("apply H.", -0.1), Candidate("auto.", -2.5)]  # a confident model
    fixed = [Candidate(t, 0.0) for t in ("auto.", "lia.", "easy.", "trivial.")]  # uniform list
    mixed = mix_candidates([model, fixed], [0.8, 0.2], k=10)
    score = {c.tactic: c.logprob for c in mixed}
    shares = [math.exp(-0.1), math.exp(-2.5)]
    p_apply = 0.8 * shares[0] / sum(shares)
    p_auto = 0.8 * shares[1] / sum(shares) + 0.2 / 4  # proposed by both: the shares add up
    assert score["apply H."] == pytest.approx(math.log(p_apply))
    assert score["auto."] == pytest.approx(math.log(p_auto))
    assert score["lia."] == pytest.approx(math.log(0.2 / 4))
    assert [c.tactic for c in mixed][:2] == ["apply H.", "auto."]
    assert math.fsum(math.exp(c.logprob) for c in mixed) == pytest.approx(1.0)
    assert len(mix_candidates([model, fixed], [1, 1], k=2)) == 2


def test_a_source_with_nothing_to_say_leaves_the_others_unchanged() -> None:
    model = [Candidate("simpl.", -1.0), Candidate("nan.", math.nan)]
    mixed = mix_candidates([model, []], [0.5, 0.5], k=5)
    assert [(c.tactic, c.logprob) for c in mixed] == [("simpl.", pytest.approx(math.log(0.5)))]


async def test_mixture_generator_asks_every_source() -> None:
    a = FixedTacticGenerator([("intro.", -0.5), ("auto.", -1.0)])
    b = FixedTacticGenerator(["lia."])
    generator = MixtureGenerator([MixtureSource(a, 3.0), b])
    candidates = await generator.propose(ProofState(("⊢ True",)), 3)
    assert {c.tactic for c in candidates} == {"intro.", "auto.", "lia."}
    with pytest.raises(ConfigError):
        MixtureGenerator([])
    with pytest.raises(ConfigError, match="weight"):
        MixtureSource(a, 0.0)


async def test_mixture_spec_builds_its_parts_with_weights(tmp_path: Path) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("auto.\nlia.\n", encoding="utf-8")
    second.write_text("easy.\n", encoding="utf-8")
    generator = make_generator(f"mixture:fixed:{first}+fixed:{second}#weights=0.9,0.1")
    assert isinstance(generator, MixtureGenerator)
    assert [s.weight for s in generator.sources] == [0.9, 0.1]
    scores = {c.tactic: c.logprob for c in await generator.propose(ProofState(("⊢ P",)), 5)}
    assert scores["auto."] == pytest.approx(math.log(0.45))
    assert scores["easy."] == pytest.approx(math.log(0.1))
    with pytest.raises(ConfigError, match="two or more parts"):
        make_generator(f"mixture:fixed:{first}")
    with pytest.raises(ConfigError, match="2 weights for 3 parts"):
        make_generator(f"mixture:fixed:{first}+fixed:{second}+fixed:{first}#weights=1,2")
    with pytest.raises(ConfigError, match="did you mean"):
        make_generator(f"mixture:fixed:{first}+fixd:{second}")


# ---- hammer -------------------------------------------------------------------------------
def test_hammer_tactics_carry_their_own_timeout_and_the_prelude_precedes_the_statement() -> None:
    assert hammer_tactics(2.5)[0] == "timeout 3 sauto."
    with pytest.raises(ConfigError):
        hammer_tactics(0)
    theorem = Theorem("t", "Lemma t : True.", {"header": "Require Import Arith."})
    document = document_for(theorem, config=CoqConfig(prelude=HAMMER_PRELUDE))
    assert document.sentences == ("Require Import Arith.", *HAMMER_PRELUDE, "Lemma t : True.")
    assert document.statement == "Lemma t : True."
    assert document_for(theorem).sentences == ("Require Import Arith.", "Lemma t : True.")
    with pytest.raises(ConfigError, match="prelude"):
        CoqConfig(prelude="From Hammer Require Import Tactics.")  # type: ignore[arg-type]


@needs_coq
@pytest.mark.skipif(not hammer_available(), reason="needs libcoq-hammer")
async def test_hammer_tactics_prove_in_a_real_coq_with_the_prelude() -> None:
    from prover import BestFirstSearch, SearchConfig
    from prover.backends.coq import CoqEnvironment

    env = CoqEnvironment(hammer=True)
    assert env.config.prelude == HAMMER_PRELUDE
    theorem = Theorem("swap", "Lemma swap : forall A B : Prop, A /\\ B -> B /\\ A.",
                      {"header": "Require Import Arith."})
    try:
        result = await BestFirstSearch(env, hammer_generator(),
                                       config=SearchConfig(time_limit_s=60)).search(theorem)
    finally:
        await env.close()
    assert result.proved and result.stats.verified
    assert result.proof is not None and result.proof[0].startswith("timeout 3 ")


# ---- the progress regressor --------------------------------------------------------------
def _queries(n: int) -> tuple[list[tuple[str, str, str]], list[float]]:
    queries, targets = [], []
    for i in range(n):
        long = i % 2 == 0
        state = f"H{i} : nat\n⊢ {'deep_lemma' if long else 'easy_goal'} {i}"
        queries.append((state, "", "auto."))
        targets.append(12.0 if long else 1.0)
    return queries, targets


def test_feature_model_learns_which_goals_are_far_and_round_trips(tmp_path: Path) -> None:
    queries, targets = _queries(200)
    model = FeatureProgressModel.fit(queries, targets, FeatureConfig(dims=256, ridge=1.0))
    far, near = model.predict([("x : nat\n⊢ deep_lemma 999", "", "auto."),
                               ("x : nat\n⊢ easy_goal 999", "", "auto.")])
    assert far > 6 and near < 3
    path = tmp_path / "model.npz"
    model.save(path)
    again = FeatureProgressModel.load(path)
    assert again.predict(queries[:5]) == pytest.approx(model.predict(queries[:5]))
    (tmp_path / "bad.npz").write_text("no", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad\.npz"):
        FeatureProgressModel.load(tmp_path / "bad.npz")
    with pytest.raises(ConfigError):
        FeatureProgressModel.fit(queries, targets[:3])


async def test_the_feature_model_orders_a_frontier_as_a_heuristic() -> None:
    queries, targets = _queries(200)
    model = FeatureProgressModel.fit(queries, targets, FeatureConfig(dims=256))
    root_far = SearchNode(ProofState(("x : nat", "⊢ deep_lemma 1")))
    far = SearchNode(ProofState(("⊢ a",)), 1, -0.1, ("auto.",), root_far)
    root_near = SearchNode(ProofState(("x : nat", "⊢ easy_goal 1")))
    near = SearchNode(ProofState(("⊢ b",)), 1, -0.1, ("auto.",), root_near)
    scores = await ProgressHeuristic(model, logprob_weight=0.0).score([far, near])
    assert scores[1] > scores[0]


def test_pairwise_accuracy_counts_pairs_within_a_proof_only() -> None:
    # proof a: targets 3 > 1, predicted in order; proof b: 2 > 0 predicted backwards.
    assert pairwise_accuracy([3.0, 1.0, 0.0, 2.0], [3, 1, 2, 0], ["a", "a", "b", "b"]) == 0.5
    assert pairwise_accuracy([1.0, 1.0], [3, 1], ["a", "a"]) == 0.5  # a tie is half
    assert math.isnan(pairwise_accuracy([1.0], [1], ["a"]))


# ---- the ablation script -------------------------------------------------------------------
def test_cells_are_the_product_and_bad_names_are_refused() -> None:
    cells = parse_cells("knn-byfile,hammer", "cumulative,progress", "off,4")
    assert len(cells) == 8 and cells[0].setting == "by-file" and cells[-1].setting == "online"
    assert cells[-1].name == "hammer/progress/rollout-4"
    with pytest.raises(ConfigError, match="--policies"):
        parse_cells("knn", "cumulative", "off")
    with pytest.raises(ConfigError, match="--rollouts"):
        parse_cells("mixture", "cumulative", "deep")


def test_report_pairs_cells_on_common_lemmas_with_intervals(tmp_path: Path) -> None:
    rows = []
    for cell, proved in (("a/cumulative/rollout-off", [1, 1, 0, 0]),
                         ("b/cumulative/rollout-off", [1, 1, 1, 1])):
        for i, ok in enumerate(proved):
            rows.append({"cell": cell, "theorem": f"t{i}", "proved": bool(ok),
                         "setting": "online", "generator_calls": 2, "env_calls": 10,
                         "rollouts": 0, "time_limit_s": 40.0, "num_candidates": 32})
    rows.append({**rows[0], "theorem": "only-in-a"})  # not searched by b: left out
    results = tmp_path / "results.jsonl"
    results.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    text = report(results)
    assert "4 lemmas searched by every cell" in text
    assert "| a/cumulative/rollout-off | online | 2/4 | 50.0% [15.0, 85.0]" in text
    assert "| b/cumulative/rollout-off | online | 4/4 | 100.0% [51.0, 100.0] | 2.0 | 10.0 | 0.0 " \
           "| 2 / 0 | 0.500 |" in text


@pytest.mark.slow
@needs_coq
def test_quick_ablation_runs_end_to_end_on_the_demo_index(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.coq_ablation import main
    from benchmarks.coq_demo import ensure_demo_index

    index = asyncio.run(ensure_demo_index(progress=False))
    out = tmp_path / "run"
    assert main([str(index), "--out", str(out), "--quick", "--policies", "knn-byfile,mixture",
                 "--rollouts", "off,2"]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 4 * 3 and all(r["status"] != "error" for r in rows)
    assert "3 lemmas searched by every cell" in capsys.readouterr().out
    assert main([str(index), "--out", str(out), "--quick", "--policies", "knn-byfile,mixture",
                 "--rollouts", "off,2"]) == 0  # resumed: nothing searched again
    assert len((out / "results.jsonl").read_text().splitlines()) == 12
