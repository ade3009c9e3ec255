"""HFTacticGenerator on tiny random models: log-probs, batching, truncation, errors."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from tiny_models import rescore, tiny_causal, tiny_t5

from prover.errors import ConfigError, GeneratorError
from prover.generators.decoding import DecodingConfig, Hypothesis, rank_hypotheses
from prover.generators.hf import HFTacticGenerator
from prover.types import Candidate, ProofState

STATES = [
    ProofState(("x : ℕ\n⊢ x + 0 = x",)),
    ProofState(("p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q", "case right\nq : Prop\n⊢ q")),
    ProofState(("⊢ True",)),
]

BUILDERS: dict[str, Any] = {
    "t5": lambda **kw: tiny_t5(**kw),
    "gpt2": lambda **kw: tiny_causal("gpt2", **kw),
    "llama": lambda **kw: tiny_causal("llama", **kw),
}


def make(name: str, eos_bias: float = 4.0, **decoding: Any) -> HFTacticGenerator:
    model, tokenizer = BUILDERS[name](eos_bias=eos_bias)
    return HFTacticGenerator(model, tokenizer,
                             decoding=DecodingConfig(**{"max_new_tokens": 10, **decoding}))


@pytest.mark.parametrize("strategy", ["beam", "sample"])
@pytest.mark.parametrize("name", ["t5", "gpt2", "llama"])
def test_logprob_is_sum_of_token_logprobs_from_a_separate_forward_pass(name: str,
                                                                       strategy: str) -> None:
    generator = make(name, strategy=strategy, temperature=1.3, top_k=40)
    torch.manual_seed(1)
    batches = generator.hypotheses(STATES, 6)
    assert [len(hyps) for hyps in batches] == [6, 6, 6]
    lengths, ended = set(), 0
    for state, hyps in zip(STATES, batches):
        prompt = generator.prompt(state)
        for hyp in hyps:
            assert hyp.num_tokens == len(hyp.token_ids) >= 1
            expected = rescore(generator, prompt, hyp.token_ids)
            assert hyp.logprob == pytest.approx(expected, abs=1e-4), (state, hyp)
            lengths.add(hyp.num_tokens)
            ended += hyp.token_ids[-1] == 1
    # The check must have covered sequences that ended and ones cut at max_new_tokens.
    assert len(lengths) > 1 and ended > 0
    assert max(lengths) <= 11


@pytest.mark.parametrize("name", ["t5", "gpt2", "llama"])
def test_beam_results_of_a_batch_equal_single_calls(name: str) -> None:
    generator = make(name, eos_bias=2.5, strategy="beam")
    batched = generator.generate(STATES, 5)
    for state, together in zip(STATES, batched):
        (alone,) = generator.generate([state], 5)
        assert [c.tactic for c in together] == [c.tactic for c in alone]
        for a, b in zip(together, alone):
            assert a.logprob == pytest.approx(b.logprob, abs=1e-4)


def test_generate_ranks_merges_and_drops_empty() -> None:
    generator = make("t5", eos_bias=4.0, strategy="sample")
    torch.manual_seed(3)
    (hyps,) = generator.hypotheses(STATES[:1], 16)
    torch.manual_seed(3)
    (candidates,) = generator.generate(STATES[:1], 16)
    best: dict[str, float] = {}
    for hyp in hyps:
        text = hyp.text.strip()
        if text:
            best[text] = max(best.get(text, -math.inf), hyp.logprob)
    assert any(not h.text.strip() for h in hyps), "want an empty sample to be dropped"
    assert {c.tactic: c.logprob for c in candidates} == pytest.approx(best)
    assert [c.logprob for c in candidates] == sorted((c.logprob for c in candidates),
                                                     reverse=True)
    assert all(c.mean_logprob is not None and c.mean_logprob <= 0 for c in candidates)


def test_rank_hypotheses_sum_and_mean() -> None:
    hyps = [Hypothesis(" a ", (5, 1), -4.0, 2), Hypothesis("a", (6, 1), -2.0, 4),
            Hypothesis("", (1,), -0.1, 1), Hypothesis("b", (7, 8, 9, 1), -3.0, 4)]
    by_sum = rank_hypotheses(hyps)
    assert by_sum == [Candidate("a", -2.0, mean_logprob=-0.5),
                      Candidate("b", -3.0, mean_logprob=-0.75)]
    by_mean = rank_hypotheses(hyps, k=1, score="mean")
    assert by_mean == [Candidate("a", -0.5, mean_logprob=-0.5)]


async def test_propose_returns_at_most_k_distinct_candidates() -> None:
    generator = make("gpt2", eos_bias=1.0, strategy="beam")
    candidates = await generator.propose(STATES[0], 4)
    assert 1 <= len(candidates) <= 4
    assert len({c.tactic for c in candidates}) == len(candidates)
    assert all(c.tactic and c.tactic == c.tactic.strip() and c.logprob < 0 for c in candidates)
    assert await generator.propose(STATES[0], 0) == []


@pytest.mark.parametrize("name", ["t5", "gpt2"])
def test_long_state_is_cut_from_the_hypotheses_side(name: str) -> None:
    hyps = "\n".join(f"h{i} : x{i} < x{i + 1}" for i in range(200))
    state = ProofState((hyps + "\n⊢ x0 < x200", "⊢ other goal"))
    generator = make(name, max_input_tokens=120, strategy="beam")
    prompt = generator.prompt(state)
    assert generator.count_tokens(prompt) <= 120
    assert "⊢ x0 < x200" in prompt and "h199 : x199 < x200" in prompt
    assert "h0 :" not in prompt and "other goal" not in prompt
    (hyps_out,) = generator.hypotheses([state], 2)
    for hyp in hyps_out:
        assert hyp.logprob == pytest.approx(rescore(generator, prompt, hyp.token_ids), abs=1e-4)


def test_templates_by_kind_and_name() -> None:
    t5 = make("t5")
    gpt = make("gpt2")
    assert t5.kind == "seq2seq" and t5.prompt(STATES[0]) == STATES[0].pp
    assert gpt.kind == "causal"
    assert gpt.prompt(STATES[0]) == f"[GOAL]\n{STATES[0].pp}\n[PROOFSTEP]\n"
    assert gpt.tokenizer.padding_side == "left"
    model, tokenizer = tiny_causal()
    bfs = HFTacticGenerator(model, tokenizer, template="bfs-prover")
    assert bfs.prompt(STATES[0]) == STATES[0].pp + ":::"
    with pytest.raises(ConfigError, match="encoder-decoder"):
        HFTacticGenerator(*tiny_t5(), kind="causal")
    with pytest.raises(ConfigError, match="unknown template"):
        HFTacticGenerator(model, tokenizer, template="nope")


def test_model_failure_is_a_generator_error() -> None:
    generator = make("gpt2")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("CUDA out of memory (simulated)")

    generator.model.generate = broken
    with pytest.raises(GeneratorError, match="out of memory") as info:
        generator.generate(STATES, 2)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_from_pretrained_loads_a_saved_model(tmp_path: Any) -> None:
    model, tokenizer = tiny_t5(eos_bias=0.0)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    generator = HFTacticGenerator.from_pretrained(str(tmp_path), decoding=DecodingConfig(
        max_new_tokens=4))
    assert generator.kind == "seq2seq"
    parameter = next(generator.model.parameters())
    if torch.cuda.is_available():  # tests/test_generator_cuda.py covers the GPU defaults
        assert parameter.device.type == "cuda" and parameter.dtype != torch.float32
    else:
        assert parameter.dtype == torch.float32 and parameter.device.type == "cpu"
    (candidates,) = generator.generate(STATES[:1], 3)
    assert len(candidates) <= 3
    with pytest.raises(GeneratorError, match="could not load"):
        HFTacticGenerator.from_pretrained(str(tmp_path / "missing"))
    # A bad template is refused before anything is loaded (here: before the missing path).
    with pytest.raises(ConfigError, match="unknown template"):
        HFTacticGenerator.from_pretrained(str(tmp_path / "missing"), template="bogus")


def _own_decoding(generator: HFTacticGenerator, k: int, penalty: float) -> list[list[int]]:
    """Rows of generate's own decoding (no tracker, the penalty set in the config), each cut
    after its first end-of-sequence token."""
    config = generator._generation_config(k)
    config.repetition_penalty = penalty
    batch = generator.tokenizer([generator.prompt(s) for s in STATES], return_tensors="pt",
                                padding=True)
    start = 1 if generator.kind == "seq2seq" else batch["input_ids"].shape[1]
    with torch.inference_mode():
        rows = generator.model.generate(**batch, generation_config=config)[:, start:].tolist()
    eos = generator._eos_ids(config)
    return [row[:next((i + 1 for i, t in enumerate(row) if t in eos), len(row))]
            for row in rows]


@pytest.mark.parametrize("strategy", ["beam", "sample"])
@pytest.mark.parametrize("name", ["t5", "gpt2", "llama"])
def test_logprobs_are_raw_under_repetition_penalty_and_the_search_is_generates_own(
        name: str, strategy: str) -> None:
    # One meaning on every backend: the model's raw log-probs (vLLM's default raw_logprobs),
    # not the penalized ones generate's beam scores sum. The sequences are generate's own.
    generator = make(name, eos_bias=1.0, strategy=strategy, repetition_penalty=1.8,
                     temperature=1.3, max_new_tokens=8)
    torch.manual_seed(1)
    batches = generator.hypotheses(STATES, 4)
    torch.manual_seed(1)
    own = _own_decoding(generator, 4, 1.8)
    assert [list(h.token_ids) for hyps in batches for h in hyps] == own
    for state, hyps in zip(STATES, batches):
        prompt = generator.prompt(state)
        for hyp in hyps:
            assert hyp.logprob == pytest.approx(rescore(generator, prompt, hyp.token_ids),
                                                abs=1e-4), (state, hyp)
