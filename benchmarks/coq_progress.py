"""The progress regressor on Coq: trained on the stdlib index files' steps, judged on held-out
files (LeanProgress's question, on proofs of every length).

Usage (after ``seg-prover coq extract runs/coq-extract``)::

    python -m benchmarks.coq_progress runs/coq-extract --out runs/coq-progress.npz

Each recorded step gives a query (the state before the tactic, the tactic) and its target, the
tactics the proof still needs after it (``steps_remaining - 1``). The split is the suite's
(``benchmarks/data/coq_stdlib_manifest.json``: index files to learn from, held-out files to
judge on). Printed: MAE of the model against the mean and the median of the training targets
(the constant predictors), and the pairwise order accuracy within a proof (for two steps of one
held-out proof with different targets, how often the model orders them the same way; ties count
half), with the training time.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.coq_suite import load_manifest
from heuristics.progress.features import FeatureConfig, FeatureProgressModel
from heuristics.progress.heuristic import ProgressQuery
from prover.records import iter_jsonl, parse_coq_step


def read_split(steps_path: Path, files: set[str]) -> tuple[list[ProgressQuery], list[float],
                                                              list[str]]:
    """The queries, targets and theorem names of the steps whose ``file`` is in ``files``."""
    queries: list[ProgressQuery] = []
    targets: list[float] = []
    theorems: list[str] = []
    before: dict[str, list[str]] = defaultdict(list)  # steps are in order within a proof
    for line, obj in iter_jsonl(steps_path):
        if obj.get("file") not in files:
            continue
        step = parse_coq_step(obj, {"path": steps_path, "line": line})
        remaining = obj.get("steps_remaining")
        if not isinstance(remaining, int) or remaining < 1:
            continue
        queries.append((step.state, "\n".join(before[step.theorem]), step.tactic))
        before[step.theorem].append(step.tactic)
        targets.append(float(remaining - 1))
        theorems.append(step.theorem)
    return queries, targets, theorems


def pairwise_accuracy(predicted: Sequence[float], targets: Sequence[float],
                      theorems: Sequence[str]) -> float:
    """Order agreement over pairs of steps of one proof whose targets differ (ties: half)."""
    by_proof: dict[str, list[int]] = defaultdict(list)
    for index, theorem in enumerate(theorems):
        by_proof[theorem].append(index)
    agree = total = 0.0
    for rows in by_proof.values():
        for a_pos, a in enumerate(rows):
            for b in rows[a_pos + 1:]:
                if targets[a] == targets[b]:
                    continue
                total += 1
                want = targets[a] < targets[b]
                if predicted[a] == predicted[b]:
                    agree += 0.5
                elif (predicted[a] < predicted[b]) == want:
                    agree += 1
    return agree / total if total else float("nan")


def evaluate(extraction_dir: Path, config: FeatureConfig,
             manifest: str | Path | None = None) -> tuple[FeatureProgressModel, dict[str, Any]]:
    split = load_manifest(manifest)
    steps = extraction_dir / "steps.jsonl"
    began = time.perf_counter()
    train_q, train_y, _ = read_split(steps, set(split["index_files"]))
    test_q, test_y, test_theorems = read_split(steps, set(split["test_files"]))
    read_s = time.perf_counter() - began
    began = time.perf_counter()
    model = FeatureProgressModel.fit(train_q, train_y, config)
    fit_s = time.perf_counter() - began
    predicted = model.predict(test_q)
    y = np.asarray(test_y)
    mean, median = float(np.mean(train_y)), float(np.median(train_y))
    figures = {
        "train_steps": len(train_q), "test_steps": len(test_q),
        "test_proofs": len(set(test_theorems)),
        "mae_model": float(np.mean(np.abs(np.asarray(predicted) - y))),
        "mae_mean": float(np.mean(np.abs(mean - y))),
        "mae_median": float(np.mean(np.abs(median - y))),
        "pairwise_model": pairwise_accuracy(predicted, test_y, test_theorems),
        "train_mean": mean, "train_median": median,
        "read_s": read_s, "fit_s": fit_s, "dims": config.dims, "ridge": config.ridge,
    }
    figures["mae_ratio_to_mean"] = figures["mae_model"] / figures["mae_mean"]
    return model, figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coq_progress",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("extraction_dir", type=Path, help="output of 'seg-prover coq extract'")
    parser.add_argument("--out", type=Path, default=None, help="save the model here (.npz)")
    parser.add_argument("--dims", type=int, default=FeatureConfig().dims,
                        help="hashed feature slots (default 4096)")
    parser.add_argument("--ridge", type=float, default=FeatureConfig().ridge,
                        help=f"L2 penalty (default {FeatureConfig().ridge:g})")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    model, figures = evaluate(args.extraction_dir, FeatureConfig(args.dims, args.ridge))
    if args.out is not None:
        model.save(args.out)
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    print(f"train {figures['train_steps']} steps (index files), test {figures['test_steps']} "
          f"steps of {figures['test_proofs']} proofs (held-out files)")
    print(f"MAE: model {figures['mae_model']:.2f}, mean predictor {figures['mae_mean']:.2f}, "
          f"median predictor {figures['mae_median']:.2f} (model/mean "
          f"{figures['mae_ratio_to_mean']:.2f})")
    print(f"pairwise order accuracy within a proof: {figures['pairwise_model']:.3f}")
    print(f"cost: reading {figures['read_s']:.1f} s, fitting {figures['fit_s']:.1f} s (CPU)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["evaluate", "main", "pairwise_accuracy", "read_split"]
