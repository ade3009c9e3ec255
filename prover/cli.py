"""The ``seg-prover`` command.

Each subcommand lives beside the code it drives and registers itself through a
``register(subparsers)`` function; this module only assembles them, so ``seg-prover --help``
stays fast (heavy imports happen inside the subcommands).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import shutil
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from prover.backends.replay import ReplayEnvironment
from prover.config import SearchConfig, SearchResult
from prover.errors import ConfigError, ProverError
from prover.generators.base import TacticGenerator
from prover.generators.fixed import FixedTacticGenerator
from prover.generators.spec import FORMS, make_generator
from prover.search import BestFirstSearch

SUBCOMMAND_MODULES: tuple[str, ...] = ("rollout.segments", "benchmarks.minif2f",
                                       "prover.backends.coq_extract", "heuristics.progress.cli",
                                       "benchmarks.perf", "rollout.policy.cli", "prover.view.cli")
"""Modules (besides this one) whose ``register(subparsers)`` adds subcommands."""


def data_path(name: str) -> Path:
    """Path of a data file shipped inside the ``prover`` package."""
    return Path(str(resources.files("prover") / "data" / name))


def add_budget_arguments(parser: argparse.ArgumentParser) -> None:
    """The SearchConfig flags shared by ``search``, ``demo`` and ``bench``."""
    defaults = SearchConfig()
    parser.add_argument("--num-candidates", type=int, default=defaults.num_candidates)
    parser.add_argument("--max-expansions", type=int, default=defaults.max_expansions)
    parser.add_argument("--time-limit", type=float, default=defaults.time_limit_s,
                        help="seconds of search per theorem, from when its session is open")
    parser.add_argument("--tactic-timeout", type=float, default=None,
                        help="seconds per tactic, from when it starts running; the backend "
                             "enforces it (default: the backend's own)")
    parser.add_argument("--open-timeout", type=float, default=defaults.open_timeout_s,
                        help="seconds to open a theorem's session, waiting for a free prover "
                             "process included; not counted in --time-limit "
                             f"(default {defaults.open_timeout_s:g})")
    parser.add_argument("--max-nodes", type=int, default=None)
    parser.add_argument("--max-concurrent-tactics", type=int,
                        default=defaults.max_concurrent_tactics)


def config_from_args(args: argparse.Namespace) -> SearchConfig:
    """The SearchConfig of the budget flags. ``--tactic-timeout`` lands in ``tactic_timeout_s``:
    the search's watchdog, right for the replay backend (no timeout of its own); ``bench``
    hands it to the backend it builds instead when the backend has one."""
    return SearchConfig(num_candidates=args.num_candidates, max_expansions=args.max_expansions,
                        time_limit_s=args.time_limit, tactic_timeout_s=args.tactic_timeout,
                        open_timeout_s=args.open_timeout, max_nodes=args.max_nodes,
                        max_concurrent_tactics=args.max_concurrent_tactics)


def print_result(result: SearchResult, *, show_tree: bool = True) -> None:
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


async def _search_replay(trace: Path, tactics: Path | TacticGenerator,
                         names: Sequence[str] | None, config: SearchConfig,
                         latency: str | None) -> list[SearchResult]:
    latency_value: float | str | None = None
    if latency is not None:
        latency_value = latency if latency == "recorded" else float(latency)
    env = ReplayEnvironment.from_jsonl(trace, latency_s=latency_value)  # type: ignore[arg-type]
    generator = (FixedTacticGenerator.from_file(tactics) if isinstance(tactics, Path)
                 else tactics)
    search = BestFirstSearch(env, generator, config=config)
    theorems = env.theorems()
    if names:
        unknown = set(names) - {t.name for t in theorems}
        if unknown:
            raise ProverError(f"not in {trace}: {', '.join(sorted(unknown))}")
        theorems = [t for t in theorems if t.name in names]
    return list(await asyncio.gather(*(search.search(t) for t in theorems)))


def _cmd_search(args: argparse.Namespace) -> int:
    if (args.tactics is None) == (args.generator is None):
        raise ConfigError("give either a TACTICS file or --generator SPEC (not both)")
    generator: Path | TacticGenerator = (Path(args.tactics) if args.tactics is not None
                                         else make_generator(args.generator))
    results = asyncio.run(_search_replay(Path(args.trace), generator, args.theorem,
                                         config_from_args(args), args.latency))
    for result in results:
        print_result(result)
        if args.tree_out:
            assert result.tree is not None
            out = Path(args.tree_out)
            out.mkdir(parents=True, exist_ok=True)
            result.tree.write_json(out / f"{result.theorem}.json")
    if args.html:
        from prover.view.cli import write_result_pages

        for page in write_result_pages(results, args.html):
            print(f"search tree view: {page}")
    if args.json:
        print(json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=1))
    return 0 if all(r.proved for r in results) else 1


def _cmd_demo_replay(args: argparse.Namespace) -> int:
    print("Demo: best-first search on a small recorded Lean trace shipped with seg-prover.")
    results = asyncio.run(_search_replay(data_path("demo_trace.jsonl"),
                                         data_path("demo_tactics.json"), None,
                                         config_from_args(args), "recorded"))
    for result in results:
        print_result(result)
    proved = sum(r.proved for r in results)
    print(f"proved {proved}/{len(results)}")
    return 0 if proved == len(results) else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    """The Coq demo when ``coqidetop.opt`` is on PATH; otherwise (or with --replay) replay."""
    if not args.replay:
        if shutil.which("coqidetop.opt") is None:
            print("coqidetop.opt is not on PATH, so the Coq demo cannot run (install Coq: "
                  "apt-get install -y coq); running the replay demo instead.\n")
        else:
            from benchmarks.coq_demo import run_coq_demo

            return run_coq_demo(args)
    return _cmd_demo_replay(args)


def build_parser() -> argparse.ArgumentParser:
    from prover import __version__

    parser = argparse.ArgumentParser(prog="seg-prover", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"seg-prover {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="search held-out Coq stdlib lemmas with the KNN "
                          "generator and print the proofs (--replay: the offline demo)")
    add_budget_arguments(demo)
    demo.add_argument("--replay", action="store_true",
                      help="run the offline demo on a recorded Lean trace instead of Coq")
    demo.add_argument("--coq-index", default=None,
                      help="a 'seg-prover coq extract' directory for the KNN index")
    demo.add_argument("--coq-time-limit", type=float, default=20.0,
                      help="seconds of search per lemma in the Coq demo (its file prefix "
                           "replay not included)")
    demo.set_defaults(func=_cmd_demo)

    search = sub.add_parser("search", help="search on a replay trace with a fixed tactic list")
    search.add_argument("trace", help="trace JSONL (DESIGN.md format)")
    search.add_argument("tactics", nargs="?", default=None,
                        help="tactic list: one per line, or a JSON list (or use --generator)")
    search.add_argument("--generator", metavar="SPEC", default=None,
                        help="tactic generator instead of TACTICS: " + "; ".join(FORMS))
    search.add_argument("--theorem", action="append", help="only this theorem (repeatable)")
    search.add_argument("--latency", default=None, help="seconds per tactic, or 'recorded'")
    search.add_argument("--tree-out", default=None, help="write each search tree as JSON here")
    search.add_argument("--json", action="store_true", help="also print results as JSON")
    search.add_argument("--html", metavar="FILE", default=None,
                        help="write the search tree as a self-contained HTML page (several "
                             "theorems: one page each, FILE's name plus the theorem's)")
    add_budget_arguments(search)
    search.set_defaults(func=_cmd_search)

    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
