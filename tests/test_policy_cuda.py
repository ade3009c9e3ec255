"""PolicyTrainer on a CUDA GPU: bf16 where supported, and the policy served from the folder.

Skipped where torch sees no GPU (CI has none); run on a GPU machine with
``python -m pytest tests/test_policy_cuda.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from test_policy_trainer import PAIRS, best_eval_loss, save_tiny_causal, write_pairs

from prover.generators.hf import HFTacticGenerator
from prover.generators.knn import state_goals
from prover.generators.policy_record import read_policy_record
from prover.types import ProofState
from rollout import PolicyTrainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU (torch.cuda.is_available() is False)")


def test_trains_in_bf16_when_supported_and_serves_on_the_gpu(tmp_path: Path) -> None:
    data = write_pairs(tmp_path / "pairs.jsonl")
    out = tmp_path / "policy"
    metrics = PolicyTrainer(data, str(save_tiny_causal(tmp_path / "base")), out,
                            num_epochs=8, batch_size=6, learning_rate=5e-3,
                            progress=False).train()
    assert math.isfinite(metrics["eval_loss"])
    assert metrics["eval_loss"] == pytest.approx(best_eval_loss(out))
    record = read_policy_record(out)
    assert record is not None
    assert record.info["bf16"] == torch.cuda.is_bf16_supported()
    generator = HFTacticGenerator.from_pretrained(str(out))
    assert next(generator.model.parameters()).device.type == "cuda"
    candidates = generator.generate([ProofState(state_goals(s)) for s, _ in PAIRS], 4)
    assert all(len(c) >= 1 for c in candidates)
