"""The argparse root of ``seg-prover``: a table of subcommand modules, each with ``register``.

Every module in :data:`COMMAND_MODULES` has a ``register(subparsers)`` function that adds its
subcommands; heavy libraries are imported inside the commands, so ``seg-prover --help`` stays
fast. A new command is one line in the table.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from prover.cli import run_command

COMMAND_MODULES: tuple[str, ...] = (
    "seg_prover.demo",                 # demo
    "seg_prover.search_command",       # search
    "benchmarks.minif2f",              # bench, report
    "prover.view.cli",                 # view
    "rollout.segments",                # segments
    "prover.backends.coq_extract",     # coq extract
    "heuristics.progress.cli",         # progress {train,build-dataset,sample}
    "rollout.policy.cli",              # policy train
    "benchmarks.perf",                 # perf
)
"""Modules whose ``register(subparsers)`` adds subcommands, in ``--help`` order."""

DESCRIPTION = ("Best-first neural theorem proving (Lean 4 and Coq) with goal-aware rollouts: "
               "search, benchmark, view and train.")


def build_parser() -> argparse.ArgumentParser:
    """The ``seg-prover`` parser with every subcommand of :data:`COMMAND_MODULES`."""
    from prover import __version__

    parser = argparse.ArgumentParser(prog="seg-prover", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"seg-prover {__version__}",
                        help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``seg-prover`` and ``python -m seg_prover``; returns the exit code."""
    return run_command(build_parser(), argv)


__all__ = ["COMMAND_MODULES", "build_parser", "main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
