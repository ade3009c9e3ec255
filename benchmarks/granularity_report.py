"""Tables, paired comparisons and the plot of the granularity experiment (pure functions).

One :class:`CellResult` per (policy, granularity, rollout) cell of the grid, built from the
cell's :class:`~benchmarks.metrics.RunSummary` (and, for a trained policy, its
:class:`TrainingCost`). Conventions, as :mod:`benchmarks.metrics`:

- pass rate = proved / settled lemmas, with the Wilson 95% score interval;
- *calls per proof* = all calls of the cell (failed searches included) / lemmas proved, what
  a proof cost at that budget (``n/a`` when none was proved); *per lemma* = the mean;
- paired comparisons are on the lemmas both cells settled: proved by one only, by both, by
  neither, and the exact two-sided McNemar p-value on the discordant pairs (a binomial test
  with p = 1/2; Wilson intervals of two cells overlap far more often than paired counts
  differ by chance).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.metrics import Comparison, RunSummary, compare, wilson_interval

GRANULARITY_ORDER = ("segment", "step", "whole")


@dataclass(frozen=True)
class TrainingCost:
    """What training one policy cost: optimizer steps, examples, target tokens (the loss is on
    these), all tokens (prompt + target, what the forward passes read), seconds, final eval
    loss. See :mod:`benchmarks.granularity_train` for how steps and target tokens are made
    equal across granularities."""

    steps: int
    batch_size: int
    examples: int
    target_tokens: int
    total_tokens: int
    seconds: float
    eval_loss: float = math.nan
    pool_pairs: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "batch_size": self.batch_size, "examples": self.examples,
                "target_tokens": self.target_tokens, "total_tokens": self.total_tokens,
                "seconds": self.seconds, "eval_loss": self.eval_loss,
                "pool_pairs": self.pool_pairs}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingCost:
        return cls(int(data["steps"]), int(data["batch_size"]), int(data["examples"]),
                   int(data["target_tokens"]), int(data["total_tokens"]),
                   float(data["seconds"]), float(data.get("eval_loss", math.nan)),
                   int(data.get("pool_pairs", 0)))


@dataclass(frozen=True)
class CellResult:
    """The figures of one cell of the grid."""

    policy: str
    granularity: str
    rollout: str
    summary: RunSummary
    training: TrainingCost | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.policy}/{self.granularity}/rollouts {self.rollout}"

    @property
    def n(self) -> int:
        return self.summary.settled

    @property
    def proved(self) -> int:
        return self.summary.proved

    @property
    def rate(self) -> float:
        return self.proved / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.proved, self.n)

    def total(self, name: str) -> int:
        """``generator_calls``, ``env_calls``, ``expansions`` or ``rollouts`` over the cell's
        settled lemmas."""
        return sum(int(getattr(o, name)) for o in self.summary.outcomes.values()
                   if o.attempts >= self.summary.k)

    def per_proof(self, name: str) -> float:
        return self.total(name) / self.proved if self.proved else math.inf

    def per_lemma(self, name: str) -> float:
        return self.total(name) / self.n if self.n else math.nan


@dataclass(frozen=True)
class Paired(Comparison):
    """Lemmas proved by ``a`` and not ``b`` and the reverse, on the lemmas both settled (the
    fields of :class:`benchmarks.metrics.Comparison`), with an exact McNemar p-value."""

    @property
    def p_value(self) -> float:
        return mcnemar_exact(len(self.only_a), len(self.only_b))


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: ``P(|X - n/2| >= |only_a - n/2|)`` for
    ``X ~ Binomial(n = only_a + only_b, 1/2)``; 1.0 when there is no discordant pair."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    low = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(low + 1)) / 2 ** n
    return float(min(1.0, 2 * tail))


def paired(a: CellResult, b: CellResult) -> Paired:
    """The paired comparison of two cells (see the module docstring)."""
    c = compare(a.summary, b.summary)
    return Paired(a.label, b.label, c.only_a, c.only_b, c.both, c.neither)


def comparisons(cells: Sequence[CellResult]) -> list[Paired]:
    """Every pair of granularities within a (policy, rollout) group, then rollouts off
    against on for each (policy, granularity)."""
    out: list[Paired] = []
    by_key = {(c.policy, c.granularity, c.rollout): c for c in cells}
    groups = sorted({(c.policy, c.rollout) for c in cells})
    for policy, rollout in groups:
        present = [g for g in _order({c.granularity for c in cells})
                   if (policy, g, rollout) in by_key]
        for i, ga in enumerate(present):
            for gb in present[i + 1:]:
                out.append(paired(by_key[(policy, ga, rollout)], by_key[(policy, gb, rollout)]))
    for policy, granularity in sorted({(c.policy, c.granularity) for c in cells}):
        rollouts = sorted(r for (p, g, r) in by_key if p == policy and g == granularity)
        if "off" in rollouts:
            for other in (r for r in rollouts if r != "off"):
                out.append(paired(by_key[(policy, granularity, "off")],
                                  by_key[(policy, granularity, other)]))
    return out


def _order(granularities: set[str]) -> list[str]:
    known = [g for g in GRANULARITY_ORDER if g in granularities]
    return known + sorted(granularities - set(known))


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"


def _num(value: float) -> str:
    return "n/a" if math.isinf(value) or math.isnan(value) else f"{value:.1f}"


def markdown_table(cells: Sequence[CellResult]) -> str:
    """One row per cell: pass rate [Wilson 95%], proved/n, calls per proof and per lemma,
    rollouts, and the training cost (trained policies)."""
    head = ("| policy | granularity | rollouts | pass rate [95% CI] | proved/n | "
            "gen calls / proof | env calls / proof | gen calls / lemma | env calls / lemma | "
            "rollouts / lemma | train steps | train target tokens | train tokens (all) | "
            "train s |")
    lines = [head, "|" + "|".join("---" for _ in range(head.count("|") - 1)) + "|"]
    for c in cells:
        low, high = c.interval
        t = c.training
        train = ("| — | — | — | — |" if t is None else
                 f"| {t.steps} | {t.target_tokens:,} | {t.total_tokens:,} | {t.seconds:.0f} |")
        lines.append(
            f"| {c.policy} | {c.granularity} | {c.rollout} | {_pct(c.rate)} "
            f"[{_pct(low)}, {_pct(high)}] | {c.proved}/{c.n} | "
            f"{_num(c.per_proof('generator_calls'))} | {_num(c.per_proof('env_calls'))} | "
            f"{_num(c.per_lemma('generator_calls'))} | {_num(c.per_lemma('env_calls'))} | "
            f"{_num(c.per_lemma('rollouts'))} " + train)
    return "\n".join(lines)


def paired_table(pairs: Sequence[Paired]) -> str:
    """The paired comparisons as a Markdown table."""
    lines = ["| A | B | only A | only B | both | neither | exact McNemar p |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for p in pairs:
        lines.append(f"| {p.a} | {p.b} | {len(p.only_a)} | {len(p.only_b)} | {p.both} | "
                     f"{p.neither} | {p.p_value:.3g} |")
    return "\n".join(lines)


def plot(cells: Sequence[CellResult], path: str | Path) -> Path:
    """Pass rate with Wilson 95% intervals, one panel per policy, bars by granularity and
    rollout setting; a PNG with matplotlib, else a self-contained SVG (``path``'s suffix is
    replaced accordingly)."""
    path = Path(path)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _svg(cells, path.with_suffix(".svg"))
    policies = sorted({c.policy for c in cells})
    rollouts = sorted({c.rollout for c in cells}, key=lambda r: (r != "off", r))
    fig, axes = plt.subplots(1, len(policies), figsize=(4.5 * len(policies), 3.6),
                             squeeze=False, sharey=True)
    width = 0.8 / max(1, len(rollouts))
    for ax, policy in zip(axes[0], policies):
        grans = _order({c.granularity for c in cells if c.policy == policy})
        for j, rollout in enumerate(rollouts):
            xs: list[float] = []
            ys: list[float] = []
            errs: list[list[float]] = [[], []]
            counts: list[str] = []
            for i, g in enumerate(grans):
                cell = next((c for c in cells if (c.policy, c.granularity, c.rollout)
                             == (policy, g, rollout)), None)
                if cell is None or not cell.n:
                    continue
                low, high = cell.interval
                counts.append(f"{cell.proved}/{cell.n}")
                xs.append(i + (j - (len(rollouts) - 1) / 2) * width)
                ys.append(100 * cell.rate)
                # the interval's float ends can miss the rate by 1e-17 at 0/n and n/n
                errs[0].append(max(0.0, 100 * (cell.rate - low)))
                errs[1].append(max(0.0, 100 * (high - cell.rate)))
            ax.bar(xs, ys, width, yerr=errs, capsize=3, label=f"rollouts {rollout}")
            for x, y, up, label in zip(xs, ys, errs[1], counts):
                ax.text(x, y + up + 1, label, ha="center", fontsize=7)
        n = max((c.n for c in cells if c.policy == policy), default=0)
        ax.set_xticks(range(len(grans)), grans)
        ax.set_title(f"{policy} policy ({n} held-out lemmas)")
        ax.set_ylabel("proved (%) with Wilson 95% CI")
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = path.with_suffix(".png")
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def _svg(cells: Sequence[CellResult], path: Path) -> Path:
    """A bar chart in plain SVG (no dependency): one bar per cell, error bars the interval."""
    bar, gap, height, left = 28, 10, 220, 50
    width = left + len(cells) * (bar + gap) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 120}" '
             f'font-family="sans-serif" font-size="10">',
             f'<line x1="{left}" y1="10" x2="{left}" y2="{height + 10}" stroke="black"/>']
    for tick in range(0, 101, 20):
        y = 10 + height * (1 - tick / 100)
        parts.append(f'<text x="{left - 5}" y="{y + 3}" text-anchor="end">{tick}%</text>')
    for i, c in enumerate(cells):
        x = left + gap + i * (bar + gap)
        rate = 0.0 if math.isnan(c.rate) else c.rate
        low, high = c.interval
        top = 10 + height * (1 - rate)
        colour = "#4c72b0" if c.rollout == "off" else "#dd8452"
        parts.append(f'<rect x="{x}" y="{top:.1f}" width="{bar}" '
                     f'height="{height * rate:.1f}" fill="{colour}"/>')
        cx = x + bar / 2
        parts.append(f'<line x1="{cx}" x2="{cx}" y1="{10 + height * (1 - high):.1f}" '
                     f'y2="{10 + height * (1 - low):.1f}" stroke="black"/>')
        parts.append(f'<text transform="translate({cx + 3},{height + 16}) rotate(60)">'
                     f'{c.policy}/{c.granularity}/{c.rollout}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


__all__ = [
    "GRANULARITY_ORDER",
    "CellResult",
    "Paired",
    "TrainingCost",
    "comparisons",
    "markdown_table",
    "mcnemar_exact",
    "paired",
    "paired_table",
    "plot",
]
