"""Best-first proof search (:class:`BestFirstSearch`).

The loop is :mod:`prover.search.loop`; its parts: :mod:`~prover.search.apply` (applying
candidates to the session), :mod:`~prover.search.deadline` (the time limit),
:mod:`~prover.search.rollouts` (goal-aware rollouts beside the loop) and
:mod:`~prover.search.counters` (what a run counts).
"""

from prover.search.counters import SearchCounters
from prover.search.loop import BestFirstSearch

__all__ = ["BestFirstSearch", "SearchCounters"]
