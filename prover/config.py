"""Search configuration and results."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from prover.errors import ConfigError

if TYPE_CHECKING:
    from prover.tree import SearchTree

DEFAULT_BANNED_TACTICS: tuple[str, ...] = (
    "sorry", "admit", "sorryAx", "stop", "give_up", "Admitted", "Admit", "Abort",
)
"""Tactics that close goals without proof (Lean's ``sorry``/``admit``/``stop``, Coq's
``admit``/``give_up``/``Admitted``); a candidate containing one as a word, in any letter case,
is never sent."""

SearchStatus = Literal["proved", "failed", "budget", "error"]


@dataclass(frozen=True)
class SearchConfig:
    """Budgets and limits of one best-first search.

    - ``num_candidates``: tactics asked of the generator per expansion (8).
    - ``max_expansions``: generator calls per theorem, rollout steps included (600, as
      BFS-Prover / DoBeVi).
    - ``time_limit_s``: wall time per theorem (600 s, ReProver), counted from the moment the
      session is open: waiting for a prover process and opening it are not the search's time.
    - ``open_timeout_s``: bound on opening the session, waiting for a free prover process
      included (600 s, the default search time: at a concurrency above the backend's process
      pool, searches queue here; ``None``: no bound). A timed-out open is status ``error``.
    - ``tactic_timeout_s``: a watchdog for sessions with no per-tactic timeout of their own
      (``None``: no watchdog). A backend owns its tactic timeout (``--tactic-timeout`` sets it),
      counted from when the tactic starts running; a session or environment that declares one
      (a ``tactic_timeout_s`` attribute, as Coq's does) gets no watchdog, because the search's
      timer starts when it hands the tactic over and would count the wait behind the
      session's other tactics as a timeout. Otherwise an ``apply`` unanswered after this many
      seconds becomes a TacticTimeout.
    - ``max_nodes``: cap on proof states in the tree (``None``: no cap).
    - ``max_concurrent_tactics``: candidates of one expansion applied at once.
    - ``banned_tactics``: words that disqualify a candidate before it reaches the prover.
    - ``verify_proof``: re-check a found proof with ``Session.verify``.
    """

    num_candidates: int = 8
    max_expansions: int = 600
    time_limit_s: float = 600.0
    tactic_timeout_s: float | None = None
    open_timeout_s: float | None = 600.0
    max_nodes: int | None = None
    max_concurrent_tactics: int = 8
    banned_tactics: tuple[str, ...] = DEFAULT_BANNED_TACTICS
    verify_proof: bool = True

    def __post_init__(self) -> None:
        for name in ("num_candidates", "max_expansions", "max_concurrent_tactics"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ConfigError(f"SearchConfig.{name} must be an integer >= 1, got {value!r}")
        if not (_is_number(self.time_limit_s) and self.time_limit_s > 0):
            raise ConfigError(f"SearchConfig.time_limit_s must be > 0, got {self.time_limit_s!r}")
        if self.tactic_timeout_s is not None and not (
                _is_number(self.tactic_timeout_s) and self.tactic_timeout_s > 0):
            raise ConfigError(
                f"SearchConfig.tactic_timeout_s must be > 0 or None, got {self.tactic_timeout_s!r}")
        if self.open_timeout_s is not None and not (
                _is_number(self.open_timeout_s) and self.open_timeout_s > 0):
            raise ConfigError(
                f"SearchConfig.open_timeout_s must be > 0 or None, got {self.open_timeout_s!r}")
        if self.max_nodes is not None and not (_is_int(self.max_nodes) and self.max_nodes >= 1):
            raise ConfigError(
                f"SearchConfig.max_nodes must be an integer >= 1 or None, got {self.max_nodes!r}")
        if isinstance(self.banned_tactics, str) or not isinstance(
                self.banned_tactics, (tuple, list, set, frozenset)):
            raise ConfigError("SearchConfig.banned_tactics must be a tuple of words, got "
                              f"{self.banned_tactics!r}")
        for word in self.banned_tactics:
            # A blank word would match between any two tokens and ban arbitrary tactics.
            if not isinstance(word, str) or not word.strip():
                raise ConfigError(f"SearchConfig.banned_tactics must hold non-blank strings, "
                                  f"got {word!r}")
        object.__setattr__(self, "banned_tactics", tuple(self.banned_tactics))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["banned_tactics"] = list(self.banned_tactics)
        return data


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    """A real number that is not a bool (NaN passes: compare it to reject it)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def banned_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """A regex matching any of ``words`` as a whole word (not inside an identifier), in any
    letter case, also when written from the root namespace (``_root_.sorryAx``)."""
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![\w.'?!])(?:_root_\.)?(?:{alternatives})(?![\w'?!])",
                      re.IGNORECASE)


@dataclass(frozen=True)
class SearchStats:
    """Counters of one search. Rollout work is counted in the totals and also apart.

    ``env_calls``: tactics the session answered; ``cancelled_calls``: tactics the search gave
    up on before an answer (a sibling proved the node, the time limit, a cancel from outside).
    ``wall_s`` is the search's own time, from the open session to the result (``verify``
    included); ``open_s`` is the time spent opening the session before it (waiting for a free
    prover process, starting it, replaying the file up to the theorem). ``verified``: ``True``
    the proof passed ``Session.verify``, ``False`` it was rejected, ``None`` it was not judged
    (no proof, verification off, or ``verify`` crashed: then the status is ``error`` and the
    message says ``verify crashed``).
    """

    expansions: int = 0
    nodes: int = 0
    env_calls: int = 0
    cancelled_calls: int = 0
    generator_calls: int = 0
    banned: int = 0
    wall_s: float = 0.0
    env_s: float = 0.0
    generator_s: float = 0.0
    rollouts: int = 0
    rollout_steps: int = 0
    rollout_proofs: int = 0
    rollout_env_calls: int = 0
    rollout_generator_calls: int = 0
    verified: bool | None = None
    open_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SearchResult:
    """The outcome of one search.

    ``status``: ``"proved"``; ``"failed"`` (frontier exhausted); ``"budget"`` (a limit was hit);
    ``"error"`` (the environment or generator failed, or the proof did not verify; see
    ``message``).
    """

    theorem: str
    status: SearchStatus
    proof: tuple[str, ...] | None = None
    stats: SearchStats = field(default_factory=SearchStats)
    message: str | None = None
    tree: SearchTree | None = field(default=None, repr=False, compare=False)

    @property
    def proved(self) -> bool:
        return self.status == "proved"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the tree is left out: export it with ``tree.to_json()``)."""
        return {"theorem": self.theorem, "status": self.status,
                "proof": list(self.proof) if self.proof is not None else None,
                "message": self.message, "stats": self.stats.to_dict()}


__all__ = [
    "DEFAULT_BANNED_TACTICS",
    "SearchConfig",
    "SearchResult",
    "SearchStats",
    "SearchStatus",
    "banned_pattern",
]
