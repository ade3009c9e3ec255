"""A synthetic progress dataset for quick experiments (no prover needed).

Each synthetic proof closes a conjunction ``⊢ P₁ ∧ ... ∧ Pₖ`` one conjunct per tactic
(``refine ⟨h, ?_⟩`` ... then ``exact h``), so the label is readable from the goal: the number
of conjuncts left minus one. A model that learns it shows the training loop works end to end.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from prover.errors import ConfigError

_TYPES = ("ℕ", "ℤ", "ℝ", "ℚ")
_RELATIONS = ("<", "≤", "=", "≠")
_NAMES = "abcdmnpqrstxyz"


def create_sample_dataset(path: str | Path, n: int = 200, *, max_steps: int = 6,
                          seed: int = 0) -> int:
    """Write ``n`` synthetic examples (JSONL, :mod:`heuristics.progress.dataset` format) to
    ``path``; proofs have 1..``max_steps`` tactics. Returns the number of lines written.
    Deterministic for a given ``seed``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, got {n!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ConfigError(f"max_steps must be an integer >= 1, got {max_steps!r}")
    rng = random.Random(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        theorem = 0
        while written < n:
            theorem += 1
            for record in _proof(rng, rng.randint(1, max_steps), f"sample_{theorem}"):
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += 1
                if written == n:
                    break
    return written


def _proof(rng: random.Random, length: int, name: str) -> list[dict[str, object]]:
    kind = rng.choice(_TYPES)
    a, b = rng.sample(_NAMES, 2)
    facts = [f"{a} + {rng.randint(0, 9)} {rng.choice(_RELATIONS)} {b} * {rng.randint(1, 9)}"
             for _ in range(length)]
    hyps = [f"{a} {b} : {kind}"] + [f"h{i + 1} : {fact}" for i, fact in enumerate(facts)]
    records: list[dict[str, object]] = []
    tactics: list[str] = []
    for step in range(length):
        goal = "\n".join(hyps) + "\n⊢ " + " ∧ ".join(facts[step:])
        tactic = f"exact h{step + 1}" if step == length - 1 else f"refine ⟨h{step + 1}, ?_⟩"
        records.append({"theorem": name, "goal": goal, "prefix": "\n".join(tactics),
                        "tactic": tactic, "steps_remaining": length - step - 1})
        tactics.append(tactic)
    return records


__all__ = ["create_sample_dataset"]
