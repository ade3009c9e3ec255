"""``python -m heuristics.progress.train --data-path DATA [...]``: fine-tune the progress
regressor; the options are :class:`~heuristics.progress.trainer.ProgressTrainer`'s parameters
(``seg-prover progress train`` takes the same)."""

from __future__ import annotations

import sys

from heuristics.progress.cli import run_module, train_parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m heuristics.progress.train``."""
    return run_module(train_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
