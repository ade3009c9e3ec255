"""Several generators as one: a mixture of their candidate distributions.

Generators score candidates on scales of their own (a model's summed token log-probs, a KNN's
log of a similarity share, 0 for every fixed tactic), so their raw scores cannot be compared.
The rule that puts them on one scale: each source's candidates are turned into a probability
distribution over what it proposed (a log-softmax of its scores), and the mixture gives a tactic
the probability ``p(t) = sum_i w_i * p_i(t)`` with the weights ``w_i`` normalised to sum to 1. A
tactic proposed by two sources adds up both shares; the best ``k`` by ``log p(t)`` are returned.
So a fallback list of ``n`` fixed tactics at weight 0.2 puts each of them at ``log(0.2 / n)``:
above a model's long tail, below its confident candidates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from prover.errors import ConfigError
from prover.generators.base import TacticGenerator
from prover.types import Candidate, ProofState


@dataclass(frozen=True)
class MixtureSource:
    """One generator of a mixture and its weight (> 0; weights are normalised)."""

    generator: TacticGenerator
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.weight, (int, float)) and math.isfinite(self.weight)
                and self.weight > 0):
            raise ConfigError(f"MixtureSource.weight must be a finite number > 0, "
                              f"got {self.weight!r}")


def _log_softmax(scores: Sequence[float]) -> list[float]:
    top = max(scores)
    if top == -math.inf:
        return [-math.log(len(scores))] * len(scores)  # all equally impossible: uniform
    total = top + math.log(sum(math.exp(s - top) for s in scores))
    return [s - total for s in scores]


def mix_candidates(proposals: Sequence[Sequence[Candidate]], weights: Sequence[float],
                   k: int) -> list[Candidate]:
    """The mixture rule (module docstring) on each source's proposals: the best ``k``."""
    total_weight = sum(weights)
    mass: dict[str, list[float]] = {}
    order: dict[str, int] = {}
    for candidates, weight in zip(proposals, weights):
        kept = [c for c in candidates if c.tactic.strip() and not math.isnan(c.logprob)]
        if not kept:
            continue
        log_w = math.log(weight / total_weight)
        for cand, share in zip(kept, _log_softmax([c.logprob for c in kept])):
            tactic = cand.tactic.strip()
            mass.setdefault(tactic, []).append(log_w + share)
            order.setdefault(tactic, len(order))
    mixed = []
    for tactic, parts in mass.items():
        top = max(parts)
        mixed.append(Candidate(tactic, top + math.log(sum(math.exp(p - top) for p in parts))))
    mixed.sort(key=lambda c: (-c.logprob, order[c.tactic]))
    return mixed[:k]


class MixtureGenerator:
    """Asks every source for ``k`` candidates (one after another) and mixes them (see the
    module docstring for the rule that puts their scores on one scale)."""

    def __init__(self, sources: Sequence[MixtureSource | TacticGenerator]) -> None:
        if not sources:
            raise ConfigError("MixtureGenerator needs at least one source")
        self.sources = [s if isinstance(s, MixtureSource) else MixtureSource(s) for s in sources]

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        proposals = [await source.generator.propose(state, k) for source in self.sources]
        return mix_candidates(proposals, [s.weight for s in self.sources], k)

    def __repr__(self) -> str:
        parts = ", ".join(f"{s.generator!r}@{s.weight:g}" for s in self.sources)
        return f"MixtureGenerator({parts})"


__all__ = ["MixtureGenerator", "MixtureSource", "mix_candidates"]
