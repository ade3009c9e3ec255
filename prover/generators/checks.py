"""Checks on what a tactic generator answered, for the search's calls to ``propose``."""

from __future__ import annotations

import asyncio
import dataclasses
import numbers
from collections.abc import Awaitable
from typing import TypeVar

from prover.errors import GeneratorError
from prover.types import Candidate

T = TypeVar("T")


async def own_timeout(awaitable: Awaitable[T]) -> T:
    """Await a generator call; a TimeoutError of its own is a GeneratorError, so that only the
    run's deadline (raised around this by `_Run.call`) reads as "out of time"."""
    try:
        return await awaitable
    except asyncio.TimeoutError as exc:
        raise GeneratorError(f"the generator timed out: {exc!r}") from exc


def checked_candidates(generator: object, proposed: object) -> list[Candidate]:
    """The generator's answer as a list of candidates; GeneratorError for anything else (a
    non-Candidate, a tactic that is not a string, a log-prob that is not a number)."""
    name = type(generator).__name__
    if not isinstance(proposed, (list, tuple)):
        raise GeneratorError(f"{name}.propose returned {type(proposed).__name__}, "
                             f"not a list of Candidate")
    candidates = list(proposed)
    for i, candidate in enumerate(candidates):
        if not isinstance(candidate, Candidate) or not isinstance(candidate.tactic, str):
            raise GeneratorError(f"{name}.propose returned {candidate!r} at index {i}, "
                                 f"not a Candidate with a string tactic")
        logprob = candidate.logprob
        if type(logprob) is not float:
            if isinstance(logprob, bool) or not isinstance(logprob, numbers.Real):
                raise GeneratorError(f"{name}.propose returned {candidate!r} at index {i}: "
                                     f"its logprob is not a number")
            candidate = candidates[i] = dataclasses.replace(candidate, logprob=float(logprob))
        tactic = candidate.tactic
        if "\n" not in tactic and tactic != (stripped := tactic.strip()):
            # One tactic padded with spaces is that tactic: tried, deduplicated, recorded so.
            candidates[i] = dataclasses.replace(candidate, tactic=stripped)
    return candidates


__all__ = ["checked_candidates", "own_timeout"]
