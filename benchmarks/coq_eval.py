"""Best-first search on held-out Coq stdlib lemmas: the KNN generator against fixed tactics.

Usage (after ``seg-prover coq extract runs/coq-extract`` over the whole stdlib)::

    python -m benchmarks.coq_eval runs/coq-extract --limit 100 --time-limit 30 \\
        --generators knn,fixed --out runs/coq-eval.jsonl

For each of the first ``limit`` lemmas of the suite's test split (a seeded random sample,
:func:`benchmarks.coq_suite.load_coq_suite`) and each generator, one search runs with the
given wall-time limit (file prefix replay included) and the proof is checked by ``verify``.
Prints, per generator, the fraction proved (verified) and the tactics per second reached
(tactic applications over search wall time, and the mean latency of one application).
Lemmas are run grouped by file so the pooled processes reuse file prefixes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from benchmarks.coq_suite import index_records, knn_for, load_coq_suite, with_online
from prover.backends.coq import CoqConfig, CoqEnvironment
from prover.config import SearchConfig
from prover.generators.base import TacticGenerator
from prover.generators.fixed import FixedTacticGenerator
from prover.search import BestFirstSearch
from prover.types import Theorem

log = logging.getLogger(__name__)

COMMON_TACTICS: tuple[str, ...] = tuple(
    line.strip() for line in (resources.files("benchmarks") / "data" / "coq_common_tactics.txt")
    .read_text(encoding="utf-8").splitlines() if line.strip())
"""The fixed baseline: common Coq tactics, all proposed at every state (equal scores); the
shipped file is also what ``seg-prover bench --generator fixed:...`` takes (see the README)."""


async def run_generator(label: str, theorems: Sequence[Theorem],
                        make: Callable[[Theorem], TacticGenerator], config: SearchConfig,
                        coq: CoqConfig, out: Path | None) -> dict[str, Any]:
    """Search every theorem with ``make(theorem)`` as generator; returns the totals."""
    env = CoqEnvironment(coq)
    proved = 0
    env_calls = 0
    env_s = 0.0
    wall = 0.0
    try:
        for number, theorem in enumerate(theorems, 1):
            generator: TacticGenerator = make(theorem)
            result = await BestFirstSearch(env, generator, config=config).search(theorem)
            ok = result.proved and bool(result.stats.verified)
            proved += ok
            env_calls += result.stats.env_calls
            env_s += result.stats.env_s
            wall += result.stats.wall_s
            log.info("[%s %d/%d] %s: %s (%.1f s, %d tactics)", label, number, len(theorems),
                     theorem.name, result.status, result.stats.wall_s, result.stats.env_calls)
            if out is not None:
                row = {"generator": label, **result.to_dict(), "verified_proof": ok}
                with open(out, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        await env.close()
    return {"generator": label, "theorems": len(theorems), "proved": proved,
            "rate": proved / max(1, len(theorems)), "tactics": env_calls,
            "tactics_per_s_wall": env_calls / wall if wall else 0.0,
            "mean_tactic_ms": 1000 * env_s / env_calls if env_calls else 0.0,
            "wall_s": round(wall, 1)}


async def evaluate(extraction_dir: Path, *, limit: int, time_limit_s: float,
                   generators: Sequence[str], online: bool, num_candidates: int,
                   tactic_timeout_s: float, out: Path | None) -> list[dict[str, Any]]:
    theorems = load_coq_suite(split="test", limit=limit)
    # Grouped by file (stable), so a pooled process reuses the prefix it has loaded.
    order = {name: i for i, name in enumerate(dict.fromkeys(
        str(t.locator.get("stdlib_file")) for t in theorems))}
    theorems = sorted(theorems, key=lambda t: (order[str(t.locator.get("stdlib_file"))],
                                               t.locator.get("index", 0)))
    config = SearchConfig(num_candidates=num_candidates, time_limit_s=time_limit_s,
                          max_expansions=100_000)
    coq = CoqConfig(tactic_timeout_s=tactic_timeout_s, max_processes=1)
    summaries = []
    for label in generators:
        factory = _factory(label, extraction_dir, online)
        cfg = config
        if label == "fixed":
            cfg = SearchConfig(num_candidates=len(COMMON_TACTICS), time_limit_s=time_limit_s,
                               max_expansions=100_000)
        name = label + ("+online" if online and label == "knn" else "")
        summaries.append(await run_generator(name, theorems, factory, cfg, coq, out))
    return summaries


def _factory(label: str, extraction_dir: Path, online: bool
             ) -> Callable[[Theorem], TacticGenerator]:
    """``theorem -> generator`` for a generator label (``knn`` or ``fixed``)."""
    if label == "fixed":
        fixed = FixedTacticGenerator(list(COMMON_TACTICS))
        return lambda theorem: fixed
    if label != "knn":
        raise SystemExit(f"unknown generator {label!r} (knn, fixed)")
    began = time.monotonic()
    records = index_records(extraction_dir)
    base = knn_for(records)
    log.info("KNN index: %d records (%.1f s)", len(records), time.monotonic() - began)
    if not online:
        return lambda theorem: base
    return lambda theorem: with_online(base, extraction_dir, theorem)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coq_eval",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("extraction_dir", help="output of 'seg-prover coq extract'")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per lemma")
    parser.add_argument("--tactic-timeout", type=float, default=5.0)
    parser.add_argument("--num-candidates", type=int, default=8)
    parser.add_argument("--generators", default="knn,fixed")
    parser.add_argument("--online", action="store_true",
                        help="KNN also indexes the lemmas before the target in its file")
    parser.add_argument("--out", default=None, help="append one JSON row per search here")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    summaries = asyncio.run(evaluate(
        Path(args.extraction_dir), limit=args.limit, time_limit_s=args.time_limit,
        generators=[g.strip() for g in args.generators.split(",") if g.strip()],
        online=args.online, num_candidates=args.num_candidates,
        tactic_timeout_s=args.tactic_timeout, out=Path(args.out) if args.out else None))
    for s in summaries:
        print(f"{s['generator']:>12}: proved {s['proved']}/{s['theorems']} "
              f"({100 * s['rate']:.1f}%), {s['tactics']} tactics, "
              f"{s['tactics_per_s_wall']:.1f} tactics/s of search wall time, "
              f"{s['mean_tactic_ms']:.2f} ms per tactic, {s['wall_s']} s")
    print(json.dumps(summaries))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["COMMON_TACTICS", "evaluate", "main", "run_generator"]
