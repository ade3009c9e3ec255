"""``python -m heuristics.progress.create_sample_dataset OUT [-n N]``: write a synthetic dataset.

Run it with ``-m``; in code, use the function :func:`heuristics.progress.create_sample_dataset`.
"""

from __future__ import annotations

import sys

from heuristics.progress.cli import run_module, sample_parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m heuristics.progress.create_sample_dataset``."""
    return run_module(sample_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
