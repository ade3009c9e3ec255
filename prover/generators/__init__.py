"""Tactic generators. Model-backed ones are imported on first use (they pull in torch)."""

from __future__ import annotations

import importlib
from typing import Any

from prover.generators.base import TacticGenerator, merge_candidates
from prover.generators.fixed import FixedTacticGenerator

_LAZY = {
    "HFTacticGenerator": "prover.generators.hf",
    "MicroBatcher": "prover.generators.batching",
    "OpenAICompatibleGenerator": "prover.generators.openai",
    "KNNTacticGenerator": "prover.generators.knn",
    "DecodingConfig": "prover.generators.decoding",
    "PromptTemplate": "prover.generators.templates",
    "make_generator": "prover.specs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DecodingConfig",
    "FixedTacticGenerator",
    "HFTacticGenerator",
    "KNNTacticGenerator",
    "MicroBatcher",
    "OpenAICompatibleGenerator",
    "PromptTemplate",
    "TacticGenerator",
    "make_generator",
    "merge_candidates",
]
