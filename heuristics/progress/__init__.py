"""The progress regressor (LeanProgress): data, training, scoring, and a search heuristic.

A model reads ``(state before, tactics so far, candidate tactic)`` and predicts how many tactics
the proof needs after it; :class:`ProgressHeuristic` orders the frontier by it. The data and
heuristic parts are plain Python; :class:`ProgressTrainer` and :class:`ProgressScorer` import
torch/transformers and are loaded on first access.

Command lines: ``seg-prover progress {train,build-dataset,sample}``,
``python -m heuristics.progress.train`` and
``python -m heuristics.progress.make_sample OUT``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from heuristics.progress.build import build_progress_dataset
from heuristics.progress.dataset import ProgressDataset
from heuristics.progress.heuristic import ProgressHeuristic
from heuristics.progress.sample import create_sample_dataset

if TYPE_CHECKING:
    from heuristics.progress.scorer import ProgressScorer
    from heuristics.progress.trainer import ProgressTrainer

_LAZY = {
    "ProgressScorer": "heuristics.progress.scorer",
    "ProgressTrainer": "heuristics.progress.trainer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ProgressDataset",
    "ProgressHeuristic",
    "ProgressScorer",
    "ProgressTrainer",
    "build_progress_dataset",
    "create_sample_dataset",
]
