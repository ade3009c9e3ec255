"""Command-line helpers shared by every ``seg-prover`` subcommand.

The command itself (the argparse root and its table of subcommands) is
:mod:`seg_prover.cli`, a package above ``prover`` and ``benchmarks``, so that it can import
everything without the core depending on it. What stays here is what the subcommands that live
beside their code (``bench``, ``segments``, ``coq extract``, ...) share: the search-budget
flags, ``--no-progress``, printing a result, and running a parsed command with readable errors.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from prover.config import SearchConfig, SearchResult
from prover.errors import ConfigError, ProverError

BUDGET_FLAGS: dict[str, str] = {
    "num_candidates": "--num-candidates", "max_expansions": "--max-expansions",
    "time_limit_s": "--time-limit", "tactic_timeout_s": "--tactic-timeout",
    "open_timeout_s": "--open-timeout", "max_nodes": "--max-nodes",
    "max_concurrent_tactics": "--max-concurrent-tactics",
}
"""The flag of each SearchConfig field set on the command line, so errors name the flag."""


def data_path(name: str) -> Path:
    """Path of a data file shipped inside the ``prover`` package."""
    return Path(str(resources.files("prover") / "data" / name))


def add_budget_arguments(parser: argparse.ArgumentParser) -> None:
    """The SearchConfig flags shared by ``search``, ``demo`` and ``bench``."""
    defaults = SearchConfig()
    parser.add_argument("--num-candidates", type=int, default=defaults.num_candidates,
                        help="tactics asked of the generator per expansion "
                             f"(default {defaults.num_candidates})")
    parser.add_argument("--max-expansions", type=int, default=defaults.max_expansions,
                        help=f"expansions per search (default {defaults.max_expansions})")
    parser.add_argument("--time-limit", type=float, default=defaults.time_limit_s,
                        help="seconds of search per theorem, from when its session is open "
                             f"(default {defaults.time_limit_s:g})")
    parser.add_argument("--tactic-timeout", type=float, default=None,
                        help="seconds per tactic, from when it starts running; the backend "
                             "enforces it (default: the backend's own)")
    parser.add_argument("--open-timeout", type=float, default=defaults.open_timeout_s,
                        help="seconds to open a theorem's session, waiting for a free prover "
                             "process included; not counted in --time-limit "
                             f"(default {defaults.open_timeout_s:g})")
    parser.add_argument("--max-nodes", type=int, default=None,
                        help="stop a search once its tree holds this many states "
                             "(default: no limit)")
    parser.add_argument("--max-concurrent-tactics", type=int,
                        default=defaults.max_concurrent_tactics,
                        help="tactics of one expansion run at once "
                             f"(default {defaults.max_concurrent_tactics})")


def config_from_args(args: argparse.Namespace) -> SearchConfig:
    """The SearchConfig of the budget flags. ``--tactic-timeout`` lands in ``tactic_timeout_s``:
    the search's watchdog, right for the replay backend (no timeout of its own); ``bench``
    hands it to the backend it builds instead when the backend has one. A bad value is a
    ConfigError naming the flag (``--time-limit``), not the field."""
    try:
        return SearchConfig(num_candidates=args.num_candidates,
                            max_expansions=args.max_expansions,
                            time_limit_s=args.time_limit, tactic_timeout_s=args.tactic_timeout,
                            open_timeout_s=args.open_timeout, max_nodes=args.max_nodes,
                            max_concurrent_tactics=args.max_concurrent_tactics)
    except (ConfigError, ValueError) as exc:
        raise ConfigError(flag_names(str(exc))) from exc


def flag_names(message: str) -> str:
    """``message`` with each ``SearchConfig.field`` (or bare ``field``) named by its flag."""
    for field_name, flag in BUDGET_FLAGS.items():
        message = message.replace(f"SearchConfig.{field_name}", flag)
    return message


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """``--no-progress``: no progress bar (one is drawn only when stderr is a terminal)."""
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (none is drawn when stderr is not a terminal, "
                             "e.g. a log file)")


def progress_wanted(requested: bool = True) -> bool:
    """True when a progress bar should be drawn: asked for, and stderr is a terminal (a log
    file would otherwise fill with one bar frame per update)."""
    return requested and sys.stderr.isatty()


def print_result(result: SearchResult, *, show_tree: bool = True) -> None:
    """Print one search's status, proof, tree size and stats."""
    stats = result.stats
    print(f"{result.theorem}: {result.status}" + (f" ({result.message})" if result.message else ""))
    if result.proof is not None:
        for tactic in result.proof:
            print("    " + tactic.replace("\n", "\n    "))
    if show_tree and result.tree is not None:
        print(f"  tree: {len(result.tree)} states, {result.tree.graph.number_of_edges()} edges")
    print(f"  expansions={stats.expansions} env_calls={stats.env_calls} "
          f"generator_calls={stats.generator_calls} banned={stats.banned} "
          f"rollouts={stats.rollouts} wall={stats.wall_s:.3f}s open={stats.open_s:.3f}s "
          f"env={stats.env_s:.3f}s "
          f"generator={stats.generator_s:.3f}s verified={stats.verified}")


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None, *,
                level: int | None = None) -> int:
    """Parse ``argv`` and run ``args.func``: what ``seg-prover`` and the ``python -m`` entry
    points share. Logs at ``level``, or at INFO with ``-v`` and WARNING without; a
    :class:`ProverError` is printed as ``PROG: error: ...`` and gives exit code 2; Ctrl-C
    (KeyboardInterrupt) one line and exit code 130."""
    args = parser.parse_args(argv)
    if level is None:
        level = logging.INFO if getattr(args, "verbose", False) else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except ProverError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


__all__ = ["BUDGET_FLAGS", "add_budget_arguments", "add_progress_argument", "config_from_args",
           "data_path", "flag_names", "print_result", "progress_wanted", "run_command"]
