"""The tactic-generator protocol."""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol, runtime_checkable

from prover.types import Candidate, ProofState


@runtime_checkable
class TacticGenerator(Protocol):
    """Proposes up to ``k`` candidate tactics for a state, best first.

    Implementations must be safe to call from many concurrent searches; model-backed ones batch
    those calls (see :class:`prover.generators.batching.MicroBatcher`). Failures raise
    :class:`prover.errors.GeneratorError`.
    """

    async def propose(self, state: ProofState, k: int) -> list[Candidate]: ...


def merge_candidates(candidates: list[Candidate], k: int | None = None) -> list[Candidate]:
    """Drop empty tactics, merge duplicates keeping the best logprob, sort best first.

    Ties keep the order of first appearance, so the result is deterministic.
    """
    best: dict[str, tuple[Candidate, int]] = {}
    for order, cand in enumerate(candidates):
        tactic = cand.tactic.strip()
        if not tactic:
            continue
        seen = best.get(tactic)
        if seen is None:
            best[tactic] = (cand, order)
        elif cand.logprob > seen[0].logprob:
            best[tactic] = (cand, seen[1])
    ranked = sorted(best.items(), key=lambda item: (-item[1][0].logprob, item[1][1]))
    # replace() keeps any other fields of the winning candidate (e.g. mean_logprob).
    merged = [replace(cand, tactic=tactic) for tactic, (cand, _) in ranked]
    return merged if k is None else merged[:k]


__all__ = ["TacticGenerator", "merge_candidates"]
