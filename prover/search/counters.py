"""What one search counts while it runs, as typed fields (a string-keyed dict let a typo count
into a counter nobody reads)."""

from __future__ import annotations

from dataclasses import dataclass

from prover.config import SearchStats


@dataclass(slots=True)
class SearchCounters:
    """Running totals of one search; rollout work is counted in the totals and also apart
    (see :class:`~prover.config.SearchStats` for what each means)."""

    expansions: int = 0
    env_calls: int = 0
    cancelled_calls: int = 0
    generator_calls: int = 0
    banned: int = 0
    rollouts: int = 0
    rollout_steps: int = 0
    rollout_env_calls: int = 0
    rollout_generator_calls: int = 0
    env_s: float = 0.0
    generator_s: float = 0.0

    def stats(self, *, nodes: int, wall_s: float, rollout_proofs: int, verified: bool | None,
              open_s: float) -> SearchStats:
        """The final :class:`SearchStats` of the run these counters belong to."""
        return SearchStats(
            expansions=self.expansions, nodes=nodes, env_calls=self.env_calls,
            cancelled_calls=self.cancelled_calls, generator_calls=self.generator_calls,
            banned=self.banned, wall_s=wall_s, env_s=self.env_s, generator_s=self.generator_s,
            rollouts=self.rollouts, rollout_steps=self.rollout_steps,
            rollout_proofs=rollout_proofs, rollout_env_calls=self.rollout_env_calls,
            rollout_generator_calls=self.rollout_generator_calls, verified=verified,
            open_s=open_s)


__all__ = ["SearchCounters"]
