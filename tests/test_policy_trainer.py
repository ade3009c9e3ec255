"""PolicyTrainer: a tiny model memorises SFT pairs, and the generator served from the output
folder, with no flags, proposes exactly those segments."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_models import bpe_tokenizer
from transformers import (
    ByT5Tokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    T5Config,
    T5ForConditionalGeneration,
)

from prover.errors import ConfigError, DataFormatError
from prover.generators.hf import HFTacticGenerator
from prover.generators.knn import state_goals
from prover.generators.policy_record import RECORD_NAME, read_policy_record
from prover.specs import make_generator
from prover.types import ProofState
from rollout import PolicyTrainer
from seg_prover.cli import main

PAIRS = [
    ("n : ℕ\n⊢ n + 0 = n", "simp"),
    ("p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q", "constructor\n· exact hp\n· exact hq"),
    ("x : ℕ\nh : 0 < x\n⊢ x ≠ 0", "omega"),
    ("a b : ℕ\n⊢ a + b = b + a", "rw [Nat.add_comm]"),
    ("⊢ True", "trivial"),
]
COPIES = 12
"""Each pair is written this many times, so every pair is in the train split whatever the
shuffle, and an epoch is several optimizer steps (fewer checkpoints to write)."""


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and on a shared machine those threads
    spin against other processes (measured here: 0.05 s against 1.4 s per step)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_pairs(path: Path, pairs: list[tuple[str, str]] = PAIRS, copies: int = COPIES) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(copies):
            for state, tactics in pairs:
                handle.write(json.dumps({"input": state, "output": tactics,
                                         "granularity": "segment"}, ensure_ascii=False) + "\n")
    return path


def save_tiny_causal(path: Path) -> Path:
    """A 2-layer GPT-2 with a byte-level BPE that adds a BOS token, saved without weights' bias
    hooks (the trainer loads it from disk, as it would a real base model)."""
    tokenizer = bpe_tokenizer(bos=True)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(
        vocab_size=len(tokenizer), n_embd=64, n_layer=2, n_head=4, n_positions=256,
        bos_token_id=2, eos_token_id=1, pad_token_id=0))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def save_tiny_t5(path: Path) -> Path:
    """A 3-layer T5 with ByT5's byte tokenizer (2 layers do not learn doubled bytes such as
    the ``dd`` of ``add_comm`` in a few hundred steps), no dropout."""
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(
        vocab_size=384, d_model=64, d_kv=16, d_ff=128, num_layers=3, num_decoder_layers=3,
        num_heads=4, dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0,
        eos_token_id=1))
    model.save_pretrained(path)
    ByT5Tokenizer().save_pretrained(path)
    return path


def assert_proposes_the_trained_segments(out: Path, template: str) -> None:
    generator = HFTacticGenerator.from_pretrained(str(out))  # no template: the record's
    assert generator.template.name == template
    for state, tactics in PAIRS:
        goals = ProofState(state_goals(state))
        greedy = generator.generate([goals], 1)[0]
        beam = generator.generate([goals], 4)[0]
        assert greedy[0].tactic == tactics
        assert beam[0].tactic == tactics


def best_eval_loss(out: Path) -> float:
    state = json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))
    return min(entry["eval_loss"] for entry in state["log_history"] if "eval_loss" in entry)


@pytest.mark.slow
def test_causal_policy_from_the_cli_memorises_segments(tmp_path: Path, one_thread: None,
                                                       capsys: Any) -> None:
    data = write_pairs(tmp_path / "pairs.jsonl")
    base = save_tiny_causal(tmp_path / "base")
    out = tmp_path / "policy"
    code = main(["policy", "train", "--data-path", str(data), "--model-name", str(base),
                 "--output-dir", str(out), "--template", "bfs-prover", "--num-epochs", "8",
                 "--batch-size", "6", "--learning-rate", "5e-3", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"--generator hf:{out}" in printed
    metrics = json.loads(printed[printed.index("{"):])
    assert metrics["train_examples"] == 54 and metrics["eval_examples"] == 6
    assert metrics["eval_loss"] == pytest.approx(best_eval_loss(out))  # the best epoch kept
    record = read_policy_record(out)
    assert record is not None and record.kind == "causal"
    assert record.template.text == "{state}:::"
    # not the causal default (goal-proofstep): served right only if the record is read
    assert_proposes_the_trained_segments(out, "bfs-prover")


@pytest.mark.slow
def test_seq2seq_policy_memorises_segments_and_serves_from_a_spec(tmp_path: Path,
                                                                  one_thread: None) -> None:
    data = write_pairs(tmp_path / "pairs.jsonl")
    base = save_tiny_t5(tmp_path / "base")
    out = tmp_path / "policy"
    trainer = PolicyTrainer(data, str(base), out, template="goal-proofstep", num_epochs=24,
                            batch_size=6, learning_rate=5e-3, progress=False)
    metrics = trainer.train()
    assert metrics["eval_loss"] == pytest.approx(best_eval_loss(out))
    assert (out / RECORD_NAME).is_file()
    assert_proposes_the_trained_segments(out, "goal-proofstep")
    served = make_generator(f"hf:{out}")  # the CLI's --generator path, behind its batcher
    import asyncio

    try:
        candidates = asyncio.run(served.propose(ProofState(state_goals(PAIRS[1][0])), 2))
    finally:
        served.close()  # type: ignore[attr-defined]
    assert candidates[0].tactic == PAIRS[1][1]


def test_bad_lines_are_counted_and_named(tmp_path: Path, caplog: Any) -> None:
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join([
        json.dumps({"input": "⊢ True", "output": "trivial"}),
        "{not json",
        json.dumps({"input": "⊢ p", "tactic": "exact hp"}),
        json.dumps({"input": 3, "output": "simp"}),
        json.dumps({"input": "⊢ q", "output": "  "}),
        json.dumps(["input", "output"]),
        json.dumps({"input": "⊢ r", "output": "exact hr"}),
    ]) + "\n", encoding="utf-8")
    trainer = PolicyTrainer(data, "unused-model", tmp_path / "out")
    with caplog.at_level(logging.WARNING, logger="rollout.policy"):
        dataset = trainer.dataset
    assert len(dataset) == 2 and dataset.skipped == 5
    assert [(b.line, b.field) for b in dataset.bad_lines] == [
        (2, None), (3, "output"), (4, "input"), (5, "output"), (6, None)]
    assert dataset.skipped_by_field() == {"line": 2, "output": 2, "input": 1}
    warning = caplog.text
    assert "skipped 5 bad line(s) of 7" in warning
    assert f"{data}, line 3, field 'output': missing" in warning
    assert "line 2: invalid JSON" in warning


def test_a_file_with_no_usable_pair_is_an_error(tmp_path: Path) -> None:
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"state": "⊢ True", "tactic": "trivial"}) + "\n",
                    encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"no usable pair.*line 1, field 'input'"):
        PolicyTrainer(data, "unused-model", tmp_path / "out").dataset  # noqa: B018


@pytest.mark.parametrize("change", [{"max_length": 0}, {"num_epochs": 0}, {"eval_ratio": 1.0},
                                    {"learning_rate": -1.0}, {"kind": "encoder"},
                                    {"template": "no-such-template"}, {"warmup_steps": 2.5}])
def test_bad_settings_are_config_errors(tmp_path: Path, change: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        PolicyTrainer(tmp_path / "pairs.jsonl", "m", tmp_path / "out", **change)


def test_split_leaves_both_sides_non_empty(tmp_path: Path) -> None:
    data = write_pairs(tmp_path / "pairs.jsonl", copies=1)
    train, held_out = PolicyTrainer(data, "m", tmp_path / "out", eval_ratio=0.1).split()
    assert len(held_out) == 1 and len(train) == 4 and not set(train) & set(held_out)
    one = write_pairs(tmp_path / "one.jsonl", PAIRS[:1], copies=1)
    with pytest.raises(ConfigError, match="cannot split 1 pair"):
        PolicyTrainer(one, "m", tmp_path / "out").split()
