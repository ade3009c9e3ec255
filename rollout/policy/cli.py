"""``seg-prover policy train``: fine-tune a tactic generator on SFT pairs (``seg-prover segments``
output); the options are :class:`~rollout.policy.trainer.PolicyTrainer`'s parameters. Heavy
imports happen inside the command."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from prover.cli import add_progress_argument, progress_wanted
from rollout.policy.trainer import PolicyTrainer

_HELP = {
    "data_path": "JSONL pairs {input, output} written by 'seg-prover segments' (any granularity)",
    "model_name": "model to fine-tune: a local directory or a Hugging Face name",
    "output_dir": "where the best checkpoint, its tokenizer and its prompt record are saved",
    "template": "prompt template: a built-in name or a format string with {state} "
                "(default: the generator's default for the model's kind)",
    "kind": "model kind (default: auto, from the model's config)",
    "max_length": "tokens per example; longer states are cut, longer targets left out",
    "batch_size": "examples per device batch",
    "num_epochs": "training epochs (fractional accepted)",
    "learning_rate": "AdamW learning rate (default: 5e-4 seq2seq, 2e-5 causal, ReProver's)",
    "eval_ratio": "share of pairs held out to choose the best epoch",
    "seed": "split and training seed",
    "gradient_accumulation_steps": "batches per optimizer step",
    "warmup_steps": "linear warmup: a step count, or a ratio of all steps when below 1",
}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per :class:`PolicyTrainer` parameter, with its default."""
    defaults = {name: getattr(PolicyTrainer, name, None) for name in _HELP}
    for name in ("data_path", "model_name", "output_dir"):
        parser.add_argument("--" + name.replace("_", "-"), required=True, help=_HELP[name])
    parser.add_argument("--template", default=None, help=_HELP["template"])
    parser.add_argument("--kind", choices=("auto", "seq2seq", "causal"), default="auto",
                        help=_HELP["kind"])
    for name, kind in (("max_length", int), ("batch_size", int), ("num_epochs", float),
                       ("eval_ratio", float), ("seed", int),
                       ("gradient_accumulation_steps", int), ("warmup_steps", float)):
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=defaults[name],
                            help=f"{_HELP[name]} (default: {defaults[name]})")
    parser.add_argument("--learning-rate", type=float, default=None, help=_HELP["learning_rate"])
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="bfloat16 mixed precision (default: when a CUDA GPU supports it)")
    parser.add_argument("--gguf-file", default=None,
                        help="start from this GGUF file inside --model-name (pip install gguf)")
    add_progress_argument(parser)


def cmd_train(args: argparse.Namespace) -> int:
    """Run :meth:`PolicyTrainer.train` with the parsed options; print the final metrics."""
    logging.getLogger("rollout.policy").setLevel(logging.INFO)  # per-epoch eval loss
    options: dict[str, Any] = {name: getattr(args, name) for name in _HELP}
    trainer = PolicyTrainer(**options, bf16=args.bf16,
                            progress=progress_wanted(not args.no_progress),
                             gguf_file=args.gguf_file)
    metrics = trainer.train()
    print(json.dumps(metrics, indent=1, sort_keys=True))
    return 0


def register(subparsers: Any) -> None:
    """Add ``seg-prover policy train``."""
    policy = subparsers.add_parser(
        "policy", help="the tactic policy: supervised fine-tuning on SFT pairs",
        description="Fine-tune a tactic generator on the pairs 'seg-prover segments' writes; "
                    "the result is served by --generator hf:OUTPUT_DIR with no flags.")
    sub = policy.add_subparsers(dest="policy_command", metavar="COMMAND", required=True)
    train = sub.add_parser("train", help="fine-tune a causal or seq2seq model on SFT pairs")
    add_train_arguments(train)
    train.set_defaults(func=cmd_train)


__all__ = ["add_train_arguments", "cmd_train", "register"]
