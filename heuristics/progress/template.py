"""The one input template of the progress regressor, shared by training and inference.

The text is LeanDojo-v2's ``ProgressTrainer`` prompt (lean-dojo/LeanDojo-v2), so checkpoints
trained there and here read the same input.
"""

from __future__ import annotations

from typing import Any

PROGRESS_TEMPLATE = "Goal:\n{goal}\n\nPrefix:\n{prefix}\n\nCandidate tactic:\n{tactic}"
"""The model input for one (state before, tactics so far, candidate tactic) triple."""


def format_progress_input(goal: str, prefix: str, tactic: str) -> str:
    """Fill :data:`PROGRESS_TEMPLATE`; ``prefix`` is the earlier tactics joined by newlines."""
    return PROGRESS_TEMPLATE.format(goal=goal, prefix=prefix, tactic=tactic)


TRUNCATION_SIDE = "left"
"""Over-long inputs lose their start: the goal's first hypotheses go before its conclusion
(which ends the goal text), the prefix and the candidate tactic, which the template puts
last. Truncating on the right, the usual default, would drop the tactic being scored."""


def clamp_max_length(requested: int, model_config: Any) -> int:
    """``requested`` capped at the model's position-embedding count, when the config has one.

    Tokenizers built from a bare vocab file report an unbounded ``model_max_length``, so the
    model config is the only reliable bound (a longer input would index past the embeddings).
    """
    limit = getattr(model_config, "max_position_embeddings", None)
    if isinstance(limit, int) and limit > 0:
        return min(requested, limit)
    return requested


__all__ = ["PROGRESS_TEMPLATE", "TRUNCATION_SIDE", "clamp_max_length", "format_progress_input"]
