"""Training and serving read byte-identical prompt token ids (special tokens included)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from tiny_models import bpe_tokenizer, tiny_causal, tiny_t5

from prover.generators.hf import HFTacticGenerator
from prover.generators.knn import state_goals
from prover.generators.templates import get_template
from prover.types import ProofState
from rollout.policy.encoding import IGNORE_INDEX, PolicyEncoder, collate, stop_token_id

STATES = [
    "x : ℕ\nh : 0 < x\n⊢ x + 0 = x",
    "case left\np q : Prop\nhp : p\nhq : q\n⊢ p\n\ncase right\np q : Prop\nhp : p\nhq : q\n⊢ q",
    "n m : nat\nH : n <= m\n============================\nS n <= S m",  # Coq: one goal, no ⊢
]


def _generator(kind: str, template: str) -> HFTacticGenerator:
    if kind == "seq2seq":
        model, tokenizer = tiny_t5(eos_bias=0.0)
    else:
        model, tokenizer = tiny_causal(eos_bias=0.0)
        tokenizer = bpe_tokenizer(bos=True)  # a causal tokenizer that adds BOS to the prompt
    return HFTacticGenerator(model, tokenizer, template=template)


def _served_ids(generator: HFTacticGenerator, states: list[ProofState]) -> list[list[int]]:
    """The unpadded prompt ids ``generate`` hands to the model, one list per state."""
    seen: dict[str, Any] = {}
    real = generator.model.generate

    def spy(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return real(**kwargs)

    generator.model.generate = spy
    generator.hypotheses(states, 1)
    ids, mask = seen["input_ids"].tolist(), seen["attention_mask"].tolist()
    return [[t for t, m in zip(row, mrow) if m] for row, mrow in zip(ids, mask)]


@pytest.mark.parametrize(("kind", "template"), [("seq2seq", "state"),
                                                ("seq2seq", "goal-proofstep"),
                                                ("causal", "goal-proofstep"),
                                                ("causal", "bfs-prover")])
def test_training_prompt_ids_equal_the_served_ids(kind: str, template: str) -> None:
    generator = _generator(kind, template)
    encoder = PolicyEncoder(generator.tokenizer, get_template(template), kind,  # type: ignore[arg-type]
                            512, stop_token_id(generator.model, generator.tokenizer))
    states = [ProofState(state_goals(text)) for text in STATES]
    served = _served_ids(generator, states)  # one padded batch of unequal lengths
    trained = [encoder.prompt_ids(text, 512) for text in STATES]
    assert trained == served
    for ids in trained:
        if kind == "seq2seq":
            assert ids[-1] == generator.tokenizer.eos_token_id  # ByT5 appends </s>
        else:
            assert ids[0] == generator.tokenizer.bos_token_id  # the BOS a Llama-style adds
    assert len({len(ids) for ids in served}) > 1


@pytest.mark.parametrize("kind", ["seq2seq", "causal"])
def test_long_states_are_cut_alike(kind: str) -> None:
    generator = _generator(kind, "goal-proofstep")
    long_state = "\n".join(f"h{i} : x{i} = {i}" for i in range(60)) + "\n⊢ x + 0 = x"
    budget = 80
    generator.decoding = type(generator.decoding)(max_input_tokens=budget)
    encoder = PolicyEncoder(generator.tokenizer, get_template("goal-proofstep"), kind,  # type: ignore[arg-type]
                            1024, stop_token_id(generator.model, generator.tokenizer))
    served = _served_ids(generator, [ProofState(state_goals(long_state))])[0]
    trained = encoder.prompt_ids(long_state, budget)
    assert trained == served
    assert len(trained) <= budget
    assert generator.tokenizer.decode(trained, skip_special_tokens=True).rstrip().endswith(
        "[PROOFSTEP]")  # the conclusion and the template's tail survive the cut


def test_causal_example_has_loss_on_target_and_eos_only() -> None:
    tokenizer = bpe_tokenizer(bos=True)
    encoder = PolicyEncoder(tokenizer, get_template("goal-proofstep"), "causal", 512, 1)
    pair = encoder.encode(STATES[0], "intro h\nsimp [Nat.add_comm]\n")
    assert pair is not None
    prompt = encoder.prompt_ids(STATES[0], None)
    target = tokenizer("intro h\nsimp [Nat.add_comm]", add_special_tokens=False).input_ids
    assert list(pair.input_ids) == [*prompt, *target, 1]
    assert list(pair.labels) == [IGNORE_INDEX] * len(prompt) + [*target, 1]
    assert tokenizer.bos_token_id not in target  # no BOS in the middle of the sequence


def test_seq2seq_labels_are_target_then_one_eos() -> None:
    _, tokenizer = tiny_t5()
    encoder = PolicyEncoder(tokenizer, get_template("state"), "seq2seq", 512, 1)
    pair = encoder.encode(STATES[1], "constructor\n· exact hp\n· exact hq")
    assert pair is not None
    assert list(pair.input_ids) == tokenizer(STATES[1]).input_ids
    assert tokenizer.decode(list(pair.labels)) == "constructor\n· exact hp\n· exact hq</s>"
    assert list(pair.labels).count(1) == 1


def test_too_long_pairs_are_not_encoded() -> None:
    _, tokenizer = tiny_t5()
    causal = PolicyEncoder(tokenizer, get_template("state"), "causal", 20, 1)
    assert causal.encode("⊢ True", "x" * 19) is None  # 19 bytes + eos leave no prompt room
    cut = causal.encode("⊢ a_long_conclusion", "trivial")  # the state is cut to fit
    assert cut is not None and len(cut.input_ids) <= 20
    framed = PolicyEncoder(tokenizer, get_template("goal-proofstep"), "causal", 25, 1)
    assert framed.encode("⊢ True", "trivial") is None  # not even an empty state fits
    seq2seq = PolicyEncoder(tokenizer, get_template("state"), "seq2seq", 20, 1)
    assert seq2seq.encode("⊢ True", "trivial") is not None
    assert seq2seq.encode("⊢ True", "y" * 20) is None


def test_collate_pads_right_with_ignored_labels() -> None:
    _, tokenizer = tiny_t5()
    encoder = PolicyEncoder(tokenizer, get_template("state"), "causal", 512, 1)
    pairs = [encoder.encode("⊢ True", "trivial"), encoder.encode("⊢ p ∧ q", "exact ⟨hp, hq⟩")]
    batch = collate([p for p in pairs if p is not None], 0, "causal")
    assert batch["input_ids"].shape == batch["labels"].shape
    short = len(pairs[0].input_ids)  # type: ignore[union-attr]
    assert batch["attention_mask"][0, short:].sum() == 0
    assert torch.all(batch["labels"][0, short:] == IGNORE_INDEX)
    seq = PolicyEncoder(tokenizer, get_template("state"), "seq2seq", 512, 1)
    s_pairs = [seq.encode("⊢ True", "trivial"), seq.encode("⊢ p", "exact hp")]
    s_batch = collate([p for p in s_pairs if p is not None], 0, "seq2seq")
    assert s_batch["labels"].shape[1] == len("exact hp") + 1  # the longest target, its eos
    assert s_batch["labels"][0, -1] == IGNORE_INDEX and s_batch["labels"][0, -2] == 1


def test_stop_token_follows_the_generation_config() -> None:
    model, tokenizer = tiny_causal()
    assert stop_token_id(model, tokenizer) == 1
    model.generation_config.eos_token_id = [7, 1]
    assert stop_token_id(model, tokenizer) == 1  # the tokenizer's own, when listed
    model.generation_config.eos_token_id = [7, 9]
    assert stop_token_id(model, tokenizer) == 7
