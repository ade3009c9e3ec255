"""Turning SFT pairs into model inputs and labels, with the generator's own prompt encoding.

The prompt side is :mod:`prover.generators.prompt_encoding`, the functions
:class:`~prover.generators.hf.HFTacticGenerator` serves with: the state text is split into goals
the way a backend presents them (:func:`~prover.generators.knn.state_goals`: Lean's rule when
the text has a ``⊢``, else one goal), rendered with the template, cut from the hypotheses side
when too long, and tokenized with the tokenizer's special tokens. The target side is the unit's
tactics (stripped, as the generator strips what it decodes), tokenized without special tokens,
then the end-of-sequence token the generator stops on.

Loss falls on the target tokens only: the prompt and the padding are labelled ``-100``.
For a causal model the example is ``prompt ids + target ids + eos``; for a seq2seq model the
encoder reads the prompt ids and the decoder's labels are ``target ids + eos`` (the model shifts
them right behind its decoder start token, as ``generate`` starts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from prover.errors import ConfigError
from prover.generators.knn import state_goals
from prover.generators.prompt_encoding import encode_prompt, prompt_text
from prover.generators.templates import PromptTemplate

if TYPE_CHECKING:
    import torch

IGNORE_INDEX = -100
"""Label of positions that carry no loss (the cross-entropy's ``ignore_index``)."""

ModelKind = Literal["seq2seq", "causal"]


@dataclass(frozen=True)
class EncodedPair:
    """One training example: ``input_ids`` (the encoder's for seq2seq, the whole sequence for
    causal) and ``labels`` (the decoder's for seq2seq; aligned with ``input_ids`` for causal)."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]


def stop_token_id(model: Any, tokenizer: Any) -> int:
    """The end-of-sequence id the generator stops on: the model's generation config's, else
    the tokenizer's (as :class:`~prover.generators.hf.HFTacticGenerator` decodes); of several,
    the tokenizer's own when listed, else the first."""
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None) if config is not None else None
    if eos is None:
        eos = tokenizer.eos_token_id
    if isinstance(eos, (list, tuple)):
        eos = tokenizer.eos_token_id if tokenizer.eos_token_id in eos else (eos[0] if eos
                                                                            else None)
    if eos is None:
        raise ConfigError("the model and its tokenizer define no end-of-sequence token; the "
                          "policy could not learn where a candidate ends")
    return int(eos)


class PolicyEncoder:
    """Encodes pairs for ``kind`` under ``max_length`` tokens (see the module docstring).

    A causal example's prompt is cut to leave room for the whole target; a seq2seq prompt is
    cut to ``max_length``. A pair whose target (with its end token) does not fit, or whose
    prompt does not fit even with an empty state, is not encoded (``None``).
    """

    def __init__(self, tokenizer: Any, template: PromptTemplate, kind: ModelKind,
                 max_length: int, eos_token_id: int) -> None:
        if kind not in ("seq2seq", "causal"):
            raise ConfigError(f"kind must be 'seq2seq' or 'causal', got {kind!r}")
        self.tokenizer = tokenizer
        self.template = template
        self.kind = kind
        self.max_length = max_length
        self.eos_token_id = eos_token_id

    def prompt(self, state: str, max_tokens: int | None) -> str:
        """The prompt text for a state's text, cut to ``max_tokens`` (``None``: uncut)."""
        return prompt_text(self.template, state_goals(state), self.tokenizer, max_tokens)

    def prompt_ids(self, state: str, max_tokens: int | None) -> list[int]:
        """The prompt's token ids, exactly as the generator feeds them to the model."""
        return encode_prompt(self.tokenizer, self.prompt(state, max_tokens))

    def target_ids(self, target: str) -> list[int]:
        """The target's token ids (no special tokens) followed by the end-of-sequence id."""
        ids = list(self.tokenizer(target.strip(), add_special_tokens=False).input_ids)
        return [*ids, self.eos_token_id]

    def encode(self, state: str, target: str) -> EncodedPair | None:
        """The example for one pair, or ``None`` when it cannot fit ``max_length``."""
        labels = self.target_ids(target)
        budget = self.max_length - len(labels) if self.kind == "causal" else self.max_length
        if budget < 1 or len(labels) > self.max_length:
            return None
        prompt = self.prompt_ids(state, budget)
        if len(prompt) > budget:
            return None
        if self.kind == "seq2seq":
            return EncodedPair(tuple(prompt), tuple(labels))
        return EncodedPair((*prompt, *labels), (*[IGNORE_INDEX] * len(prompt), *labels))


def collate(pairs: Sequence[EncodedPair], pad_token_id: int, kind: ModelKind
            ) -> dict[str, torch.Tensor]:
    """A right-padded batch: ``input_ids`` (pad id), ``attention_mask`` and ``labels``
    (``-100`` on padding; for seq2seq padded to the longest target)."""
    import torch

    width = max(len(p.input_ids) for p in pairs)
    ids = [[*p.input_ids, *[pad_token_id] * (width - len(p.input_ids))] for p in pairs]
    mask = [[1] * len(p.input_ids) + [0] * (width - len(p.input_ids)) for p in pairs]
    label_width = width if kind == "causal" else max(len(p.labels) for p in pairs)
    labels = [[*p.labels, *[IGNORE_INDEX] * (label_width - len(p.labels))] for p in pairs]
    return {"input_ids": torch.tensor(ids, dtype=torch.long),
            "attention_mask": torch.tensor(mask, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long)}


__all__ = ["IGNORE_INDEX", "EncodedPair", "ModelKind", "PolicyEncoder", "collate",
           "stop_token_id"]
