"""The one prompt encoding that serving and training share.

A policy sees exactly the token ids it was trained on only if the trainer and the generator
render the prompt with the same template, cut long states the same way, and tokenize with the
same special tokens: a T5-style tokenizer appends ``</s>`` to the prompt, a Llama-style one
prepends a BOS token. :class:`~prover.generators.hf.HFTacticGenerator` and
:class:`rollout.PolicyTrainer` both call the functions below; a test pins that their ids are
identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from prover.generators.templates import PromptTemplate, render_prompt

if TYPE_CHECKING:
    import torch


def encode_prompt(tokenizer: Any, prompt: str) -> list[int]:
    """The token ids a model reads for ``prompt``: the tokenizer's own special tokens
    included (what a checkpoint's tokenizer adds by default is what its model was trained
    with)."""
    return list(tokenizer(prompt).input_ids)


def prompt_text(template: PromptTemplate, goals: Sequence[str], tokenizer: Any,
                max_tokens: int | None) -> str:
    """The prompt for a state's ``goals``: ``template`` applied, the state cut from the
    hypotheses side (:func:`~prover.generators.templates.truncate_goals`) so that its
    :func:`encode_prompt` ids number at most ``max_tokens`` (``None``: no cut)."""
    return render_prompt(template, goals, max_tokens,
                         lambda text: len(encode_prompt(tokenizer, text)))


def pad_batch(tokenizer: Any, encoded: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` tensors for prompts already encoded with
    :func:`encode_prompt`, padded with the tokenizer's pad token on its ``padding_side``."""
    import torch

    width = max((len(ids) for ids in encoded), default=0)
    pad = tokenizer.pad_token_id
    left = tokenizer.padding_side == "left"
    rows, masks = [], []
    for ids in encoded:
        fill = [pad] * (width - len(ids))
        ones, zeros = [1] * len(ids), [0] * len(fill)
        rows.append([*fill, *ids] if left else [*ids, *fill])
        masks.append([*zeros, *ones] if left else [*ones, *zeros])
    return {"input_ids": torch.tensor(rows, dtype=torch.long),
            "attention_mask": torch.tensor(masks, dtype=torch.long)}


__all__ = ["encode_prompt", "pad_batch", "prompt_text"]
