"""``python -m heuristics.progress.make_sample OUT [-n N]``: write a synthetic dataset.

Run it with ``-m``; in code, use the function :func:`heuristics.progress.create_sample_dataset`.
The module is not named after that function: importing a submodule sets the package attribute
of its name, which would replace the exported function with this module.
"""

from __future__ import annotations

import sys

from heuristics.progress.cli import run_module, sample_parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m heuristics.progress.make_sample``."""
    return run_module(sample_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
