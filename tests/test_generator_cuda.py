"""HFTacticGenerator on a CUDA GPU: automatic device and dtype, log-probs, batching.

Skipped where torch sees no GPU (CI has none); run on a GPU machine with
``python -m pytest tests/test_generator_cuda.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_models import rescore, tiny_causal, tiny_t5

from prover.generators.batching import MicroBatcher
from prover.generators.decoding import DecodingConfig
from prover.generators.hf import HFTacticGenerator
from prover.types import ProofState

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU (torch.cuda.is_available() is False)")

STATES = [
    ProofState(("x : ℕ\n⊢ x + 0 = x",)),
    ProofState(("p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q", "case right\nq : Prop\n⊢ q")),
    ProofState(("⊢ True",)),
]


def _saved(tmp_path: Path, name: str) -> Path:
    model, tokenizer = (tiny_t5(eos_bias=0.0) if name == "t5"
                        else tiny_causal(name, eos_bias=0.0, hidden=64))
    out = tmp_path / name
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.mark.parametrize("name", ["t5", "gpt2", "llama"])
def test_from_pretrained_picks_cuda_and_half_precision(tmp_path: Path, name: str) -> None:
    generator = HFTacticGenerator.from_pretrained(
        str(_saved(tmp_path, name)), decoding=DecodingConfig(max_new_tokens=8))
    parameter = next(generator.model.parameters())
    assert parameter.device.type == "cuda"
    assert parameter.dtype in (torch.bfloat16, torch.float16)
    batches = generator.hypotheses(STATES, 4)
    assert [len(h) for h in batches] == [4, 4, 4]
    for state, hyps in zip(STATES, batches):
        prompt = generator.prompt(state)
        for hyp in hyps:
            # Half precision: batched (padded) and unbatched kernels round differently.
            expected = rescore(generator, prompt, hyp.token_ids)
            assert hyp.logprob == pytest.approx(expected, abs=0.05 * hyp.num_tokens + 0.05)


@pytest.mark.parametrize("name", ["t5", "gpt2"])
def test_float32_on_cuda_matches_a_separate_forward_pass(tmp_path: Path, name: str) -> None:
    generator = HFTacticGenerator.from_pretrained(
        str(_saved(tmp_path, name)), dtype=torch.float32,
        decoding=DecodingConfig(max_new_tokens=8, strategy="beam"))
    assert next(generator.model.parameters()).device.type == "cuda"
    batched = generator.hypotheses(STATES, 4)
    for state, hyps in zip(STATES, batched):
        prompt = generator.prompt(state)
        for hyp in hyps:
            assert hyp.logprob == pytest.approx(rescore(generator, prompt, hyp.token_ids),
                                                abs=1e-3)
        single = generator.hypotheses([state], 4)[0]
        assert [h.text for h in single] == [h.text for h in hyps]


async def test_micro_batcher_shares_gpu_batches(tmp_path: Path) -> None:
    generator = HFTacticGenerator.from_pretrained(
        str(_saved(tmp_path, "gpt2")), decoding=DecodingConfig(max_new_tokens=8))
    batcher = MicroBatcher(generator, max_batch=16, max_wait_ms=20.0)
    try:
        states = [ProofState((f"x : ℕ\n⊢ x + {i} = {i} + x",)) for i in range(12)]
        results: list[Any] = await asyncio.gather(*(batcher.propose(s, 4) for s in states))
        assert all(1 <= len(r) <= 4 for r in results)
        assert max(batcher.batch_sizes) > 1
    finally:
        batcher.close()
