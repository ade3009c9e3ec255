"""Reports on finished (or running) benchmark runs: a Markdown table, comparisons, PNG plots.

``seg-prover report RUN_DIR [RUN_DIR...]`` prints the table (one line per run), the per-theorem
comparison of each run with the first ("proved by one only", as papers report ablations), and
writes ``proved_vs_time.png`` and ``proved_vs_expansions.png`` (one curve per run) and
``report.md``. Conventions of the figures are in :mod:`benchmarks.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.metrics import RunSummary, compare, summarize
from benchmarks.results import RESULTS_FILE, iter_run_rows, load_run_config
from prover.errors import ConfigError

PLOT_FILES = ("proved_vs_time.png", "proved_vs_expansions.png")


@dataclass(frozen=True)
class Report:
    """The rendered report: Markdown text and the files written."""

    markdown: str
    files: tuple[Path, ...]
    summaries: tuple[RunSummary, ...]


def load_summary(run_dir: str | Path, label: str | None = None) -> RunSummary:
    """Summarise a run directory (its ``config.json`` gives K and the theorem list)."""
    path = Path(run_dir)
    if not (path / RESULTS_FILE).exists():
        raise ConfigError(f"{path} is not a benchmark run: no {RESULTS_FILE}")
    stored = load_run_config(path)
    k, theorems = 1, None
    if stored is not None:
        k = int(stored["config"].get("attempts", 1))
        theorems = stored.get("theorems")
    rows = list(iter_run_rows(path))
    if stored is None and rows:
        k = max(int(r["attempt"]) for r in rows) + 1
    return summarize(rows, k=k, theorems=theorems, label=label or path.resolve().name)


def _labels(paths: Sequence[Path]) -> list[str]:
    names = [p.resolve().name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(p) for p in paths]


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f}%"


def _num(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def format_table(summaries: Sequence[RunSummary]) -> str:
    """One Markdown row per run."""
    ks = {s.k for s in summaries}
    pass_header = f"pass@{ks.pop()}" if len(ks) == 1 else "pass@k"
    show_pass1 = any(s.k > 1 for s in summaries)
    header = ["run", f"{pass_header} [95% CI]"] + (["pass@1"] if show_pass1 else []) + [
        "proved/total", "errors", "median wall s", "p90 wall s", "open s mean", "open s max",
        "expansions", "env calls", "generator calls", "rollouts"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] *
                                                               (len(header) - 1)) + "|"]
    for s in summaries:
        low, high = s.interval
        passed = f"{_pct(s.pass_at_k)} [{_pct(low)}, {_pct(high)}]"
        if len(ks) != 1 and pass_header == "pass@k":
            passed += f" (k={s.k})"
        proved = f"{s.proved}/{s.settled}"
        if not s.complete:
            proved += f" (incomplete: {s.settled} of {s.total} done)"
        cells = [s.label, passed] + ([_pct(s.pass_at_1)] if show_pass1 else []) + [
            proved, str(s.errors), _num(s.median_wall_s, 2), _num(s.p90_wall_s, 2),
            _num(s.mean_open_s, 2), _num(s.max_open_s, 2), _num(s.mean_expansions),
            _num(s.mean_env_calls), _num(s.mean_generator_calls), _num(s.mean_rollouts)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_outcomes(summary: RunSummary, *, max_groups: int = 10) -> str:
    """The count of each status and the first message of each distinct error (one line each),
    as ``bench`` ends."""
    counts = ", ".join(f"{status} {count}" for status, count in summary.statuses.items())
    lines = [f"{summary.label}: {summary.searches} searches: {counts}", ""]
    groups = summary.errors_by_kind
    if groups:
        lines += [f"errors, {len(groups)} distinct (first message of each):", ""]
        for group in groups[:max_groups]:
            first = " ".join(group.message.split())
            first = first if len(first) <= 500 else first[:499] + "…"
            lines.append(f"- {group.count} x {first} [{group.theorems[0]}"
                         + (f" and {group.count - 1} more]" if group.count > 1 else "]"))
        if len(groups) > max_groups:
            lines.append(f"- ... and {len(groups) - max_groups} more kinds of error")
    return "\n".join(lines).rstrip("\n")


def format_comparisons(summaries: Sequence[RunSummary], *, max_names: int = 50) -> str:
    """Each run against the first: theorems proved by one only (on theorems both settled)."""
    if len(summaries) < 2:
        return ""
    base = summaries[0]
    parts: list[str] = []
    for other in summaries[1:]:
        c = compare(base, other)
        parts.append(f"### {c.a} vs {c.b}\n\nboth proved {c.both}, neither {c.neither}, "
                     f"only {c.a}: {len(c.only_a)}, only {c.b}: {len(c.only_b)}")
        for label, names in ((c.a, c.only_a), (c.b, c.only_b)):
            if names:
                shown = ", ".join(f"`{n}`" for n in names[:max_names])
                more = f" and {len(names) - max_names} more" if len(names) > max_names else ""
                parts.append(f"- proved by {label} only: {shown}{more}")
    return "\n\n".join(parts)


def plot_runs(summaries: Sequence[RunSummary], out_dir: str | Path) -> tuple[Path, ...]:
    """Write the two cumulative-proved plots (one curve per run); returns their paths."""
    # A bare Figure renders through the Agg canvas without pyplot, so the caller's backend
    # (a notebook's, say) is left alone and no display is needed.
    from prover.extras import require

    require("matplotlib", extra="plots")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    axes_spec = (("first_proof_wall_s", "wall time per attempt (s)", PLOT_FILES[0]),
                 ("first_proof_expansions", "expansions per attempt", PLOT_FILES[1]))
    for attr, xlabel, filename in axes_spec:
        curves = [(s, sorted(float(getattr(o, attr)) for o in s.outcomes.values()
                             if o.attempts >= s.k and getattr(o, attr) is not None))
                  for s in summaries]
        positive = [x for _, xs in curves for x in xs if x > 0]
        log_x = bool(positive) and max(positive) / min(positive) > 100
        right = max((xs[-1] for _, xs in curves if xs), default=1.0)
        fig = Figure(figsize=(5.5, 3.6), dpi=100)
        ax = fig.subplots()
        for s, xs in curves:
            label = f"{s.label} ({s.proved}/{s.settled})"
            if not xs:
                ax.plot([], [], label=label)
                continue
            # a log axis has no 0: there the curve starts at the first proof
            steps_x = xs if log_x else [0.0, *xs]
            steps_y = list(range(1 if log_x else 0, len(xs) + 1))
            # carry each curve flat to the right edge so every final count stays visible
            ax.step([*steps_x, right], [*steps_y, steps_y[-1]], where="post", label=label)
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("theorems proved")
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if attr == "first_proof_expansions":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"Cumulative proved vs {xlabel.split(' per ')[0]}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="best")
        fig.tight_layout()
        path = out / filename
        fig.savefig(path)
        written.append(path)
    return tuple(written)


def build_report(run_dirs: Sequence[str | Path], out_dir: str | Path | None = None, *,
                 plots: bool = True) -> Report:
    """Summarise ``run_dirs``; write the plots and ``report.md`` into ``out_dir`` (default: the
    first run directory)."""
    if not run_dirs:
        raise ConfigError("report needs at least one run directory")
    paths = [Path(p) for p in run_dirs]
    summaries = tuple(load_summary(p, label) for p, label in zip(paths, _labels(paths)))
    sections = [format_table(summaries), "\n\n".join(format_outcomes(s) for s in summaries)]
    mixed = [s.label for s in summaries if len(s.config_hashes) > 1]
    if mixed:
        sections.append("Note: rows from more than one configuration (resumed with --force) in: "
                        + ", ".join(mixed))
    comparison = format_comparisons(summaries)
    if comparison:
        sections.append(comparison)
    out = Path(out_dir) if out_dir is not None else paths[0]
    files: list[Path] = []
    if plots:
        files.extend(plot_runs(summaries, out))
        sections.append("\n".join(f"![{f.stem}]({f.name})" for f in files))
    markdown = "\n\n".join(sections) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    md = out / "report.md"
    md.write_text(markdown, encoding="utf-8")
    files.append(md)
    return Report(markdown, tuple(files), summaries)


__all__ = [
    "PLOT_FILES",
    "Report",
    "build_report",
    "format_comparisons",
    "format_outcomes",
    "format_table",
    "load_summary",
    "plot_runs",
]
