"""Pass rates, intervals and per-run summaries computed from result rows (pure functions).

Conventions:

- A theorem is *settled* once all ``K`` of its attempts have a row; pass@K is the share of
  settled theorems proved by at least one attempt, so a run still in progress is summarised
  without bias from its order. An ``error`` row counts as a failure, in the denominator.
- Cost columns (wall time, expansions, environment and generator calls, rollouts) are *per
  theorem*: the sum over its attempts (for ``K = 1``, per search).
- The curves use, for each proved theorem, the smallest wall time (or expansion count) among its
  proving attempts: "how many theorems a budget of x per attempt would have proved".
- Wall time is the search's own (from the open session); the time to open it (waiting for a
  prover process included) is ``open_s``, reported per search (mean and max).
- Status counts are over searches (rows); errors are grouped by their message with the
  theorem's name and numbers taken out (:func:`error_kind`), each group shown by its first
  message.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

WILSON_Z_95 = 1.959963984540054
"""The normal quantile of a two-sided 95% interval."""


def wilson_interval(successes: int, n: int, z: float = WILSON_Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (Wilson 1927); ``(0, 1)`` when n = 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` attempts with ``c`` successes (Chen et al. 2021, Codex)."""
    if not 0 < k <= n:
        raise ValueError(f"need 0 < k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), numpy's linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    return float(np.percentile(np.asarray(values, dtype=float), q))


@dataclass(frozen=True)
class TheoremOutcome:
    """All attempts of one theorem, reduced to what the report needs."""

    name: str
    attempts: int
    proved_attempts: int
    errors: int
    wall_s: float
    expansions: int
    env_calls: int
    generator_calls: int
    rollouts: int
    first_proof_wall_s: float | None
    first_proof_expansions: int | None

    @property
    def proved(self) -> bool:
        return self.proved_attempts > 0


@dataclass(frozen=True)
class ErrorGroup:
    """The ``error`` rows of one kind: how many, the first message, the theorems (in order)."""

    message: str
    count: int
    theorems: tuple[str, ...]


def error_kind(message: str, theorem: str = "") -> str:
    """What makes two error messages the same error: the text without the theorem's name,
    numbers and runs of blanks."""
    text = message.replace(theorem, "<theorem>") if theorem else message
    text = re.sub(r"\d+(?:\.\d+)?", "#", text)
    return " ".join(text.split())[:200]


def error_groups(rows: Iterable[Mapping[str, Any]]) -> tuple[ErrorGroup, ...]:
    """The ``error`` rows grouped by :func:`error_kind`, largest group first (ties: first
    seen first)."""
    groups: dict[str, tuple[str, list[str]]] = {}
    for row in rows:
        if row.get("status") != "error":
            continue
        name, message = str(row.get("theorem", "")), str(row.get("message") or "(no message)")
        groups.setdefault(error_kind(message, name), (message, []))[1].append(name)
    ordered = sorted(groups.values(), key=lambda group: -len(group[1]))
    return tuple(ErrorGroup(message, len(names), tuple(names)) for message, names in ordered)


STATUSES = ("proved", "failed", "budget", "error")
"""The statuses of a search (:data:`prover.config.SearchStatus`), in report order."""


def status_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Searches per status: ``proved``, ``failed``, ``budget``, ``error`` first (zeros
    included), then any other status seen."""
    counts = {status: 0 for status in STATUSES}
    for row in rows:
        status = str(row.get("status"))
        counts[status] = counts.get(status, 0) + 1
    return counts


@dataclass(frozen=True)
class RunSummary:
    """The figures of one run (see the module docstring for the conventions)."""

    label: str
    k: int
    total: int
    settled: int
    proved: int
    errors: int
    searches: int
    pass_at_k: float
    interval: tuple[float, float]
    pass_at_1: float
    median_wall_s: float
    p90_wall_s: float
    mean_expansions: float
    mean_env_calls: float
    mean_generator_calls: float
    mean_rollouts: float
    config_hashes: tuple[str, ...] = ()
    outcomes: Mapping[str, TheoremOutcome] = field(default_factory=dict, repr=False)
    statuses: Mapping[str, int] = field(default_factory=dict)
    errors_by_kind: tuple[ErrorGroup, ...] = ()
    mean_open_s: float = math.nan
    max_open_s: float = math.nan

    @property
    def complete(self) -> bool:
        return self.settled == self.total

    def proved_names(self) -> set[str]:
        return {name for name, o in self.outcomes.items() if o.proved}

    def to_dict(self) -> dict[str, Any]:
        """The headline figures (no per-theorem data), JSON-ready."""
        return {"label": self.label, "k": self.k, "total": self.total, "settled": self.settled,
                "proved": self.proved, "errors": self.errors, "searches": self.searches,
                "pass_at_k": self.pass_at_k, "interval": list(self.interval),
                "pass_at_1": self.pass_at_1, "median_wall_s": self.median_wall_s,
                "p90_wall_s": self.p90_wall_s, "mean_expansions": self.mean_expansions,
                "mean_env_calls": self.mean_env_calls,
                "mean_generator_calls": self.mean_generator_calls,
                "mean_rollouts": self.mean_rollouts, "config_hashes": list(self.config_hashes),
                "mean_open_s": self.mean_open_s, "max_open_s": self.max_open_s,
                "statuses": dict(self.statuses),
                "errors_by_kind": [{"message": g.message, "count": g.count,
                                    "theorems": list(g.theorems)} for g in self.errors_by_kind]}


def _stat(row: Mapping[str, Any], name: str) -> float:
    stats = row.get("stats") or {}
    value = stats.get(name, 0) if isinstance(stats, Mapping) else 0
    return float(value) if isinstance(value, (int, float)) else 0.0


def theorem_outcomes(rows: Iterable[Mapping[str, Any]], k: int) -> dict[str, TheoremOutcome]:
    """Group rows by theorem, keeping attempts ``0..k-1`` (rows of other attempts are ignored)."""
    by_theorem: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        if 0 <= int(row["attempt"]) < k:
            by_theorem[str(row["theorem"])].append(row)
    out: dict[str, TheoremOutcome] = {}
    for name, group in by_theorem.items():
        proving = [r for r in group if r.get("status") == "proved"]
        out[name] = TheoremOutcome(
            name=name, attempts=len(group), proved_attempts=len(proving),
            errors=sum(r.get("status") == "error" for r in group),
            wall_s=sum(_stat(r, "wall_s") for r in group),
            expansions=int(sum(_stat(r, "expansions") for r in group)),
            env_calls=int(sum(_stat(r, "env_calls") for r in group)),
            generator_calls=int(sum(_stat(r, "generator_calls") for r in group)),
            rollouts=int(sum(_stat(r, "rollouts") for r in group)),
            first_proof_wall_s=min((_stat(r, "wall_s") for r in proving), default=None),
            first_proof_expansions=min((int(_stat(r, "expansions")) for r in proving),
                                       default=None))
    return out


def summarize(rows: Iterable[Mapping[str, Any]], *, k: int = 1,
              theorems: Sequence[str] | None = None, label: str = "run") -> RunSummary:
    """Summarise a run's rows; ``theorems`` (the run's full list) sets the total."""
    rows = list(rows)
    outcomes = theorem_outcomes(rows, k)
    if theorems is not None:
        wanted = set(theorems)
        outcomes = {n: o for n, o in outcomes.items() if n in wanted}
        total = len(wanted)
    else:
        total = len(outcomes)
    counted = [r for r in rows if str(r["theorem"]) in outcomes and 0 <= int(r["attempt"]) < k]
    opens = [_stat(r, "open_s") for r in counted]
    settled = [o for o in outcomes.values() if o.attempts >= k]
    proved = sum(o.proved for o in settled)
    n = len(settled)
    walls = [o.wall_s for o in settled]

    def mean(values: list[float]) -> float:
        return statistics.fmean(values) if values else math.nan

    return RunSummary(
        label=label, k=k, total=total, settled=n, proved=proved,
        errors=sum(o.errors for o in outcomes.values()),
        searches=sum(o.attempts for o in outcomes.values()),
        pass_at_k=proved / n if n else math.nan,
        interval=wilson_interval(proved, n),
        pass_at_1=mean([pass_at_k(o.attempts, o.proved_attempts, 1) for o in settled]),
        median_wall_s=percentile(walls, 50), p90_wall_s=percentile(walls, 90),
        mean_expansions=mean([float(o.expansions) for o in settled]),
        mean_env_calls=mean([float(o.env_calls) for o in settled]),
        mean_generator_calls=mean([float(o.generator_calls) for o in settled]),
        mean_rollouts=mean([float(o.rollouts) for o in settled]),
        config_hashes=tuple(sorted({str(r["config_hash"]) for r in rows
                                    if r.get("config_hash")})),
        outcomes=outcomes, statuses=status_counts(counted),
        errors_by_kind=error_groups(counted), mean_open_s=mean(opens),
        max_open_s=max(opens, default=math.nan))


@dataclass(frozen=True)
class Comparison:
    """Per-theorem comparison of two runs on the theorems both settled."""

    a: str
    b: str
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    both: int
    neither: int


def compare(a: RunSummary, b: RunSummary) -> Comparison:
    """Which theorems one run proved and the other did not (as papers report ablations)."""
    common = {n for n, o in a.outcomes.items() if o.attempts >= a.k} & \
        {n for n, o in b.outcomes.items() if o.attempts >= b.k}
    pa, pb = a.proved_names() & common, b.proved_names() & common
    return Comparison(a.label, b.label, tuple(sorted(pa - pb)), tuple(sorted(pb - pa)),
                      len(pa & pb), len(common - pa - pb))


__all__ = [
    "STATUSES",
    "WILSON_Z_95",
    "Comparison",
    "ErrorGroup",
    "RunSummary",
    "TheoremOutcome",
    "compare",
    "error_groups",
    "error_kind",
    "pass_at_k",
    "percentile",
    "status_counts",
    "summarize",
    "theorem_outcomes",
    "wilson_interval",
]
