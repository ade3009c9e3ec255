"""Configuration of goal-aware rollouts."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from prover.errors import ConfigError
from prover.types import Candidate


@dataclass(frozen=True)
class RolloutConfig:
    """How rollouts run once the trigger fires.

    The seed paper does not publish code; every free choice is an option here.

    - ``depth``: at most this many tactic steps per rollout (4; the paper's short rollouts).
    - ``probes``: rollouts started from each triggering child. In greedy mode probe ``i`` takes
      the ``i``-th best candidate at its first step and the best one after that, so probes differ.
    - ``mode``: ``"greedy"`` (best candidate) or ``"sample"`` (a candidate drawn with
      probability proportional to ``exp(logprob / temperature)``, seeded by ``seed``).
    - ``budget_share``: the fraction of ``SearchConfig.max_expansions`` that rollout steps may
      spend. Rollout steps and expansions draw on the same generator-call budget, so a search with
      rollouts never makes more generator calls than one without.
    - ``stop_at_boundary``: stop when a step changes the open-goal count (the next segment
      boundary), as the paper's rollouts cover one segment.
    """

    depth: int = 4
    probes: int = 1
    mode: Literal["greedy", "sample"] = "greedy"
    temperature: float = 1.0
    budget_share: float = 0.5
    stop_at_boundary: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("depth", "probes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"RolloutConfig.{name} must be an integer >= 1, got {value!r}")
        if self.mode not in ("greedy", "sample"):
            raise ConfigError(f"RolloutConfig.mode must be 'greedy' or 'sample', got {self.mode!r}")
        for name in ("temperature", "budget_share"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"RolloutConfig.{name} must be a number, got {value!r}")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ConfigError(f"RolloutConfig.temperature must be > 0, got {self.temperature}")
        if not 0 < self.budget_share <= 1:
            raise ConfigError(
                f"RolloutConfig.budget_share must be in (0, 1], got {self.budget_share}")


def choose_candidate(candidates: Sequence[Candidate], config: RolloutConfig,
                     rng: random.Random, rank: int = 0) -> Candidate | None:
    """Pick the rollout's next tactic: the ``rank``-th best (greedy) or a sampled one."""
    if not candidates:
        return None
    # NaN ranks as -inf (it has no order), so that a broken log-prob neither wins nor raises.
    logprobs = [-math.inf if math.isnan(c.logprob) else c.logprob for c in candidates]
    if config.mode == "greedy":
        order = sorted(range(len(candidates)), key=lambda i: -logprobs[i])
        return candidates[order[rank]] if rank < len(order) else None
    top = max(logprobs)
    if math.isinf(top):  # all +inf share the draw; all -inf (or NaN): uniform
        pool = [c for c, lp in zip(candidates, logprobs) if lp == top]
        return rng.choice(pool)
    weights = [math.exp((lp - top) / config.temperature) for lp in logprobs]
    return rng.choices(list(candidates), weights=weights, k=1)[0]


__all__ = ["RolloutConfig", "choose_candidate"]
