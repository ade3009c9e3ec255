"""``seg-prover demo``: the Coq demo when ``coqidetop.opt`` is on PATH, else the replay demo."""

from __future__ import annotations

import argparse
import asyncio
import shutil
from typing import Any

from prover.cli import (
    add_budget_arguments,
    add_progress_argument,
    config_from_args,
    data_path,
    print_result,
)


def _cmd_demo_replay(args: argparse.Namespace) -> int:
    from seg_prover.search_command import search_replay

    print("Demo: best-first search on a small recorded Lean trace shipped with seg-prover.")
    results = asyncio.run(search_replay(data_path("demo_trace.jsonl"),
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


def register(sub: Any) -> None:
    """Add ``demo`` to the ``seg-prover`` subcommands."""
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
    add_progress_argument(demo)
    demo.set_defaults(func=_cmd_demo)


__all__ = ["register"]
