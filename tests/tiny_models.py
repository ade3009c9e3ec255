"""Tiny random-weight language models for generator tests: built from configs, no downloads.

``eos_bias`` raises the end-of-sequence logit (through a hook on the output layer, so decoding
and any re-scoring see the same model) so that candidates end at varied lengths, which is
what exercises the end-of-sequence and padding handling.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import (
    ByT5Tokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

LEAN_TEXTS = [
    "x : ℕ\nh : 0 < x\n⊢ x + 0 = x", "intro h\nsimp [Nat.add_comm]", "[GOAL]\n[PROOFSTEP]\n",
    "rw [Nat.add_comm] at h", "omega", "exact h", "p q : Prop\nhp : p\n⊢ p ∧ q", ":::",
]


def _bias_eos(model: Any, eos_id: int, eos_bias: float) -> None:
    if eos_bias:
        bias = torch.zeros(model.config.vocab_size)
        bias[eos_id] = eos_bias
        model.lm_head.register_forward_hook(lambda _module, _inputs, out: out + bias)


def tiny_t5(seed: int = 0, eos_bias: float = 2.0) -> tuple[Any, Any]:
    """A 2-layer T5 with ByT5's byte tokenizer (which needs no files)."""
    torch.manual_seed(seed)
    config = T5Config(vocab_size=384, d_model=32, d_kv=8, d_ff=64, num_layers=2,
                      num_decoder_layers=2, num_heads=4, decoder_start_token_id=0,
                      pad_token_id=0, eos_token_id=1)
    model = T5ForConditionalGeneration(config).eval()
    _bias_eos(model, 1, eos_bias)
    return model, ByT5Tokenizer()


def bpe_tokenizer(vocab_size: int = 320, bos: bool = False) -> Any:
    """A byte-level BPE trained on a few Lean strings (round-trips any text).

    With ``bos``, a ``<bos>`` token (id 2) starts every encoded text, as Llama-style
    tokenizers do."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<pad>", "<eos>", "<bos>"] if bos else ["<pad>", "<eos>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(LEAN_TEXTS * 4, trainer)
    if not bos:
        return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A",
                                                       special_tokens=[("<bos>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                   bos_token="<bos>")


def tiny_causal(arch: str = "gpt2", seed: int = 0, eos_bias: float = 2.0,
                hidden: int = 32, layers: int = 2) -> tuple[Any, Any]:
    """A small GPT-2 or Llama with :func:`bpe_tokenizer` (pad id 0, eos id 1)."""
    tokenizer = bpe_tokenizer()
    torch.manual_seed(seed)
    if arch == "gpt2":
        model: Any = GPT2LMHeadModel(GPT2Config(
            vocab_size=len(tokenizer), n_embd=hidden, n_layer=layers, n_head=4,
            n_positions=1024, bos_token_id=1, eos_token_id=1, pad_token_id=0))
    else:
        model = LlamaForCausalLM(LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
            num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=1024, bos_token_id=1, eos_token_id=1, pad_token_id=0,
            tie_word_embeddings=False))
    model.eval()
    _bias_eos(model, 1, eos_bias)
    return model, tokenizer


def rescore(generator: Any, prompt: str, token_ids: tuple[int, ...]) -> float:
    """Sum of the token log-probs of ``token_ids`` after ``prompt``, by one plain forward pass
    of ``generator.model`` on the unpadded prompt (independent of the decoding code), on the
    model's own device."""
    model, tokenizer = generator.model, generator.tokenizer
    device = next(model.parameters()).device
    ids = tokenizer(prompt, return_tensors="pt").input_ids.to(device)
    target = torch.tensor([token_ids], device=device)
    with torch.no_grad():
        if generator.kind == "seq2seq":
            start = torch.tensor([[model.config.decoder_start_token_id]], device=device)
            decoder_in = torch.cat([start, target], dim=1)[:, :-1]
            logits = model(input_ids=ids, decoder_input_ids=decoder_in).logits
        else:
            full = torch.cat([ids, target], dim=1)
            logits = model(input_ids=full).logits[:, ids.shape[1] - 1:-1]
    logprobs = torch.log_softmax(logits.float(), dim=-1)[0]
    return float(logprobs[torch.arange(len(token_ids), device=device), target[0]].sum())
