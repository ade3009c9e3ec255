"""CoqHammer's reconstruction tactics as a candidate source (Czajka and Kaliszyk, "Hammer for
Coq", JAR 2018; the ``sauto`` family of Czajka, "Practical proof search for Coq by type
inhabitation", IJCAR 2020). They need no external ATP, only Debian's ``libcoq-hammer`` loaded
by the environment (``CoqConfig(prelude=HAMMER_PRELUDE)``, ``--backend coq#hammer=true``).

Each runs under its own ``timeout`` (Ltac's, in whole seconds), shorter than the backend's
per-tactic ``Timeout``: a hammer call that cannot close the goal should give the next candidate
its turn soon. Mix them with another generator
(:class:`~prover.generators.mixture.MixtureGenerator`).
"""

from __future__ import annotations

import math

from prover.errors import ConfigError
from prover.generators.fixed import FixedTacticGenerator

HAMMER_TACTICS: tuple[str, ...] = ("sauto.", "hauto.", "qauto.", "sfirstorder.", "strivial.",
                                   "lauto.", "sauto use: arith.")
"""The general-purpose tactics of CoqHammer's ``Tactics`` library, strongest first (the
library's own ``best`` tries ``sauto``-family variants in about this order)."""


def hammer_tactics(timeout_s: float = 3.0) -> list[str]:
    """:data:`HAMMER_TACTICS`, each wrapped in ``timeout N`` (N = ``ceil(timeout_s)``)."""
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ConfigError(f"hammer timeout must be a number > 0, got {timeout_s!r}")
    seconds = max(1, math.ceil(timeout_s))
    return [f"timeout {seconds} {tactic}" for tactic in HAMMER_TACTICS]


def hammer_generator(timeout_s: float = 3.0) -> FixedTacticGenerator:
    """The hammer tactics at every state, all with the same score."""
    return FixedTacticGenerator(hammer_tactics(timeout_s))


__all__ = ["HAMMER_TACTICS", "hammer_generator", "hammer_tactics"]
