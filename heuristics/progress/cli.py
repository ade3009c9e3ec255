"""``seg-prover progress train | build-dataset | sample``, and the parsers that
``python -m heuristics.progress.train`` and ``python -m heuristics.progress.make_sample`` share
with them. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from prover.cli import add_progress_argument

_TRAIN_HELP = {
    "data_path": "JSONL of {goal, prefix?, tactic, steps_remaining} lines",
    "model_name": "encoder to fine-tune (a local directory or a Hugging Face name)",
    "output_dir": "where the best checkpoint and its tokenizer are saved",
    "max_length": "tokens per input (truncated)",
    "batch_size": "examples per device batch",
    "epochs": "training epochs (fractional accepted)",
    "learning_rate": "AdamW learning rate",
    "eval_ratio": "share of examples held out for evaluation",
    "seed": "split and training seed",
}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per :class:`ProgressTrainer` parameter, with its default."""
    from heuristics.progress.trainer import ProgressTrainer

    for spec in fields(ProgressTrainer):
        flag = "--" + spec.name.replace("_", "-")
        help_text = _TRAIN_HELP[spec.name]
        if spec.name == "data_path":
            parser.add_argument(flag, required=True, help=help_text)
            continue
        kind: Callable[[str], Any] = type(spec.default)  # str, int or float
        parser.add_argument(flag, type=kind, default=spec.default,
                            help=f"{help_text} (default: {spec.default})")
    add_progress_argument(parser)


def cmd_train(args: argparse.Namespace) -> int:
    """Run :meth:`ProgressTrainer.train` with the parsed options; print the final metrics."""
    from heuristics.progress.trainer import ProgressTrainer

    logging.getLogger("heuristics.progress").setLevel(logging.INFO)  # per-epoch MSE / MAE
    trainer = ProgressTrainer(**{spec.name: getattr(args, spec.name)
                                 for spec in fields(ProgressTrainer)})
    metrics = trainer.train(progress=not args.no_progress)
    print(json.dumps(metrics, indent=1, sort_keys=True))
    return 0


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``build-dataset`` arguments (see :func:`build_progress_dataset`)."""
    from prover.trajectories import add_trajectory_arguments

    add_trajectory_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")


def cmd_build(args: argparse.Namespace) -> int:
    """Write progress examples from recorded proofs and print the counts."""
    from heuristics.progress.build import build_progress_dataset
    from prover.trajectories import trajectory_options

    stats = build_progress_dataset(list(args.inputs), args.out, **trajectory_options(args))
    if args.json:
        print(json.dumps(stats.to_dict(), indent=1))
    else:
        formats = ", ".join(f"{k}: {v}" for k, v in sorted(stats.formats.items()))
        print(f"{stats.files} file(s) ({formats}) -> {args.out}")
        print(f"{stats.examples} examples from {stats.proofs} proofs"
              + (f" ({stats.duplicates} duplicates merged)" if stats.duplicates else ""))
        if stats.skipped:
            print("skipped theorems: " + ", ".join(f"{k} {v}"
                                                   for k, v in sorted(stats.skipped.items())))
        print("steps_remaining  examples")
        for steps, count in sorted(stats.histogram.items()):
            print(f"{steps:>15}  {count:>8}")
    return 0 if stats.examples else 1


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sample`` / ``make_sample`` arguments."""
    parser.add_argument("out", metavar="OUT", help="output JSONL (overwritten)")
    parser.add_argument("-n", type=int, default=200, help="number of examples (default: 200)")
    parser.add_argument("--max-steps", type=int, default=6,
                        help="longest synthetic proof (default: 6)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def cmd_sample(args: argparse.Namespace) -> int:
    """Write a synthetic dataset."""
    from heuristics.progress.sample import create_sample_dataset

    written = create_sample_dataset(args.out, args.n, max_steps=args.max_steps, seed=args.seed)
    print(f"wrote {written} synthetic examples to {args.out}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``seg-prover progress {train,build-dataset,sample}``."""
    progress = subparsers.add_parser(
        "progress", help="the progress regressor (LeanProgress): data, training",
        description="Build data for, and train, the model that predicts the steps left in a "
                    "proof (used by heuristics.progress.ProgressHeuristic).")
    sub = progress.add_subparsers(dest="progress_command", metavar="COMMAND", required=True)
    train = sub.add_parser("train", help="fine-tune the regressor on a JSONL dataset")
    add_train_arguments(train)
    train.set_defaults(func=cmd_train)
    build = sub.add_parser("build-dataset", help="progress examples from recorded proofs")
    add_build_arguments(build)
    build.set_defaults(func=cmd_build)
    sample = sub.add_parser("sample", help="write a synthetic dataset for quick experiments")
    add_sample_arguments(sample)
    sample.set_defaults(func=cmd_sample)


def run_module(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse, run ``args.func`` and turn a :class:`ProverError` into exit code 2 (what the
    ``python -m`` entry points share with ``seg-prover``)."""
    from prover.cli import run_command

    return run_command(parser, argv, level=logging.INFO)


def train_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m heuristics.progress.train``."""
    parser = argparse.ArgumentParser(prog="python -m heuristics.progress.train",
                                     description="Fine-tune the progress regressor.")
    add_train_arguments(parser)
    parser.set_defaults(func=cmd_train)
    return parser


def sample_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m heuristics.progress.make_sample``."""
    parser = argparse.ArgumentParser(prog="python -m heuristics.progress.make_sample",
                                     description="Write a synthetic progress dataset.")
    add_sample_arguments(parser)
    parser.set_defaults(func=cmd_sample)
    return parser


__all__ = ["add_build_arguments", "add_sample_arguments", "add_train_arguments", "cmd_build",
           "cmd_sample", "cmd_train", "register", "run_module", "sample_parser", "train_parser"]
