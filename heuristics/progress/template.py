"""How the progress regressor reads its input, shared by training and inference: the template,
the length cap and the pad token.

Everything here follows LeanDojo-v2's ``ProgressTrainer``
(lean-dojo/LeanDojo-v2 ``lean_dojo_v2/trainer/progress_trainer.py``, release v1.0.9, commit
936ea0d), so checkpoints trained there and here read the same input:

- the template text, filled with stripped fields (LDv2 strips ``goal``, ``prefix`` and
  ``tactic`` when it loads its data);
- truncation: the tokenizer cuts inputs longer than ``max_length`` on its own
  ``truncation_side``, which LDv2 never changes. For ``bert-base-uncased`` and most tokenizers
  that is the right: the start of the goal is kept, and an input whose goal alone fills
  ``max_length`` loses the goal's end, the prefix and the candidate tactic (so every candidate
  at such a state reads the same input and gets the same prediction). We keep that rather than
  cut on the left, because a checkpoint trained by LDv2 has learned from right-cut inputs;
- the pad token: a tokenizer without one pads with its eos token, else its cls token.
"""

from __future__ import annotations

from typing import Any

from prover.errors import ConfigError

PROGRESS_TEMPLATE = "Goal:\n{goal}\n\nPrefix:\n{prefix}\n\nCandidate tactic:\n{tactic}"
"""The model input for one (state before, tactics so far, candidate tactic) triple."""


def format_progress_input(goal: str, prefix: str, tactic: str) -> str:
    """Fill :data:`PROGRESS_TEMPLATE` with the stripped fields; ``prefix`` is the earlier
    tactics joined by newlines. Stripping here too (LDv2 strips only when loading data) makes
    inference read what training read."""
    return PROGRESS_TEMPLATE.format(goal=goal.strip(), prefix=prefix.strip(),
                                    tactic=tactic.strip())


def clamp_max_length(requested: int, model_config: Any) -> int:
    """``requested`` capped at the model's position-embedding count, when the config has one.

    Tokenizers built from a bare vocab file report an unbounded ``model_max_length``, so the
    model config is the only reliable bound (a longer input would index past the embeddings).
    """
    limit = getattr(model_config, "max_position_embeddings", None)
    if isinstance(limit, int) and limit > 0:
        return min(requested, limit)
    return requested


def ensure_pad_token(tokenizer: Any, model: Any, *, source: str) -> None:
    """Give a tokenizer without a pad token its eos token, else its cls token, as LDv2 does,
    and set ``model.config.pad_token_id`` when it is unset.

    The second part is ours: LDv2 leaves the model config alone, and a decoder-only
    sequence-classification head (GPT-2, Llama, ...) reads the score at the last token that is
    not padding, so without the id it refuses any batch of more than one input.
    ``source`` (the model name or path) goes into the error when there is no token to use.
    """
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.cls_token
        if fallback is None:
            raise ConfigError(f"the tokenizer of {source!r} has no pad, eos or cls token to pad "
                              f"batches with; add a pad token to it")
        tokenizer.pad_token = fallback
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id


__all__ = ["PROGRESS_TEMPLATE", "clamp_max_length", "ensure_pad_token", "format_progress_input"]
