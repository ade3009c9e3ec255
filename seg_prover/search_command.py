"""``seg-prover search``: best-first search on a recorded trace (the replay backend), with a
tactic list or any generator spec."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prover.cli import add_budget_arguments, config_from_args, print_result
from prover.config import SearchConfig, SearchResult
from prover.errors import ConfigError, ProverError
from prover.generators.base import TacticGenerator
from prover.specs.generators import generator_options_help


async def search_replay(trace: Path, tactics: Path | TacticGenerator,
                        names: Sequence[str] | None, config: SearchConfig,
                        latency: str | None) -> list[SearchResult]:
    """Search every theorem of ``trace`` (or those in ``names``) with a tactic list or a
    generator; ``latency`` is seconds per tactic, or ``recorded``."""
    from prover.backends.replay import ReplayEnvironment
    from prover.generators.fixed import FixedTacticGenerator
    from prover.search import BestFirstSearch

    latency_value: float | str | None = None
    if latency is not None:
        try:
            latency_value = latency if latency == "recorded" else float(latency)
        except ValueError:
            raise ConfigError(f"--latency {latency!r}: expected seconds or 'recorded'") from None
    env = ReplayEnvironment.from_jsonl(trace, latency_s=latency_value)  # type: ignore[arg-type]
    generator = (FixedTacticGenerator.from_file(tactics) if isinstance(tactics, Path)
                 else tactics)
    search = BestFirstSearch(env, generator, config=config)
    theorems = env.theorems()
    if names:
        unknown = set(names) - {t.name for t in theorems}
        if unknown:
            raise ProverError(f"--theorem: not in {trace}: {', '.join(sorted(unknown))}")
        theorems = [t for t in theorems if t.name in names]
    return list(await asyncio.gather(*(search.search(t) for t in theorems)))


def _cmd_search(args: argparse.Namespace) -> int:
    from benchmarks.specs import make_generator

    if (args.tactics is None) == (args.generator is None):
        raise ConfigError("give either a TACTICS file or --generator SPEC (not both)")
    config = config_from_args(args)
    generator: Path | TacticGenerator = (Path(args.tactics) if args.tactics is not None
                                         else make_generator(args.generator))
    results = asyncio.run(search_replay(Path(args.trace), generator, args.theorem, config,
                                        args.latency))
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


def register(sub: Any) -> None:
    """Add ``search`` to the ``seg-prover`` subcommands."""
    from benchmarks.specs import BENCH_GENERATOR_KINDS
    from prover.specs import generator_forms

    search = sub.add_parser("search", help="search on a replay trace with a tactic list or a "
                                           "generator",
        epilog=generator_options_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    search.add_argument("trace", help="trace JSONL (DESIGN.md format)")
    search.add_argument("tactics", nargs="?", default=None,
                        help="tactic list: one per line, or a JSON list (or use --generator)")
    search.add_argument("--generator", metavar="SPEC", default=None,
                        help="tactic generator instead of TACTICS: "
                             + generator_forms(BENCH_GENERATOR_KINDS))
    search.add_argument("--theorem", action="append", help="only this theorem (repeatable)")
    search.add_argument("--latency", default=None, help="seconds per tactic, or 'recorded'")
    search.add_argument("--tree-out", default=None, help="write each search tree as JSON here")
    search.add_argument("--json", action="store_true", help="also print results as JSON")
    search.add_argument("--html", metavar="FILE", default=None,
                        help="write the search tree as a self-contained HTML page (several "
                             "theorems: one page each, FILE's name plus the theorem's)")
    add_budget_arguments(search)
    search.set_defaults(func=_cmd_search)


__all__ = ["register", "search_replay"]
