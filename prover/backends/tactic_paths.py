"""States named by their tactic path, rebuilt by replaying it after the prover restarts.

The Lean backends (LeanDojo and the REPL) hand out every :class:`~prover.types.ProofState`
with its tactic path from the root as ``handle``. A restarted prover process has lost the
states it held, so each is rebuilt lazily, the first time it is used, by replaying its path.
This module holds what both backends share of that; how a path is replayed is theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from prover.errors import EnvironmentInitError, ProverError
from prover.types import Outcome, ProofState, TacticError

TacticPath = tuple[str, ...]
"""The tactics from the root to a state: the ``handle`` of every state a session hands out."""

T = TypeVar("T")


class Unrebuildable(Exception):
    """Replaying a state's path on a restarted process did not give that state back."""


LEADS_ELSEWHERE = ("the tactic path of this state leads elsewhere in this session (replaying it "
                   "after a restart reached a different state, or the state was handed out by "
                   "another session)")
"""The :class:`Unrebuildable` message when a path replays to a state with another key."""


def path_of(state: ProofState, backend: str) -> TacticPath:
    """The tactic path in ``state.handle``; ValueError when ``backend`` did not make it."""
    path = state.handle
    if not isinstance(path, tuple) or not all(isinstance(t, str) for t in path):
        raise ValueError(f"state {state.key[:80]!r} was not handed out by a {backend} session "
                         f"(its handle is {type(path).__name__}, not a tactic path)")
    return path


def rebuild_with_restarts(rebuild: Callable[[], T], on_failure: Callable[[Exception], Outcome],
                          cancelled: Outcome, theorem: str, log: logging.Logger) -> T | Outcome:
    """``rebuild()``, restarting and trying again while it fails like a crash.

    ``on_failure(exc)`` restarts the process and returns an outcome, or raises
    EnvironmentCrashError once the session's restarts are spent; ``cancelled`` is the outcome it
    returns when the session was cancelled meanwhile, which ends the attempts. A path that
    replays elsewhere (:class:`Unrebuildable`) is a TacticError: no restart would help. An
    EnvironmentInitError (the restarted process did not open the theorem) is counted like a
    crash, so that it is retried, boundedly; other ProverErrors end the session.
    """
    while True:
        try:
            return rebuild()
        except Unrebuildable as exc:
            log.warning("%s: %s", theorem, exc)
            return TacticError(str(exc))
        except Exception as exc:
            if isinstance(exc, ProverError) and not isinstance(exc, EnvironmentInitError):
                raise
            outcome = on_failure(exc)
            if outcome is cancelled:
                return outcome


__all__ = ["LEADS_ELSEWHERE", "TacticPath", "Unrebuildable", "path_of",
           "rebuild_with_restarts"]
