"""seg-prover: best-first neural theorem proving with goal-aware rollouts.

Importing ``prover`` is cheap: torch, transformers and lean_dojo are imported only by the
backends and generators that need them.
"""

from prover.backends.replay import RecordingEnvironment, ReplayEnvironment
from prover.config import DEFAULT_BANNED_TACTICS, SearchConfig, SearchResult, SearchStats
from prover.env import Environment, Session
from prover.errors import (
    BackendUnavailableError,
    ConfigError,
    DataFormatError,
    EnvironmentCrashError,
    EnvironmentInitError,
    GeneratorError,
    ProverError,
)
from prover.generators.base import TacticGenerator
from prover.generators.fixed import FixedTacticGenerator
from prover.search import BestFirstSearch
from prover.tree import SearchTree
from prover.types import (
    Candidate,
    Outcome,
    ProofState,
    Proved,
    SearchNode,
    StateReached,
    TacticError,
    TacticTimeout,
    Theorem,
)

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "DEFAULT_BANNED_TACTICS",
    "BestFirstSearch",
    "Candidate",
    "ConfigError",
    "DataFormatError",
    "Environment",
    "EnvironmentCrashError",
    "EnvironmentInitError",
    "FixedTacticGenerator",
    "GeneratorError",
    "Outcome",
    "ProofState",
    "Proved",
    "ProverError",
    "RecordingEnvironment",
    "ReplayEnvironment",
    "SearchConfig",
    "SearchNode",
    "SearchResult",
    "SearchStats",
    "SearchTree",
    "Session",
    "StateReached",
    "TacticError",
    "TacticGenerator",
    "TacticTimeout",
    "Theorem",
    "__version__",
]
