"""Policy x heuristic x rollouts on held-out Coq stdlib lemmas, at equal budget.

Usage (after ``seg-prover coq extract runs/coq-extract``)::

    python -m benchmarks.coq_ablation runs/coq-extract --out runs/coq-ablation \\
        --policies knn-online,mixture --heuristics cumulative,progress --rollouts off,2,4 \\
        --limit 100 --time-limit 10
    python -m benchmarks.coq_ablation runs/coq-extract --out runs/coq-ablation --report

Every (policy, heuristic, rollouts) cell searches the same lemmas (the first ``limit`` of the
suite's seeded test order) with the same time limit, ``num_candidates`` and per-tactic timeout;
one JSON row per (cell, lemma) goes to ``OUT/results.jsonl`` as each finishes, so a re-run
resumes. ``--report`` prints, per cell, proved/total with a 95% Wilson interval, generator and
environment calls per search, and paired comparisons with the first cell (exact McNemar).

- **Policies** (the setting is part of the name, and every row records it):
  ``knn-byfile`` (the index holds the human proofs of the index files only: the held-out file is
  unseen), ``knn-online`` (Tactician's setting: also the proofs of the lemmas before the target
  in its own file), ``mixture`` (``knn-online`` mixed with the common-tactics list at weight
  0.2, :class:`~prover.generators.mixture.MixtureGenerator`), ``hammer`` (``mixture`` plus
  CoqHammer's tactics at weight 0.2, loaded into the prover; ``libcoq-hammer``).
- **Heuristics**: ``cumulative`` (ReProver), ``normalized`` (BFS-Prover, alpha 0.5),
  ``progress`` (the Coq progress regressor of :mod:`benchmarks.coq_progress`, alone),
  ``combined`` (cumulative log-prob minus one nat per predicted remaining step).
- **Rollouts**: ``off``, or a depth (goal-aware rollouts, :class:`~rollout.config.RolloutConfig`).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.coq_eval import COMMON_TACTICS
from benchmarks.coq_suite import index_records, knn_for, load_coq_suite, with_online
from benchmarks.granularity_report import mcnemar_exact
from benchmarks.metrics import wilson_interval
from heuristics.base import Heuristic
from heuristics.builtin import CumulativeLogProb, NormalizedLogProb
from heuristics.progress.features import FeatureProgressModel
from heuristics.progress.heuristic import ProgressHeuristic
from prover.backends.coq import CoqConfig, CoqEnvironment
from prover.backends.coq_config import HAMMER_PRELUDE
from prover.config import SearchConfig
from prover.errors import ConfigError
from prover.generators.base import TacticGenerator
from prover.generators.fixed import FixedTacticGenerator
from prover.generators.hammer import hammer_generator
from prover.generators.mixture import MixtureGenerator, MixtureSource
from prover.search import BestFirstSearch
from prover.types import Theorem
from rollout.config import RolloutConfig

log = logging.getLogger(__name__)

POLICIES = ("knn-byfile", "knn-online", "mixture", "hammer")
HEURISTICS = ("cumulative", "normalized", "progress", "combined")


@dataclass(frozen=True)
class Cell:
    """One configuration of the grid."""

    policy: str
    heuristic: str
    rollout: str  # "off" or a depth

    @property
    def name(self) -> str:
        return f"{self.policy}/{self.heuristic}/rollout-{self.rollout}"

    @property
    def setting(self) -> str:
        return "by-file" if self.policy == "knn-byfile" else "online"


def parse_cells(policies: str, heuristics: str, rollouts: str) -> list[Cell]:
    def items(text: str, allowed: Sequence[str] | None, flag: str) -> list[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        for value in values:
            if allowed is not None and value not in allowed:
                raise ConfigError(f"{flag}: unknown {value!r}; choose from {', '.join(allowed)}")
            if allowed is None and value != "off" and not (value.isdigit() and int(value) > 0):
                raise ConfigError(f"{flag}: {value!r} is neither 'off' nor a depth >= 1")
        if not values:
            raise ConfigError(f"{flag}: empty")
        return values

    return [Cell(p, h, r) for p, h, r in itertools.product(
        items(policies, POLICIES, "--policies"), items(heuristics, HEURISTICS, "--heuristics"),
        items(rollouts, None, "--rollouts"))]


class Policies:
    """``theorem -> generator`` for each policy, sharing one KNN index."""

    def __init__(self, extraction_dir: Path, hammer_timeout_s: float) -> None:
        self.extraction_dir = extraction_dir
        began = time.monotonic()
        self.base = knn_for(index_records(extraction_dir))
        log.info("KNN index built in %.1f s", time.monotonic() - began)
        self.fixed = FixedTacticGenerator(list(COMMON_TACTICS))
        self.hammer = hammer_generator(hammer_timeout_s)

    def generator(self, policy: str, theorem: Theorem) -> TacticGenerator:
        if policy == "knn-byfile":
            return self.base
        online = with_online(self.base, self.extraction_dir, theorem)
        if policy == "knn-online":
            return online
        sources = [MixtureSource(online, 0.8), MixtureSource(self.fixed, 0.2)]
        if policy == "hammer":
            sources = [MixtureSource(online, 0.6), MixtureSource(self.fixed, 0.2),
                       MixtureSource(self.hammer, 0.2)]
        return MixtureGenerator(sources)


def make_heuristic(name: str, progress: FeatureProgressModel | None) -> Heuristic:
    if name == "cumulative":
        return CumulativeLogProb()
    if name == "normalized":
        return NormalizedLogProb(0.5)
    if progress is None:
        raise ConfigError(f"heuristic {name!r} needs --progress-model (python -m "
                          f"benchmarks.coq_progress EXTRACT --out MODEL.npz)")
    if name == "progress":
        return ProgressHeuristic(progress, weight=1.0, logprob_weight=0.0)
    return ProgressHeuristic(progress, weight=1.0, logprob_weight=1.0)


def done_keys(results: Path) -> set[tuple[str, str]]:
    if not results.is_file():
        return set()
    keys = set()
    for line in results.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            keys.add((row["cell"], row["theorem"]))
    return keys


async def run_cell(cell: Cell, theorems: Sequence[Theorem], policies: Policies,
                   progress: FeatureProgressModel | None, search_config: SearchConfig,
                   tactic_timeout_s: float, results: Path, done: set[tuple[str, str]],
                   on_row: Callable[[dict[str, Any]], None]) -> None:
    todo = [t for t in theorems if (cell.name, t.name) not in done]
    if not todo:
        return
    prelude = HAMMER_PRELUDE if cell.policy == "hammer" else ()
    env = CoqEnvironment(CoqConfig(tactic_timeout_s=tactic_timeout_s, max_processes=1,
                                   prelude=prelude))
    # A file CoqHammer's library itself depends on cannot load it ("a library with the same
    # name as the current one"): there the hammer policy runs without its hammer tactics.
    plain = CoqEnvironment(CoqConfig(tactic_timeout_s=tactic_timeout_s, max_processes=1))
    heuristic = make_heuristic(cell.heuristic, progress)
    rollout = None if cell.rollout == "off" else RolloutConfig(depth=int(cell.rollout))
    try:
        for theorem in todo:
            search = BestFirstSearch(env, policies.generator(cell.policy, theorem), heuristic,
                                     search_config, rollout=rollout)
            result = await search.search(theorem)
            hammer_loaded = bool(prelude)
            if prelude and result.status == "error" and prelude[0] in (result.message or ""):
                hammer_loaded = False
                search = BestFirstSearch(plain, policies.generator("mixture", theorem),
                                         heuristic, search_config, rollout=rollout)
                result = await search.search(theorem)
            stats = result.stats
            row = {"cell": cell.name, "policy": cell.policy, "heuristic": cell.heuristic,
                   "rollout": cell.rollout, "setting": cell.setting, "theorem": theorem.name,
                   "status": result.status, "proved": bool(result.proved and stats.verified),
                   "proof": list(result.proof or ()), "message": result.message,
                   "wall_s": round(stats.wall_s, 3), "open_s": round(stats.open_s, 3),
                   "expansions": stats.expansions, "generator_calls": stats.generator_calls,
                   "env_calls": stats.env_calls, "rollouts": stats.rollouts,
                   "rollout_proofs": stats.rollout_proofs, "hammer_loaded": hammer_loaded,
                   "time_limit_s": search_config.time_limit_s,
                   "num_candidates": search_config.num_candidates}
            with open(results, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            on_row(row)
    finally:
        await env.close()
        await plain.close()


def report(results: Path) -> str:
    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    if not rows:
        return "no rows yet"
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        cells.setdefault(row["cell"], {})[row["theorem"]] = row
    common = set.intersection(*(set(c) for c in cells.values()))
    lines = [f"{len(common)} lemmas searched by every cell; time limit "
             f"{rows[0]['time_limit_s']:g} s, {rows[0]['num_candidates']} candidates per "
             f"expansion.", "",
             "| cell | setting | proved | rate [95% CI] | generator calls / search | "
             "env calls / search | rollouts / search | vs first cell: only this / only first "
             "| McNemar p |", "|---|---|---:|---|---:|---:|---:|---|---:|"]
    first = next(iter(cells))
    for name, by_theorem in cells.items():
        kept = [by_theorem[t] for t in sorted(common)]
        proved = sum(r["proved"] for r in kept)
        n = len(kept)
        low, high = wilson_interval(proved, n)
        mean = {key: sum(r[key] for r in kept) / n if n else 0.0
                for key in ("generator_calls", "env_calls", "rollouts")}
        base = [cells[first][t]["proved"] for t in sorted(common)]
        mine = [r["proved"] for r in kept]
        only_me = sum(m and not b for m, b in zip(mine, base))
        only_first = sum(b and not m for m, b in zip(mine, base))
        versus = "-" if name == first else f"{only_me} / {only_first}"
        p = "-" if name == first else f"{mcnemar_exact(only_me, only_first):.3f}"
        lines.append(f"| {name} | {kept[0]['setting'] if kept else ''} | {proved}/{n} | "
                     f"{100 * proved / n if n else 0:.1f}% [{100 * low:.1f}, {100 * high:.1f}] | "
                     f"{mean['generator_calls']:.1f} | {mean['env_calls']:.1f} | "
                     f"{mean['rollouts']:.1f} | {versus} | {p} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coq_ablation",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("extraction_dir", type=Path, help="output of 'seg-prover coq extract'")
    parser.add_argument("--out", type=Path, required=True, help="run directory (resumable)")
    parser.add_argument("--policies", default="knn-online", help=f"of {', '.join(POLICIES)}")
    parser.add_argument("--heuristics", default="cumulative",
                        help=f"of {', '.join(HEURISTICS)}")
    parser.add_argument("--rollouts", default="off", help="'off' and/or depths, e.g. off,2,4")
    parser.add_argument("--limit", type=int, default=100, help="held-out lemmas (default 100)")
    parser.add_argument("--time-limit", type=float, default=40.0,
                        help="seconds of search per lemma (default 40: Tactician's)")
    parser.add_argument("--tactic-timeout", type=float, default=5.0,
                        help="seconds per tactic (Coq's Timeout; default 5)")
    parser.add_argument("--num-candidates", type=int, default=32,
                        help="candidates per expansion (default 32)")
    parser.add_argument("--hammer-timeout", type=float, default=3.0,
                        help="seconds per hammer tactic (default 3)")
    parser.add_argument("--progress-model", type=Path, default=None,
                        help="a FeatureProgressModel .npz (python -m benchmarks.coq_progress)")
    parser.add_argument("--report", action="store_true", help="print the table and exit")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 3 lemmas, 5 s, every cell named")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each search")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    if args.report:
        print(report(results))
        return 0
    try:
        cells = parse_cells(args.policies, args.heuristics, args.rollouts)
    except ConfigError as exc:
        parser.error(str(exc))
    limit, time_limit = (3, 5.0) if args.quick else (args.limit, args.time_limit)
    theorems = load_coq_suite(split="test", limit=limit)
    progress = (FeatureProgressModel.load(args.progress_model)
                if args.progress_model is not None else None)
    for cell in cells:  # fail before any search, not after hours
        make_heuristic(cell.heuristic, progress)
    policies = Policies(args.extraction_dir, args.hammer_timeout)
    config = SearchConfig(num_candidates=args.num_candidates, time_limit_s=time_limit,
                          max_expansions=100_000)
    done = done_keys(results)

    def on_row(row: dict[str, Any]) -> None:
        log.info("%s %s: %s (%.1f s)", row["cell"], row["theorem"], row["status"], row["wall_s"])

    async def run_all() -> None:
        for cell in cells:
            await run_cell(cell, theorems, policies, progress, config, args.tactic_timeout,
                           results, done, on_row)

    asyncio.run(run_all())
    print(report(results))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["Cell", "Policies", "main", "parse_cells", "report"]
