"""Values passed between the parts of the prover. All are frozen dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

PROVED_KEY = "<proved>"
"""Key of the terminal pseudo-state that every proof edge leads to in the search tree."""


@dataclass(frozen=True)
class Theorem:
    """A theorem to prove.

    ``statement`` is human-readable (and what the REPL backend compiles); ``locator`` carries what
    a specific backend needs to find it (LeanDojo's url/commit/file_path/full_name, a Coq file and
    sentence index, ...).
    """

    name: str
    statement: str = ""
    locator: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class ProofState:
    """A proof state as the search sees it.

    ``goals`` are pretty-printed goals (``hyps\\n⊢ concl``); ``key`` identifies equal states for
    deduplication and defaults to the goals joined by blank lines (LeanDojo's ``pp``). A backend
    may pass its own key when the goal text alone does not determine the state (e.g. Coq's focus
    structure). ``handle`` is opaque backend data and takes no part in equality.
    """

    goals: tuple[str, ...]
    key: str = ""
    handle: Any = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.goals, tuple):
            if isinstance(self.goals, str):  # tuple() would make each character a goal
                raise TypeError(f"ProofState.goals must be a sequence of goals, not the string "
                                f"{self.goals[:80]!r}")
            object.__setattr__(self, "goals", tuple(self.goals))
        if not self.key:
            object.__setattr__(self, "key", self.pp)

    @property
    def num_goals(self) -> int:
        """The open-goal count (DESIGN.md): the number of goals; 0 for a proved state."""
        return len(self.goals)

    @property
    def pp(self) -> str:
        """The goals joined by blank lines, the way Lean prints a multi-goal state."""
        return "\n\n".join(self.goals)


@dataclass(frozen=True)
class Candidate:
    """A tactic proposed by a generator with its log-probability (sum over its tokens).

    ``mean_logprob`` is the mean over its tokens when the generator knows it (model-backed
    generators set it; BFS-Prover-V2 ranks by it), else ``None``.
    """

    tactic: str
    logprob: float = 0.0
    mean_logprob: float | None = None


@dataclass(frozen=True)
class StateReached:
    """The tactic succeeded and left open goals."""

    state: ProofState


@dataclass(frozen=True)
class Proved:
    """The tactic closed the last goal."""

    message: str = ""


@dataclass(frozen=True)
class TacticError:
    """The prover rejected the tactic (a value, not an exception)."""

    message: str


@dataclass(frozen=True)
class TacticTimeout:
    """The tactic did not finish within its time limit."""

    message: str = "tactic timed out"


Outcome = StateReached | Proved | TacticError | TacticTimeout
"""What :meth:`prover.env.Session.apply` returns."""


OutcomeKind = Literal["state", "proved", "error", "timeout"]
"""The trace-format name of an outcome."""


def outcome_kind(outcome: Outcome) -> OutcomeKind:
    """The trace-format name of an outcome: ``state``, ``proved``, ``error`` or ``timeout``."""
    if isinstance(outcome, StateReached):
        return "state"
    if isinstance(outcome, Proved):
        return "proved"
    if isinstance(outcome, TacticTimeout):
        return "timeout"
    return "error"


@dataclass(frozen=True)
class SearchNode:
    """What heuristics see of a tree node: the state and the best-known path that reached it.

    ``parent`` is the node it was first reached from (``None`` for the root); ``tactics`` is the
    path from the root; ``logprob`` is the log-probability of the last tactic, and
    ``cumulative_logprob`` the sum along the path.
    """

    state: ProofState
    depth: int = 0
    cumulative_logprob: float = 0.0
    tactics: tuple[str, ...] = ()
    parent: SearchNode | None = field(default=None, repr=False)
    logprob: float = 0.0

    @property
    def tactic(self) -> str | None:
        """The tactic on the edge that reached this node (``None`` for the root)."""
        return self.tactics[-1] if self.tactics else None


__all__ = [
    "PROVED_KEY",
    "Candidate",
    "Outcome",
    "OutcomeKind",
    "ProofState",
    "Proved",
    "SearchNode",
    "StateReached",
    "TacticError",
    "TacticTimeout",
    "Theorem",
    "outcome_kind",
]
