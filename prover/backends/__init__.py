"""Proof environments. Backends with heavy dependencies are imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

from prover.backends.replay import RecordingEnvironment, ReplayEnvironment

_LAZY = {
    "CoqEnvironment": "prover.backends.coq",
    "LeanDojoEnvironment": "prover.backends.leandojo",
    "LeanReplEnvironment": "prover.backends.repl",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CoqEnvironment",
    "LeanDojoEnvironment",
    "LeanReplEnvironment",
    "RecordingEnvironment",
    "ReplayEnvironment",
]
