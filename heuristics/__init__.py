"""Heuristics that order the search frontier (higher score = expanded first).

The progress regressor lives in :mod:`heuristics.progress` (it imports torch on first use).
"""

from heuristics.base import NEVER, FunctionHeuristic, Heuristic, NodeScoreFn, as_heuristic
from heuristics.builtin import CumulativeLogProb, NormalizedLogProb, Weighted

__all__ = [
    "NEVER",
    "CumulativeLogProb",
    "FunctionHeuristic",
    "Heuristic",
    "NodeScoreFn",
    "NormalizedLogProb",
    "Weighted",
    "as_heuristic",
]
