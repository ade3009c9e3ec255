"""``seg-prover bench`` and ``seg-prover report``: run miniF2F (or any suite) and report on it.

Also runnable as ``python -m benchmarks.minif2f bench ...`` / ``... report ...``.

Example (Lean, miniF2F test with a ReProver-style model over the Lean REPL)::

    seg-prover bench --suite ../shared/data/minif2f/minif2f_test.jsonl --backend repl \\
        --generator hf:kaiyuy/leandojo-lean4-tacgen-byt5-small --heuristic cumulative \\
        --concurrency 16 --out runs/minif2f-byt5
    seg-prover report runs/minif2f-byt5
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prover.specs.generators import generator_options_help


def register(subparsers: Any) -> None:
    """Add the ``bench`` and ``report`` subcommands to the ``seg-prover`` parser."""
    from benchmarks.specs import BENCH_GENERATOR_KINDS
    from prover.cli import add_budget_arguments, add_progress_argument
    from prover.specs import BUILTIN_BACKENDS, BUILTIN_HEURISTICS, generator_forms

    bench = subparsers.add_parser(
        "bench", help="run a benchmark suite (resumable), one JSON row per theorem attempt",
        description="Run every theorem of a suite and append one row per (theorem, attempt) to "
                    "RUN_DIR/results.jsonl. Re-running the same command resumes.",
        epilog=generator_options_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("--suite", required=True,
                       help="theorems JSONL (miniF2F style), a trace JSONL, or a named suite "
                            "(coq-stdlib)")
    bench.add_argument("--backend", required=True,
                       help=" | ".join([*BUILTIN_BACKENDS, "package.module:factory"])
                       + " (options: NAME#KEY=VALUE&... or --backend-option)")
    bench.add_argument("--backend-option", action="append", default=[], metavar="KEY=VALUE",
                       help="keyword argument of the backend (JSON value), e.g. latency_s=0.05 "
                            "for replay; repeatable")
    bench.add_argument("--generator", required=True,
                       help=generator_forms(BENCH_GENERATOR_KINDS))
    bench.add_argument("--heuristic", default="cumulative",
                       help=" | ".join([*BUILTIN_HEURISTICS, "package.module:NAME",
                                        "path/file.py:NAME"]) + " (default: cumulative)")
    bench.add_argument("--rollout", default="off",
                       help="off | DEPTH[,PROBES][,key=value...] (RolloutConfig fields)")
    add_budget_arguments(bench)
    bench.add_argument("--concurrency", type=int, default=1,
                       help="searches in flight (per Ray worker with --ray); one shared "
                            "generator")
    bench.add_argument("--attempts", type=int, default=1,
                       help="attempts per theorem (pass@K); attempt i uses seed SEED+i")
    bench.add_argument("--seed", type=int, default=0,
                       help="seed of attempt 0 (attempt i uses SEED+i; default 0)")
    bench.add_argument("--limit", type=int, default=None, help="only the first N theorems")
    bench.add_argument("--filter", default=None, help="only theorems whose name matches REGEX")
    bench.add_argument("--out", required=True, metavar="RUN_DIR",
                       help="the run directory (results.jsonl, trees/, config.json); the same "
                            "RUN_DIR resumes")
    bench.add_argument("--force", action="store_true",
                       help="resume even though the configuration changed")
    bench.add_argument("--keep-errors", action="store_true",
                       help="on resume, keep the rows of searches that ended in 'error' "
                            "(by default they run again and their new rows supersede them)")
    bench.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="spread over Ray: no value starts a local instance, 'auto' joins "
                            "a 'ray start' cluster, or give host:port / ray://...")
    bench.add_argument("--ray-actors", type=int, default=None,
                       help="Ray workers (default: cluster CPUs / CPUs per worker)")
    bench.add_argument("--ray-actor-option", action="append", default=[], metavar="KEY=VALUE",
                       help="Ray actor option, e.g. num_gpus=0.25 or num_cpus=2; repeatable")
    bench.add_argument("--max-retries", type=int, default=2,
                       help="retries of an attempt whose Ray worker died (default 2)")
    add_progress_argument(bench)
    bench.set_defaults(func=cmd_bench)

    report = subparsers.add_parser(
        "report", help="Markdown table and plots of one or more benchmark runs",
        description="Print a Markdown table (pass rate with a 95% Wilson interval, costs), "
                    "compare runs per theorem, and write PNG plots.")
    report.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="'seg-prover bench' run directories")
    report.add_argument("--out", default=None,
                        help="where to write the plots and report.md (default: the first "
                             "RUN_DIR)")
    report.add_argument("--no-plots", action="store_true", help="write no PNG plots")
    report.set_defaults(func=cmd_report)


def config_from_bench_args(args: argparse.Namespace) -> Any:
    """The :class:`~benchmarks.config.BenchConfig` of parsed ``bench`` arguments."""
    from benchmarks.config import BenchConfig
    from benchmarks.specs import absolute_spec
    from benchmarks.suites import resolve_suite_path
    from prover.cli import config_from_args
    from prover.specs import parse_option

    return BenchConfig(
        suite=resolve_suite_path(args.suite), backend=absolute_spec(args.backend),
        backend_options=dict(parse_option(o) for o in args.backend_option),
        generator=absolute_spec(args.generator), heuristic=absolute_spec(args.heuristic),
        rollout=args.rollout,
        search=config_from_args(args), attempts=args.attempts, limit=args.limit,
        filter=args.filter, seed=args.seed)


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark; print the table, the count of each status and the first message of
    each distinct error. Exit codes: 0 the run is complete, 2 a configuration error or a
    backend that cannot start (nothing runs), 1 the run directory cannot be written, 130
    Ctrl-C; after 1 and 130 the same command resumes."""
    from benchmarks.report import format_outcomes, format_table
    from benchmarks.results import RunDirError
    from benchmarks.runner import run_benchmark
    from prover.cli import progress_wanted
    from prover.specs import parse_option

    config = config_from_bench_args(args)
    try:
        summary = run_benchmark(
            config, args.out, concurrency=args.concurrency, force=args.force,
            progress=progress_wanted(not args.no_progress), ray=args.ray is not None,
            ray_address=args.ray or None, ray_actors=args.ray_actors,
            ray_actor_options=dict(parse_option(o) for o in args.ray_actor_option),
            max_retries=args.max_retries, keep_errors=args.keep_errors)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (Ctrl-C); {_saved(args.out)}: run the same command again "
              f"to resume", file=sys.stderr)
        return 130
    except RunDirError as exc:
        print(f"{PROG}: error: cannot write the run in {args.out}: {_oserror(exc)}; "
              f"{_saved(args.out)}: fix that and run the same command again to resume",
              file=sys.stderr)
        return 1
    print(format_table([summary]))
    print()
    print(format_outcomes(summary))
    print(f"\nrows: {args.out}/results.jsonl   report: seg-prover report {args.out}")
    return 0


PROG = "seg-prover bench"


def _oserror(exc: OSError) -> str:
    what = exc.strerror or str(exc) or type(exc).__name__
    return f"{what} ({exc.filename})" if exc.filename else what


def _saved(out: str) -> str:
    """How many rows the run directory holds, as far as it can be read."""
    from benchmarks.results import RESULTS_FILE, read_rows, unique_rows

    quiet = logging.getLogger("benchmarks.results")  # a torn tail is the resume's business
    was, quiet.disabled = quiet.disabled, True
    try:
        rows = len(unique_rows(read_rows(Path(out) / RESULTS_FILE)))
    except Exception:  # an unreadable directory: say nothing about rows
        return "rows already written are kept"
    finally:
        quiet.disabled = was
    return f"{rows} rows are saved in {Path(out) / RESULTS_FILE}"


def cmd_report(args: argparse.Namespace) -> int:
    from benchmarks.report import build_report

    report = build_report(args.run_dirs, args.out, plots=not args.no_plots)
    print(report.markdown, end="")
    print("\nwrote: " + ", ".join(str(f) for f in report.files))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.minif2f``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.minif2f",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    from prover.cli import run_command

    return run_command(parser, argv)


__all__ = ["cmd_bench", "cmd_report", "config_from_bench_args", "main", "register"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
