"""Engine benchmarks: overhead, throughput against the limit, a real prover, memory.

``python -m benchmarks.perf [--quick] [--json OUT]`` (or ``seg-prover perf``) prints Markdown
tables and writes the figures as JSON. Every figure is a ratio or a per-unit cost measured within
one run, because the machines this runs on are shared and absolute times drift between runs.

1. **Engine overhead.** A synthetic trace (every state has ``branching`` children) replayed by
   :class:`~prover.backends.replay.ReplayEnvironment` with no latency, expanded by a
   :class:`~prover.generators.fixed.FixedTacticGenerator`. The trace is built in memory before
   the clock starts. Engine CPU = ``process_time`` of the search minus that of a bare driver that
   makes exactly the same ``propose``/``apply`` calls in the same order (captured in an untimed
   run); per node created and per expansion, for trees of 1k, 10k and 100k nodes. Then the
   engine CPU as a share of wall time when every tactic takes 1 ms.
2. **Throughput against the limit.** ``W`` = number of prover processes = concurrent searches:
   each search owns one session, and a session answers one tactic at a time in ``L`` seconds
   (as a Coq or Lean REPL process does; candidates of one expansion queue on it). At most ``W``
   applications are in flight, so the limit is ``W / L`` applications per second. Achieved is
   counted in the window where all ``W`` searches run, and set beside what the same simulated
   processes give to bare loops with no search. Then the same with a generator that costs
   ``a + b * batch`` seconds (a sleep in the batcher's thread) behind
   :class:`~prover.generators.batching.MicroBatcher`: expansions per second against
   ``min(env limit, generator limit)``, and against :func:`closed_loop_bound`, the most that
   searches which each wait for their own proposal and tactics can get (at small ``W`` it is
   well below ``min(limits)``: the generator must idle while every search applies tactics).
3. **Real prover.** Coq stdlib theorems with the k-NN generator, 2 worker processes: tactics per
   second against ``2 / median single-tactic latency`` measured in the same run.
4. **Memory.** ``tracemalloc`` bytes per tree node for a 100k-node search, and whether the
   ``max_nodes`` cap holds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.perf.config import PerfConfig, synthetic_trace
from benchmarks.perf.report import check_targets, render_markdown, run_all
from benchmarks.perf.throughput import SimulatedModel, closed_loop_bound


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``python -m benchmarks.perf`` and ``seg-prover perf``."""
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, a few seconds (a smoke test, not a measurement)")
    parser.add_argument("--json", dest="json_out", default=None,
                        help="write the results as JSON here")
    parser.add_argument("--no-coq", action="store_true", help="skip the Coq section")
    parser.add_argument("--coq-index", default=None, metavar="DIR",
                        help="a 'seg-prover coq extract' directory for the Coq section's k-NN "
                             "index (default: a few stdlib files, extracted once and cached)")


def _cmd_perf(args: argparse.Namespace) -> int:
    cfg = PerfConfig.quick() if args.quick else PerfConfig()
    if args.coq_index is not None:
        cfg = dataclasses.replace(cfg, coq_index=args.coq_index)
    results = run_all(cfg, coq=not args.no_coq)
    print(render_markdown(results))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


def register(subparsers: Any) -> None:
    """Add ``seg-prover perf``."""
    parser = subparsers.add_parser("perf", help="engine benchmarks: overhead, throughput, "
                                                "real-prover rate, memory")
    add_arguments(parser)
    parser.set_defaults(func=_cmd_perf)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    parser.set_defaults(func=_cmd_perf)
    from prover.cli import run_command

    return run_command(parser, argv)


__all__ = ["PerfConfig", "SimulatedModel", "check_targets", "closed_loop_bound", "main",
           "register", "render_markdown", "run_all", "synthetic_trace"]
